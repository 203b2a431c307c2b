"""HTTP routes of the carriers. Each carrier package adds its own `urls.py` here."""

from django.urls import include, path

urlpatterns: list = [
    path("twilio/", include("telephony.twilio.urls")),
    path("plivo/", include("telephony.plivo.urls")),
    path("browser/", include("telephony.browser.urls")),
    path("", include("telephony.outbound.urls")),
]
