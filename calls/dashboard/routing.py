"""WebSocket route of the dashboard, with session auth (the project's router adds none)."""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from .consumers import LiveCallsConsumer
from .supervise import SuperviseConsumer

websocket_urlpatterns = [
    path("ws/live/", AllowedHostsOriginValidator(AuthMiddlewareStack(LiveCallsConsumer.as_asgi()))),
    path(
        "ws/calls/<uuid:call_id>/supervise/",
        AllowedHostsOriginValidator(AuthMiddlewareStack(SuperviseConsumer.as_asgi())),
    ),
]
