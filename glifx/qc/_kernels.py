"""Compiled kernels of sweep QC (private).

Plain arrays in, plain numbers out; no validation (the public modules do that).  Each kernel
replaces several numpy passes (and their temporary arrays) over a whole sweep by one loop: at
200 kHz a 25 s Noise sweep is 5 million samples, and QC looks at every sweep.  Every kernel here
has a slow numpy reference in ``tests/test_qc_kernels.py``.

Units: ``v`` mV, ``i`` pA (any unit works: only comparisons and counts are made).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from glifx._numba import CACHE


@njit(cache=CACHE, nogil=True)
def voltage_pass(v, stop, split, q_lo, q_hi, b_lo, b_hi):  # pragma: no cover - compiled
    """One pass over a voltage trace: what QC's integrity checks and the plausibility warnings
    need of it.

    Parameters
    ----------
    v
        The trace (float64, mV).
    stop
        NaN samples are counted among ``v[:stop]``.
    split
        The "before" part (the baseline before the stimulus) is ``v[:split]``.
    q_lo, q_hi
        Range counted against over all finite samples (QC's plausible median range, mV).
    b_lo, b_hi
        Range counted against over the finite samples of ``v[:split]`` (the plausible baseline
        range, mV).

    Returns
    -------
    tuple
        ``(n_nan, n_finite, first, low, high, q_below, q_above, n_before, b_below, b_above)``:
        NaN count in ``v[:stop]``; number, first value, minimum and maximum of the finite samples
        (``first`` NaN, ``low`` inf and ``high`` -inf when none); how many are ``< q_lo`` and
        ``> q_hi``; number of finite samples in ``v[:split]`` and how many of those are
        ``< b_lo`` and ``> b_hi``.
    """
    n_nan = 0
    n_finite = 0
    first = np.nan
    low = np.inf
    high = -np.inf
    q_below = 0
    q_above = 0
    n_before = 0
    b_below = 0
    b_above = 0
    for k in range(v.size):
        x = v[k]
        if np.isnan(x):
            if k < stop:
                n_nan += 1
            continue
        if np.isinf(x):
            continue
        if n_finite == 0:
            first = x
        n_finite += 1
        if x < low:
            low = x
        if x > high:
            high = x
        if x < q_lo:
            q_below += 1
        if x > q_hi:
            q_above += 1
        if k < split:
            n_before += 1
            if x < b_lo:
                b_below += 1
            if x > b_hi:
                b_above += 1
    return n_nan, n_finite, first, low, high, q_below, q_above, n_before, b_below, b_above


@njit(cache=CACHE, nogil=True)
def count_nan(x):  # pragma: no cover - compiled
    """Number of NaN samples of ``x`` (``np.count_nonzero(np.isnan(x))`` without the mask)."""
    n = 0
    for k in range(x.size):
        if np.isnan(x[k]):
            n += 1
    return n
