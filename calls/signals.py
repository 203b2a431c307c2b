"""Signals of the calls app: how a lower layer tells the apps above it that something happened to a call,
without importing them."""

from django.dispatch import Signal

# Sent (with `call_id`) when a Call ends outside the engine: a dialled call that was busy or never answered,
# or a carrier reporting that an outbound call finished. `campaigns` settles the call's contact on it.
call_finished = Signal()
