"""contactcenter.malloc: a process that carries calls keeps at most two glibc malloc arenas."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.support.live import ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc arenas")

# Eight threads alive at once, each allocating and freeing buffers the size of audio chunks, then glibc's
# own report of its arenas ("Arena N:" per arena, on stderr).
PROGRAM = textwrap.dedent(
    """
    import ctypes, sys, threading
    from contactcenter.malloc import cap_arenas
    print(cap_arenas() if sys.argv[1] == "cap" else None, flush=True)
    ready = threading.Barrier(9)
    def work():
        kept = [bytes(4096 + i) for i in range(200)]
        ready.wait()
        kept.clear()
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    ready.wait()
    for t in threads:
        t.join()
    ctypes.CDLL(None).malloc_stats()
    """
)


def arenas(mode: str, **env: str) -> tuple[str, int]:
    base = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip(), sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def test_two_arenas_however_many_threads_allocate():
    """Thrown at it: eight threads allocating 4 KB buffers at once, in a process that called cap_arenas
    and in one that did not. Holds: glibc reports at most two arenas with the cap, more without it."""
    took, capped = arenas("cap")
    assert took == "True" and 1 <= capped <= 2
    _, uncapped = arenas("none")
    assert uncapped > 2


def test_the_operators_own_setting_wins():
    """Thrown at it: MALLOC_ARENA_MAX=4 in the environment. Holds: cap_arenas leaves it alone (glibc's
    own reading of the variable stands: up to four arenas, not two)."""
    took, count = arenas("cap", MALLOC_ARENA_MAX="4")
    assert took == "False" and 2 < count <= 4
