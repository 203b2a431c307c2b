"""Browser test-call routes: the page (mounted at /browser/) and its WebSocket (`ws_routes`)."""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from . import views
from .consumer import BrowserCallConsumer

app_name = "browser"

urlpatterns = [path("agents/<int:agent_id>/call/", views.call_page, name="call")]

# The project's router adds no session middleware: this route brings its own.
ws_routes = [
    path(
        "ws/browser/<int:agent_id>/",
        AllowedHostsOriginValidator(AuthMiddlewareStack(BrowserCallConsumer.as_asgi())),
    )
]
