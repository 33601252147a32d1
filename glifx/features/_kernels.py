"""Compiled kernels of spike detection and spike features (private).

Plain arrays in, plain arrays out; no pandas, no validation (the public modules do that).
Index conventions follow ipfx 2.1.2 exactly (half-open slices ``[a, b)``, "first" on ties), so that
glifx and ipfx find the same samples.  Every kernel here has a slow reference implementation in
``tests/test_features_kernels.py``.

Units: ``t`` s, ``v`` mV, ``dvdt`` V/s (= mV/ms).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from glifx._numba import CACHE

# --------------------------------------------------------------------------- filtering


@njit(cache=CACHE)
def _lfilter4(b, a, x, z0, z1, z2, z3, backward):
    """Order-4 IIR filter of ``x`` in place (``a[0] == 1``) from the direct-form-II-transposed
    initial state ``z0..z3``, as ``scipy.signal.lfilter``, run forwards or backwards; returns the
    last output.

    Same arithmetic as DF-II-T, regrouped so that one output depends on the previous one through a
    single multiply-subtract (``w`` is ``z0`` without its ``-a1 * y`` term): twice as fast.
    """
    b0, b1, b2, b3, b4 = b[0], b[1], b[2], b[3], b[4]
    a1, a2, a3, a4 = a[1], a[2], a[3], a[4]
    n = x.size
    w = z0
    y_prev = 0.0
    step = -1 if backward else 1
    k = n - 1 if backward else 0
    for _ in range(n):
        xk = x[k]
        yk = (b0 * xk + w) - a1 * y_prev
        w = b1 * xk + z1
        z1 = (b2 * xk + z2) - a2 * yk
        z2 = (b3 * xk + z3) - a3 * yk
        z3 = b4 * xk - a4 * yk
        y_prev = yk
        x[k] = yk
        k += step
    return y_prev


@njit(cache=CACHE)
def filtfilt(b, a, zi, x):
    """Zero-phase 4th-order IIR filtering with odd padding, as ``scipy.signal.filtfilt``
    (method "pad", padlen 15).

    ``b``, ``a`` have 5 coefficients with ``a[0] == 1``; ``zi`` is
    ``scipy.signal.lfilter_zi(b, a)``.  Needs ``x.size > 15``.
    """
    n = x.size
    pad = 15
    ext = np.empty(n + 2 * pad)
    for k in range(pad):
        ext[k] = 2.0 * x[0] - x[pad - k]
        ext[n + pad + k] = 2.0 * x[n - 1] - x[n - 2 - k]
    ext[pad:pad + n] = x
    x0 = ext[0]
    y0 = _lfilter4(b, a, ext, zi[0] * x0, zi[1] * x0, zi[2] * x0, zi[3] * x0, False)
    _lfilter4(b, a, ext, zi[0] * y0, zi[1] * y0, zi[2] * y0, zi[3] * y0, True)
    return ext[pad:pad + n]


@njit(cache=CACHE, inline="always")
def _padded(v, p):
    """Sample ``p`` of ``v`` extended by scipy's odd padding on both sides."""
    n = v.size
    if p < 0:
        return 2.0 * v[0] - v[-p]
    if p >= n:
        return 2.0 * v[n - 1] - v[2 * (n - 1) - p]
    return v[p]


@njit(cache=CACHE, fastmath=True)
def _lanes4_forward_from(v, st, X, b, a, zi):
    """Forward pass of four overlapping stretches of the odd-padded ``v`` (stretch ``c`` starts at
    padded position ``st[c]``, padding 15) side by side, into the rows of ``X``: four independent
    recursions (regrouped DF-II-T, see :func:`_lfilter4`) interleaved, so that the processor
    overlaps their dependency chains (numba leaves LLVM's SLP vectoriser off: they are not packed
    into one SIMD register).  Each stretch starts from its steady state at its first sample, as
    scipy."""
    b0, b1, b2, b3, b4 = b[0], b[1], b[2], b[3], b[4]
    a1, a2, a3, a4 = a[1], a[2], a[3], a[4]
    L = X.shape[0]
    n = v.size
    o0, o1, o2, o3 = st[0] - 15, st[1] - 15, st[2] - 15, st[3] - 15
    safe_lo = -o0 if o0 < 0 else 0
    safe_hi = min(L, n - o3)
    s0 = _padded(v, st[0] - 15)
    w0, p0, q0, r0, y0 = zi[0] * s0, zi[1] * s0, zi[2] * s0, zi[3] * s0, 0.0
    s1 = _padded(v, st[1] - 15)
    w1, p1, q1, r1, y1 = zi[0] * s1, zi[1] * s1, zi[2] * s1, zi[3] * s1, 0.0
    s2 = _padded(v, st[2] - 15)
    w2, p2, q2, r2, y2 = zi[0] * s2, zi[1] * s2, zi[2] * s2, zi[3] * s2, 0.0
    s3 = _padded(v, st[3] - 15)
    w3, p3, q3, r3, y3 = zi[0] * s3, zi[1] * s3, zi[2] * s3, zi[3] * s3, 0.0
    for k in range(L):
        if safe_lo <= k < safe_hi:
            x0 = v[o0 + k]
            x1 = v[o1 + k]
            x2 = v[o2 + k]
            x3 = v[o3 + k]
        else:
            x0 = _padded(v, o0 + k)
            x1 = _padded(v, o1 + k)
            x2 = _padded(v, o2 + k)
            x3 = _padded(v, o3 + k)
        y0 = (b0 * x0 + w0) - a1 * y0
        y1 = (b0 * x1 + w1) - a1 * y1
        y2 = (b0 * x2 + w2) - a1 * y2
        y3 = (b0 * x3 + w3) - a1 * y3
        w0 = b1 * x0 + p0
        w1 = b1 * x1 + p1
        w2 = b1 * x2 + p2
        w3 = b1 * x3 + p3
        p0 = (b2 * x0 + q0) - a2 * y0
        p1 = (b2 * x1 + q1) - a2 * y1
        p2 = (b2 * x2 + q2) - a2 * y2
        p3 = (b2 * x3 + q3) - a2 * y3
        q0 = (b3 * x0 + r0) - a3 * y0
        q1 = (b3 * x1 + r1) - a3 * y1
        q2 = (b3 * x2 + r2) - a3 * y2
        q3 = (b3 * x3 + r3) - a3 * y3
        r0 = b4 * x0 - a4 * y0
        r1 = b4 * x1 - a4 * y1
        r2 = b4 * x2 - a4 * y2
        r3 = b4 * x3 - a4 * y3
        X[k, 0] = y0
        X[k, 1] = y1
        X[k, 2] = y2
        X[k, 3] = y3


