"""Compiled kernels of :mod:`glifx.fitting` (private; the public API validates and documents).

Every kernel here has a slow, obviously correct counterpart in ``tests/test_fitting_*.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from glifx._numba import CACHE
from glifx.glif._kernels import FLUSH_EVERY, flush_tiny

# --------------------------------------------------------------------------- explained variance


@njit(cache=CACHE, nogil=True)
def smoothed_train_sum(steps: np.ndarray, n: int, csum: np.ndarray, h: int) -> float:
    """Sum over the grid of a spike train convolved ('same' mode) with a kernel of half-width h.

    ``csum[k]`` is the sum of the first ``k`` kernel taps (length ``2h + 2``); the kernel is cut
    where it leaves the grid ``[0, n)``, exactly as ``np.convolve(train, g, "same")`` does.
    """
    total = 0.0
    for a in steps:
        lo = max(0, a - h) - a + h
        hi = min(n - 1, a + h) - a + h
        if hi >= lo:
            total += csum[hi + 1] - csum[lo]
    return total


@njit(cache=CACHE, nogil=True)
def smoothed_train_dot(
    steps_a: np.ndarray, steps_b: np.ndarray, n: int, g: np.ndarray, acorr: np.ndarray
) -> float:
    """Dot product over the grid of two convolved spike trains (kernel ``g``, length ``2h + 1``).

    ``steps_a`` and ``steps_b`` are sorted sample indices in ``[0, n)``.  Only spike pairs closer
    than ``2h`` contribute; a pair whose overlap lies inside the grid contributes the kernel's
    autocorrelation ``acorr[|a - b|]``, a pair cut by a grid edge is summed directly.
    """
    h = (g.size - 1) // 2
    total = 0.0
    start = 0
    nb = steps_b.size
    for a in steps_a:
        while start < nb and steps_b[start] < a - 2 * h:
            start += 1
        j = start
        while j < nb and steps_b[j] <= a + 2 * h:
            b = steps_b[j]
            t_lo = max(a, b) - h
            t_hi = min(a, b) + h
            if t_lo >= 0 and t_hi <= n - 1:
                total += acorr[abs(b - a)]
            else:
                for t in range(max(t_lo, 0), min(t_hi, n - 1) + 1):
                    total += g[t - a + h] * g[t - b + h]
            j += 1
    return total


# --------------------------------------------------------------------------- spike-triggered bases


@njit(cache=CACHE, nogil=True)
def exp_basis(n: int, spikes: np.ndarray, cut: int, rate_dt: float) -> np.ndarray:
    """Sum over spikes ``s`` of ``exp(-rate_dt * (m - s - cut))`` for ``m >= s + cut``, else 0.

    This is the after-spike current (or spike threshold component) of unit amplitude that the GLIF
    simulator injects at the end of each spike cut (``rate_dt`` = rate constant × dt).
    """
    out = np.empty(n)
    decay = np.exp(-rate_dt)
    j = 0
    ns = spikes.size
    acc = 0.0
    m = 0
    while m < n:
        # samples before the next injection only decay: a loop without the spike tests (twice
        # as fast at 200 kHz; the same operations in the same order)
        stop = n if j == ns else min(max(spikes[j] + cut, m), n)
        for k in range(m, stop):
            acc *= decay
            if k % FLUSH_EVERY == 0:  # see glifx.glif._kernels.TINY
                acc = flush_tiny(acc)
            out[k] = acc
        m = stop
        if m == n:
            break
        acc *= decay
        if m % FLUSH_EVERY == 0:
            acc = flush_tiny(acc)
        while j < ns and spikes[j] + cut == m:
            acc += 1.0
            j += 1
        while j < ns and spikes[j] + cut < m:  # overlapping cuts: inject late spikes at once
            acc += np.exp(-rate_dt * (m - spikes[j] - cut))
            j += 1
        out[m] = acc
        m += 1
    return out


#: Longest block :func:`block_means` sums as numpy does (numpy's pairwise summation sums up to
#: this many values with eight partial sums, longer ones by halves).
PAIRWISE_BLOCK = 128


@njit(inline="always")
def _pairwise_sum(x: np.ndarray, a: int, n: int) -> float:  # pragma: no cover - compiled
    """``x[a : a + n].sum()`` in numpy's order for ``n <= PAIRWISE_BLOCK`` (its pairwise
    summation: one running sum below 8 values, else 8 partial sums combined pairwise, then the
    remainder)."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += x[a + i]
        return res
    r0, r1, r2, r3 = x[a], x[a + 1], x[a + 2], x[a + 3]
    r4, r5, r6, r7 = x[a + 4], x[a + 5], x[a + 6], x[a + 7]
    i = 8
    while i < n - (n % 8):
        r0 += x[a + i]
        r1 += x[a + i + 1]
        r2 += x[a + i + 2]
        r3 += x[a + i + 3]
        r4 += x[a + i + 4]
        r5 += x[a + i + 5]
        r6 += x[a + i + 6]
        r7 += x[a + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += x[a + i]
        i += 1
    return res


@njit(cache=CACHE, nogil=True)
def block_means(x: np.ndarray, block: int) -> np.ndarray:
    """``x[:m * block].reshape(m, block).mean(axis=1)`` (``m = x.size // block``), bitwise,
    for ``2 <= block <= PAIRWISE_BLOCK``, without numpy's per-row overhead."""
    m = x.size // block
    out = np.empty(m)
    for k in range(m):
        out[k] = _pairwise_sum(x, k * block, block) / block
    return out


@njit(cache=CACHE, nogil=True)
def exp_basis_block_means(n: int, spikes: np.ndarray, cut: int, rate_dts: np.ndarray,
                          block: int) -> np.ndarray:
    """Row ``q``: :func:`block_means` of ``exp_basis(n, spikes, cut, rate_dts[q])``, bitwise,
    without the bases (the rates side by side in one pass; ``2 <= block <= PAIRWISE_BLOCK``)."""
    nr = rate_dts.size
    m = n // block
    out = np.empty((nr, m))
    buf = np.empty((nr, block))
    decay = np.empty(nr)
    acc = np.zeros(nr)
    for q in range(nr):
        decay[q] = np.exp(-rate_dts[q])
    j = 0
    ns = spikes.size
    for k in range(m * block):
        # exp_basis's step, sample by sample (its two loops are the same operations)
        for q in range(nr):
            acc[q] *= decay[q]
        if k % FLUSH_EVERY == 0:  # see glifx.glif._kernels.TINY
            for q in range(nr):
                acc[q] = flush_tiny(acc[q])
        while j < ns and spikes[j] + cut == k:
            for q in range(nr):
                acc[q] += 1.0
            j += 1
        while j < ns and spikes[j] + cut < k:  # overlapping cuts: inject late spikes at once
            for q in range(nr):
                acc[q] += np.exp(-rate_dts[q] * (k - spikes[j] - cut))
            j += 1
        r = k % block
        for q in range(nr):
            buf[q, r] = acc[q]
        if r == block - 1:
            for q in range(nr):
                out[q, k // block] = _pairwise_sum(buf[q], 0, block) / block
    return out


@njit(cache=CACHE, nogil=True)
def voltage_threshold_feature(
    v: np.ndarray, spikes: np.ndarray, cut: int, b_dt: float, dt: float
) -> np.ndarray:
    """θ_v / a_v at each spike, driven by the recorded voltage ``v`` (relative to rest).

    θ_v obeys dθ_v/dt = a_v V − b_v θ_v with V held at its previous sample over each step, and is
    frozen during spike cuts: after a spike at ``s`` the next update is at ``s + cut + 1`` (the
    simulator's loop).  It is linear in ``a_v``; this returns the value for ``a_v = 1`` at each
    spike sample, evaluated before any reset.  ``b_dt`` = b_v × dt.
    """
    out = np.full(spikes.size, np.nan)
    decay = np.exp(-b_dt)
    gain = dt if b_dt == 0.0 else (1.0 - decay) / (b_dt / dt)
    f = 0.0
    j = 0
    m = 1
    n = v.size
    ns = spikes.size
    while m < n and j < ns:
        while j < ns and spikes[j] < m:  # inside a cut (or at sample 0): not a model spike
            j += 1
        if j == ns:
            break
        f = f * decay + gain * v[m - 1]
        if m % FLUSH_EVERY == 0:  # see glifx.glif._kernels.TINY
            f = flush_tiny(f)
        if m == spikes[j]:
            out[j] = f
            j += 1
            m += cut + 1
        else:
            m += 1
    return out


@njit(cache=CACHE, nogil=True)
def voltage_threshold_features(
    v: np.ndarray, spikes: np.ndarray, cut: int, b_dts: np.ndarray, dt: float
) -> np.ndarray:
    """:func:`voltage_threshold_feature` at several decay rates in one pass: row ``q`` is its
    value for ``b_dts[q]``, bitwise (each rate's recursion is the same operations in the same
    order; side by side, their dependency chains overlap in the CPU instead of running one
    after the other)."""
    nb = b_dts.size
    out = np.full((nb, spikes.size), np.nan)
    decay = np.empty(nb)
    gain = np.empty(nb)
    for q in range(nb):
        decay[q] = np.exp(-b_dts[q])
        gain[q] = dt if b_dts[q] == 0.0 else (1.0 - decay[q]) / (b_dts[q] / dt)
    f = np.zeros(nb)
    j = 0
    m = 1
    n = v.size
    ns = spikes.size
    while m < n and j < ns:
        while j < ns and spikes[j] < m:  # inside a cut (or at sample 0): not a model spike
            j += 1
        if j == ns:
            break
        vm = v[m - 1]
        for q in range(nb):
            f[q] = f[q] * decay[q] + gain[q] * vm
        if m % FLUSH_EVERY == 0:  # see glifx.glif._kernels.TINY
            for q in range(nb):
                f[q] = flush_tiny(f[q])
        if m == spikes[j]:
            for q in range(nb):
                out[q, j] = f[q]
            j += 1
            m += cut + 1
        else:
            m += 1
    return out


@njit(cache=CACHE, nogil=True)
def model_spikes(spikes: np.ndarray, cut: int) -> np.ndarray:
    """Mask of the spikes a GLIF model can emit: not inside the cut (``s+1 … s+cut``) of the
    previous kept spike."""
    keep = np.zeros(spikes.size, dtype=np.bool_)
    last = -(1 << 62)
    for j in range(spikes.size):
        if spikes[j] > last + cut:
            keep[j] = True
            last = spikes[j]
    return keep


@njit(cache=CACHE, nogil=True)
def spike_history(spikes: np.ndarray, cut: int, b_dt: float) -> np.ndarray:
    """Σ over earlier spikes ``p`` of ``exp(-b_dt (s - p - cut))`` at each spike ``s`` (the spike
    threshold component of unit jump, before the spike's own reset).  ``spikes`` must be model
    spikes (each after the previous one's cut)."""
    out = np.zeros(spikes.size)
    acc = 0.0
    for j in range(1, spikes.size):
        acc = (acc + 1.0) * np.exp(-b_dt * (spikes[j] - spikes[j - 1]))
        out[j] = acc * np.exp(b_dt * cut)
    return out


@njit(cache=CACHE, nogil=True)
def difference_weighted_means(x: np.ndarray, block: int, m: int) -> np.ndarray:
    """``m`` means of ``x`` over blocks ``k`` and ``k + 1`` with triangular weights
    ``1, 2, …, block, …, 2, 1`` (``2 block - 1`` samples from ``k · block``) divided by
    ``block²``; 0 where the samples run out.  One pass, no temporaries."""
    return masked_difference_weighted_means(x, np.ones(0, dtype=np.bool_), block, m)


@njit(cache=CACHE, nogil=True)
def masked_difference_weighted_means(x: np.ndarray, keep: np.ndarray, block: int,
                                     m: int) -> np.ndarray:
    """:func:`difference_weighted_means` of ``where(keep, x, 0)`` without building it
    (``keep`` empty: all of ``x``).

    Each mean is summed sample by sample in order (``acc += w * x``); four consecutive means are
    summed side by side, so that their four dependency chains overlap in the CPU (the same
    operations in the same order per mean as one at a time: bitwise the same values).
    """
    out = np.zeros(m)
    n = x.size
    masked = keep.size > 0
    width = 2 * block - 1
    scale = 1.0 / (block * block)
    weights = np.empty(width)
    for j in range(width):
        weights[j] = j + 1 if j < block else width - j
    # means whose 2 block - 1 samples all lie in x (the others stay 0)
    full = 0 if n < width else min(m, (n - width) // block + 1)
    k = 0
    while k + 4 <= full:
        s0 = k * block
        s1 = s0 + block
        s2 = s1 + block
        s3 = s2 + block
        a0 = a1 = a2 = a3 = 0.0
        for j in range(width):
            w = weights[j]
            if masked:
                x0 = x[s0 + j] if keep[s0 + j] else 0.0
                x1 = x[s1 + j] if keep[s1 + j] else 0.0
                x2 = x[s2 + j] if keep[s2 + j] else 0.0
                x3 = x[s3 + j] if keep[s3 + j] else 0.0
            else:
                x0, x1, x2, x3 = x[s0 + j], x[s1 + j], x[s2 + j], x[s3 + j]
            a0 += w * x0
            a1 += w * x1
            a2 += w * x2
            a3 += w * x3
        out[k] = a0 * scale
        out[k + 1] = a1 * scale
        out[k + 2] = a2 * scale
        out[k + 3] = a3 * scale
        k += 4
    while k < full:
        start = k * block
        acc = 0.0
        for j in range(width):
            xj = x[start + j] if not masked or keep[start + j] else 0.0
            acc += weights[j] * xj
        out[k] = acc * scale
        k += 1
    return out


@njit(cache=CACHE, nogil=True)
def column_sums_of_squares(x: np.ndarray) -> np.ndarray:
    """``np.sum(x**2, axis=0)`` of a C-contiguous 2-D array without the squared copy: numpy
    reduces a C-ordered array over axis 0 row by row, in order, and so does this (bitwise the
    same sums)."""
    out = np.zeros(x.shape[1])
    for r in range(x.shape[0]):
        for c in range(x.shape[1]):
            out[c] += x[r, c] * x[r, c]
    return out


@njit(cache=CACHE, nogil=True)
def quasi_differenced_column(z: np.ndarray, col: int, values: np.ndarray, rows: np.ndarray,
                             rho: float) -> float:
    """In place ``z[:, col] = values[rows] - rho * values[rows - 1]``; returns the sum of its
    squares, accumulated in row order (:func:`column_sums_of_squares`'s value for that
    column)."""
    acc = 0.0
    for r in range(rows.size):
        q = values[rows[r]] - rho * values[rows[r] - 1]
        z[r, col] = q
        acc += q * q
    return acc


# ------------------------------------------------------------------------------------ epochs


@njit(cache=CACHE, nogil=True)
def away_runs(x: np.ndarray, base: float, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Half-open index ranges ``[start, stop)`` of the runs of ``abs(x - base) > tol``, in one
    pass (the edges of ``np.diff`` of that mask, padded with False, without the mask's copies).

    Returns
    -------
    starts, stops
        int64 arrays of equal length, in order.
    """
    n = x.size
    count = 0
    inside = False
    for k in range(n):  # count the runs first: exact-size outputs
        away = abs(x[k] - base) > tol
        if away and not inside:
            count += 1
        inside = away
    starts = np.empty(count, dtype=np.int64)
    stops = np.empty(count, dtype=np.int64)
    j = 0
    inside = False
    for k in range(n):
        away = abs(x[k] - base) > tol
        if away and not inside:
            starts[j] = k
        elif inside and not away:
            stops[j] = k
            j += 1
        inside = away
    if inside:
        stops[j] = n
    return starts, stops


# --------------------------------------------------------------------------- file samples
@njit(cache=CACHE, nogil=True)
def _from_raw(r, scale: float, offset: float, factor: float, shift: float) -> float:
    """``(float64(r) * scale + offset) * factor - shift``, with the steps that
    ``glifx.fitting.data.SISamples`` leaves out (scale 1, offset 0, shift 0) left out too."""
    t = np.float64(r)
    if scale != 1.0:
        t = t * scale
    if offset != 0.0:
        t = t + offset
    t = t * factor
    if shift != 0.0:
        t = t - shift
    return t


@njit(cache=CACHE, nogil=True)
def samples_of_values(values: np.ndarray, raw: np.ndarray, scale: float, offset: float,
                      factor: float, shift: float, integer: bool, lo: float, hi: float,
                      bad: np.ndarray) -> int:
    """Fill ``raw`` (the file's type) with the inverse conversion of ``values``, rounded to the
    type, and count the samples that do not give their value back bit for bit
    (:func:`_from_raw`; for integer types also those outside ``[lo, hi]``, set to 0); the
    first ``bad.size`` of their indices go to ``bad``."""
    inv_factor, inv_scale = 1.0 / factor, 1.0 / scale  # a guess only: checked below
    n_bad = 0
    for k in range(values.size):
        x = values[k]
        y = x + shift if shift != 0.0 else x  # as _from_raw: -0.0 stays -0.0
        y = y * inv_factor
        if offset != 0.0:
            y = y - offset
        y = y * inv_scale
        ok = True
        if integer:
            y = np.rint(y)
            if not (lo <= y <= hi):
                y, ok = 0.0, False
        raw[k] = y
        if not (ok and _same(_from_raw(raw[k], scale, offset, factor, shift), x)):
            if n_bad < bad.size:
                bad[n_bad] = k
            n_bad += 1
    return n_bad


@njit(cache=CACHE, nogil=True)
def _same(a: float, b: float) -> bool:
    """``a`` and ``b`` are the same float64, bit for bit (0.0 and -0.0 differ; no NaN is)."""
    return a == b and (a != 0.0 or np.copysign(1.0, a) == np.copysign(1.0, b))
