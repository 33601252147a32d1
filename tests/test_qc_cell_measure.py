"""Cell QC from protocol sweeps (bath, seal, break-in, blowout) equals ipfx's qc_features."""

from __future__ import annotations

import numpy as np
import pytest

from glifx import Cell, Sweep
from glifx.qc import measure_protocol_sweeps, run_qc

RATE = 50_000.0


def _pulse_command(n: int, amp: float = 10.0) -> np.ndarray:
    """Holding 0 mV, a test pulse at 10-20 ms, then three 20 ms pulses (mV)."""
    t = np.arange(n) / RATE
    v = np.zeros(n)
    for start in (0.010, 0.100, 0.200, 0.300):
        v[(t >= start) & (t < start + (0.010 if start == 0.010 else 0.020))] = amp
    return v


def seal_sweep(r_gohm: float = 2.0, number: int = 1) -> Sweep:
    n = int(0.4 * RATE)
    v = _pulse_command(n)
    i = v / r_gohm + 3.0 + np.random.default_rng(0).normal(0, 0.05, n)  # pA (mV / GΩ)
    return Sweep(v, i, sampling_rate=RATE, sweep_number=number, clamp_mode="VoltageClamp",
                 stimulus_name="Test", stimulus_code="EXTPCllATT141203")


def breakin_sweep(ra: float = 10.0, rm: float = 200.0, number: int = 2) -> Sweep:
    n = int(0.4 * RATE)
    v = _pulse_command(n)
    t = np.arange(n) / RATE
    i = np.zeros(n)
    dv = np.diff(v, prepend=0.0)
    tau = 0.0005
    for k in np.flatnonzero(dv):  # each edge: steady step plus a capacitive transient
        step = dv[k]
        i[k:] += step / (ra + rm) * 1e3  # pA (mV / MΩ * 1e3)
        i[k:] += step * (1 / ra - 1 / (ra + rm)) * 1e3 * np.exp(-(t[k:] - t[k]) / tau)
    i += np.random.default_rng(1).normal(0, 1.0, n)
    return Sweep(v, i, sampling_rate=RATE, sweep_number=number, clamp_mode="VoltageClamp",
                 stimulus_name="Test", stimulus_code="EXTPBREAKN141203")


def bath_sweep(offset: float = 35.0, number: int = 0) -> Sweep:
    n = int(0.4 * RATE)
    v = _pulse_command(n)
    i = v / 0.005 + offset + np.random.default_rng(2).normal(0, 0.5, n)  # 5 MΩ pipette
    return Sweep(v, i, sampling_rate=RATE, sweep_number=number, clamp_mode="VoltageClamp",
                 stimulus_name="Test", stimulus_code="EXTPINBATH141203")


def blowout_sweep(level: float = 4.0, number: int = 9) -> Sweep:
    n = int(0.5 * RATE)
    t = np.arange(n) / RATE
    i = np.where((t >= 0.01) & (t < 0.02), -50.0, 0.0)
    v = level + np.where((t >= 0.01) & (t < 0.02), -0.5, 0.0)
    v = v + np.random.default_rng(3).normal(0, 0.1, n)
    return Sweep(v, i, sampling_rate=RATE, sweep_number=number, stimulus_name="Test",
                 stimulus_code="EXTPBLWOUT141203")


def make_sweep(sweep_number: int) -> Sweep:
    """A clean current-clamp step sweep: 1 s baseline, 1 s 100 pA step, 1 s tail; 10 MΩ, flat."""
    n = int(3 * RATE)
    i = np.zeros(n)
    i[int(RATE):int(2 * RATE)] = 100.0
    v = -70.0 + 0.01 * i + np.random.default_rng(sweep_number).normal(0, 0.02, n)
    return Sweep(v, i, sampling_rate=RATE, sweep_number=sweep_number, stimulus_name="Long Square")


def test_protocol_measurements_equal_ipfx():
    import ipfx.epochs as ep
    import ipfx.qc_features as qcf

    seal, brk, bath, blow = seal_sweep(), breakin_sweep(), bath_sweep(), blowout_sweep()
    cell = Cell.from_sweeps([bath, seal, brk, blow])
    got = measure_protocol_sweeps(cell)
    assert got.problems == {}
    ref = {
        "seal_gohm": qcf.measure_seal(np.array(seal.v), np.array(seal.i), np.array(seal.t)),
        "input_resistance_mohm": qcf.measure_input_resistance(np.array(brk.v), np.array(brk.i),
                                                              np.array(brk.t)),
        "initial_access_resistance_mohm": qcf.measure_initial_access_resistance(
            np.array(brk.v), np.array(brk.i), np.array(brk.t)),
        "electrode_0_pa": qcf.measure_electrode_0(np.array(bath.i), RATE),
        "blowout_mv": qcf.measure_blowout(np.array(blow.v),
                                          ep.get_test_epoch(np.array(blow.i), RATE)[1]),
    }
    for key, value in ref.items():
        assert got.values[key] == pytest.approx(value, rel=1e-6), key
    # and they are the physical values of the synthetic cell (seeded noise; measured: seal -0.08 %,
    # Rin -0.5 %, Ra +0.02 %, offset -0.006 pA, blowout +0.0006 mV; tolerances 2-5x that)
    assert got.values["seal_gohm"] == pytest.approx(2.0, rel=0.002)
    assert got.values["input_resistance_mohm"] == pytest.approx(210.0, rel=0.01)
    assert got.values["initial_access_resistance_mohm"] == pytest.approx(10.0, rel=0.001)
    assert got.values["electrode_0_pa"] == pytest.approx(35.0, abs=0.015)
    assert got.values["blowout_mv"] == pytest.approx(4.0, abs=0.002)
    assert got.sources["seal_gohm"] == "sweep 1 (EXTPCllATT141203)"


def test_run_qc_uses_protocol_sweeps_and_metadata_wins():
    cc = make_sweep(sweep_number=5)
    cell = Cell.from_sweeps([bath_sweep(), seal_sweep(r_gohm=0.5), breakin_sweep(), blowout_sweep(), cc])
    qc = run_qc(cell)
    assert qc.passed_sweeps == [5]
    assert qc.sweeps.set_index("sweep_number").loc[1, "status"] == "excluded"  # "Test" sweeps
    assert qc.cell_reasons == ["seal_gohm 0.5 < 1"]
    assert qc.cell_sources["seal_gohm"].startswith("sweep 1")
    assert qc.cell_sources["input_access_resistance_ratio"] == "computed"
    assert qc.cell_not_measured == []
    with_meta = Cell.from_sweeps([seal_sweep(r_gohm=0.5), cc], metadata={"seal_gohm": 3.0})
    qc2 = run_qc(with_meta)
    assert qc2.cell_measurements["seal_gohm"] == 3.0 and qc2.cell_sources["seal_gohm"] == "file metadata"
    assert "seal_gohm" not in " ".join(qc2.cell_reasons)


def test_unusable_protocol_sweep_is_not_measured():
    flat = Sweep(np.zeros(1000), np.zeros(1000), sampling_rate=RATE, sweep_number=1,
                 clamp_mode="VoltageClamp", stimulus_code="EXTPCllATT")
    qc = run_qc(Cell.from_sweeps([flat, make_sweep(sweep_number=2)]))
    expected = "seal_gohm: sweep 1 (EXTPCllATT): no usable pulse"
    assert any(s.startswith(expected) for s in qc.cell_not_measured)
    assert qc.cell_passed
