"""The recording written as the call goes: chunks handed from the event loop to one writer thread.

The audio path only appends to the in-memory `Recorder`; every RECORDING_CHUNK_SECONDS the call's saver
takes what lies a little in the past and queues it here (no file I/O, no thread hop on the loop: a
`put_nowait` on one bounded queue per process). One daemon thread appends the chunks in order
(`calls.recordfile`). When the queue is full a chunk stays with the call and goes with the next one.
At the end of the call the rest is queued and awaited, so the stored file is the whole recording.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import uuid
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path

from calls import recordfile

from .record import Recorder

log = logging.getLogger(__name__)

QUEUE_CHUNKS = 256  # per process: at 2 s chunks of 8 kHz stereo (64 KB) at most 16 MB waiting
LAG_SECONDS = 1.0  # chunks end this far behind the call clock (audio is stamped at or after "now")

_queue: queue.Queue[tuple[Path, int, bytes, Future | None]] = queue.Queue(maxsize=QUEUE_CHUNKS)
_thread: threading.Thread | None = None
_lock = threading.Lock()


def _write_forever() -> None:
    while True:
        path, rate, chunk, done = _queue.get()
        try:
            if chunk:
                recordfile.append(path, rate, chunk)
            if done is not None:
                done.set_result(recordfile.finalise(path))
        except Exception as exc:  # noqa: BLE001 - one bad disk write must not stop every call's recording
            log.exception("writing the recording %s failed", path)
            if done is not None:
                done.set_exception(exc)


def _writer() -> None:
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_write_forever, name="recording-writer", daemon=True)
            _thread.start()


def pending() -> int:
    """Chunks waiting for the writer (all calls of this process)."""
    return _queue.qsize()


class RecordingStream:
    """One call's recording file: chunks queued from the loop, then finished and named."""

    def __init__(self, recorder: Recorder, call_id: uuid.UUID, answered_at: datetime) -> None:
        self.recorder = recorder
        self.name = recordfile.name_for(call_id, answered_at)
        self.path = recordfile.local_path(self.name)
        self._carry = b""  # a chunk the full queue did not take
        self.chunks = 0

    def flush(self, clock_seconds: float) -> None:
        """Queue what was recorded up to LAG_SECONDS ago (event loop; never blocks)."""
        if not self.recorder.enabled:
            return
        chunk = self._carry + self.recorder.take(clock_seconds - LAG_SECONDS)
        self._carry = b""
        if not chunk:
            return
        _writer()
        try:
            _queue.put_nowait((self.path, self.recorder.rate, chunk, None))
            self.chunks += 1
        except queue.Full:
            log.warning("the recording writer is behind: a chunk waits for the next one")
            self._carry = chunk

    async def finish(self) -> dict | None:
        """Queue the rest, wait for the writer to finalise the file; returns the Recording fields."""
        if not self.recorder.enabled:
            return None
        chunk = self._carry + self.recorder.take()
        self._carry = b""
        if not chunk and not self.chunks:
            return None
        done: Future = Future()
        _writer()
        job = (self.path, self.recorder.rate, chunk, done)
        try:
            _queue.put_nowait(job)
        except queue.Full:  # end of call, not the audio path: waiting in a thread is fine here
            await asyncio.to_thread(_queue.put, job)
        finished = await asyncio.wrap_future(done)
        if finished is None:
            return None
        rate, seconds = finished
        name = await asyncio.to_thread(recordfile.publish, self.name, self.path)
        return {"name": name, "duration_seconds": round(seconds, 2), "sample_rate": rate, "channels": 2}
