"""Outbound carrier webhooks, under /outbound/ (the form and the JSON endpoint are `campaigns.urls`)."""

from django.urls import path

from . import views

urlpatterns = [
    path("outbound/twilio/answer/", views.twilio_answer, name="outbound-twilio-answer"),
    path("outbound/twilio/status/", views.twilio_status, name="outbound-twilio-status"),
    path("outbound/plivo/answer/", views.plivo_answer, name="outbound-plivo-answer"),
    path("outbound/plivo/hangup/", views.plivo_hangup, name="outbound-plivo-hangup"),
    path("outbound/plivo/machine/", views.plivo_machine, name="outbound-plivo-machine"),
    path("outbound/plivo/voicemail/", views.plivo_voicemail, name="outbound-plivo-voicemail"),
]
