"""A call's recording file, written in chunks while the call goes on (sync file I/O: worker threads only).

The file is a 16-bit PCM WAV with the same 44-byte header `wave` writes, so a finished file is byte for
byte what building the whole WAV at the end gave. After every chunk the header's sizes are brought up to
date, so a process killed mid-call leaves a file that plays up to its last chunk; `finalise` repairs a
file cut between a chunk and its header update. The name is fixed by the call id and the day it was
answered, so crash recovery finds the file of a call without asking the process that died.
"""

from __future__ import annotations

import os
import struct
import uuid
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

HEADER_BYTES = 44
CHANNELS = 2  # caller left, agent right
SAMPLE_BYTES = 2


def name_for(call_id: uuid.UUID | str, answered_at: datetime) -> str:
    """The storage name of a call's recording (under MEDIA_ROOT, as the dashboard serves it)."""
    return f"recordings/{answered_at.strftime('%Y/%m/%d')}/{call_id}.wav"


def local_path(name: str) -> Path:
    """Where the file is written: in the storage itself when it is a local one, else a local staging
    directory that `publish` copies from at the end of the call."""
    try:
        return Path(default_storage.path(name))
    except NotImplementedError:  # remote storage (S3-style): stage locally, upload when finished
        return Path(settings.DATA_DIR) / "recordings-staging" / name


def header(rate: int, data_bytes: int) -> bytes:
    """The RIFF/WAVE header of a stereo 16-bit PCM file holding `data_bytes` of samples."""
    block = CHANNELS * SAMPLE_BYTES
    return struct.pack(
        "<4sL4s4sLHHLLHH4sL",
        b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, CHANNELS, rate, rate * block, block, 16,
        b"data", data_bytes,
    )  # fmt: skip


def append(path: Path, rate: int, chunk: bytes) -> int:
    """Append interleaved stereo samples, creating the file on the first chunk; returns the data size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "r+b" if path.exists() else "w+b") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() < HEADER_BYTES:
            handle.seek(0)
            handle.truncate()
            handle.write(header(rate, 0))
        handle.write(chunk)
        size = handle.tell() - HEADER_BYTES
        handle.seek(0)
        handle.write(header(rate, size))
    return size


def finalise(path: Path) -> tuple[int, float] | None:
    """Make the file at `path` a valid WAV of whole stereo frames; returns (rate, seconds), or None when
    there is no file or no audio in it."""
    try:
        handle = open(path, "r+b")
    except FileNotFoundError:
        return None
    with handle:
        head = handle.read(HEADER_BYTES)
        if len(head) < HEADER_BYTES or head[:4] != b"RIFF":
            return None
        rate = struct.unpack_from("<L", head, 24)[0]
        handle.seek(0, os.SEEK_END)
        size = handle.tell() - HEADER_BYTES
        size -= size % (CHANNELS * SAMPLE_BYTES)  # a chunk cut short by the kill: drop the half frame
        if size <= 0 or not rate:
            return None
        handle.truncate(HEADER_BYTES + size)
        handle.seek(0)
        handle.write(header(rate, size))
    return rate, size / (CHANNELS * SAMPLE_BYTES) / rate


def publish(name: str, path: Path) -> str:
    """Put a finished file in the storage; with a local storage it is already there."""
    try:
        default_storage.path(name)
        return name
    except NotImplementedError:
        with open(path, "rb") as handle:
            stored = default_storage.save(name, handle)
        path.unlink(missing_ok=True)
        return stored
