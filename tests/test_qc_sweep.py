"""Sweep QC on synthetic Allen-like sweeps: each criterion fails for exactly its own fault."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.signal import lfilter

from glifx import Cell, ConfigError, Sweep, SweepError
from glifx.qc import QCCriteria, qc_sweep, run_qc

RATE = 50_000.0
TEST_PULSE = (0.02, 0.03)  # s
STIM = (1.03, 2.03)  # s: 1 s baseline after the test pulse, 1 s step, 1 s tail
DURATION = 3.03  # s


def make_sweep_arrays(
    amp: float = 100.0, noise_mv: float = 0.02, seed: int = 0, duration: float = DURATION
) -> tuple[np.ndarray, np.ndarray]:
    """Clean passive response (R 100 MΩ, tau 20 ms, rest -70 mV) to a test pulse and a step."""
    n = int(round(duration * RATE))
    t = np.arange(n) / RATE
    i = np.zeros(n)
    i[(t >= TEST_PULSE[0]) & (t < TEST_PULSE[1])] = -50.0
    i[(t >= STIM[0]) & (t < STIM[1])] = amp
    a = (1 / RATE) / 0.020
    v_ss = -70.0 + 100e6 * i * 1e-12 * 1e3  # mV
    v = lfilter([a], [1, -(1 - a)], v_ss - (-70.0), zi=[0.0])[0] - 70.0
    v += np.random.default_rng(seed).normal(0, noise_mv, n)
    return v, i


def make_sweep(v: np.ndarray | None = None, i: np.ndarray | None = None, **kwargs) -> Sweep:
    if v is None:
        v, i = make_sweep_arrays()
    kwargs.setdefault("stimulus_name", "Long Square")
    return Sweep(v, i, sampling_rate=RATE, **kwargs)


def idx(t: float) -> int:
    return int(round(t * RATE))


def only_reason(result, prefix: str) -> None:
    assert result.status == "failed", result
    assert len(result.reasons) == 1, result.reasons
    assert result.reasons[0].startswith(prefix), result.reasons


def test_clean_sweep_passes():
    res = qc_sweep(make_sweep())
    assert res.status == "passed", res.reasons
    assert res.reasons == [] and res.not_measured == [] and res.integrity == "ok"
    m = res.measurements
    assert m["pre_noise_rms_mv"] == pytest.approx(0.02, rel=0.3)
    assert m["slow_noise_rms_mv"] == pytest.approx(0.02, rel=0.1)
    assert m["vm_delta_mv"] < 0.01
    assert m["leak_pa"] == 0.0 and res.leak_source == "command baseline"
    assert m["pre_vm_mv"] == pytest.approx(-70.0, abs=0.01)


def test_pre_noise_fault():
    v, i = make_sweep_arrays()
    start = idx(STIM[0] - 0.5)
    v[start - 20:start + 100] += np.random.default_rng(1).normal(0, 0.2, 120)
    res = qc_sweep(make_sweep(v, i))
    only_reason(res, "pre_noise_rms_mv ")
    assert res.measurements["pre_noise_rms_mv"] > 0.07


def test_post_noise_fault():
    v, i = make_sweep_arrays()
    v[-200:] += np.random.default_rng(2).normal(0, 0.2, 200)
    only_reason(qc_sweep(make_sweep(v, i)), "post_noise_rms_mv ")


def test_slow_noise_fault():
    v, i = make_sweep_arrays()
    t = np.arange(v.size) / RATE
    win = (t >= STIM[0] - 0.49) & (t < STIM[0])  # spares the 1.5 ms pre-noise window
    v[win] += np.sin(2 * np.pi * 10 * t[win])  # RMS 0.7 mV
    res = qc_sweep(make_sweep(v, i))
    only_reason(res, "slow_noise_rms_mv ")


def test_vm_delta_fault_slow_drift():
    v, i = make_sweep_arrays()
    t = np.arange(v.size) / RATE
    v += np.clip((t - STIM[0]) / (DURATION - STIM[0]), 0, None) * 2.0  # 2 mV drift after onset
    res = qc_sweep(make_sweep(v, i))
    only_reason(res, "vm_delta_mv ")
    assert res.measurements["vm_delta_mv"] > 1.0


def test_recording_stopped_early_nan_tail():
    v, i = make_sweep_arrays()
    v[idx(2.4):] = np.nan
    res = qc_sweep(make_sweep(v, i))
    only_reason(res, "integrity: recording stopped early")
    assert res.integrity == "failed"
    assert math.isnan(res.measurements["vm_delta_mv"])


def test_recording_cut_during_stimulus():
    v, i = make_sweep_arrays()
    cut = idx(1.6)
    res = qc_sweep(make_sweep(v[:cut], i[:cut]))
    only_reason(res, "integrity: recording stopped early: the stimulus is still on")


def test_nan_in_stimulus():
    v, i = make_sweep_arrays()
    i[idx(1.5):idx(1.5) + 10] = np.nan
    res = qc_sweep(make_sweep(v, i))
    only_reason(res, "integrity: the stimulus contains 10 NaN")


def test_nan_in_response():
    v, i = make_sweep_arrays()
    v[idx(1.5)] = np.nan
    res = qc_sweep(make_sweep(v, i))
    only_reason(res, "integrity: the response has 1 NaN")


@pytest.mark.parametrize("bias", [-150.0, 150.0])
def test_bias_current_in_command(bias):
    v, i = make_sweep_arrays()
    res = qc_sweep(make_sweep(v, i + bias))
    only_reason(res, f"leak_pa {bias:g} {'<' if bias < 0 else '>'}")
    assert res.measurements["leak_pa"] == bias


def test_bias_current_from_metadata():
    res = qc_sweep(make_sweep(metadata={"bias_current_pa": 120.0}))
    only_reason(res, "leak_pa 120 > 100")
    assert res.leak_source == "file"
    ok = qc_sweep(make_sweep(metadata={"bias_current_pa": -30.0}))
    assert ok.passed and ok.measurements["leak_pa"] == -30.0


def test_raw_nwb_bias_current():
    """Readers may pass NWB's raw ``bias_current``: amperes per the NWB spec, pA in MIES files."""
    amps = qc_sweep(make_sweep(metadata={"bias_current": -1.5e-10}))
    only_reason(amps, "leak_pa -150 < -100")
    pa = qc_sweep(make_sweep(metadata={"bias_current": -40.0}))
    assert pa.passed and pa.measurements["leak_pa"] == -40.0
    both = qc_sweep(make_sweep(metadata={"bias_current": 1e-9, "bias_current_pa": 5.0}))
    assert both.measurements["leak_pa"] == 5.0  # the explicit pA key wins


