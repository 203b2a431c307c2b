"""`manage.py democall`: place a call in-process with a simulated caller and print what happened.

Uses the configured Gemini (or the local emulator) and the real engine; the call is stored like
any other and shows in the dashboard.
"""

from __future__ import annotations

import asyncio

from django.core.management.base import BaseCommand, CommandError

from calls.models import Call
from engine import CallRequest, start_call
from telephony.loopback import LoopbackPort, SimulatedCaller, check_flite


class Command(BaseCommand):
    help = "Place a demo call to a number's agent with a simulated caller; print the transcript."

    def add_arguments(self, parser):
        parser.add_argument("--to", default="demo", help="SIP trunk user part or number bound to an agent")
        parser.add_argument("--carrier", default="sip")
        parser.add_argument("--say", action="append", help="What the caller says (repeatable)", default=None)
        parser.add_argument(
            "--talk-over",
            action="store_true",
            help="speak after fixed pauses (--wait, then 3 s after each phrase) instead of when the agent's "
            "turn ends: the caller then talks over the agent, to demonstrate barge-in",
        )
        parser.add_argument(
            "--wait",
            type=float,
            default=4.0,
            help="with --talk-over: seconds to listen before the first phrase",
        )
        parser.add_argument(
            "--quiet",
            type=float,
            default=0.8,
            help="seconds of agent silence that end its turn (the caller speaks then)",
        )

    def handle(self, *args, to: str, carrier: str, say: list[str] | None, wait: float, **options):
        try:
            check_flite()
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        phrases = say or ["i would like to check the status of my order", "thank you goodbye"]
        pacing = (wait, None) if options["talk_over"] else (None, options["quiet"])
        call_id = asyncio.run(self._call(carrier, to, phrases, *pacing))
        call = Call.objects.get(pk=call_id)
        self.stdout.write(f"Call {call.pk}: {call.status} ({call.end_reason})")
        for seg in call.segments.all():
            self.stdout.write(f"  {seg.start_ms / 1000:6.1f}s {seg.speaker:>6}: {seg.text}")
        metrics = getattr(call, "metrics", None)
        if metrics:
            self.stdout.write(
                f"  first response {metrics.first_response_ms} ms, turns {metrics.turns}, "
                f"barge-ins {metrics.barge_ins}, frames out {metrics.frames_out}"
            )
        # Exit non-zero when the demo did not work, so a script (or a person) notices. A row still in
        # progress has its records queued (the broker was unreachable: spooled, stored when it is back).
        if call.status == Call.Status.IN_PROGRESS:
            self.stdout.write("  the call's records are queued for storing (is the broker up?)")
        elif call.status != Call.Status.COMPLETED:
            raise CommandError(f"The call {call.get_status_display().lower()}: {call.end_reason}.")
        if metrics is not None and metrics.frames_out == 0:
            raise CommandError("The agent never spoke: check the Gemini key or the emulator (see the log above).")

    async def _call(self, carrier: str, to: str, phrases: list[str], wait: float | None, quiet: float | None):
        """Place the call; the caller speaks when the agent's turn ends (`quiet`), or after `wait`."""
        port = LoopbackPort()
        handle = await start_call(
            CallRequest(carrier=carrier, from_number="+15550001111", to_number=to), port
        )
        if not handle.accepted:
            await handle.wait()
            raise CommandError(f"The call was refused: no active agent is bound to {carrier} {to!r}.")
        caller = SimulatedCaller(handle, port.wire)
        if quiet is None:
            await caller.silence(wait or 0.0)
        else:
            await caller.wait_for_agent(port, quiet)  # the greeting
        for phrase in phrases:
            if port.hung_up.is_set():
                break
            self.stdout.write(f"caller says: {phrase}")
            if quiet is None:
                await caller.say(phrase, then_silence=3.0)
            else:
                await caller.say(phrase, then_silence=0.2)
                await caller.wait_for_agent(port, quiet)
        try:
            await asyncio.wait_for(port.hung_up.wait(), timeout=15)
        except TimeoutError:
            handle.remote_hangup("demo caller hung up")
        await handle.wait()
        return handle.call_id
