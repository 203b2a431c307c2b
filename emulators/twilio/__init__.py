"""A Twilio stand-in: signed voice webhooks, Media Streams, playout with marks, and the REST API."""
