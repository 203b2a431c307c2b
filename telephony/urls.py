"""HTTP routes of the telephony side. Each carrier package adds its own `urls.py` here."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
