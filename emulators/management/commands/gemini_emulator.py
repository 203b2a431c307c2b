"""manage.py gemini_emulator: serve the Gemini Live emulator (wss + REST generateContent) on one TLS port."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run the offline Gemini Live emulator (TLS; writes its CA to --ca-file)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--api-key", required=True)
        parser.add_argument(
            "--ca-file", required=True, help="where to write the emulator's CA certificate (PEM)"
        )
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--profile", default="fast", choices=["fast", "instant", "realistic", "bench"])
        parser.add_argument("--scenario", default=None, help="scenario JSON file (default: the bundled one)")
        parser.add_argument("--max-sessions", type=int, default=None, help="simultaneous sessions per key")
        parser.add_argument("--fault-drop-mid-turn", action="store_true")
        parser.add_argument("--fault-goaway-after", type=float, default=None, metavar="SECONDS")
        parser.add_argument("--fault-goaway-time-left", type=float, default=None, metavar="SECONDS")
        parser.add_argument("--fault-first-audio-delay", type=float, default=None, metavar="SECONDS")
        parser.add_argument("--fault-refuse-resumption-once", action="store_true")
        parser.add_argument(
            "--faults", default=None, help='JSON object of faults, e.g. {"goaway_after_s": 5}'
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from emulators.gemini.server import EmulatorServer

        server = EmulatorServer(
            api_key=options["api_key"],
            ca_file=options["ca_file"],
            profile=options["profile"],
            scenario=options["scenario"],
            max_sessions=options["max_sessions"],
            keep_records=False,  # nobody in this process reads them (EmulatorServer says why)
        )
        faults: dict[str, Any] = json.loads(options["faults"]) if options["faults"] else {}
        if options["fault_drop_mid_turn"]:
            faults["drop_mid_turn"] = True
        if options["fault_refuse_resumption_once"]:
            faults["refuse_resumption_once"] = True
        for flag, name in (
            ("fault_goaway_after", "goaway_after_s"),
            ("fault_goaway_time_left", "goaway_time_left_s"),
            ("fault_first_audio_delay", "first_audio_delay_s"),
        ):
            if options[flag] is not None:
                faults[name] = options[flag]
        server.faults.update(faults)
        asyncio.run(self._serve(server, options["host"], options["port"]))

    async def _serve(self, server: Any, host: str, port: int) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        port = await server.start(host, port)
        shown = "127.0.0.1" if host in ("127.0.0.1", "0.0.0.0") else host
        sys.stdout.write(f"Gemini emulator listening on https://{shown}:{port} (CA: {server.ca_file})\n")
        sys.stdout.flush()
        await stop.wait()
        await server.stop()