def test_ramp_exceptions():
    v, i = make_sweep_arrays()
    t = np.arange(v.size) / RATE
    on = t >= STIM[0]
    i[on] = 25.0 * (t[on] - STIM[0])  # ramp to the end
    v[idx(2.5):] = np.nan  # ramps are stopped early on purpose
    res = qc_sweep(make_sweep(v, i, stimulus_name="Ramp"))
    assert res.passed, res.reasons
    assert res.is_ramp
    assert any(s.startswith("post_noise_rms_mv: not evaluated on ramps") for s in res.not_measured)
    # the same sweep not called a ramp fails for stopping early
    assert not qc_sweep(make_sweep(v, i, stimulus_name="Long Square")).passed


def test_short_windows_fail_by_default_and_are_noted_when_allowed():
    v, i = make_sweep_arrays()
    v, i = v[idx(0.7):], i[idx(0.7):]  # 0.33 s of baseline, no test pulse
    res = qc_sweep(make_sweep(v, i))
    only_reason(res, "integrity: experiment epoch incomplete: 0.33 s of baseline")
    lenient = qc_sweep(make_sweep(v, i), QCCriteria(require_full_windows=False))
    assert lenient.passed, lenient.reasons
    assert any("measured over the" in n for n in lenient.notes)
    assert np.isfinite(lenient.measurements["slow_noise_rms_mv"])


