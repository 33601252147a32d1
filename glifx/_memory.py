"""Handing the C allocator's free memory back to the system between pipeline stages.

glibc keeps the pages of freed arrays below its mmap threshold (which rises to 32 MB after the
first large free) in its heaps, one per thread that allocated: after a stage of many 4-40 MB
temporaries on several threads (preparing the sweeps, the after-spike-current regressions) a
quarter of a GB can stay resident, unused, under the next stage.  :func:`release_free_memory`
returns it (``malloc_trim(0)``: a few ms; the next stage faults in what it uses again).
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` on another C library or system."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
    except (OSError, AttributeError):  # musl and others have none
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Return the allocator's free pages to the system (glibc; elsewhere nothing happens)."""
    if _TRIM is not None:
        _TRIM(0)
