"""WebSocket routes. Each carrier package contributes its own list; adding one touches only this file."""

from django.urls import path  # noqa: F401  (used by the carrier route lists)

websocket_urlpatterns: list = []
