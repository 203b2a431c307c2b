"""Plivo: answer/hangup webhooks, the Audio Streams consumer, its wire translation and REST calls."""
