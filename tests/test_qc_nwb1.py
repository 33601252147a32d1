"""End to end on an Allen-layout NWB 1 file: reader → run_qc (early-stopped ramps, bias current)."""

from __future__ import annotations

import numpy as np
from nwb1_writer import Nwb1Sweep, write_allen_nwb1

from glifx.io import load_cell
from glifx.qc import run_qc

RATE = 50_000.0


def _sweep_arrays(amp: float, ramp: bool = False, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    n = int(3.03 * RATE)
    t = np.arange(n) / RATE
    i = np.zeros(n)
    i[(t >= 0.02) & (t < 0.03)] = -50.0  # test pulse
    on = (t >= 1.03) & (t < 2.03)
    i[on] = amp * (t[on] - 1.03) if ramp else amp
    v = -70.0 + 0.02 * i + np.random.default_rng(seed).normal(0, 0.02, n)  # 20 MΩ, no dynamics
    return v, i


def test_qc_on_allen_nwb1(tmp_path):
    n = int(3.03 * RATE)
    early = (0, int(2.2 * RATE))  # experiment epoch ends 0.17 s after the stimulus
    sweeps = []
    v, i = _sweep_arrays(0.0)
    i[:] = 0.0
    i[int(0.02 * RATE):int(0.03 * RATE)] = -50.0
    sweeps.append(Nwb1Sweep(0, v, i, RATE, stimulus_name="Test", code="EXTPSMOKET"))
    v, i = _sweep_arrays(100.0, seed=1)
    sweeps.append(Nwb1Sweep(1, v, i, RATE, amplitude=100.0, code="C1LSCOARSE", bias_current=-20.0,
                            experiment=(0, n)))
    v, i = _sweep_arrays(100.0, seed=2)
    sweeps.append(Nwb1Sweep(2, v, i, RATE, amplitude=100.0, code="C1LSCOARSE",
                            bias_current=-1.5e-10, experiment=(0, n)))
    v, i = _sweep_arrays(25.0, ramp=True, seed=3)
    sweeps.append(Nwb1Sweep(3, v, i, RATE, stimulus_name="Ramp", amplitude=25.0, code="C1RP25PR1S",
                            experiment=early))
    v, i = _sweep_arrays(100.0, seed=4)
    sweeps.append(Nwb1Sweep(4, v, i, RATE, amplitude=100.0, code="C1LSCOARSE", experiment=early))
    path = write_allen_nwb1(tmp_path / "cell.nwb", sweeps)

    qc = run_qc(load_cell(path))
    table = qc.sweeps.set_index("sweep_number")
    assert table.loc[0, "status"] == "excluded"
    assert qc.passed_sweeps == [1, 3], table[["status", "reasons"]]
    assert table.loc[1, "leak_pa"] == -20.0 and table.loc[1, "leak_source"] == "file"
    assert table.loc[2, "reasons"] == ["leak_pa -150 < -100"]
    assert table.loc[3, "is_ramp"]
    assert len(table.loc[4, "reasons"]) == 1
    assert table.loc[4, "reasons"][0].startswith("integrity: recording stopped early")
