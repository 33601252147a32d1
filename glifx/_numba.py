"""Whether numba can cache compiled kernels here, decided once at import.

numba refuses to decorate a ``cache=True`` function (``RuntimeError: cannot cache function ...:
no locator available``) when it finds no writable cache location: a read-only install without
``NUMBA_CACHE_DIR`` and without a writable home.  Every kernel module uses :data:`CACHE` instead
of ``cache=True``, so glifx then compiles on each run instead of failing, and says so once on
stderr.
"""

from __future__ import annotations

import sys

import numba

NOTICE = ("glifx: notice: numba finds no writable cache location (set NUMBA_CACHE_DIR to a "
          "writable folder); compiled kernels are not cached, so each run compiles them again")


def _probe() -> int:  # pragma: no cover - never called, only decorated
    return 0


def _can_cache() -> bool:
    try:
        numba.njit(cache=True)(_probe)
    except RuntimeError:  # "cannot cache function '_probe': no locator available"
        print(NOTICE, file=sys.stderr)
        return False
    return True


#: ``cache=`` argument of every ``numba.njit`` in glifx
CACHE: bool = _can_cache()