def test_unknown_stimulus_is_not_measured_not_failed():
    v, _ = make_sweep_arrays()
    res = qc_sweep(Sweep(v, None, sampling_rate=RATE))
    assert res.passed and res.integrity == "not measured"
    assert any(s.startswith("pre_noise_rms_mv:") for s in res.not_measured)
    assert any(s.startswith("leak_pa:") for s in res.not_measured)
    strict = qc_sweep(Sweep(v, None, sampling_rate=RATE), QCCriteria(not_measured_fails=True))
    assert not strict.passed and all(r.startswith("not measured:") for r in strict.reasons)


def test_flat_command_has_no_stimulus_epoch():
    v, i = make_sweep_arrays(amp=0.0)
    i[:] = 0.0
    only_reason(qc_sweep(make_sweep(v, i)), "integrity: no stimulus epoch")


def test_limits_change_the_verdict():
    v, i = make_sweep_arrays(noise_mv=0.05)
    start = idx(STIM[0] - 0.5)
    v[start:start + 100] += np.random.default_rng(3).normal(0, 0.1, 100)
    sweep = make_sweep(v, i)
    assert not qc_sweep(sweep).passed
    loose = dataclasses.replace(QCCriteria(), pre_noise_rms_mv_max=0.5)
    assert qc_sweep(sweep, loose).passed


# ------------------------------------------------------------------ run_qc on a cell
def _cell(metadata=None) -> Cell:
    v, i = make_sweep_arrays()
    clean = make_sweep(v, i, sweep_number=1)
    noisy_v = v.copy()
    noisy_v[-200:] += np.random.default_rng(4).normal(0, 0.3, 200)
    noisy = make_sweep(noisy_v, i, sweep_number=2)
    test = make_sweep(v, i, sweep_number=0, stimulus_name="Test")
    vc = Sweep(v, i, sampling_rate=RATE, sweep_number=3, clamp_mode="VoltageClamp")
    sweeps = {s.sweep_number: s for s in (test, clean, noisy, vc)}
    records = [s.record() for s in sweeps.values()] + [
        dataclasses.replace(clean.record(), sweep_number=4)
    ]

    def loader(n: int) -> Sweep:
        if n == 4:
            raise SweepError(4, "could not be read: truncated data block")
        return sweeps[n]

    return Cell(records, loader, cell_id="synthetic", metadata=metadata)


def test_run_qc_cell():
    qc = run_qc(_cell())
    assert qc.passed_sweeps == [1]
    assert qc.failed_sweeps == [2, 4]
    table = qc.sweeps.set_index("sweep_number")
    assert table.loc[0, "status"] == "excluded" and table.loc[3, "status"] == "excluded"
    assert table.loc[2, "reasons"][0].startswith("post_noise_rms_mv ")
    assert table.loc[4, "reasons"] == ["could not be read: truncated data block"]
    assert table["passed"].dtype == bool
    assert qc.cell_passed  # cell measurements absent: not measured, not failed
    assert any(s.startswith("seal_gohm: not in the file") for s in qc.cell_not_measured)
    assert qc.sweep_passed(1) and not qc.sweep_passed(2)