# Deliberately the forward pass's recursion again (`duplicates` pairs the two): this pass runs
# the rows in reverse with the derivative fused into the same loop, and in both the four lanes
# are written out as independent chains (see _lanes4_forward_from).
@njit(cache=CACHE, fastmath=True)
def _lanes4_backward_derivative(X, b, a, zi, R, st, lo, hi, out):
    """Backward pass of :func:`_lanes4_forward_from` fused with the derivative: for row ``k`` and lane
    ``c`` (padded position ``st[c] + k``, sample ``j = st[c] + k - 15``), writes
    ``out[j] = (z[j + 1] - z[j]) * R[c, k]`` (V/s) when ``lo[c] <= k < hi[c]``, where
    ``R[c, k] = 1e-3 / (t[j + 1] - t[j])`` (:func:`_inverse_steps`).  Rows where every lane writes
    run without tests.
    """
    b0, b1, b2, b3, b4 = b[0], b[1], b[2], b[3], b[4]
    a1, a2, a3, a4 = a[1], a[2], a[3], a[4]
    L = X.shape[0]
    all_lo = max(max(lo[0], lo[1]), max(lo[2], lo[3]))
    all_hi = min(min(hi[0], hi[1]), min(hi[2], hi[3]))
    j0, j1, j2, j3 = st[0] - 15, st[1] - 15, st[2] - 15, st[3] - 15
    s0 = X[L - 1, 0]
    w0, p0, q0, r0, y0 = zi[0] * s0, zi[1] * s0, zi[2] * s0, zi[3] * s0, 0.0
    s1 = X[L - 1, 1]
    w1, p1, q1, r1, y1 = zi[0] * s1, zi[1] * s1, zi[2] * s1, zi[3] * s1, 0.0
    s2 = X[L - 1, 2]
    w2, p2, q2, r2, y2 = zi[0] * s2, zi[1] * s2, zi[2] * s2, zi[3] * s2, 0.0
    s3 = X[L - 1, 3]
    w3, p3, q3, r3, y3 = zi[0] * s3, zi[1] * s3, zi[2] * s3, zi[3] * s3, 0.0
    for k in range(L - 1, -1, -1):
        x0 = X[k, 0]
        x1 = X[k, 1]
        x2 = X[k, 2]
        x3 = X[k, 3]
        u0 = y0
        u1 = y1
        u2 = y2
        u3 = y3
        y0 = (b0 * x0 + w0) - a1 * y0
        y1 = (b0 * x1 + w1) - a1 * y1
        y2 = (b0 * x2 + w2) - a1 * y2
        y3 = (b0 * x3 + w3) - a1 * y3
        w0 = b1 * x0 + p0
        w1 = b1 * x1 + p1
        w2 = b1 * x2 + p2
        w3 = b1 * x3 + p3
        p0 = (b2 * x0 + q0) - a2 * y0
        p1 = (b2 * x1 + q1) - a2 * y1
        p2 = (b2 * x2 + q2) - a2 * y2
        p3 = (b2 * x3 + q3) - a2 * y3
        q0 = (b3 * x0 + r0) - a3 * y0
        q1 = (b3 * x1 + r1) - a3 * y1
        q2 = (b3 * x2 + r2) - a3 * y2
        q3 = (b3 * x3 + r3) - a3 * y3
        r0 = b4 * x0 - a4 * y0
        r1 = b4 * x1 - a4 * y1
        r2 = b4 * x2 - a4 * y2
        r3 = b4 * x3 - a4 * y3
        if all_lo <= k < all_hi:
            out[j0 + k] = (u0 - y0) * R[0, k]
            out[j1 + k] = (u1 - y1) * R[1, k]
            out[j2 + k] = (u2 - y2) * R[2, k]
            out[j3 + k] = (u3 - y3) * R[3, k]
        else:
            if lo[0] <= k < hi[0]:
                out[j0 + k] = (u0 - y0) * R[0, k]
            if lo[1] <= k < hi[1]:
                out[j1 + k] = (u1 - y1) * R[1, k]
            if lo[2] <= k < hi[2]:
                out[j2 + k] = (u2 - y2) * R[2, k]
            if lo[3] <= k < hi[3]:
                out[j3 + k] = (u3 - y3) * R[3, k]


#: Padded samples whose dV/dt one lane of a block keeps (:func:`block_plan`): four lanes of this
#: many samples plus their margins (~0.55 MB at the 200 kHz margin) stay in one core's L2 cache
#: between the forward and the backward pass, instead of a work buffer as large as the sweep
#: being written and read back from memory.
BLOCK = 16384


@njit(cache=CACHE, nogil=True)
def block_plan(n, margin):
    """How :func:`filtered_derivative_blocks` cuts ``n`` samples: ``(groups, S, L)``.

    The padded signal (``n + 30`` samples) is cut into ``4 * groups`` segments of ``S`` samples
    (the last ones may be short or empty); each group of four is filtered as four lanes of ``L``
    samples (each segment with ``margin`` samples, and one more for the derivative, on each side,
    unless it touches an end of the signal).  ``groups`` is 0 when the signal is too short for
    lanes (``n + 30 < 16 * margin + 64``: use :func:`filtfilt`).
    """
    big = n + 30
    if big < 16 * margin + 64:
        return 0, 0, 0
    groups = (big + 4 * BLOCK - 1) // (4 * BLOCK)
    seg = (big + 4 * groups - 1) // (4 * groups)
    return groups, seg, min(big, seg + 2 * margin + 2)


@njit(cache=CACHE, nogil=True, error_model="numpy")
def _inverse_steps(t, j0, lo, hi, r):
    """``r[k] = 1e-3 / (t[j0 + k + 1] - t[j0 + k])`` (s^-1, scaled from mV/s to V/s) for ``k``
    in ``[lo, hi)``; returns how many of those time steps are not positive.

    One contiguous pass that the compiler vectorises (packed division; the backward pass then
    multiplies instead of dividing sample by sample, which changes dV/dt by an ulp at most).
    A zero step gives inf instead of raising (``error_model="numpy"``).
    """
    if hi <= lo:
        return 0
    tt = t[j0 + lo:j0 + hi + 1]
    rr = r[lo:hi]
    bad = 0
    for k in range(rr.size):  # a count from 0: no negative-index wraparound, so it vectorises
        dt = tt[k + 1] - tt[k]
        bad += dt <= 0.0
        rr[k] = 1e-3 / dt
    return bad


@njit(cache=CACHE, nogil=True)
def _group_samples(g, seg, n):
    """The samples ``[j0, j1)`` whose dV/dt block group ``g`` of :func:`block_plan` writes
    (``seg`` samples per segment, ``n`` samples in the signal)."""
    pad = 15
    j0 = max(4 * g * seg, pad) - pad
    return j0, max(min(4 * (g + 1) * seg, pad + n - 1) - pad, j0)


