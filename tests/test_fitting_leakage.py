"""No leakage of the test set into training: the Noise 2 sweeps may change the test explained
variance and nothing else.

The FS sample cell (data_samples/fs_cell.nwb) is fitted three times per method through the public
API only: as recorded, with every Noise 2 sample (voltage, current, hence the detected spikes)
replaced by random numbers, and with the Noise 2 sweeps removed.  Every level's fitted and initial
parameters, training explained variance, optimiser outcome, cross-validation scores and the shared
preprocessing estimates must be identical (exactly, not approximately: the fit is deterministic).
With ``method="select"`` this cell's GLIF3 cross-validation chooses the reference optimiser
(README), so GLIF4 and GLIF5 run their own cross-validations too: every training path is covered.
(The RS sample cell, used before it got its AHP, now keeps the EV optimiser at GLIF3, so GLIF4/5
would not cross-validate there.)
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import glifx
from glifx.fitting import FitResult, fit_cell
from glifx.sweep import Cell, Sweep

SAMPLES = Path(__file__).resolve().parent.parent / "data_samples"
TEST_STIMULUS = "Noise 2"
METHODS = ("select", "ev", "reference")

pytestmark = pytest.mark.slow  # 9 fits of five levels: about 75 s


def _copy_sweep(sweep: Sweep, v: np.ndarray, i: np.ndarray | None) -> Sweep:
    """``sweep`` with other data; every piece of metadata kept."""
    return Sweep(v, i, sampling_rate=sweep.sampling_rate, t_start=float(sweep.time_at(0)),
                 sweep_number=sweep.sweep_number, stimulus_name=sweep.stimulus_name,
                 stimulus_code=sweep.stimulus_code, stimulus_amplitude=sweep.stimulus_amplitude,
                 clamp_mode=sweep.clamp_mode, name_source=sweep.name_source,
                 source=sweep.source, metadata=sweep.metadata)


def _variant(recorded: Cell, how: str) -> Cell:
    """The recorded cell with its Noise 2 sweeps kept, replaced by garbage, or removed."""
    rng = np.random.default_rng(24)
    sweeps = []
    for sweep in recorded:
        if sweep.stimulus_name == TEST_STIMULUS:
            if how == "removed":
                continue
            if how == "garbage":
                # finite, so that the sweeps still reach the test set (and change its EV):
                # voltage crossing 0 mV often enough for "spikes", current of nA size
                v = rng.normal(-40.0, 40.0, sweep.n_samples)
                i = rng.normal(0.0, 500.0, sweep.n_samples)
                sweep = _copy_sweep(sweep, v, i)
        sweeps.append(sweep)
    return Cell.from_sweeps(sweeps, cell_id=recorded.cell_id, metadata=recorded.metadata)


def _canonical(value: Any) -> Any:
    """Plain, exactly comparable form of a fit's pieces (NaN equal to NaN)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _canonical(value.tolist())
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, float | np.floating) and math.isnan(value):
        return "nan"
    if isinstance(value, np.generic):
        return value.item()
    return value


def training_fingerprint(fit: FitResult) -> dict[str, Any]:
    """Everything a fit derives from its training data (test EV and wall times left out)."""
    levels = {}
    for lf in fit:
        levels[lf.level] = _canonical(dict(
            model=lf.model, initial_model=lf.initial_model, train_ev=lf.train_ev,
            train_ev_initial=lf.train_ev_initial, reason=lf.reason,
            optimization=lf.optimization, selection=lf.selection))
    preprocessing = {k: v for k, v in fit.preprocessing.as_dict().items() if k != "wall_time_s"}
    return dict(levels=levels, preprocessing=_canonical(preprocessing),
                el_reference=fit.el_reference,
                sweeps={k: v for k, v in fit.sweeps.items() if k != "test"})


@pytest.fixture(scope="module")
def cells() -> dict[str, Cell]:
    recorded = glifx.load_cell(SAMPLES / "fs_cell.nwb")
    assert len(recorded.select(TEST_STIMULUS)) == 3
    return {how: _variant(recorded, how) for how in ("recorded", "garbage", "removed")}


@pytest.mark.parametrize("method", METHODS)
def test_noise2_changes_nothing_but_the_test_ev(cells, method):
    fits = {how: fit_cell(cell, method=method) for how, cell in cells.items()}
    recorded = fits["recorded"]
    assert all(lf.ok for lf in recorded), [lf.reason for lf in recorded]
    if method == "select":  # the cross-validations this test relies on did run
        assert [lf.level for lf in recorded if lf.selection is not None] == [3, 4, 5]
    expected = training_fingerprint(recorded)
    for how in ("garbage", "removed"):
        assert training_fingerprint(fits[how]) == expected, how
    # the garbage did reach the test set: the test EV is the only thing it changed
    for lf in recorded:
        assert np.isfinite(lf.test_ev)
        assert np.isnan(fits["removed"][lf.level].test_ev)
        assert fits["garbage"][lf.level].test_ev != lf.test_ev
    assert fits["garbage"].sweeps["test"] == recorded.sweeps["test"]
    assert fits["removed"].sweeps["test"] == []
