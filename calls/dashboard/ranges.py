"""Serving a stored file with HTTP Range, through Django's storage API, so audio players can seek."""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.core.files.storage import Storage
from django.http import HttpResponse, StreamingHttpResponse

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 64 * 1024


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """(first, last) inclusive for a single byte range; None to send everything; "bad" for 416."""
    if not header:
        return None
    match = RANGE_RE.match(header.strip())
    if not match:
        return None  # multiple ranges or another unit: RFC 9110 lets us answer with the whole file
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0:
            return "bad"
        return max(0, size - length), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        return "bad"
    return start, min(end, size - 1)


def _read(storage: Storage, name: str, start: int, length: int) -> Iterator[bytes]:
    with storage.open(name, "rb") as handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def ranged_file_response(request, storage: Storage, name: str, content_type: str) -> HttpResponse:
    """200 with the whole file, 206 with one range, or 416 when the range is outside the file."""
    size = storage.size(name)
    wanted = parse_range(request.headers.get("Range"), size)
    if wanted == "bad":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    elif wanted is None:
        response = StreamingHttpResponse(_read(storage, name, 0, size), content_type=content_type)
        response["Content-Length"] = str(size)
    else:
        start, end = wanted
        response = StreamingHttpResponse(
            _read(storage, name, start, end - start + 1), status=206, content_type=content_type
        )
        response["Content-Length"] = str(end - start + 1)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, no-store"
    return response