@njit(cache=CACHE, nogil=True)
def filtered_derivative_blocks(b, a, zi, v, t, margin, seg, g0, g1, X, R, out, vmin, vmax, dmin,
                               dmax):
    """dV/dt (V/s) of ``filtfilt(b, a, zi, v)`` at the samples of the block groups ``[g0, g1)``
    of :func:`block_plan`, written into ``out`` (length n - 1); ``v`` mV, ``t`` s.  Returns the
    number of time steps ``t[j + 1] - t[j] <= 0`` among those samples (the time base's
    validation, done on the way since every step is read here anyway).

    With ``vmin``, ``vmax`` (length ``n // B``) and ``dmin``, ``dmax`` (length ``(n - 1) // B``,
    ``B`` = :data:`SUMMARY_BLOCK`; empty: not wanted), also writes the block summaries
    (:func:`block_extremes`) of ``v`` and ``out`` for the blocks that lie wholly within a group,
    while its samples are still in cache; :func:`summary_seams` completes them.

    ``X`` and ``R`` are work buffers of shapes ``(L, 4)`` and ``(4, L)`` (contents ignored).
    Groups write disjoint parts of ``out``, so threads may run disjoint group ranges at once, each
    with its own buffers.

    Segment ``s`` of padded positions ``[s * seg, (s + 1) * seg)`` is one lane of a window of ``L``
    samples that starts ``margin`` samples before it (or at the true start, or ends at the true
    end): the start-up transients of a cut (forward pass at the window start, backward pass at
    its end) have decayed by then (``margin`` ~12 x sampling rate / cutoff: error < 1e-15 of the
    signal).  Windows that touch an end of the padded signal start (end) there with scipy's odd
    padding and initial conditions, so the result is ``scipy.signal.filtfilt``'s to rounding.
    """
    n = v.size
    pad = 15
    big = n + 2 * pad
    L = X.shape[0]
    st = np.empty(4, dtype=np.int64)
    lo = np.empty(4, dtype=np.int64)
    hi = np.empty(4, dtype=np.int64)
    bad = 0
    for g in range(g0, g1):
        for c in range(4):
            s0 = (4 * g + c) * seg
            s1 = min(s0 + seg, big)
            w = min(max(s0 - margin, 0), big - L)
            st[c] = w
            # lane c writes the derivative of padded positions [max(s0, pad), min(s1, pad + n - 1))
            # (the derivative at the last one uses the next filtered sample of the same lane)
            lo[c] = max(s0, pad) - w
            hi[c] = max(min(s1, pad + n - 1) - w, lo[c])
        for c in range(4):
            bad += _inverse_steps(t, st[c] - pad, lo[c], hi[c], R[c])
        _lanes4_forward_from(v, st, X, b, a, zi)
        _lanes4_backward_derivative(X, b, a, zi, R, st, lo, hi, out)
        if dmax.size > 0:
            j0, j1 = _group_samples(g, seg, n)
            q0 = (j0 + SUMMARY_BLOCK - 1) // SUMMARY_BLOCK
            q1 = j1 // SUMMARY_BLOCK
            if q1 > q0:
                block_extremes(out, q0, q1, dmin, dmax)
                block_extremes(v, q0, q1, vmin, vmax)
    return bad


@njit(cache=CACHE, nogil=True)
def summary_seams(v, out, seg, groups, vmin, vmax, dmin, dmax):
    """The block summaries that :func:`filtered_derivative_blocks` leaves out: blocks across
    the seam between two groups (and ``v``'s block holding its last sample)."""
    B = SUMMARY_BLOCK
    for g in range(groups):
        j1 = _group_samples(g, seg, v.size)[1]
        q = j1 // B
        if j1 % B != 0:
            if q < vmax.size:
                block_extremes(v, q, q + 1, vmin, vmax)
            if q < dmax.size:
                block_extremes(out, q, q + 1, dmin, dmax)


@njit(cache=CACHE, nogil=True)
def filtered_derivative(b, a, zi, v, t, margin):
    """dV/dt (V/s, length n - 1) of ``filtfilt(b, a, zi, v)``; ``v`` mV, ``t`` s.

    One thread; see :func:`filtered_derivative_blocks` (and ``spikes.calculate_dvdt``, which
    spreads the blocks over threads).
    """
    groups, seg, L = block_plan(v.size, margin)
    if groups == 0:
        return derivative(filtfilt(b, a, zi, v), t)
    out = np.empty(v.size - 1)
    none = np.empty(0)
    filtered_derivative_blocks(b, a, zi, v, t, margin, seg, 0, groups, np.empty((L, 4)),
                               np.empty((4, L)), out, none, none, none, none)
    return out


@njit(cache=CACHE)
def segment_derivative(b, a, zi, v, t, lo, hi, margin, use_filter):
    """Filtered dV/dt at indices ``[lo, hi)`` only (``hi <= n - 1``), from a zero-phase filter run
    over ``v[lo - margin : hi + 1 + margin]`` (clipped to the sweep).

    At the sweep's ends this is the full-sweep filter exactly (same odd padding); inside, the
    start-up transient of a cut has decayed over ``margin`` samples (choose ~10 periods of the
    cutoff: the error is then below 1e-15 of the signal for a 4-pole Bessel).
    """
    n = v.size
    a0 = max(0, lo - margin)
    a1 = min(n, hi + 1 + margin)
    out = np.empty(max(hi - lo, 0))
    if hi <= lo:
        return out
    if use_filter and a1 - a0 > 15:
        y = filtfilt(b, a, zi, v[a0:a1])
    else:
        y = v[a0:a1]
    for j in range(lo, hi):
        out[j - lo] = 1e-3 * (y[j + 1 - a0] - y[j - a0]) / (t[j + 1] - t[j])
    return out


@njit(cache=CACHE)
def _lfilter4_steps(b, a, x, k, count, step, w, z1, z2, z3, y_prev):
    """``count`` steps of :func:`_lfilter4` on ``x`` in place from index ``k`` (``step`` +1 or
    -1) and the state ``(w, z1, z2, z3, y_prev)``, which it returns (same arithmetic)."""
    b0, b1, b2, b3, b4 = b[0], b[1], b[2], b[3], b[4]
    a1, a2, a3, a4 = a[1], a[2], a[3], a[4]
    for _ in range(count):
        xk = x[k]
        yk = (b0 * xk + w) - a1 * y_prev
        w = b1 * xk + z1
        z1 = (b2 * xk + z2) - a2 * yk
        z2 = (b3 * xk + z3) - a3 * yk
        z3 = b4 * xk - a4 * yk
        y_prev = yk
        x[k] = yk
        k += step
    return w, z1, z2, z3, y_prev


