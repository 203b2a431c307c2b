"""Placing calls by hand: the staff form and the JSON endpoint."""

from django.urls import path

from . import views

urlpatterns = [
    path("outbound/call/", views.place_call_form, name="outbound-call-form"),
    path("api/calls/outbound", views.api_outbound, name="api-outbound-call"),
]
