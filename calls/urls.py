"""Routes of what staff and monitoring read: the dashboard, the JSON API, /status, /metrics, /health."""

from django.urls import include, path

from . import views

urlpatterns: list = [
    path("health", views.health, name="health"),
    path("ready", views.ready, name="ready"),
    path("", include("calls.dashboard.urls")),
    path("", include("calls.api.urls")),
]
