"""The report's cell sections (issue 21, item 4): feature panel, example traces, first spike."""

from __future__ import annotations

import math

import numpy as np
import pytest

import glifx
from glifx.report.cell_plots import plot_example_traces, plot_spike_waveform
from glifx.report.from_fit import cell_feature_rows, example_traces, first_spike_waveform
from glifx.sweep import Cell, Sweep
from glifx.testing.sweeps import spike_train_sweep

RATE = 50e3
#: (stimulus, amplitude pA, spike peak times s); the rheobase sweep is Long Square 100 pA.
SWEEPS = [("Long Square", -50.0, []), ("Long Square", 100.0, [0.35]),
          ("Long Square", 150.0, [0.25, 0.5]), ("Ramp", 80.0, [0.6, 0.7, 0.8])]


@pytest.fixture(scope="module")
def cell_and_features():
    sweeps = []
    for k, (name, amp, spikes) in enumerate(SWEEPS):
        t, v, i = spike_train_sweep(1.0, RATE, spikes, step=(0.1, 0.9, amp), seed=k)
        sweeps.append(Sweep(v, i, t=t + 3.0 * k, sweep_number=k + 1, stimulus_name=name,
                            stimulus_amplitude=amp))
    cell = Cell.from_sweeps(sweeps, cell_id="synthetic")
    return cell, glifx.extract_features(cell)


def test_feature_panel_rows_convert_units(cell_and_features) -> None:
    _, feats = cell_and_features
    rows = {label: (value, unit) for label, value, unit in cell_feature_rows(feats)}
    assert rows["rheobase"] == (100.0, "pA")
    tau_s = feats.cell["long_square"]["tau"]
    value, unit = rows["membrane time constant τ"]
    assert unit == "ms" and (math.isnan(tau_s) or value == pytest.approx(tau_s * 1e3))
    width = feats.cell["long_square"]["rheobase_first_spike_width"]
    assert rows["AP width (half height)"][0] == pytest.approx(width * 1e3)


def test_example_traces_one_per_protocol(cell_and_features) -> None:
    cell, feats = cell_and_features
    traces = example_traces(cell, feats)
    assert [tr.label.split(",")[0] for tr in traces] == ["Long Square", "Ramp"]
    assert "sweep 2" in traces[0].label  # the rheobase sweep
    assert traces[0].t[0] == 0.0  # each sweep on its own clock
    assert plot_example_traces(traces).axes


def test_example_traces_are_reduced_but_keep_every_extreme(cell_and_features) -> None:
    """The report keeps an example sweep reduced (a whole 200 kHz Noise sweep must not stay in
    memory), yet each trace's minimum and maximum in every block survive."""
    from glifx.report.plots import envelope_indices

    cell, feats = cell_and_features
    rheobase = cell.sweep(2)
    tr = example_traces(cell, feats)[0]
    assert tr.v_data.size < rheobase.n_samples
    assert tr.v_data.max() == rheobase.v.max() and tr.v_data.min() == rheobase.v.min()
    assert tr.stimulus_pa.max() == rheobase.i.max() and tr.stimulus_pa.min() == rheobase.i.min()
    assert np.all(np.diff(tr.t) > 0)
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=10_007), np.cumsum(rng.normal(size=10_007))
    keep = envelope_indices(200, a, b)  # 100 blocks of ceil(10007 / 100) = 101 samples
    assert keep.size <= 100 * 5
    for lo in range(0, a.size, 101):
        inside = keep[(keep >= lo) & (keep < lo + 101)]
        for y in (a, b):
            assert y[inside].max() == y[lo:lo + 101].max()
            assert y[inside].min() == y[lo:lo + 101].min()


