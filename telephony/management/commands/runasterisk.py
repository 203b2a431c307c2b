"""`manage.py runasterisk`: one process per PBX holding the ARI events socket and every media leg."""

from __future__ import annotations

import asyncio
from pathlib import Path

from django.core.management.base import BaseCommand

from contactcenter.malloc import cap_arenas
from telephony.asterisk.config import AsteriskConfig, parse_transport
from telephony.asterisk.runner import serve, write_sounds
from telephony.asterisk.stasis import APOLOGY_SOUND


class Command(BaseCommand):
    help = (
        "Answer Asterisk calls: connect to ARI (ARI_URL, ARI_USERNAME, ARI_PASSWORD, ARI_APP), serve "
        "RTP / AudioSocket / WebSocket media legs and run the agents. See docs/asterisk.md."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--transport", help="default media leg, e.g. rtp, rtp:alaw, audiosocket:slin, websocket"
        )
        parser.add_argument("--audiosocket-port", type=int, help="overrides AUDIOSOCKET_PORT")
        parser.add_argument("--apology-sound", default=APOLOGY_SOUND, help="ARI media URI of the apology")
        parser.add_argument(
            "--write-sounds",
            metavar="DIR",
            help="write contactcenter-apology.wav and contactcenter-busy.wav (8 kHz) to DIR and exit",
        )

    def handle(self, *args, **options) -> None:
        if options["write_sounds"]:
            for path in write_sounds(Path(options["write_sounds"])):
                self.stdout.write(str(path))
            return
        cap_arenas()  # a process that carries calls (contactcenter/malloc.py)
        config = AsteriskConfig.from_settings(
            transport=parse_transport(options["transport"]) if options["transport"] else None,
            audiosocket_port=options["audiosocket_port"],
        )
        asyncio.run(serve(config, options["apology_sound"]))
