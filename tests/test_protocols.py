"""Tests of the protocol waveform generators (glifx.protocols)."""

from __future__ import annotations

import numpy as np
import pytest

from glifx import Sweep, protocols
from glifx.errors import ConfigError

RATE = 20e3


def test_long_square_shape_and_epochs():
    w = protocols.long_square(-110.0, RATE)
    assert (w.name, w.code) == ("Long Square", "C1LSCOARSE150216")
    assert w.amplitude == -110.0
    assert w.epochs["stimulus"] == pytest.approx((1.02, 2.02))
    assert w.duration == pytest.approx(3.02)
    assert np.all(w.i[w.epoch_slice("stimulus")] == -110.0)
    assert np.count_nonzero(w.i == -110.0) == int(1.0 * RATE)
    # test pulse: -20 pA, 10 ms at 20 ms
    assert w.epochs["test"] == pytest.approx((0.02, 0.03))
    assert np.count_nonzero(w.i == -20.0) == int(0.01 * RATE)
    assert not w.i.flags.writeable


def test_sweep_sees_test_pulse_and_stimulus():
    w = protocols.long_square(50.0, RATE)
    sw = Sweep(np.zeros(w.n_samples), w.i, sampling_rate=w.sampling_rate)
    assert sw.epochs.test is not None
    assert sw.stimulus_window == pytest.approx((1.02, 2.02 - 1 / RATE))


@pytest.mark.parametrize("rate", [20e3, 50e3, 200e3])
def test_short_square_3ms(rate):
    w = protocols.short_square(400.0, rate)
    assert (w.name, w.code) == ("Short Square", "C1SSFINEST150112")
    assert np.count_nonzero(w.i == 400.0) == round(0.003 * rate)
    assert w.epochs["pulse_1"] == pytest.approx((1.02, 1.023))


def test_triple_pulses_and_intervals():
    w = protocols.short_square_triple(300.0, 0.02, RATE)
    assert (w.name, w.code) == ("Short Square - Triple", "C1SSTRIPLE171103")
    onsets = [w.epochs[f"pulse_{k}"][0] for k in (1, 2, 3)]
    assert np.diff(onsets) == pytest.approx([0.02, 0.02])
    edges = np.flatnonzero(np.diff((w.i == 300.0).astype(int)) == 1) + 1
    assert edges.size == 3
    assert np.count_nonzero(w.i == 300.0) == 3 * round(0.003 * RATE)
    with pytest.raises(ConfigError):
        protocols.short_square_triple(300.0, 0.002, RATE)


def test_ramp_slope():
    w = protocols.ramp(100.0, RATE)
    assert (w.name, w.code) == ("Ramp", "C1RP25PR1S")
    seg = w.i[w.epoch_slice("stimulus")]
    slope = np.polyfit(np.arange(seg.size) / RATE, seg, 1)[0]
    assert slope == pytest.approx(25.0, rel=1e-9)
    assert seg.max() == pytest.approx(100.0)
    assert w.epochs["stimulus"][1] - w.epochs["stimulus"][0] == pytest.approx(4.0)


def _loglog_slope(x: np.ndarray, rate: float, f_lo=1.0, f_hi=100.0) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / rate)
    band = (f >= f_lo) & (f <= f_hi)
    # average in log-spaced bins so that the fit is not dominated by the many high-f bins
    edges = np.logspace(np.log10(f_lo), np.log10(f_hi), 15)
    fc, pc = [], []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        m = band & (f >= a) & (f < b)
        if m.any():
            fc.append(np.mean(f[m]))
            pc.append(np.mean(spec[m]))
    return float(np.polyfit(np.log10(fc), np.log10(pc), 1)[0])


def test_pink_noise_unit_std_and_slope():
    x = protocols.pink_noise(3.0, RATE, seed=1)
    assert x.size == int(3.0 * RATE)
    assert x.mean() == pytest.approx(0.0, abs=1e-12)
    assert x.std() == pytest.approx(1.0)
    assert _loglog_slope(x, RATE) == pytest.approx(-1.0, abs=0.15)
    # the same seed gives the same waveform at another sampling rate
    y = protocols.pink_noise(3.0, 2 * RATE, seed=1)
    assert np.allclose(y[::2], x, atol=1e-9)


@pytest.mark.parametrize("which", [1, 2])
def test_noise_sweep(which):
    rheo = 80.0
    w = protocols.noise(rheo, which, RATE)
    assert w.name == f"Noise {which}"
    assert w.code == f"C1NSSEED_{which}"
    ep = [w.epochs[f"epoch_{k}"] for k in (1, 2, 3)]
    assert [b - a for a, b in ep] == pytest.approx([3.0, 3.0, 3.0])
    assert [ep[1][0] - ep[0][1], ep[2][0] - ep[1][1]] == pytest.approx([5.0, 5.0])
    for k, scale in zip((1, 2, 3), (0.75, 1.0, 1.5), strict=True):
        seg = w.i[w.epoch_slice(f"epoch_{k}")]
        assert seg.mean() == pytest.approx(scale * rheo, rel=1e-9)
        assert seg.std() / seg.mean() == pytest.approx(0.2, abs=0.01)
        assert _loglog_slope(seg - seg.mean(), RATE) == pytest.approx(-1.0, abs=0.2)
    # outside the epochs and the test pulse, the command is zero
    mask = np.ones(w.n_samples, bool)
    for key in ("test", "epoch_1", "epoch_2", "epoch_3"):
        mask[w.epoch_slice(key)] = False
    assert np.all(w.i[mask] == 0.0)


def test_noise_seeds_distinct_and_repeats_identical():
    a1, a2 = protocols.noise(50.0, 1, RATE), protocols.noise(50.0, 1, RATE)
    b = protocols.noise(50.0, 2, RATE)
    assert np.array_equal(a1.i, a2.i)
    assert a1.params["seed"] != b.params["seed"]
    s = a1.epoch_slice("epoch_2")
    r = np.corrcoef(a1.i[s], b.i[s])[0, 1]
    assert abs(r) < 0.3
    assert not np.array_equal(a1.i, b.i)


def test_protocol_set_contents():
    ws = list(protocols.protocol_set(60.0, RATE, short_square_threshold_pa=300.0, include_test=True))
    names = [w.name for w in ws]
    assert names[0] == "Test"
    for name in protocols.ALLEN_CODES:
        assert name in names
    ls = [w.amplitude for w in ws if w.name == "Long Square"]
    assert ls[0] == -110.0 and np.allclose(np.diff(ls), 20.0) and ls[-1] <= 160.0
    ss = [w.amplitude for w in ws if w.name == "Short Square"]
    assert min(ss) < 300.0 < max(ss)
    assert names.count("Noise 1") == 2 and names.count("Noise 2") == 2
    assert all(w.sampling_rate == RATE for w in ws)
    assert all(w.code == protocols.ALLEN_CODES[w.name] for w in ws)


def test_bad_inputs():
    with pytest.raises(ConfigError):
        protocols.long_square(10.0, -1.0)
    with pytest.raises(ConfigError):
        protocols.noise(10.0, 3, RATE)
    with pytest.raises(ConfigError):
        list(protocols.protocol_set(-5.0, RATE))
    with pytest.raises(ConfigError):
        protocols.pink_noise(3.0, 150.0, 1)