def _envelope_reference(max_points: int, *traces: np.ndarray) -> np.ndarray:
    """The numpy envelope_indices had before its compiled kernel (padded blocks, NaN -> ±inf)."""
    n = traces[0].size
    if n <= max_points:
        return np.arange(n)
    block = int(np.ceil(n / max(max_points // 2, 1)))
    nb = int(np.ceil(n / block))
    starts = np.arange(nb) * block
    keep = [starts]
    for y in traces:
        yb = np.concatenate([np.asarray(y, dtype=float), np.full(nb * block - n, np.nan)])
        yb = yb.reshape(nb, block)
        keep.append(starts + np.argmin(np.where(np.isnan(yb), np.inf, yb), axis=1))
        keep.append(starts + np.argmax(np.where(np.isnan(yb), -np.inf, yb), axis=1))
    return np.unique(np.minimum(np.concatenate(keep), n - 1))


@pytest.mark.parametrize("seed", range(5))
def test_envelope_indices_match_the_numpy_reference(seed: int) -> None:
    from glifx.report.plots import envelope_indices

    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 5000))
    a = rng.choice([-1.0, 0.0, -0.0, 1.0, 2.0], n)  # ties: the first index must win
    b = np.cumsum(rng.normal(size=n))
    a[rng.random(n) < 0.2] = np.nan
    b[rng.random(n) < 0.05] = np.inf
    a[:40] = np.nan  # whole blocks of NaN
    for max_points in (2, 7, 64, 1000, n):
        got = envelope_indices(max_points, a, b)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, _envelope_reference(max_points, a, b))


def _downsample_reference(t: np.ndarray, y: np.ndarray, max_points: int
                          ) -> tuple[np.ndarray, np.ndarray]:
    """The numpy downsample_minmax had before its compiled kernel (padded blocks)."""
    t, y = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    n = y.size
    if n <= max_points:
        return t, y
    block = int(np.ceil(n / (max(max_points, 6) // 3)))
    nb = int(np.ceil(n / block))
    pad = nb * block - n
    yb = np.concatenate([y, np.full(pad, np.nan)]).reshape(nb, block)
    tb = np.concatenate([t, np.full(pad, t[-1])]).reshape(nb, block)
    nan = np.isnan(yb)
    empty, gap = np.all(nan, axis=1), np.any(nan, axis=1)
    imin = np.argmin(np.where(np.isnan(yb), np.inf, yb), axis=1)
    imax = np.argmax(np.where(np.isnan(yb), -np.inf, yb), axis=1)
    first, second = np.minimum(imin, imax), np.maximum(imin, imax)
    rows = np.arange(nb)
    t_out = np.stack([tb[rows, first], tb[rows, second], tb[rows, second]], axis=1).ravel()
    y_out = np.stack([yb[rows, first], yb[rows, second], yb[rows, second]], axis=1)
    y_out[gap, 2] = np.nan
    y_out[empty] = np.nan
    return t_out, y_out.ravel()


@pytest.mark.parametrize("seed", range(5))
def test_downsample_minmax_matches_the_numpy_reference(seed: int) -> None:
    from glifx.report.plots import downsample_minmax

    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 5000))
    t = np.arange(n) * 5e-6
    y = rng.choice([-1.0, 0.0, -0.0, 1.0, 2.0], n) + (rng.random(n) < 0.5) * rng.normal(size=n)
    y[rng.random(n) < 0.1] = np.nan
    y[rng.random(n) < 0.02] = np.inf
    y[:60] = np.nan  # whole blocks of NaN
    for max_points in (6, 7, 64, 1000, n - 1, n):
        got_t, got_y = downsample_minmax(t, y, max_points)
        ref_t, ref_y = _downsample_reference(t, y, max_points)
        np.testing.assert_array_equal(got_t, ref_t)
        np.testing.assert_array_equal(got_y, ref_y)


def test_first_spike_waveform(cell_and_features) -> None:
    cell, feats = cell_and_features
    wf = first_spike_waveform(cell, feats)
    assert "rheobase, sweep 2" in wf.label
    # the synthetic spike peaks at 0.35 s; the threshold (t = 0) comes before it
    threshold_t = feats.spikes.loc[feats.spikes["sweep_number"] == 2, "threshold_t"].iloc[0]
    peak_ms = wf.t_ms[np.argmax(wf.v_mv)]
    assert threshold_t * 1e3 + peak_ms == pytest.approx(350.0, abs=0.05)
    # dV/dt in V/s = mV/ms: the largest rise of the sampled trace, by plain differences
    steepest = np.max(np.diff(wf.v_mv) / np.diff(wf.t_ms))
    assert np.max(wf.dvdt) == pytest.approx(steepest, rel=0.3)
    assert len(plot_spike_waveform(wf).axes) == 2
