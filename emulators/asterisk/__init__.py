"""Asterisk emulator: ARI REST + events, externalMedia legs (RTP, AudioSocket, WebSocket), a phone."""
