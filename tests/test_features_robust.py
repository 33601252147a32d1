"""Defaults on awkward input: 10 / 20 kHz, jittered time base, no spikes, clipped last spike,
unknown stimulus, Noise and Short Square protocols.  No exception, and sensible answers."""

from __future__ import annotations

import math
import warnings

import ipfx.feature_extractor as fe
import ipfx.spike_features as spkf
import numpy as np
import pytest

import glifx
from glifx.errors import ConfigError, SweepError
from glifx.features import (
    detect_spikes,
    detect_sweep_spikes,
    extract_features,
    noise_summary,
)
from glifx.features.spikes import effective_cutoff
from glifx.testing.sweeps import spike_train_sweep

SPIKES = [0.2, 0.35, 0.5, 0.62, 0.8]


@pytest.mark.parametrize("rate", [10e3, 20e3, 50e3])
def test_default_filter_at_low_rates(rate):
    t, v, i = spike_train_sweep(1.0, rate, SPIKES)
    df = detect_spikes(t, v, i, 0.1, 0.9)
    assert len(df) == len(SPIKES)
    cutoff, clipped = effective_cutoff(10.0, rate)
    assert df.attrs["filter_khz"] == cutoff and df.attrs["filter_clipped"] == clipped
    assert clipped == (rate <= 20e3) and cutoff < rate / 2e3
    assert np.all(np.abs(df["peak_t"].to_numpy() - SPIKES) < 2 / rate)


def test_ipfx_raises_where_glifx_clips():
    t, v, i = spike_train_sweep(1.0, 20e3, SPIKES)
    with pytest.raises(ValueError):
        fe.SpikeFeatureExtractor().process(t, v, i)
    assert len(detect_spikes(t, v, i)) == len(SPIKES)


def test_jittered_time_base():
    t, v, i = spike_train_sweep(1.0, 50e3, SPIKES)
    jitter = np.random.default_rng(0).uniform(-0.004, 0.004, t.size) / 50e3
    tj = t + jitter
    sweep = glifx.Sweep(v, i, t=tj, sweep_number=0, stimulus_name="Long Square")
    df = detect_sweep_spikes(sweep)
    assert len(df) == len(SPIKES)
    feats = extract_features(glifx.Cell.from_sweeps([sweep]))
    assert feats.sweeps["spike_count"].tolist() == [len(SPIKES)]


def test_no_spikes_anywhere():
    t, v, i = spike_train_sweep(1.0, 20e3, [])
    cell = glifx.Cell.from_arrays([v, v - 5], [i, -i], 20e3, stimulus_names=["Long Square"] * 2,
                                  stimulus_amplitudes=[100.0, -100.0])
    feats = extract_features(cell)
    assert len(feats.spikes) == 0 and feats.sweeps["avg_rate"].tolist() == [0.0, 0.0]
    ls = feats.cell["long_square"]
    assert math.isnan(ls["rheobase_i"]) and any("rheobase" in n for n in ls["notes"])


def test_clipped_last_spike_vs_ipfx():
    t, v, i = spike_train_sweep(1.0, 200e3, [0.3, 0.6, 0.8999])  # last peak 0.1 ms before the end
    a = fe.SpikeFeatureExtractor(start=0.1, end=0.9).process(t, v, i)
    b = detect_spikes(t, v, i, 0.1, 0.9)
    # ipfx's definition (matched): the spike before a clipped one searches its fast trough up to
    # the window end, finds the clipped spike's downstroke there, never sees it recover: clipped too.
    assert b["clipped"].tolist() == a["clipped"].tolist() == [False, True, True]
    assert math.isnan(b["trough_index"].iloc[-1]) and math.isnan(b["width"].iloc[-1])
    np.testing.assert_array_equal(b["threshold_index"], a["threshold_index"].astype(int))
    # A plateau right after the last peak (depolarisation block): ipfx crashes (argmin of an
    # empty slice when the trough is the peak itself), glifx leaves the downstroke undefined.
    v[t > 0.8995] = v[t > 0.8995].clip(min=10.0)
    with pytest.raises(ValueError, match="empty"):
        fe.SpikeFeatureExtractor(start=0.1, end=0.9).process(t, v, i)
    assert bool(detect_spikes(t, v, i, 0.1, 0.9)["clipped"].iloc[-1])


def test_unknown_stimulus_whole_sweep():
    t, v, _ = spike_train_sweep(1.0, 20e3, SPIKES)
    sweep = glifx.Sweep(v, None, sampling_rate=20e3, sweep_number=4)
    df = detect_sweep_spikes(sweep)
    assert len(df) == len(SPIKES) and "threshold_i" not in df.columns
    feats = extract_features(glifx.Cell.from_sweeps([sweep]))
    assert feats.sweeps["spike_count"].tolist() == [len(SPIKES)]
    assert feats.sweeps["start"].iloc[0] == 0.0


