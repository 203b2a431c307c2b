"""At most two glibc malloc arenas in a process that carries calls (RSS per call, issue 16).

glibc gives each new thread its own malloc arena, up to eight per core. A media process's threads
(the recording writer, the database and Celery hand-off threads, the loop's executor) then each keep
freed audio buffers in an arena of their own, and that memory stays resident: at 30 calls the
streams process held 1.08 MB per call with glibc's default and 0.92 MB with two arenas
(`bench/vs_pipecat.py --vary MALLOC_ARENA_MAX=16,2`, one run each, 2026-12-04), for the same CPU.
Two is the usual cap for Python services. An operator's own `MALLOC_ARENA_MAX` wins: glibc reads it at
start, and this leaves it alone. Elsewhere (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import os

M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2


def cap_arenas(arenas: int = ARENAS) -> bool:
    """Cap this process's malloc arenas (before it starts threads); True where glibc took the cap."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library to ask, or not one with mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
