"""Compiled kernels of the report's trace reduction (private).

Plain arrays in, plain arrays out; no validation (:mod:`glifx.report.plots` does that).  Every
kernel here has a slow numpy reference in ``tests/test_report.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from glifx._numba import CACHE


@njit(cache=CACHE, nogil=True)
def block_extrema(y, block):  # pragma: no cover - compiled
    """Index of the minimum and of the maximum of ``y`` in each block of ``block`` samples
    (the last block may be shorter), NaN ignored.

    The indices are those of ``np.argmin`` / ``np.argmax`` over each block with NaN replaced by
    +inf / -inf (the first one on ties; the block's first sample when all are NaN), in one pass
    and without the padded copies that needs.

    Returns
    -------
    imin, imax
        int64 arrays of ``ceil(y.size / block)`` sample indices into ``y``.
    """
    n = y.size
    nb = (n + block - 1) // block
    imin = np.empty(nb, dtype=np.int64)
    imax = np.empty(nb, dtype=np.int64)
    for b in range(nb):
        start = b * block
        end = min(start + block, n)
        x = y[start]
        lo = np.inf if np.isnan(x) else x
        hi = -np.inf if np.isnan(x) else x
        klo = start
        khi = start
        for k in range(start + 1, end):
            x = y[k]
            if np.isnan(x):
                continue
            if x < lo:
                lo = x
                klo = k
            if x > hi:
                hi = x
                khi = k
        imin[b] = klo
        imax[b] = khi
    return imin, imax


@njit(cache=CACHE, nogil=True)
def block_minmax_gaps(y, block):  # pragma: no cover - compiled
    """Per block of ``block`` samples: the indices of its minimum and maximum in time order,
    whether it holds a NaN and whether it is all NaN; the last block, when shorter, counts as
    holding a NaN (as if padded with NaN to full length).

    The minimum and maximum are those of :func:`block_extrema` (NaN ignored, first on ties,
    the block's first sample when all are NaN).

    Returns
    -------
    first, second
        int64 sample indices into ``y``, ``first <= second``.
    gap, empty
        bool arrays: any NaN (or padding), all NaN.
    """
    n = y.size
    nb = (n + block - 1) // block
    first = np.empty(nb, dtype=np.int64)
    second = np.empty(nb, dtype=np.int64)
    gap = np.zeros(nb, dtype=np.bool_)
    empty = np.zeros(nb, dtype=np.bool_)
    for b in range(nb):
        start = b * block
        end = min(start + block, n)
        lo = np.inf
        hi = -np.inf
        klo = start
        khi = start
        nan = 0
        for k in range(start, end):
            x = y[k]
            if np.isnan(x):
                nan += 1
                continue
            if x < lo:
                lo = x
                klo = k
            if x > hi:
                hi = x
                khi = k
        first[b] = min(klo, khi)
        second[b] = max(klo, khi)
        gap[b] = nan > 0 or end - start < block
        empty[b] = nan == end - start
    return first, second, gap, empty