@njit(cache=CACHE)
def _lanes4_pass(b, a, zi, e0, e1, e2, e3, L, m, backward):
    """One pass of :func:`_filtfilt4` (the four lanes side by side for their shared length
    ``m``, then each alone), from the steady state at each lane's first sample of the pass."""
    b0, b1, b2, b3, b4 = b[0], b[1], b[2], b[3], b[4]
    a1, a2, a3, a4 = a[1], a[2], a[3], a[4]
    step = -1 if backward else 1
    k0 = L[0] - 1 if backward else 0
    k1 = L[1] - 1 if backward else 0
    k2 = L[2] - 1 if backward else 0
    k3 = L[3] - 1 if backward else 0
    s0, s1, s2, s3 = e0[k0], e1[k1], e2[k2], e3[k3]
    w0, p0, q0, r0, y0 = zi[0] * s0, zi[1] * s0, zi[2] * s0, zi[3] * s0, 0.0
    w1, p1, q1, r1, y1 = zi[0] * s1, zi[1] * s1, zi[2] * s1, zi[3] * s1, 0.0
    w2, p2, q2, r2, y2 = zi[0] * s2, zi[1] * s2, zi[2] * s2, zi[3] * s2, 0.0
    w3, p3, q3, r3, y3 = zi[0] * s3, zi[1] * s3, zi[2] * s3, zi[3] * s3, 0.0
    for _ in range(m):
        x0, x1, x2, x3 = e0[k0], e1[k1], e2[k2], e3[k3]
        y0 = (b0 * x0 + w0) - a1 * y0
        y1 = (b0 * x1 + w1) - a1 * y1
        y2 = (b0 * x2 + w2) - a1 * y2
        y3 = (b0 * x3 + w3) - a1 * y3
        w0 = b1 * x0 + p0
        w1 = b1 * x1 + p1
        w2 = b1 * x2 + p2
        w3 = b1 * x3 + p3
        p0 = (b2 * x0 + q0) - a2 * y0
        p1 = (b2 * x1 + q1) - a2 * y1
        p2 = (b2 * x2 + q2) - a2 * y2
        p3 = (b2 * x3 + q3) - a2 * y3
        q0 = (b3 * x0 + r0) - a3 * y0
        q1 = (b3 * x1 + r1) - a3 * y1
        q2 = (b3 * x2 + r2) - a3 * y2
        q3 = (b3 * x3 + r3) - a3 * y3
        r0 = b4 * x0 - a4 * y0
        r1 = b4 * x1 - a4 * y1
        r2 = b4 * x2 - a4 * y2
        r3 = b4 * x3 - a4 * y3
        e0[k0] = y0
        e1[k1] = y1
        e2[k2] = y2
        e3[k3] = y3
        k0 += step
        k1 += step
        k2 += step
        k3 += step
    _lfilter4_steps(b, a, e0, k0, L[0] - m, step, w0, p0, q0, r0, y0)
    _lfilter4_steps(b, a, e1, k1, L[1] - m, step, w1, p1, q1, r1, y1)
    _lfilter4_steps(b, a, e2, k2, L[2] - m, step, w2, p2, q2, r2, y2)
    _lfilter4_steps(b, a, e3, k3, L[3] - m, step, w3, p3, q3, r3, y3)


@njit(cache=CACHE)
def _filtfilt4(b, a, zi, E, L):
    """:func:`filtfilt` of four padded signals at once, in place: row ``c`` of ``E`` holds the
    odd-padded signal (``L[c]`` samples) as :func:`filtfilt` builds it.

    The four recursions run side by side (independent dependency chains that the processor
    overlaps) for the length they share, each lane then alone; every lane does exactly the
    arithmetic of :func:`_lfilter4`, so the results are :func:`filtfilt`'s to the bit.
    """
    m = min(min(L[0], L[1]), min(L[2], L[3]))
    e0, e1, e2, e3 = E[0], E[1], E[2], E[3]
    _lanes4_pass(b, a, zi, e0, e1, e2, e3, L, m, False)
    _lanes4_pass(b, a, zi, e0, e1, e2, e3, L, m, True)


@njit(cache=CACHE)
def segment_derivatives(b, a, zi, v, t, lo, hi, margin, use_filter):
    """:func:`segment_derivative` of many segments ``[lo[k], hi[k])`` (none where
    ``hi[k] <= lo[k]``): ``(out, offs)``, segment ``k`` in ``out[offs[k]:offs[k + 1]]``, the
    same values to the bit.

    Filtered segments run four at a time through :func:`_filtfilt4`.
    """
    m = lo.size
    n = v.size
    pad = 15
    offs = np.zeros(m + 1, dtype=np.int64)
    for k in range(m):
        offs[k + 1] = offs[k] + max(hi[k] - lo[k], 0)
    out = np.empty(offs[m])
    batch = np.empty(4, dtype=np.int64)
    nb = 0
    for k in range(m + 1):
        if k < m:
            if hi[k] <= lo[k]:
                continue
            a0 = max(0, lo[k] - margin)
            a1 = min(n, hi[k] + 1 + margin)
            if not use_filter or a1 - a0 <= pad:
                out[offs[k]:offs[k + 1]] = segment_derivative(b, a, zi, v, t, lo[k], hi[k],
                                                              margin, use_filter)
                continue
            batch[nb] = k
            nb += 1
            if nb < 4:
                continue
        elif nb == 0:
            break
        if nb < 4:  # the last few: one at a time
            for c in range(nb):
                kk = batch[c]
                out[offs[kk]:offs[kk + 1]] = segment_derivative(b, a, zi, v, t, lo[kk], hi[kk],
                                                                margin, use_filter)
            break
        L = np.empty(4, dtype=np.int64)
        A0 = np.empty(4, dtype=np.int64)
        for c in range(4):
            kk = batch[c]
            A0[c] = max(0, lo[kk] - margin)
            L[c] = min(n, hi[kk] + 1 + margin) - A0[c] + 2 * pad
        E = np.empty((4, L.max()))
        for c in range(4):  # the odd padding of filtfilt
            x = v[A0[c]:A0[c] + L[c] - 2 * pad]
            nx = x.size
            for j in range(pad):
                E[c, j] = 2.0 * x[0] - x[pad - j]
                E[c, nx + pad + j] = 2.0 * x[nx - 1] - x[nx - 2 - j]
            E[c, pad:pad + nx] = x
        _filtfilt4(b, a, zi, E, L)
        for c in range(4):
            kk = batch[c]
            o = offs[kk] - lo[kk]
            base = pad - A0[c]
            for j in range(lo[kk], hi[kk]):
                out[o + j] = 1e-3 * (E[c, base + j + 1] - E[c, base + j]) / (t[j + 1] - t[j])
        nb = 0
    return out, offs


