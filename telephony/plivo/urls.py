"""Plivo routes: HTTP webhooks (mounted at /plivo/) and the media WebSocket (`ws_routes`)."""

from django.urls import path

from . import views
from .consumer import PlivoMediaConsumer

urlpatterns = [
    path("answer/", views.answer, name="plivo-answer"),
    path("hangup/", views.hangup, name="plivo-hangup"),
    path("transfer/", views.transfer, name="plivo-transfer"),
]

ws_routes = [path("ws/plivo/", PlivoMediaConsumer.as_asgi())]
