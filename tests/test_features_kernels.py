"""Every compiled kernel of glifx.features._kernels against a slow, obviously correct reference.

References are plain Python loops over the definitions in FEATURES_SPEC.md (half-open windows
``[a, b)``, first index on ties), run on synthetic sweeps with bursts, doublets and noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import signal

from glifx.features import _kernels as K
from glifx.features.spikes import _bessel
from glifx.testing.sweeps import spike_train_sweep

RATE = 50e3


@pytest.fixture(scope="module")
def sweep():
    rng = np.random.default_rng(3)
    st = np.sort(np.r_[rng.uniform(0.12, 0.9, 12), [0.5, 0.5035, 0.507]])  # a burst
    st = st[np.r_[True, np.diff(st) > 0.003]]
    t, v, i = spike_train_sweep(1.0, RATE, st, step=(0.1, 0.95, 120.0), noise=0.1, seed=3)
    b, a, zi = _bessel(10e3, RATE)
    dvdt = K.filtered_derivative(b, a, zi, v, t, 92)
    return t, v, i, dvdt


# ----------------------------------------------------------------------------- references


def ref_time_index(t, x):
    return int(np.argmin(np.abs(t - x)))


def ref_putative(dvdt, s, e, cut):
    w = list(dvdt[s:e])
    crossings = [k for k in range(len(w) - 1) if w[k] < cut and w[k + 1] >= cut]
    kept = []
    for n, k in enumerate(crossings):
        if n == 0 or any(x < 0 for x in w[crossings[n - 1]:k]):
            kept.append(k + s)
    return np.array(kept, dtype=np.int64)


def ref_peaks(v, spikes, end):
    bounds = list(spikes[1:]) + [end]
    pairs = zip(spikes, bounds, strict=True)
    return np.array([a + int(np.argmax(v[a:b])) for a, b in pairs], dtype=np.int64)


def ref_filter(v, dvdt, spikes, peaks, min_height, min_peak):
    n = len(spikes)
    neg = [any(x < 0 for x in dvdt[peaks[k]:spikes[k + 1]]) for k in range(n - 1)]
    s = [spikes[k] for k in range(n) if k == 0 or neg[k - 1]]
    p = [peaks[k] for k in range(n) if k == n - 1 or neg[k]]
    keep = [k for k in range(len(s)) if v[p[k]] >= min_peak and v[p[k]] - v[s[k]] >= min_height]
    return np.array([s[k] for k in keep], dtype=np.int64), np.array([p[k] for k in keep], dtype=np.int64)


def ref_upstrokes(dvdt, starts, peaks):
    pairs = zip(starts, peaks, strict=True)
    return np.array([a + int(np.argmax(dvdt[a:b])) for a, b in pairs], dtype=np.int64)


def ref_thresholds(dvdt, ups, frac):
    target = frac * float(np.mean(dvdt[ups]))
    out = []
    for k, u in enumerate(ups):
        lo = ups[k - 1] if k else 0
        found = lo
        j = u
        while j > lo:
            if dvdt[j] <= target:
                found = j
                break
            j -= 1
        out.append(found)
    return np.array(out, dtype=np.int64)


def ref_troughs(v, dvdt, thr, peaks, clipped, end):
    tr, ds = [], []
    for k in range(len(thr)):
        if clipped[k]:
            tr.append(-1)
            ds.append(-1)
            continue
        nxt = thr[k + 1] if k + 1 < len(thr) else end
        m = peaks[k] + int(np.argmin(v[peaks[k]:nxt]))
        tr.append(m)
        ds.append(peaks[k] + int(np.argmin(dvdt[peaks[k]:m])) if m > peaks[k] else -1)
    return np.array(tr), np.array(ds)


def first(cond_iter):
    for j, c in cond_iter:
        if c:
            return j
    return -1


def ref_trough_details(t, v, dvdt, dvh, thr, peaks, clipped, end, frac=0.01, adp_thr=0.5, tol=0.5,
                       flat=0.002, max_dt=0.005, max_dv=10.0):
    n = len(thr)
    fast, adp, slow, kind = [-1] * n, [-1] * n, [-1] * n, [0] * n
    clip = list(clipped)
    valid = [k for k in range(n) if not clipped[k]]
    for pos, k in enumerate(valid):
        nxt = thr[valid[pos + 1]] if pos + 1 < len(valid) else end
        ds = peaks[k] + int(np.argmin(dvdt[peaks[k]:nxt]))
        term = first((j, dvdt[j] >= frac * dvdt[ds]) for j in range(ds, nxt))
        if term < 0:
            clip[k] = True
            continue
        a = s = -1
        cross = first((j, dvh[j] >= adp_thr) for j in range(term, nxt))
        if cross >= 0 and t[cross] - t[term] < flat:
            p = first((j, dvh[j] <= 0) for j in range(cross, nxt))
            if p >= 0:
                m = p + int(np.argmin(v[p:nxt]))
                if v[p] - v[m] >= tol and v[p] - v[term] <= max_dv and t[p] - t[term] <= max_dt:
                    a, s = p, m
        if a >= 0:
            kind[k] = 2
        else:
            m = term + int(np.argmin(v[term:nxt]))
            if v[term] - v[m] >= tol:
                kind[k], s = 2, m
            else:
                kind[k] = 1
        fast[k], adp[k], slow[k] = term, a, s
    if n:
        adp[-1] = slow[-1] = -1
    return np.array(fast), np.array(adp), np.array(slow), np.array(kind), np.array(clip)


def ref_widths(t, v, thr, peaks, fast, clipped):
    out = []
    for k in range(len(thr)):
        if clipped[k] or fast[k] < 0:
            out.append(np.nan)
            continue
        pk, sp, ft = peaks[k], thr[k], fast[k]
        level = v[ft] + (v[pk] - v[ft]) / 2
        if level < v[sp]:
            level = v[sp] + (v[pk] - v[sp]) / 2
        w0 = first((j, v[j] <= level) for j in range(pk, sp, -1))
        w1 = first((j, v[j] <= level) for j in range(pk, ft))
        out.append(t[w1] - t[w0] if w0 >= 0 and w1 >= 0 else np.nan)
    return np.array(out)


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("cutoff", [10e3, 1e3, 3e3])
def test_filtfilt_matches_scipy(cutoff):
    x = np.random.default_rng(0).normal(size=5000).cumsum()
    b, a, zi = _bessel(cutoff, RATE)
    ref = signal.filtfilt(*signal.bessel(4, cutoff / (RATE / 2), "low"), x)
    np.testing.assert_allclose(K.filtfilt(b, a, zi, x), ref, rtol=0, atol=1e-8 * np.abs(x).max())


def test_derivatives(sweep):
    t, v, _, dvdt = sweep
    np.testing.assert_allclose(K.derivative(v, t), 1e-3 * np.diff(v) / np.diff(t), rtol=1e-12)
    b, a, zi = _bessel(1e3, RATE)
    full = 1e-3 * np.diff(signal.filtfilt(*signal.bessel(4, 1e3 / (RATE / 2), "low"), v)) / np.diff(t)
    for lo, hi in [(0, 300), (20000, 20500), (t.size - 400, t.size - 1), (100, 100)]:
        seg = K.segment_derivative(b, a, zi, v, t, lo, hi, int(10 * RATE / 1e3) + 16, True)
        np.testing.assert_allclose(seg, full[lo:hi], rtol=0, atol=1e-7)


def test_time_index():
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(0.9, 1.1, 500)) * 1e-4
    for x in np.r_[rng.uniform(t[0] - 1e-3, t[-1] + 1e-3, 300), t[:20], (t[1:21] + t[:20]) / 2]:
        want = ref_time_index(t, x)
        assert K.time_index(t, x) == want


def _summaries(v, dvdt):
    vmin, vmax = np.empty(v.size // K.SUMMARY_BLOCK), np.empty(v.size // K.SUMMARY_BLOCK)
    dmin, dmax = np.empty(dvdt.size // K.SUMMARY_BLOCK), np.empty(dvdt.size // K.SUMMARY_BLOCK)
    K.block_extremes(v, 0, vmin.size, vmin, vmax)
    K.block_extremes(dvdt, 0, dmin.size, dmin, dmax)
    return vmin, vmax, dmin, dmax


@pytest.mark.parametrize("summarised", [True, False])
def test_detection_chain_matches_reference(sweep, summarised):
    t, v, _, dvdt = sweep
    vmin, vmax, dmin, dmax = _summaries(v, dvdt) if summarised else (np.empty(0),) * 4
    s, e = ref_time_index(t, 0.1), ref_time_index(t, 0.95)
    ps = K.putative_spikes(dvdt, s, e, 20.0, dmax)
    np.testing.assert_array_equal(ps, ref_putative(dvdt, s, e, 20.0))
    assert ps.size >= 10
    pk = K.find_peaks(v, ps, e, vmax)
    np.testing.assert_array_equal(pk, ref_peaks(v, ps, e))
    fs, fp = K.filter_spikes(v, dvdt, ps, pk, 2.0, -30.0)
    rs, rp = ref_filter(v, dvdt, ps, pk, 2.0, -30.0)
    np.testing.assert_array_equal(fs, rs)
    np.testing.assert_array_equal(fp, rp)
    up = K.find_upstrokes(dvdt, fs, fp)
    np.testing.assert_array_equal(up, ref_upstrokes(dvdt, fs, fp))
    th = K.refine_thresholds(dvdt, up, 0.05)
    np.testing.assert_array_equal(th, ref_thresholds(dvdt, up, 0.05))
    th2, pk2, up2, clipped = K.check_thresholds_and_peaks(t, v, dvdt, th, fp, up, 0.1, 0.0, e,
                                                         0.005, 0.05, 1.0)
    # no overlap / long threshold-peak pair on this sweep: unchanged, last spike not clipped
    np.testing.assert_array_equal(th2, th)
    np.testing.assert_array_equal(pk2, fp)
    assert not clipped.any()
    tr, ds = K.find_troughs(v, dvdt, th2, pk2, clipped, e, vmin, dmin)
    rtr, rds = ref_troughs(v, dvdt, th2, pk2, clipped, e)
    np.testing.assert_array_equal(tr, rtr)
    np.testing.assert_array_equal(ds, rds)
    hb, ha, hzi = _bessel(1e3, RATE)
    dvh = 1e-3 * np.diff(signal.filtfilt(*signal.bessel(4, 1e3 / (RATE / 2), "low"), v)) / np.diff(t)
    got = K.trough_details(t, v, dvdt, hb, ha, hzi, int(10 * RATE / 1e3) + 16, True, th2, pk2, clipped,
                           e, 0.01, 0.5, 0.5, 0.002, 0.005, 10.0, tr, vmin, dmin)
    want = ref_trough_details(t, v, dvdt, dvh, th2, pk2, clipped, e)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    assert set(got[3]) <= {1, 2} and 2 in set(got[3])
    np.testing.assert_array_equal(K.widths(t, v, th2, pk2, got[0], got[4]),
                                  ref_widths(t, v, th2, pk2, got[0], got[4]))


def test_overlap_merge_and_clipped_reference():
    """Hand-made cases: overlapping pairs are merged; a spike at the window end is clipped."""
    t = np.arange(100) * 1e-4
    v = np.full(100, -70.0)
    v[50:60] = np.linspace(-50, 30, 10)
    dvdt = K.derivative(v, t)
    thr = np.array([10, 40, 55])
    peaks = np.array([35, 59, 59])  # spike 2 starts before spike 1's peak + 1: merged
    ups = np.array([32, 55, 57])
    th, pk, up, clipped = K.check_thresholds_and_peaks(t, v, dvdt, thr, peaks, ups, 0.0, 0.0, 99,
                                                       0.005, 0.05, 1.0)
    np.testing.assert_array_equal(th, [10, 40])
    np.testing.assert_array_equal(pk, [35, 59])
    np.testing.assert_array_equal(up, [32, 57])
    # the voltage stays at 30 mV after the last peak: never back to threshold + 1 mV -> clipped
    v2 = v.copy()
    v2[60:] = 30.0
    *_, clipped = K.check_thresholds_and_peaks(t, v2, dvdt, np.array([50]), np.array([59]),
                                               np.array([55]), 0.0, 0.0, 99, 0.005, 0.05, 1.0)
    assert clipped.tolist() == [True]


def _first_extreme(x, a, b, largest):
    """Slow reference of the kernels' argmax/argmin: the first position of the largest (smallest)
    non-NaN value of ``x[a:b]``; with no non-NaN value, the first NaN (as numpy)."""
    seg = x[a:b]
    if seg.size == 0:
        return -1
    ok = ~np.isnan(seg)
    if not ok.any():
        return a
    m = seg[ok].max() if largest else seg[ok].min()
    return a + int(np.flatnonzero(seg == m)[0])


def test_one_pass_argmax_argmin_match_the_reference():
    rng = np.random.default_rng(3)
    for trial in range(300):
        n = int(rng.integers(1, 700))
        x = rng.integers(-5, 6, n).astype(float)  # many ties
        if trial % 3 == 0:
            x[rng.random(n) < 0.1] = np.nan
        if trial % 7 == 0:
            x[rng.random(n) < 0.5] = rng.choice([np.inf, -np.inf])
        if trial % 11 == 0:
            x[:] = np.nan
        a = int(rng.integers(0, n))
        b = int(rng.integers(a, n + 1))
        assert K._argmax(x, a, b) == _first_extreme(x, a, b, True)
        assert K._argmin(x, a, b) == _first_extreme(x, a, b, False)


def _first_crossing(x, a, b, level):
    return next((j for j in range(a, b) if x[j] < level <= x[j + 1]), -1)


def test_summarised_searches_match_the_reference():
    """The searches through block summaries find the same samples as a plain search, with
    ties, NaNs and infinities, at every alignment of the range to the blocks."""
    rng = np.random.default_rng(5)
    B = K.SUMMARY_BLOCK
    for trial in range(400):
        n = int(rng.integers(1, 12 * B))
        x = rng.integers(-5, 6, n).astype(float)  # many ties
        if trial % 3 == 0:
            x[rng.random(n) < 0.1] = np.nan
        if trial % 7 == 0:
            x[rng.random(n) < 0.5] = rng.choice([np.inf, -np.inf])
        if trial % 11 == 0:
            x[rng.integers(0, n):] = np.nan
        if trial % 13 == 0:
            x[:] = -0.0 if trial % 2 else 0.0
            x[rng.random(n) < 0.3] = 0.0
        lo, hi = np.empty(n // B), np.empty(n // B)
        K.block_extremes(x, 0, lo.size, lo, hi)
        a = int(rng.integers(0, n))
        b = int(rng.integers(a, n + 1))
        assert K._argmax_in(x, hi, a, b) == _first_extreme(x, a, b, True)
        assert K._argmin_in(x, lo, a, b) == _first_extreme(x, a, b, False)
        level = float(rng.integers(-4, 5))
        bb = max(a, b - 1)
        assert K._next_crossing_in(x, hi, a, bb, level) == _first_crossing(x, a, bb, level)


@pytest.mark.parametrize("n", [5000, 40_000, 65_536 * 4 + 1, 300_001])
def test_filter_writes_the_block_summaries(n):
    """The blocked filter's block summaries (written group by group, seams after) equal those of
    its output, and its output is that of the filter without them."""
    from glifx.features import spikes as S

    rng = np.random.default_rng(n)
    t = np.arange(n) / 200e3
    v = rng.normal(size=n).cumsum()
    b, a, zi = _bessel(10e3, 200e3)
    margin = int(12 * 200e3 / 10e3) + 32
    groups, seg, rows = K.block_plan(n, margin)
    assert groups > 0
    out, out2 = np.empty(n - 1), np.empty(n - 1)
    summ = tuple(np.full(m, 7.0) for m in (n // 64, n // 64, (n - 1) // 64, (n - 1) // 64))
    S._blocks_on_threads(b, a, zi, v, t, margin, groups, seg, rows, out, summ)
    S._blocks_on_threads(b, a, zi, v, t, margin, groups, seg, rows, out2)
    np.testing.assert_array_equal(out, out2)
    for got, want in zip(summ, _summaries(v, out), strict=True):
        np.testing.assert_array_equal(got, want)


def test_threads_do_not_change_the_spike_table(monkeypatch):
    """The filter blocks and the per-spike trough details spread over threads give the table of
    one thread."""
    from glifx.features import detect_spikes
    from glifx.features import spikes as S
    from glifx.glif.simulator import set_threads

    rng = np.random.default_rng(11)
    st = np.sort(rng.uniform(0.12, 1.9, 40))
    st = st[np.r_[True, np.diff(st) > 0.004]]
    t, v, i = spike_train_sweep(2.0, 200e3, st, step=(0.1, 1.95, 100.0), noise=0.2, seed=11)
    monkeypatch.setattr(S, "TROUGH_THREAD_SAMPLES", 0)
    try:
        set_threads(1)
        one = detect_spikes(t, v, i, 0.1, 1.95)
        set_threads(2)
        two = detect_spikes(t, v, i, 0.1, 1.95)
    finally:
        set_threads(None)
    assert len(one) == st.size
    pd.testing.assert_frame_equal(one, two, check_exact=True)


@pytest.mark.parametrize("use_filter", [True, False])
def test_batched_segment_derivatives_are_the_single_ones(sweep, use_filter):
    """Four filters side by side give each segment's derivative to the bit: segments of unequal
    lengths, at both ends of the sweep, empty and shorter than the padding."""
    t, v, _, _ = sweep
    rng = np.random.default_rng(9)
    b, a, zi = _bessel(1e3, RATE)
    margin = int(6 * RATE / 1e3) + 16
    lo = np.sort(rng.integers(0, t.size - 1, 23))
    hi = np.minimum(lo + rng.integers(-3, 400, lo.size), t.size - 1)
    lo[:3], hi[:3] = [0, 5, -1], [120, 5, -1]
    lo[-1], hi[-1] = t.size - 50, t.size - 1
    out, offs = K.segment_derivatives(b, a, zi, v, t, lo, hi, margin, use_filter)
    for k in range(lo.size):
        np.testing.assert_array_equal(out[offs[k]:offs[k + 1]],
                                      K.segment_derivative(b, a, zi, v, t, lo[k], hi[k], margin,
                                                           use_filter))
    x = v[:12].copy()  # shorter than filtfilt's padding: no filter, as segment_derivative
    o2, _ = K.segment_derivatives(b, a, zi, x, t[:12], np.array([2]), np.array([6]), 0, True)
    np.testing.assert_array_equal(o2, K.segment_derivative(b, a, zi, x, t[:12], 2, 6, 0, True))
