"""Twilio routes: HTTP webhooks (mounted at /twilio/) and the media WebSocket (`ws_routes`)."""

from django.urls import path

from . import views
from .consumer import TwilioMediaConsumer

urlpatterns = [
    path("voice/", views.voice, name="twilio-voice"),
    path("status/", views.status, name="twilio-status"),
    path("transfer/<str:token>/answer/", views.transfer_answer, name="twilio-transfer-answer"),
    path("transfer/<str:token>/status/", views.transfer_status, name="twilio-transfer-status"),
]

ws_routes = [path("ws/twilio/", TwilioMediaConsumer.as_asgi())]
