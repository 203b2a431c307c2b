"""Outbound calls: `place_call` creates the Call and asks Twilio, Plivo or Asterisk to dial it.

The carrier's answer webhook (views.py) then connects the callee to the same media streams as an
inbound call, with the agent named on the Call (no number routing) and the Call's variables as the
engine's template variables.
"""

from .dial import OUTBOUND_CARRIERS, OutboundError, number_problem, place_call

__all__ = ["OUTBOUND_CARRIERS", "OutboundError", "number_problem", "place_call"]
