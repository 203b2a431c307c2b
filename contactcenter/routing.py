"""WebSocket routes. Each transport package contributes its own list; adding one touches only this file."""

from calls.dashboard.routing import websocket_urlpatterns as dashboard_ws
from telephony.browser.urls import ws_routes as browser_ws
from telephony.plivo.urls import ws_routes as plivo_ws
from telephony.twilio.urls import ws_routes as twilio_ws

websocket_urlpatterns: list = [*dashboard_ws, *twilio_ws, *plivo_ws, *browser_ws]