def test_run_qc_cell_criteria():
    good = {"blowout_mv": 2.0, "electrode_0_pa": 15.0, "seal_gohm": 2.5,
            "initial_access_resistance_mohm": 10.0, "input_resistance_mohm": 200.0}
    qc = run_qc(_cell(good))
    assert qc.cell_passed and qc.cell_not_measured == []
    assert qc.cell_measurements["input_access_resistance_ratio"] == pytest.approx(0.05)
    cases = {
        "blowout_mv": (15.0, "blowout_mv 15 > 10"),
        "electrode_0_pa": (-250.0, "electrode_0_pa -250 < -200"),
        "seal_gohm": (0.5, "seal_gohm 0.5 < 1"),
        "initial_access_resistance_mohm": (25.0, "initial_access_resistance_mohm 25 > 20"),
        "input_resistance_mohm": (50.0, "input_access_resistance_ratio 0.2 > 0.15"),
    }
    for key, (value, reason) in cases.items():
        bad = run_qc(_cell({**good, key: value}))
        assert not bad.cell_passed
        assert bad.cell_reasons == [reason], (key, bad.cell_reasons)
    # no passing sweep -> cell fails
    none_pass = run_qc(_cell(good), post_noise_rms_mv_max=0.0)
    assert none_pass.passed_sweeps == []
    assert "0 current-clamp sweep(s) passed QC" in none_pass.cell_reasons[0]
    strict = run_qc(_cell(), not_measured_fails=True)
    assert not strict.cell_passed


def test_run_qc_overrides_and_errors():
    with pytest.raises(ConfigError, match="unknown QC criteria key"):
        run_qc(_cell(), pre_noise_max=1.0)
    with pytest.raises(ConfigError, match="must be a number"):
        run_qc(_cell(), pre_noise_rms_mv_max="high")
    qc = run_qc(_cell(), {"post_noise_rms_mv_max": 1.0})
    assert qc.passed_sweeps == [1, 2]


def test_run_qc_single_sweep_and_bug_guard(monkeypatch):
    assert run_qc(make_sweep(sweep_number=7)).passed_sweeps == [7]
    import glifx.qc.core as core

    def boom(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(core, "qc_sweep", boom)
    qc = run_qc(make_sweep(sweep_number=7))
    assert qc.passed_sweeps == [] and "RuntimeError: unexpected" in qc.sweeps["reasons"][0][0]


def test_write_outputs(tmp_path):
    import json

    import pandas as pd

    qc = run_qc(_cell())
    paths = qc.write(tmp_path / "out")
    table = pd.read_csv(paths["csv"])
    assert list(table["sweep_number"]) == [0, 1, 2, 3, 4]
    assert table.loc[table.sweep_number == 2, "reasons"].iloc[0].startswith("post_noise_rms_mv")
    data = json.loads(paths["json"].read_text())
    assert data["passed_sweeps"] == [1] and data["cell"]["passed"] is True
    assert data["criteria"]["pre_noise_rms_mv_max"] == 0.07
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["columns.json", "qc.csv", "qc.json"]
    assert "cell synthetic: PASSED" in qc.format_table()


# ------------------------------------------------------------------ ipfx as the oracle
def test_measurements_match_ipfx_on_synthetic_sweeps():
    """ipfx's own sweep QC (epochs + measure_vm) on Allen-like sweeps with a test pulse."""
    from ipfx.qc_feature_extractor import current_clamp_sweep_qc_features
    from ipfx.sweep import Sweep as IpfxSweep

    variants = []
    for seed, noise in ((0, 0.02), (5, 0.1), (6, 0.3)):
        v, i = make_sweep_arrays(noise_mv=noise, seed=seed)
        t = np.arange(v.size) / RATE
        v += np.clip((t - STIM[0]), 0, None) * 0.8  # some drift
        variants.append((v, i))
    for v, i in variants:
        ours = qc_sweep(make_sweep(v, i)).measurements
        t = np.arange(v.size) / RATE
        ref = current_clamp_sweep_qc_features(IpfxSweep(t, v, i, "CurrentClamp", RATE), False)
        for key in ("pre_noise_rms_mv", "post_noise_rms_mv", "slow_noise_rms_mv", "vm_delta_mv",
                    "pre_vm_mv", "post_vm_mv"):
            assert ours[key] == pytest.approx(ref[key], rel=1e-9), key
