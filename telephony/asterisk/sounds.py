"""Sounds runasterisk makes during a call, served to Asterisk over HTTP (`sound:http://...`).

Asterisk plays media from a URL through its HTTP media cache (ARI `play` with
`media=sound:http://host/name.wav`); the file's name gives its format, and `.wav` is 8 kHz mono
16-bit. A warm transfer's brief is spoken once by flite into such a file, kept in memory under an
unguessable name only while its transfer lasts, and fetched by Asterisk once. Binds MEDIA_BIND_HOST
on ASTERISK_SOUNDS_PORT; Asterisk reaches it at MEDIA_ADVERTISE_HOST.
"""

from __future__ import annotations

import io
import logging
import secrets
import wave

from aiohttp import web

log = logging.getLogger(__name__)


def wav_bytes(pcm8k: bytes) -> bytes:
    """16-bit mono 8 kHz PCM as a WAV file (what Asterisk's format_wav plays)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(pcm8k)
    return buffer.getvalue()


class SoundServer:
    """An HTTP server of short-lived WAVs: `publish()` gives the URL, `withdraw()` ends it."""

    def __init__(self, bind_host: str, port: int, advertise_host: str) -> None:
        self.bind_host = bind_host
        self.port = port
        self.advertise_host = advertise_host
        self.sounds: dict[str, bytes] = {}
        self.fetches = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/sounds/{name}", self._get)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.bind_host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def publish(self, wav: bytes) -> tuple[str, str]:
        """(name, the `sound:` URI Asterisk plays it by)."""
        name = secrets.token_hex(16) + ".wav"
        self.sounds[name] = wav
        return name, f"sound:http://{self.advertise_host}:{self.port}/sounds/{name}"

    def withdraw(self, name: str) -> None:
        self.sounds.pop(name, None)

    async def _get(self, request: web.Request) -> web.Response:
        wav = self.sounds.get(request.match_info["name"])
        if wav is None:
            return web.Response(status=404, text="no such sound (its transfer is over)")
        self.fetches += 1
        return web.Response(body=wav, content_type="audio/wav")