@njit(cache=CACHE)
def derivative(v, t):
    """dV/dt in V/s from ``v`` (mV) and ``t`` (s): ``1e-3 * diff(v) / diff(t)``, length n - 1."""
    n = v.size
    out = np.empty(n - 1)
    for k in range(n - 1):
        out[k] = 1e-3 * (v[k + 1] - v[k]) / (t[k + 1] - t[k])
    return out


# --------------------------------------------------------------------------- helpers


@njit(cache=CACHE)
def time_index(t, x):
    """Index of the sample nearest to time ``x`` (first one on a tie), clipped to the sweep."""
    n = t.size
    if x <= t[0]:
        return 0
    if x >= t[n - 1]:
        return n - 1
    lo, hi = 0, n - 1  # t[lo] < x <= t[hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if t[mid] < x:
            lo = mid
        else:
            hi = mid
    if abs(t[lo] - x) <= abs(t[hi] - x):
        return lo
    return hi


@njit(cache=CACHE)
def _max_value(x, a, b):
    """Largest value of ``x[a:b]`` (four independent accumulators; NaNs are skipped)."""
    m0 = m1 = m2 = m3 = -np.inf
    k = a
    while k + 4 <= b:
        m0 = x[k] if x[k] > m0 else m0
        m1 = x[k + 1] if x[k + 1] > m1 else m1
        m2 = x[k + 2] if x[k + 2] > m2 else m2
        m3 = x[k + 3] if x[k + 3] > m3 else m3
        k += 4
    while k < b:
        m0 = x[k] if x[k] > m0 else m0
        k += 1
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    return m2 if m2 > m0 else m0


@njit(cache=CACHE)
def _min_value(x, a, b):
    """Smallest value of ``x[a:b]`` (four independent accumulators; NaNs are skipped)."""
    m0 = m1 = m2 = m3 = np.inf
    k = a
    while k + 4 <= b:
        m0 = x[k] if x[k] < m0 else m0
        m1 = x[k + 1] if x[k + 1] < m1 else m1
        m2 = x[k + 2] if x[k + 2] < m2 else m2
        m3 = x[k + 3] if x[k + 3] < m3 else m3
        k += 4
    while k < b:
        m0 = x[k] if x[k] < m0 else m0
        k += 1
    m0 = m1 if m1 < m0 else m0
    m2 = m3 if m3 < m2 else m2
    return m2 if m2 < m0 else m0


@njit(cache=CACHE)
def _argmax_scalar(x, a, b):
    best = a
    for k in range(a + 1, b):
        if x[k] > x[best] or (x[k] != x[k] and x[best] == x[best]):
            best = k
            if x[k] != x[k]:
                break
    return best


#: Block length of the one-pass searches (:func:`_argmax`, :func:`_argmin`): the block holding
#: the extreme is searched again, from L1 cache.
SEARCH_BLOCK = 64


@njit(cache=CACHE)
def _argmax(x, a, b):
    """Index of the first maximum of ``x[a:b]`` (absolute index; NaNs are skipped unless every
    value is NaN or -inf, then as ``np.argmax``), or -1 when empty.

    One pass over memory: the (vectorised) maximum of each block of :data:`SEARCH_BLOCK`
    samples, keeping the first block that raises the running maximum; that block holds the
    first position of the maximum, found by a second look at it alone.
    """
    if b <= a:
        return -1
    m = -np.inf
    blk = -1
    k = a
    while k < b:
        e = min(b, k + SEARCH_BLOCK)
        bm = _max_value(x, k, e)
        if bm > m:
            m = bm
            blk = k
        k = e
    lo, hi = (blk, min(b, blk + SEARCH_BLOCK)) if blk >= 0 else (a, b)
    for k in range(lo, hi):
        if x[k] == m:
            return k
    return _argmax_scalar(x, a, b)  # every value NaN (or NaN and -inf)


@njit(cache=CACHE)
def _argmin(x, a, b):
    """Index of the first minimum of ``x[a:b]`` (absolute index), or -1 when empty; one pass, as
    :func:`_argmax`."""
    if b <= a:
        return -1
    m = np.inf
    blk = -1
    k = a
    while k < b:
        e = min(b, k + SEARCH_BLOCK)
        bm = _min_value(x, k, e)
        if bm < m:
            m = bm
            blk = k
        k = e
    lo, hi = (blk, min(b, blk + SEARCH_BLOCK)) if blk >= 0 else (a, b)
    for k in range(lo, hi):
        if x[k] == m:
            return k
    best = a  # every value NaN (or NaN and +inf): scalar search with np.argmin's NaN rule
    for k in range(a + 1, b):
        if x[k] < x[best] or (x[k] != x[k] and x[best] == x[best]):
            best = k
            if x[k] != x[k]:
                break
    return best


@njit(cache=CACHE, fastmath=True)
def strictly_increasing(t):
    """Whether every ``t[k + 1] > t[k]``."""
    bad = 0
    for k in range(t.size - 1):
        bad += t[k + 1] <= t[k]
    return bad == 0


# --------------------------------------------------------------------------- block summaries

#: Samples per entry of the block summaries (:func:`block_extremes`).  The long searches of a
#: sweep (peaks, troughs and downstrokes from one spike to the next, dV/dt crossings) read the
#: summary of each whole block they cover instead of its 64 samples: 1/64 of the memory traffic,
#: with the same results (the block holding the extreme is searched again, sample by sample).
SUMMARY_BLOCK = 64


@njit(cache=CACHE, nogil=True)
def block_extremes(x, q0, q1, lo, hi):
    """``lo[q]``, ``hi[q]`` = smallest and largest value of ``x[q * B:(q + 1) * B]``
    (``B`` = :data:`SUMMARY_BLOCK`, every block whole) for ``q`` in ``[q0, q1)``; NaNs are
    skipped (a block of NaNs only gives ``inf``, ``-inf``), as :func:`_min_value`.

    Disjoint ranges of ``q`` may run on threads at once.
    """
    B = SUMMARY_BLOCK
    for q in range(q0, q1):
        a = q * B
        n0 = n1 = n2 = n3 = np.inf
        m0 = m1 = m2 = m3 = -np.inf
        for k in range(a, a + B, 4):
            x0, x1, x2, x3 = x[k], x[k + 1], x[k + 2], x[k + 3]
            n0 = x0 if x0 < n0 else n0
            n1 = x1 if x1 < n1 else n1
            n2 = x2 if x2 < n2 else n2
            n3 = x3 if x3 < n3 else n3
            m0 = x0 if x0 > m0 else m0
            m1 = x1 if x1 > m1 else m1
            m2 = x2 if x2 > m2 else m2
            m3 = x3 if x3 > m3 else m3
        n0 = n1 if n1 < n0 else n0
        n2 = n3 if n3 < n2 else n2
        m0 = m1 if m1 > m0 else m0
        m2 = m3 if m3 > m2 else m2
        lo[q] = n2 if n2 < n0 else n0
        hi[q] = m2 if m2 > m0 else m0


