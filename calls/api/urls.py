"""JSON API and monitoring routes (API token or staff session)."""

from django.urls import path

from . import views

app_name = "api"

urlpatterns = [
    path("api/calls", views.call_list, name="calls"),
    path("api/calls/<uuid:call_id>", views.call_detail, name="call"),
    path("status", views.status, name="status"),
    path("metrics", views.metrics, name="metrics"),
]
