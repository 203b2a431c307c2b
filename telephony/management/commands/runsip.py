"""`manage.py runsip`: answer SIP trunk calls with the agent bound to the dialled number."""

from __future__ import annotations

import asyncio
import logging

from django.core.management.base import BaseCommand

from contactcenter.malloc import cap_arenas
from telephony.sip.config import SipConfig
from telephony.sip.server import SipServer

log = logging.getLogger("telephony.sip")


class Command(BaseCommand):
    help = "Listen for SIP (UDP and TCP) and answer calls with Gemini voice agents (see docs/sip.md)."

    def add_arguments(self, parser):
        parser.add_argument("--bind", help="address to listen on (SIP_BIND_HOST)")
        parser.add_argument("--port", type=int, help="SIP port, UDP and TCP (SIP_PORT)")
        parser.add_argument("--advertise", help="address put in Contact and SDP (SIP_ADVERTISE_HOST)")
        parser.add_argument("--rtp-ports", help="RTP port range low-high (SIP_RTP_PORT_RANGE)")

    def handle(self, *args, **options):
        cap_arenas()  # a process that carries calls (contactcenter/malloc.py)
        config = SipConfig.from_settings()
        if options.get("bind"):
            config.bind_host = options["bind"]
        if options.get("port") is not None:
            config.port = options["port"]
        if options.get("advertise"):
            config.advertise_host = options["advertise"]
        if options.get("rtp_ports"):
            low, _, high = options["rtp_ports"].partition("-")
            config.rtp_ports = (int(low), int(high or low))
        asyncio.run(self.serve(config))

    async def serve(self, config: SipConfig) -> None:
        # The engine's one-time costs (imports, the genai client, the SDK's models) now, not on the
        # loop during the first call (engine.warmup).
        from engine.drain import drain_on_signal
        from engine.warmup import warm_up

        warm_up()

        server = SipServer(config)
        await server.start()
        self.stdout.write(f"runsip: listening on {config.bind_host}:{server.port} (udp, tcp)")
        self.stdout.flush()
        # SIGTERM: new INVITEs get 503 (the trunk tries elsewhere), live calls drain (engine.drain).
        await drain_on_signal(before=server.refuse_new_calls)
        log.info("sip: shutting down, hanging up %d call(s)", len(server.calls))
        await server.stop()