def test_noise_repeats_reliability():
    """Three identical 1 s noise epochs with the same spikes: reliability 1, equal rates."""
    rate, n = 20e3, 5
    rng = np.random.default_rng(0)
    seg = rng.normal(0, 30, int(rate))
    starts = [0.5, 2.0, 3.5]
    rel_spikes = [0.1, 0.3, 0.55, 0.8]
    spikes_t = [s + r for s in starts for r in rel_spikes]
    t, v, _ = spike_train_sweep(5.0, rate, spikes_t, step=None)
    i = np.zeros(t.size)
    for s in starts:
        k = int(s * rate)
        i[k:k + seg.size] = seg + 50
    sweep = glifx.Sweep(v, i, sampling_rate=rate, sweep_number=n, stimulus_name="Noise 1")
    other = glifx.Sweep(spike_train_sweep(5.0, rate, spikes_t, step=None, seed=1)[1], i,
                        sampling_rate=rate, sweep_number=n + 2, stimulus_name="Noise 1")
    feats = extract_features(glifx.Cell.from_sweeps([sweep, other]))
    rec = feats.cell["noise"]["sweeps"][str(n)]
    assert len(rec["epochs"]) == 3
    assert rec["rate_per_epoch"] == pytest.approx([4.0] * 3, rel=1e-3)
    assert rec["reliability_across_epochs"] == pytest.approx(1.0)
    for rep in rec["spike_times_per_repeat"]:
        assert np.allclose(np.array(rep) - np.array(rel_spikes), rep[0] - rel_spikes[0], atol=1e-3)
    repeats = feats.cell["noise"]["repeats"]["Noise 1"]
    assert repeats["n_sweeps"] == 2
    assert repeats["reliability_per_epoch"] == pytest.approx([1.0] * 3)
    spikes = {k: g.drop(columns="sweep_number") for k, g in feats.spikes.groupby("sweep_number")}
    direct = noise_summary([sweep], spikes)
    assert direct["sweeps"][str(n)] == rec


def test_short_square_common_amplitude():
    rate = 50e3
    vs, is_, names = [], [], []
    for k, (amp, fire) in enumerate([(200, False), (250, True), (250, True), (300, True)]):
        t, v, i = spike_train_sweep(1.0, rate, [0.1025] if fire else [], step=(0.1, 0.103, amp),
                                    seed=k)
        vs.append(v)
        is_.append(i)
        names.append("Short Square")
    feats = extract_features(glifx.Cell.from_arrays(vs, is_, rate, stimulus_names=names))
    ss = feats.cell["short_square"]
    assert ss["stimulus_amplitude"] == 250 and ss["common_amp_sweeps"] == [1, 2]
    assert ss["mean_spike_0_peak_t"] == pytest.approx(0.1025, abs=1e-4)


def test_bad_input_is_reported():
    with pytest.raises(ConfigError, match="dv_cuttof"):
        detect_spikes(np.arange(10.0), np.zeros(10), dv_cuttof=3)
    with pytest.raises(SweepError, match="increasing"):
        detect_spikes(np.r_[0.0, 2.0, 1.0, 3.0], np.zeros(4))


def test_warnings_free_default_run():
    t, v, i = spike_train_sweep(1.0, 20e3, SPIKES)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        detect_spikes(t, v, i, 0.1, 0.9)


def test_recording_stopped_early():
    """A NaN tail (recording stopped early) is cut off before detection; rates use the recorded part."""
    t, v, i = spike_train_sweep(1.0, 20e3, [0.2, 0.4, 0.6], step=(0.1, 0.9, 100.0))
    v[int(0.7 * 20e3):] = np.nan
    sweep = glifx.Sweep(v, i, sampling_rate=20e3, stimulus_name="Long Square", sweep_number=1)
    assert len(detect_sweep_spikes(sweep)) == 3
    feats = extract_features(glifx.Cell.from_sweeps([sweep]))
    row = feats.sweeps.iloc[0]
    assert row["spike_count"] == 3 and row["end"] == pytest.approx(0.69995)
    assert row["avg_rate"] == pytest.approx(3 / (0.69995 - 0.1))
    assert np.isfinite(row["v_baseline"]) and np.isfinite(row["peak_deflect"])


def test_short_square_adjusted_parameters_vs_ipfx():
    from glifx.features.spikes import adjusted_detection_params

    sweeps = []
    for k, amp in enumerate([600.0, 700.0, 800.0]):
        t, v, i = spike_train_sweep(0.3, 200e3, [0.1045], step=(0.1, 0.103, amp), tau_m=0.002,
                                    seed=k)
        sweeps.append(glifx.Sweep(v, i, sampling_rate=200e3, sweep_number=k))
    ours = adjusted_detection_params(sweeps, 0.1, 0.101, thresh_frac_floor=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = spkf.estimate_adjusted_detection_parameters([np.array(s.v) for s in sweeps],
                                                          [np.array(s.t) for s in sweeps], 0.1, 0.101)
    assert ours == pytest.approx(ref, rel=1e-9)
    assert ours[0] > 20.0  # the passive charging alone would have crossed the default cutoff