@njit(cache=CACHE)
def _argmax_in(x, smax, a, b):
    """:func:`_argmax` of ``x[a:b]`` (same result) reading the whole blocks inside ``[a, b)``
    from ``smax``, the block maxima of ``x`` (:func:`block_extremes`; an array too short for
    ``[a, b)``, e.g. empty, means none)."""
    B = SUMMARY_BLOCK
    q0 = (a + B - 1) // B
    q1 = b // B
    if q1 - q0 < 2 or q1 > smax.size:
        return _argmax(x, a, b)
    hm = _max_value(x, a, q0 * B)
    sm = _max_value(smax, q0, q1)
    tm = _max_value(x, q1 * B, b)
    m = max(hm, max(sm, tm))
    if m == -np.inf:  # every value NaN or -inf
        return _argmax(x, a, b)
    # the first part holding the maximum holds its first position
    if hm == m:
        lo, hi = a, q0 * B
    elif sm == m:
        q = q0
        while smax[q] != m:
            q += 1
        lo, hi = q * B, (q + 1) * B
    else:
        lo, hi = q1 * B, b
    for k in range(lo, hi):
        if x[k] == m:
            return k
    return _argmax(x, a, b)  # not reached


@njit(cache=CACHE)
def _argmin_in(x, smin, a, b):
    """:func:`_argmin` of ``x[a:b]`` (same result) through ``smin``, the block minima of ``x``;
    as :func:`_argmax_in`."""
    B = SUMMARY_BLOCK
    q0 = (a + B - 1) // B
    q1 = b // B
    if q1 - q0 < 2 or q1 > smin.size:
        return _argmin(x, a, b)
    hm = _min_value(x, a, q0 * B)
    sm = _min_value(smin, q0, q1)
    tm = _min_value(x, q1 * B, b)
    m = min(hm, min(sm, tm))
    if m == np.inf:  # every value NaN or +inf
        return _argmin(x, a, b)
    if hm == m:
        lo, hi = a, q0 * B
    elif sm == m:
        q = q0
        while smin[q] != m:
            q += 1
        lo, hi = q * B, (q + 1) * B
    else:
        lo, hi = q1 * B, b
    for k in range(lo, hi):
        if x[k] == m:
            return k
    return _argmin(x, a, b)  # not reached


# --------------------------------------------------------------------------- detection


@njit(cache=CACHE)
def _next_crossing(x, a, b, level):
    """First ``k`` in ``[a, b)`` with ``x[k] < level <= x[k + 1]``, or -1.

    Blocks of 64 samples whose (vectorised) maximum is below ``level`` hold no crossing end and
    are skipped; the others are scanned sample by sample.
    """
    k = a
    while k < b:
        hi = min(b, k + 64)
        if _max_value(x, k + 1, hi + 1) >= level:
            for j in range(k, hi):
                if x[j + 1] >= level and x[j] < level:
                    return j
        k = hi
    return -1


@njit(cache=CACHE)
def _next_crossing_in(x, smax, a, b, level):
    """:func:`_next_crossing` (same result), skipping the whole blocks whose maximum in ``smax``
    (:func:`block_extremes` of ``x``) is below ``level``: a crossing ends at a sample
    ``>= level``, in a block whose maximum is at least that."""
    B = SUMMARY_BLOCK
    k = a
    while k < b:
        q = (k + 1) // B  # the block of x[k + 1]
        if q >= smax.size:
            return _next_crossing(x, k, b, level)
        e = min(b, (q + 1) * B - 1)  # crossings j in [k, e) end inside block q
        if smax[q] >= level:
            for j in range(k, e):
                if x[j + 1] >= level and x[j] < level:
                    return j
        k = e
    return -1


@njit(cache=CACHE)
def putative_spikes(dvdt, start_index, end_index, dv_cutoff, dmax):
    """Upward crossings of ``dv_cutoff`` in ``dvdt[start_index:end_index]``.

    A crossing at ``k`` means ``dvdt[k] < dv_cutoff <= dvdt[k + 1]``.  A crossing is kept only if
    dV/dt went below 0 somewhere in ``[previous crossing, k)`` (the previous crossing, kept or not).
    ``dmax``: block maxima of ``dvdt`` (:func:`block_extremes`; empty: none), to skip quiet blocks.
    """
    out = np.empty(16, dtype=np.int64)
    count = 0
    prev = -1
    k = start_index - 1
    while True:
        k = _next_crossing_in(dvdt, dmax, k + 1, end_index - 1, dv_cutoff)
        if k < 0:
            break
        keep = prev < 0
        if not keep:
            for j in range(k - 1, prev - 1, -1):  # most recent negative first: short scan
                if dvdt[j] < 0:
                    keep = True
                    break
        if keep:
            if count == out.size:
                grown = np.empty(2 * out.size, dtype=np.int64)
                grown[:count] = out[:count]
                out = grown
            out[count] = k
            count += 1
        prev = k
    return out[:count].copy()


@njit(cache=CACHE)
def find_peaks(v, spikes, end_index, vmax):
    """Argmax of ``v`` from each putative spike to the next one (the last: to ``end_index``);
    ``vmax``: block maxima of ``v`` (:func:`block_extremes`; empty: none)."""
    n = spikes.size
    peaks = np.empty(n, dtype=np.int64)
    for k in range(n):
        nxt = spikes[k + 1] if k + 1 < n else end_index
        p = _argmax_in(v, vmax, spikes[k], nxt)
        peaks[k] = p if p >= 0 else spikes[k]
    return peaks


@njit(cache=CACHE)
def filter_spikes(v, dvdt, spikes, peaks, min_height, min_peak):
    """Merge spikes whose dV/dt never goes negative between a peak and the next spike, then drop
    spikes with peak below ``min_peak`` or peak - threshold below ``min_height``."""
    n = spikes.size
    keep_s = np.ones(n, dtype=np.bool_)
    keep_p = np.ones(n, dtype=np.bool_)
    for k in range(n - 1):
        neg = False
        for j in range(peaks[k], spikes[k + 1]):
            if dvdt[j] < 0:
                neg = True
                break
        if not neg:
            keep_p[k] = False
            keep_s[k + 1] = False
    s = spikes[keep_s]
    p = peaks[keep_p]
    m = s.size
    ok = np.zeros(m, dtype=np.bool_)
    for k in range(m):
        ok[k] = v[p[k]] >= min_peak and (v[p[k]] - v[s[k]]) >= min_height
    return s[ok], p[ok]


