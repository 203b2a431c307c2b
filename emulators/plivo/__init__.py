"""A Plivo stand-in: V3-signed answer/hangup callbacks, Audio Streams with checkpoints, the Call REST API."""
