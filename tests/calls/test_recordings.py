"""Recordings over HTTP: whole file, byte ranges for seeking, and ranges outside the file."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
from django.core.files.storage import default_storage

from .conftest import make_call


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.django_db
def test_whole_recording_is_a_stereo_wav_with_caller_left_and_agent_right(staff_client, agent):
    call = make_call(agent=agent, recording_seconds=1.0)
    response = staff_client.get(f"/calls/{call.pk}/recording.wav")
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav" and response["Accept-Ranges"] == "bytes"
    data = _body(response)
    assert int(response["Content-Length"]) == len(data) == default_storage.size(call.recording.file.name)
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 8000)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    peaks = [np.argmax(np.abs(np.fft.rfft(samples[:, ch]))) * 8000 / len(samples) for ch in (0, 1)]
    assert peaks == [pytest.approx(440, abs=2), pytest.approx(1000, abs=2)]


@pytest.mark.django_db
def test_range_requests_return_206_with_the_exact_bytes(staff_client, agent):
    call = make_call(agent=agent, recording_seconds=1.0)
    whole = default_storage.open(call.recording.file.name).read()
    size = len(whole)
    cases = {
        "bytes=0-99": (0, 99),
        "bytes=1000-": (1000, size - 1),
        "bytes=-500": (size - 500, size - 1),
        f"bytes=100-{size * 2}": (100, size - 1),  # an end past the file is clamped
    }
    for header, (first, last) in cases.items():
        response = staff_client.get(f"/calls/{call.pk}/recording.wav", HTTP_RANGE=header)
        assert response.status_code == 206, header
        assert response["Content-Range"] == f"bytes {first}-{last}/{size}"
        assert response["Accept-Ranges"] == "bytes"
        body = _body(response)
        assert body == whole[first : last + 1] and int(response["Content-Length"]) == len(body)


@pytest.mark.django_db
def test_unsatisfiable_and_odd_ranges(staff_client, agent):
    """Thrown at it: a range past the end, a reversed range, a zero-length suffix, a multi-range and
    another unit. Survives: 416 with `bytes */size` for the impossible ones, the whole file (200) for
    the ones we do not serve as ranges."""
    call = make_call(agent=agent, recording_seconds=0.5)
    size = default_storage.size(call.recording.file.name)
    url = f"/calls/{call.pk}/recording.wav"
    for header in (f"bytes={size}-", "bytes=500-100", "bytes=-0"):
        response = staff_client.get(url, HTTP_RANGE=header)
        assert response.status_code == 416, header
        assert response["Content-Range"] == f"bytes */{size}"
    for header in ("bytes=0-1,5-9", "items=0-4", "bytes=abc"):
        response = staff_client.get(url, HTTP_RANGE=header)
        assert response.status_code == 200 and len(_body(response)) == size, header


@pytest.mark.django_db
def test_call_without_recording_or_with_a_deleted_file_is_404(staff_client, agent):
    assert staff_client.get(f"/calls/{make_call(agent=agent).pk}/recording.wav").status_code == 404
    call = make_call(agent=agent, recording_seconds=0.2)
    default_storage.delete(call.recording.file.name)
    assert staff_client.get(f"/calls/{call.pk}/recording.wav").status_code == 404
    assert staff_client.get(f"/calls/{call.pk}/").status_code == 200