@njit(cache=CACHE)
def find_upstrokes(dvdt, starts, peaks):
    """Argmax of dV/dt between each spike start and its peak."""
    n = starts.size
    out = np.empty(n, dtype=np.int64)
    for k in range(n):
        u = _argmax(dvdt, starts[k], peaks[k])
        out[k] = u if u >= 0 else starts[k]
    return out


@njit(cache=CACHE)
def refine_thresholds(dvdt, upstrokes, thresh_frac):
    """Last sample at or before each upstroke (after the previous upstroke) where
    ``dvdt <= thresh_frac * mean(dvdt[upstrokes])``; the previous upstroke (or 0) if none."""
    n = upstrokes.size
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    target = 0.0
    for k in range(n):
        target += dvdt[upstrokes[k]]
    target = target / n * thresh_frac
    for k in range(n):
        lo = upstrokes[k - 1] if k > 0 else 0
        found = lo
        for j in range(upstrokes[k], lo, -1):
            if dvdt[j] <= target:
                found = j
                break
        out[k] = found
    return out


@njit(cache=CACHE)
def check_thresholds_and_peaks(t, v, dvdt, thr, peaks, ups, start_t, reject_interval, end_index,
                               max_interval, thresh_frac, tol):
    """Merge overlapping spikes, re-find thresholds (or peaks) of spikes whose peak comes
    ``max_interval`` s or more after the threshold, and flag the last spike as clipped when ``v``
    never returns to threshold + ``tol`` mV before ``end_index``.

    Returns thresholds, peaks, upstrokes and the clipped flags.
    """
    thr = thr.copy()
    peaks = peaks.copy()
    ups = ups.copy()
    if reject_interval > 0:
        m = np.empty(thr.size, dtype=np.bool_)
        for k in range(thr.size):
            m[k] = t[thr[k]] > start_t + reject_interval
        thr, peaks, ups = thr[m], peaks[m], ups[m]
    n = thr.size
    keep_s = np.ones(n, dtype=np.bool_)
    keep_p = np.ones(n, dtype=np.bool_)
    for k in range(n - 1):
        if thr[k + 1] <= peaks[k] + 1:
            keep_s[k + 1] = False
            keep_p[k] = False
    thr, peaks, ups = thr[keep_s], peaks[keep_p], ups[keep_p]
    n = thr.size
    target = np.nan
    drop = np.zeros(n, dtype=np.bool_)
    for k in range(n):
        if t[peaks[k]] - t[thr[k]] < max_interval:
            continue
        if np.isnan(target):
            s = 0.0
            for j in range(n):
                s += dvdt[ups[j]]
            target = s / n * thresh_frac
        t0 = time_index(t, t[peaks[k]] - max_interval)
        found = -1
        for j in range(ups[k], t0, -1):
            if dvdt[j] <= target:
                found = j
                break
        if found >= 0:
            thr[k] = found
            continue
        t0 = time_index(t, t[thr[k]] + 2 * max_interval)
        new_peak = _argmax(v, thr[k], t0)
        if new_peak >= 0 and t[new_peak] - t[thr[k]] < max_interval and (
                k == n - 1 or t[new_peak] < t[thr[k + 1]]):
            peaks[k] = new_peak
        else:
            drop[k] = True
    keep = ~drop
    thr, peaks, ups = thr[keep], peaks[keep], ups[keep]
    n = thr.size
    clipped = np.zeros(n, dtype=np.bool_)
    if n > 0:
        level = v[thr[n - 1]] + tol
        back = False
        for j in range(peaks[n - 1], min(end_index + 1, v.size)):
            if v[j] <= level:
                back = True
                break
        clipped[n - 1] = not back
    return thr, peaks, ups, clipped


@njit(cache=CACHE)
def find_troughs(v, dvdt, thr, peaks, clipped, end_index, vmin, dmin):
    """Troughs (argmin of v from peak to next threshold, the last to ``end_index``) and
    downstrokes (argmin of dV/dt from peak to trough); -1 where undefined.  ``vmin``, ``dmin``:
    block minima of ``v`` and ``dvdt`` (:func:`block_extremes`; empty: none)."""
    n = thr.size
    troughs = np.full(n, -1, dtype=np.int64)
    downs = np.full(n, -1, dtype=np.int64)
    for k in range(n):
        if clipped[k]:
            continue
        nxt = thr[k + 1] if k + 1 < n else end_index
        tr = _argmin_in(v, vmin, peaks[k], nxt)
        troughs[k] = tr
        if tr >= 0:
            downs[k] = _argmin_in(dvdt, dmin, peaks[k], tr)
    return troughs, downs


@njit(cache=CACHE)
def _trough_from(v, vmin, a, b, trough, same_end):
    """First minimum of ``v[a:b]``; ``trough`` (first minimum of a range ending at ``b`` that
    contains ``[a, b)``) is it whenever it lies in ``[a, b)``."""
    if same_end and a <= trough < b:
        return trough
    return _argmin_in(v, vmin, a, b)


@njit(cache=CACHE)
def trough_details(t, v, dvdt, hb, ha, hzi, h_margin, h_filter, thr, peaks, clipped, end_index,
                   term_frac, adp_thresh, tol, flat_interval, adp_max_delta_t, adp_max_delta_v,
                   troughs, vmin, dmin):
    """Fast trough, ADP, slow trough and reset type of each spike.

    Returns ``fast_trough``, ``adp``, ``slow_trough`` (indices, -1 where undefined), ``isi_type``
    (0 undefined, 1 direct, 2 detour) and the updated clipped flags (a spike whose dV/dt never
    recovers to ``term_frac`` of its downstroke before the next spike is clipped).  ADP and slow
    trough of the last spike are undefined.

    The heavily filtered dV/dt (filter ``hb``, ``ha``, ``hzi``; none if ``h_filter`` is False) is
    computed only where it is searched, by :func:`segment_derivative` with ``h_margin``.
    ``troughs`` (from :func:`find_troughs`, the first minimum of v from each peak to the next
    threshold) saves searching v again where the search intervals end at the same sample.
    ``vmin``, ``dmin``: block minima of ``v`` and ``dvdt`` (:func:`block_extremes`; empty: none).
    """
    n = thr.size
    fast = np.full(n, -1, dtype=np.int64)
    adp = np.full(n, -1, dtype=np.int64)
    slow = np.full(n, -1, dtype=np.int64)
    kind = np.zeros(n, dtype=np.int64)
    clip = clipped.copy()
    trough_details_into(t, v, dvdt, hb, ha, hzi, h_margin, h_filter, thr, peaks, clipped,
                        end_index, term_frac, adp_thresh, tol, flat_interval, adp_max_delta_t,
                        adp_max_delta_v, troughs, vmin, dmin, 0, n, fast, adp, slow, kind, clip)
    if n > 0:
        adp[n - 1] = -1
        slow[n - 1] = -1
    return fast, adp, slow, kind, clip


