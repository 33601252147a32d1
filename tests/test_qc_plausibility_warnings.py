"""Plausibility warnings (issue 21, item 3): warnings only, never a QC failure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import glifx
from glifx.cli import main
from glifx.features.extract import spike_warnings
from glifx.qc.plausibility_warnings import recording_warnings
from glifx.sweep import Sweep, sweep_ranges
from glifx.testing.sweeps import spike_train_sweep

HIPPOCAMPUS = "real/bluepyefe/hippocampus-portal/99111002.nwb"


def test_sweep_ranges() -> None:
    assert sweep_ranges([10, 1, 2, 3, 5, 8, 9]) == "1–3, 5, 8–10"
    assert sweep_ranges([]) == ""


def _sweep(v_rest: float, scale: float = 1.0, number: int = 1) -> Sweep:
    t, v, i = spike_train_sweep(1.0, 20e3, [], v_rest=v_rest)
    return Sweep(v * scale, i, t=t, sweep_number=number, stimulus_name="Long Square")


def test_recording_warnings() -> None:
    assert recording_warnings([_sweep(-70.0)]) == []
    (base,) = recording_warnings([_sweep(-15.0, number=3), _sweep(-15.0, number=4)])
    assert "baseline" in base and "sweeps 3–4" in base and "-15.0 mV" in base
    (volts,) = recording_warnings([_sweep(-70.0, scale=1e-3)])  # volts stored as mV
    assert "volts" in volts
    t = np.arange(20_000) / 20e3
    constant = [Sweep(np.full(t.size, value), np.zeros(t.size), t=t, sweep_number=n,
                      stimulus_name="Long Square") for n, value in ((7, -70.0), (8, 0.0))]
    (flat,) = recording_warnings(constant)  # a constant at 0 mV is flat, not "volts"
    assert flat.startswith("flat voltage") and "sweeps 7–8" in flat


def test_spike_warnings() -> None:
    spikes = pd.DataFrame({"sweep_number": [1, 1, 2, 3],
                           "relative_to_stimulus": ["during", "after", "during", "during"],
                           "threshold_v": [-40.0, -40.0, -40.0, -50.0],
                           "peak_v": [30.0, 30.0, 30.0, -46.0]})
    sweeps = pd.DataFrame({"sweep_number": [1, 2, 3], "stim_amp": [-100.0, 100.0, 50.0]})
    hyper, low = spike_warnings(spikes, sweeps)
    assert hyper.startswith("1 spike(s) during hyperpolarising steps on sweeps 1")
    assert low.startswith("1 spike(s) less than 20 mV") and "sweeps 3" in low
    assert spike_warnings(spikes.iloc[[2]], sweeps) == []


@pytest.mark.shared_data
def test_hippocampus_portal_warnings(shared_data) -> None:
    """99111002.nwb: a -15 mV baseline (the file's rest is offset) and 4 mV "spikes" on the
    -2000 pA steps; neither fails a sweep by itself."""
    path = shared_data / HIPPOCAMPUS
    cell = glifx.load_cell(path)
    qc = glifx.run_qc(cell)
    assert any(w.startswith("baseline outside") and "sweeps 1–16" in w for w in qc.warnings)
    assert qc.to_dict()["warnings"] == qc.warnings
    feats = glifx.extract_features(cell)
    assert any("during hyperpolarising steps" in w and "sweeps 1–" in w
               for w in feats.cell["warnings"])
    result = CliRunner().invoke(main, ["features", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning: baseline outside" in result.output
    assert "warning: " in result.output and "hyperpolarising steps" in result.output
    assert "ramp:" not in result.output
    assert np.isfinite(feats.cell["long_square"]["rheobase_i"])
