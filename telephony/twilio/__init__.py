"""Twilio: voice/status webhooks, the Media Streams consumer, its wire translation and REST calls."""