@njit(cache=CACHE, nogil=True)
def trough_details_into(t, v, dvdt, hb, ha, hzi, h_margin, h_filter, thr, peaks, clipped,
                        end_index, term_frac, adp_thresh, tol, flat_interval, adp_max_delta_t,
                        adp_max_delta_v, troughs, vmin, dmin, k0, k1, fast, adp, slow, kind,
                        clip):
    """:func:`trough_details` of spikes ``[k0, k1)``, written into ``fast``, ``adp``, ``slow``,
    ``kind`` and ``clip`` (initialised as there: -1, -1, -1, 0 and a copy of ``clipped``), except
    that the last spike's ADP and slow trough are left as found (the caller sets them to -1).

    Spikes are independent: threads may run disjoint ranges at once.
    """
    n = thr.size
    m = max(k1 - k0, 0)
    nxts = np.empty(m, dtype=np.int64)
    terms = np.full(m, -1, dtype=np.int64)
    jmaxs = np.zeros(m, dtype=np.int64)
    kmaxs = np.full(m, -1, dtype=np.int64)  # with terms -1: no segment
    # first the fast troughs, and where each spike needs the heavily filtered dV/dt ...
    for k in range(k0, k1):
        if clipped[k]:
            continue
        nxt = end_index
        for j in range(k + 1, n):
            if not clipped[j]:
                nxt = thr[j]
                break
        nxts[k - k0] = nxt
        ds = _argmin_in(dvdt, dmin, peaks[k], nxt)
        if ds < 0:
            clip[k] = True
            continue
        target = term_frac * dvdt[ds]
        term = -1
        for j in range(ds, nxt):
            if dvdt[j] >= target:
                term = j
                break
        if term < 0:
            clip[k] = True
            continue
        # An ADP needs dV/dt (heavy) to reach adp_thresh within flat_interval of the fast trough
        # and to return to 0 within adp_max_delta_t of it: the heavily filtered dV/dt is needed
        # only up to there (a later return would fail the test anyway).
        jmax = term
        while jmax < nxt and t[jmax] - t[term] < flat_interval:
            jmax += 1
        kmax = jmax
        while kmax < nxt and t[kmax] - t[term] <= adp_max_delta_t:
            kmax += 1
        terms[k - k0], jmaxs[k - k0], kmaxs[k - k0] = term, jmax, kmax
    # ... then that derivative for every spike at once (four filters side by side) ...
    segs, offs = segment_derivatives(hb, ha, hzi, v, t, terms, kmaxs, h_margin, h_filter)
    # ... and the ADP and slow trough tests
    for k in range(k0, k1):
        term = terms[k - k0]
        if term < 0:
            continue
        nxt, jmax, kmax = nxts[k - k0], jmaxs[k - k0], kmaxs[k - k0]
        same_end = nxt == (thr[k + 1] if k + 1 < n else end_index)
        seg = segs[offs[k - k0]:offs[k - k0 + 1]]
        adp_k = -1
        slow_k = -1
        cross = -1
        for j in range(term, jmax):
            if seg[j - term] >= adp_thresh:
                cross = j
                break
        if cross >= 0:
            padp = -1
            for j in range(cross, kmax):
                if seg[j - term] <= 0:
                    padp = j
                    break
            if padp >= 0:
                mn = _trough_from(v, vmin, padp, nxt, troughs[k], same_end)
                if (v[padp] - v[mn] >= tol and v[padp] - v[term] <= adp_max_delta_v
                        and t[padp] - t[term] <= adp_max_delta_t):
                    adp_k = padp
                    slow_k = mn
        if adp_k >= 0:
            kind[k] = 2
        else:
            mn = _trough_from(v, vmin, term, nxt, troughs[k], same_end)
            if mn >= 0 and v[term] - v[mn] >= tol:
                kind[k] = 2
                slow_k = mn
            else:
                kind[k] = 1
        fast[k] = term
        adp[k] = adp_k
        slow[k] = slow_k


@njit(cache=CACHE)
def widths(t, v, thr, peaks, fast, clipped):
    """Full width (s) at half height from peak to fast trough, or at half of threshold-to-peak when
    that level lies below threshold; NaN where undefined."""
    n = thr.size
    out = np.full(n, np.nan)
    for k in range(n):
        if clipped[k] or fast[k] < 0:
            continue
        pk, sp, ft = peaks[k], thr[k], fast[k]
        level = (v[pk] - v[ft]) / 2.0 + v[ft]
        if level < v[sp]:
            level = (v[pk] - v[sp]) / 2.0 + v[sp]
        w0 = -1
        for j in range(pk, sp, -1):
            if v[j] <= level:
                w0 = j
                break
        w1 = -1
        for j in range(pk, ft):
            if v[j] <= level:
                w1 = j
                break
        if w0 >= 0 and w1 >= 0:
            out[k] = t[w1] - t[w0]
    return out


@njit(cache=CACHE)
def detect(t, v, dvdt, start_index, end_index, start_t, dv_cutoff, min_height, min_peak,
           thresh_frac, max_interval, reject_interval, tol, vmax, dmax):
    """The whole detection chain: thresholds, peaks, upstrokes and clipped flags.

    ``vmax``, ``dmax``: block maxima of ``v`` and ``dvdt`` (:func:`block_extremes`; empty: none).
    """
    empty = np.empty(0, dtype=np.int64)
    ps = putative_spikes(dvdt, start_index, end_index, dv_cutoff, dmax)
    if ps.size == 0:
        return empty, empty, empty, np.empty(0, dtype=np.bool_)
    pk = find_peaks(v, ps, end_index, vmax)
    ps, pk = filter_spikes(v, dvdt, ps, pk, min_height, min_peak)
    if ps.size == 0:
        return empty, empty, empty, np.empty(0, dtype=np.bool_)
    up = find_upstrokes(dvdt, ps, pk)
    th = refine_thresholds(dvdt, up, thresh_frac)
    th, pk, up, clipped = check_thresholds_and_peaks(
        t, v, dvdt, th, pk, up, start_t, reject_interval, end_index, max_interval, thresh_frac, tol)
    up = find_upstrokes(dvdt, th, pk)
    return th, pk, up, clipped
