"""Plivo routes: HTTP webhooks (mounted at /plivo/) and the media WebSocket (`ws_routes`)."""

from django.urls import path

from . import views
from .consumer import PlivoMediaConsumer

urlpatterns = [
    path("answer/", views.answer, name="plivo-answer"),
    path("hangup/", views.hangup, name="plivo-hangup"),
    path("transfer/", views.transfer, name="plivo-transfer"),
    path("warm/<str:token>/answer/", views.warm_answer, name="plivo-warm-answer"),
    path("warm/<str:token>/digits/", views.warm_digits, name="plivo-warm-digits"),
    path("warm/<str:token>/hangup/", views.warm_hangup, name="plivo-warm-hangup"),
    path("warm/<str:token>/conference/", views.warm_conference, name="plivo-warm-conference"),
]

ws_routes = [path("ws/plivo/", PlivoMediaConsumer.as_asgi())]
