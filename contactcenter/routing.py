"""WebSocket routes. Each carrier package contributes its own list; adding one touches only this file."""

from django.urls import path  # noqa: F401  (used by the carrier route lists)

from telephony.dashboard.routing import websocket_urlpatterns as dashboard_ws

websocket_urlpatterns: list = []
websocket_urlpatterns += dashboard_ws
from telephony.plivo.urls import ws_routes as plivo_ws  # noqa: E402
from telephony.twilio.urls import ws_routes as twilio_ws  # noqa: E402

websocket_urlpatterns += twilio_ws + plivo_ws
from telephony.browser.urls import ws_routes as browser_ws  # noqa: E402

websocket_urlpatterns += browser_ws
