"""Compiled kernels of :mod:`glifx.sweep` (private).

A sweep's epochs (:attr:`glifx.Sweep.epochs`) need a handful of indices from its whole current
and voltage: the last finite voltage sample, and the first and last places where the command
changes.  Found with numpy, each is a temporary array as long as the sweep (a 25 s Noise sweep
at 200 kHz changes its command at almost every one of its 5 million samples); these loops keep
only the indices.  The slow numpy reference is in ``tests/test_sweep_kernels.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from glifx._numba import CACHE

#: How many of the first changes of the command :func:`command_changes` reports.
FIRST_CHANGES = 3


@njit(cache=CACHE, nogil=True)
def last_finite(v):  # pragma: no cover - compiled
    """Index of the last finite sample of ``v`` (any float array), ``-1`` when there is none."""
    for k in range(v.size - 1, -1, -1):
        if np.isfinite(v[k]):
            return k
    return -1


@njit(cache=CACHE, nogil=True)
def command_changes(i):  # pragma: no cover - compiled
    """Where a command changes: sample ``k`` is a change when ``i[k + 1] != i[k]``.

    Parameters
    ----------
    i
        The command (any float array, any unit).

    Returns
    -------
    tuple
        ``(finite, count, first, last)``: whether every sample is finite (when not, the other
        entries are meaningless), the number of changes, the first :data:`FIRST_CHANGES` change
        indices (int64 array of that length, its tail ``-1`` when fewer), the last change index
        (``-1`` when none).
    """
    first = np.full(FIRST_CHANGES, -1, dtype=np.int64)
    count = 0
    last = -1
    n = i.size
    for k in range(n):
        if not np.isfinite(i[k]):
            return False, 0, first, -1
    for k in range(n - 1):
        if i[k + 1] != i[k]:
            if count < FIRST_CHANGES:
                first[count] = k
            count += 1
            last = k
    return True, count, first, last
