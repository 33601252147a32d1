"""QC's compiled kernels against slow numpy references (glifx.qc._kernels)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from glifx.qc._kernels import count_nan, voltage_pass
from glifx.qc.criteria import QCCriteria
from glifx.qc.plausibility_warnings import baseline_mv, sweep_finding
from glifx.qc.sweep_qc import BASELINE_RANGE_MV, _median_within, implausible_voltage, voltage_stats
from glifx.sweep import Sweep


def _reference_pass(v, stop, split, q_lo, q_hi, b_lo, b_hi):
    finite = v[np.isfinite(v)]
    before = v[:split][np.isfinite(v[:split])]
    return (int(np.count_nonzero(np.isnan(v[:stop]))), finite.size,
            float(finite[0]) if finite.size else math.nan,
            float(finite.min()) if finite.size else math.inf,
            float(finite.max()) if finite.size else -math.inf,
            int(np.count_nonzero(finite < q_lo)), int(np.count_nonzero(finite > q_hi)),
            before.size, int(np.count_nonzero(before < b_lo)), int(np.count_nonzero(before > b_hi)))


@pytest.mark.parametrize("seed", range(6))
def test_voltage_pass_matches_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    v = rng.normal(-65.0, 30.0, n)
    bad = rng.random(n)
    v[bad < 0.1] = np.nan
    v[(bad >= 0.1) & (bad < 0.13)] = np.inf
    v[(bad >= 0.13) & (bad < 0.15)] = -np.inf
    if seed == 0:
        v[:] = np.nan  # nothing finite
    stop, split = int(rng.integers(0, n + 1)), int(rng.integers(0, n + 1))
    got = voltage_pass(v, stop, split, -90.0, -40.0, -100.0, -60.0)
    want = _reference_pass(v, stop, split, -90.0, -40.0, -100.0, -60.0)
    assert got[:2] == want[:2] and got[5:] == want[5:]
    for a, b in zip(got[2:5], want[2:5], strict=True):
        assert a == b or (math.isnan(a) and math.isnan(b))
    assert count_nan(v) == np.count_nonzero(np.isnan(v))


def test_median_within_never_wrong() -> None:
    """Whenever the counts say "within", numpy's median is within; ties and even sizes too."""
    rng = np.random.default_rng(1)
    for _ in range(3000):
        n = int(rng.integers(1, 9))
        x = rng.choice([-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0], n)
        lo, hi = sorted(rng.choice([-2.5, -2.0, -1.0, 0.0, 0.5, 1.0, 2.0], 2))
        within = _median_within(n, int(np.sum(x < lo)), int(np.sum(x > hi)), lo, hi)
        med = float(np.median(x))
        if within:
            assert lo <= med <= hi
        if n % 2:  # odd: the counts decide exactly
            assert within == (lo <= med <= hi)
    assert not _median_within(3, 0, 0, math.nan, 1.0)
    assert not _median_within(0, 0, 0, -1.0, 1.0)


def _sweep(v: np.ndarray, stim_start: int = 300) -> Sweep:
    i = np.zeros(v.size)
    i[stim_start:stim_start + 200] = 100.0
    return Sweep(v, i, sampling_rate=10e3, sweep_number=7, test_pulse=False)


@pytest.mark.parametrize("base", [-70.0, -30.0, -120.0, 0.5, -0.0, 140.0])
def test_stats_give_the_numpy_verdicts(base: float) -> None:
    rng = np.random.default_rng(3)
    v = base + rng.normal(0.0, 0.01 if abs(base) < 1 else 2.0, 1000)
    v[[5, 600, 999]] = np.nan
    s = _sweep(v)
    c = QCCriteria()
    stats = voltage_stats(s, c)
    # the QC integrity check from the stats equals the check on the numbers themselves
    r = s.epochs.recording[1]
    assert stats.n_nan == np.count_nonzero(np.isnan(v[: r + 1]))
    assert implausible_voltage(v[: r + 1], c) == _reference_implausible(v[: r + 1], c)
    # the warning's baseline
    found = sweep_finding(s, stats)
    ref = baseline_mv(s)
    lo, hi = BASELINE_RANGE_MV
    finite = v[np.isfinite(v)]
    if np.ptp(finite) < c.v_range_mv_min:
        assert found == ("flat", float(finite[0]))
    elif np.max(np.abs(finite)) <= 1.0:
        assert found == ("volts", found[1])
    elif lo <= ref <= hi:
        assert found is None
    else:
        assert found == ("baseline", ref)


def _reference_implausible(v: np.ndarray, c: QCCriteria) -> list[str]:
    """The numpy implementation sweep QC had before the kernel."""
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return []
    low, high = float(finite.min()), float(finite.max())
    problems = []
    if high - low < c.v_range_mv_min:
        problems.append(f"flat trace: the voltage spans {high - low:.3g} mV "
                        f"(at least {c.v_range_mv_min:g} mV expected of a recording)")
    peak = max(abs(low), abs(high))
    if peak < c.v_peak_abs_mv_min:
        problems.append(f"implausible scale: |v| never exceeds {peak:.3g} mV (volts stored as "
                        "millivolts?)")
    else:
        median = float(np.median(finite))
        if not c.v_median_mv_min <= median <= c.v_median_mv_max:
            problems.append(f"implausible baseline: median voltage {median:.4g} mV, outside "
                            f"[{c.v_median_mv_min:g}, {c.v_median_mv_max:g}] mV")
    return problems
