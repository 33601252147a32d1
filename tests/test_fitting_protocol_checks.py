"""The collapse guard's check: a model against the cell on Long and Short Square sweeps."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from glifx.fitting.data import FitData, SISweep
from glifx.fitting.optimize import OptimizationResult
from glifx.fitting.pipeline import _guarded
from glifx.fitting.protocol_checks import FI_ERROR_LIMIT, GUARD_EV_TOLERANCE, check_protocols
from glifx.glif import GlifModel, simulate

DT = 5e-5


def cell_model():
    return GlifModel(level=1, R_input=200e6, C=100e-12, th_inf=0.02, spike_cut_s=3e-3,
                     El_reference=-0.07, spike_cut_length=60)


def recorded_by(model, amplitudes_pa, width_s, name):
    """Sweeps whose 'recorded' spikes are ``model``'s own on a step of each amplitude."""
    out = []
    for k, amp in enumerate(amplitudes_pa):
        n, a = int(1.5 / DT), int(0.2 / DT)
        b = a + int(round(width_s / DT))
        i = np.zeros(n)
        i[a:b] = amp * 1e-12
        spikes = simulate(model, i, DT).spike_steps
        out.append(SISweep(k, name, DT, np.zeros(n), i, np.asarray(spikes, dtype=np.int64),
                           (a, b - 1), amplitude=amp * 1e-12))
    return out


@pytest.fixture(scope="module")
def data():
    cell = cell_model()
    long_square = recorded_by(cell, [-50, 50, 110, 150, 200, 300], 1.0, "Long Square")
    short_square = recorded_by(cell, [200, 600, 900, 1200], 3e-3, "Short Square")
    assert sum(s.spikes.size for s in long_square) > 10  # the cell does fire on the steps
    return FitData(el_reference=-0.07, train=long_square[-2:], test=[],
                   short_square=short_square, long_square=long_square)


def test_the_cell_itself_passes(data):
    check = check_protocols(cell_model(), data)
    assert check.fi_error == 0.0 and check.short_square_agreement == 1.0
    assert check.n_long_square == 6 and check.n_short_square == 4 and check.ok


def test_a_model_of_another_cell_fails(data):
    """Half the threshold: far more spikes on every step than the cell fired."""
    check = check_protocols(replace(cell_model(), th_inf=0.01), data)
    assert check.fi_error > FI_ERROR_LIMIT and not check.ok
    assert check.short_square_agreement < 1.0


def training_evs(evs):
    """A stand-in training set whose explained-variance ratio of each model is given (by th_inf)."""
    return SimpleNamespace(score=lambda model: SimpleNamespace(ratio=evs[model.th_inf]))


def test_guard_keeps_the_other_optimum_over_a_collapsed_one(data):
    good_model = cell_model()
    bad_model = replace(good_model, th_inf=0.01)
    ctx = SimpleNamespace(data=data, train_set=training_evs({0.02: 0.6, 0.01: 0.64}))
    opts = {"ev": OptimizationResult(bad_model, {"th_inf": 0.5}, 0.9, 10, "ev"),
            "reference": OptimizationResult(good_model, {"th_inf": 1.0}, -5.0, 10, "reference")}
    res, kept, check, note = _guarded(1, opts, "ev", ctx)
    assert kept == "reference" and res is opts["reference"] and check.ok
    assert "ev optimum of GLIF1 was rejected" in note
    res, kept, check, note = _guarded(1, {"ev": opts["ev"]}, "ev", ctx)
    assert kept == "ev" and not check.ok and "fails the Long Square check" in note
    assert check.as_dict()["passes"] is False
    res, kept, check, note = _guarded(1, opts, "reference", ctx)
    assert kept == "reference" and note is None


def test_guard_keeps_a_failing_optimum_when_the_passing_one_fits_the_training_data_worse(data):
    """The alternative passes the Long Square check but loses more than GUARD_EV_TOLERANCE of
    training EV: taking it would trade the fit for the check (a collapse); the level keeps its
    optimum and says both."""
    good_model = cell_model()
    bad_model = replace(good_model, th_inf=0.01)
    ctx = SimpleNamespace(data=data, train_set=training_evs(
        {0.01: 0.7, 0.02: 0.7 - GUARD_EV_TOLERANCE - 0.01}))
    opts = {"ev": OptimizationResult(bad_model, {"th_inf": 0.5}, 0.9, 10, "ev"),
            "reference": OptimizationResult(good_model, {"th_inf": 1.0}, -5.0, 10, "reference")}
    res, kept, check, note = _guarded(1, opts, "ev", ctx)
    assert kept == "ev" and res is opts["ev"] and not check.ok
    assert "fails the Long Square check" in note
    assert "reference optimum passes" in note and "explains the training data worse" in note
