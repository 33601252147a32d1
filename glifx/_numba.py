"""Whether numba can cache compiled kernels here, decided once at import; which kernels its
cache does not hold yet; how long compiling took.

numba refuses to decorate a ``cache=True`` function (``RuntimeError: cannot cache function ...:
no locator available``) when it finds no writable cache location: a read-only install without
``NUMBA_CACHE_DIR`` and without a writable home.  Every kernel module uses :data:`CACHE` instead
of ``cache=True``, so glifx then compiles on each run instead of failing, and says so once on
stderr.

The first run after an install (or an update of a kernel module) compiles every kernel it uses,
about a minute on 2 cores; later runs load them from numba's cache in well under a second.
:func:`uncached_kernels` says up front which kernel modules will compile, and
:class:`CompileClock` measures the compilation, so that stage times can be given without it.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numba
from numba.core import event

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


#: The modules holding glifx's numba kernels, with what they compute (for the compile notice).
KERNEL_MODULES = {
    "glifx.features._kernels": "spike detection",
    "glifx.glif._kernels": "GLIF simulation",
    "glifx.fitting._kernels": "fitting",
    "glifx.qc._kernels": "quality control",
    "glifx.report._kernels": "report traces",
    "glifx._sweep_kernels": "sweep epochs",
}


def _cache_holds(dispatcher: object) -> bool | None:
    """Whether numba's on-disk cache holds compiled code of ``dispatcher`` for its current
    source (an index file whose source stamp matches); ``None`` when it cannot tell."""
    try:
        cache_file = dispatcher._cache._cache_file  # type: ignore[attr-defined]
    except AttributeError:  # not cached (NullCache) or another numba: cannot tell
        return None
    try:
        return bool(cache_file._load_index())  # {} when missing or stale
    except Exception:  # noqa: BLE001 - a private numba API: unreadable means "cannot tell"
        return None


def uncached_kernels(modules: dict[str, str] | None = None) -> list[str]:
    """What the kernel modules that numba will compile on first use compute.

    A module counts when numba's cache holds none of its kernels for its current source (a
    fresh install, an edited module, a new numba) and none is compiled in this process yet.
    The check reads the cache's index files only (milliseconds).  It cannot see every case: a
    kernel called with argument types it was never compiled for still compiles, unannounced.

    Parameters
    ----------
    modules
        Module name -> description; default :data:`KERNEL_MODULES`.

    Returns
    -------
    list of str
        The descriptions of the modules that will compile, empty when none will (or when
        caching is off: :data:`NOTICE` was printed then).
    """
    if not CACHE:
        return []
    out = []
    for name, what in (KERNEL_MODULES if modules is None else modules).items():
        kernels = [v for v in vars(importlib.import_module(name)).values()
                   if isinstance(v, numba.core.registry.CPUDispatcher)]
        if any(k.signatures for k in kernels):  # already compiled or loaded in this process
            continue
        held = [_cache_holds(k) for k in kernels]
        if False in held and True not in held:  # some kernels never run alone: no index of theirs
            out.append(what)
    return out


class CompileClock:
    """Seconds numba spent compiling (cache misses only; loading from the cache is not
    counted), in every thread, while installed with :meth:`running`.

    Attributes
    ----------
    seconds
        Compilation time so far, s.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()

    def _add(self, duration: float) -> None:
        with self._lock:
            self.seconds += duration

    @contextmanager
    def running(self) -> Iterator[CompileClock]:
        """Count compilations while the block runs."""
        listener = _Listener(self._add)
        with event.install_listener("numba:compile", listener):
            yield self


class _Listener(event.Listener):
    """Adds the duration of each outermost ``numba:compile`` event (a kernel compiles the
    kernels it calls inside its own event: counted once)."""

    def __init__(self, add: object) -> None:
        self._add, self._depth, self._t0 = add, 0, 0.0

    def on_start(self, ev: event.Event) -> None:
        if self._depth == 0:
            self._t0 = time.perf_counter()
        self._depth += 1  # numba compiles under its global lock: one compilation at a time

    def on_end(self, ev: event.Event) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._add(time.perf_counter() - self._t0)  # type: ignore[operator]
