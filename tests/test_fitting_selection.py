"""Choosing between optimisers by cross-validation inside the training set
(glifx.fitting.selection): blocked halves of the Noise epochs, and the choice itself."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from test_fitting_held_out import RATE, SHORT, glif3  # the same short GLIF3 set-up

from glifx.errors import ConfigError
from glifx.fitting.data import prepare
from glifx.fitting.estimators import EstimationError
from glifx.fitting.selection import (
    GAP_S,
    choose,
    cross_validate,
    needs_gate,
    optimisers,
    split_halves,
    stimulus_runs,
)
from glifx.protocols import noise
from glifx.synth import GlifNeuron, synthetic_cell
from glifx.testing.validation import glif_threshold_current


@pytest.fixture(scope="module")
def recorded():
    """Two repeats of a short Noise 1 recorded from a noisy GLIF3 neuron, as training sweeps."""
    model = glif3()
    rheo = glif_threshold_current(model, dt=1 / RATE) * 1e12
    wave = noise(rheo, 1, RATE, **SHORT)
    cell = synthetic_cell(GlifNeuron(model, noise_sigma_pa=10.0, noise_tau_ms=5.0), [wave, wave],
                          seed=11)
    train = prepare(cell, long_square=False).train
    return train, wave, model


def test_runs_are_the_noise_epochs(recorded):
    """The stretches found are the protocol's three noise epochs (not the test pulse)."""
    train, wave, _ = recorded
    s = train[0]
    runs = stimulus_runs(s.i, s.stimulus, s.dt)
    expected = [(wave.epoch_slice(f"epoch_{k}").start, wave.epoch_slice(f"epoch_{k}").stop)
                for k in (1, 2, 3)]
    assert len(runs) == 3
    for (a, b), (ea, eb) in zip(runs, expected, strict=True):
        assert abs(a - ea) <= 1 and abs(b - eb) <= 1


def test_runs_fall_back_to_the_stimulus_window():
    """A stimulus without a stretch of 1 s (pulses) is one run: its window."""
    i = np.zeros(10_000)
    i[2000:2100] = i[4000:4100] = 1e-10
    assert stimulus_runs(i, (2000, 4099), 1e-4) == [(2000, 4100)]


def test_halves_hold_every_spike_once_at_its_current(recorded):
    train, _, _ = recorded
    s = train[0]
    runs = stimulus_runs(s.i, s.stimulus, s.dt)
    fold_a, fold_b = split_halves(train)
    gap = int(round(GAP_S / s.dt))
    for fold, halves in ((fold_a, [(a, (a + b) // 2) for a, b in runs]),
                         (fold_b, [((a + b) // 2, b) for a, b in runs])):
        assert len(fold.stimuli) == len(train)
        assert fold.n_samples == sum(b - a for a, b in halves) + len(halves) * gap
        # the repeats stay repeats: one stimulus, as in the training set
        assert all(np.array_equal(x, fold.stimuli[0]) for x in fold.stimuli)
        # layout: holding gap, first half, gap, second half, ...
        stim = fold.stimuli[0]
        start = gap
        for a, b in halves:
            np.testing.assert_array_equal(stim[start:start + b - a], s.i[a:b])
            assert np.all(stim[start - gap:start] == 0.0)  # the holding current (none here)
            start += b - a + gap
        for sweep, spikes in zip(train, fold.spikes, strict=True):
            want = [sp for sp in sweep.spikes if any(a <= sp < b for a, b in halves)]
            assert spikes.size == len(want) > 0
            np.testing.assert_array_equal(stim[spikes], sweep.i[np.asarray(want)])
    total = sum(sp.size for sp in fold_a.spikes) + sum(sp.size for sp in fold_b.spikes)
    in_runs = sum(int(np.sum([(sw.spikes >= a) & (sw.spikes < b) for a, b in runs]))
                  for sw in train)
    assert total == in_runs


def test_too_short_a_stimulus_cannot_be_halved():
    sweep = SimpleNamespace(i=np.r_[0.0, 1e-10, 1e-10, 0.0], spikes=np.array([], dtype=int),
                            dt=1e-4, stimulus=(1, 2))
    with pytest.raises(ConfigError, match="too short"):
        split_halves([sweep])
    with pytest.raises(ConfigError, match="no training sweeps"):
        split_halves([])


def test_the_generating_model_is_chosen(recorded):
    """Of the true model, one with θ∞ 10 % high and a fitter that fails, cross-validation keeps
    the true one; a failed fit scores -1 on both folds."""
    train, _, model = recorded
    folds = split_halves(train)

    def fails(_data):
        raise EstimationError("no estimate")

    sel = cross_validate({"high": lambda d: replace(model, th_inf=model.th_inf * 1.1),
                          "true": lambda d: model, "broken": fails}, folds)
    assert sel.choice == "true"
    assert sel.scores["true"] > sel.scores["high"] > -1
    assert sel.fold_scores["broken"] == (-1.0, -1.0) and sel.scores["broken"] == -1.0
    assert sel.scores["true"] == pytest.approx(np.mean(sel.fold_scores["true"]))
    # each fold's score is the explained variance of the fitted model on the other half
    assert sel.fold_scores["true"][0] == pytest.approx(folds[1].score(model).ratio)
    assert sel.fold_scores["true"][1] == pytest.approx(folds[0].score(model).ratio)


def test_ties_go_to_the_first_candidate(recorded):
    train, _, model = recorded
    folds = split_halves(train)
    assert cross_validate({"a": lambda d: model, "b": lambda d: model}, folds).choice == "a"
    assert cross_validate({"b": lambda d: model, "a": lambda d: model}, folds).choice == "b"
    with pytest.raises(ConfigError):
        cross_validate({}, folds)


# ------------------------------------------------------------------ the policy, with fake scores
@pytest.mark.parametrize(("method", "gate", "expected"), [
    # "ev" / "reference": that optimiser alone, at every level, whatever a gate would say
    ("ev", None, {lv: ("ev",) for lv in range(1, 6)}),
    ("reference", "ev", {lv: ("reference",) for lv in range(1, 6)}),
    # "select": both at GLIF3; at GLIF4/5 both only when GLIF3 chose the reference
    ("select", "reference", {1: ("ev",), 2: ("ev",), 3: ("ev", "reference"),
                             4: ("ev", "reference"), 5: ("ev", "reference")}),
    ("select", "ev", {1: ("ev",), 2: ("ev",), 3: ("ev", "reference"), 4: ("ev",), 5: ("ev",)}),
    ("select", None, {1: ("ev",), 2: ("ev",), 3: ("ev", "reference"), 4: ("ev",), 5: ("ev",)}),
])
def test_which_optimisers_each_level_fits(method, gate, expected):
    assert {lv: optimisers(lv, method, gate) for lv in range(1, 6)} == expected


def test_only_glif4_and_5_of_select_need_the_gate():
    assert [lv for lv in range(1, 6) if needs_gate(lv, "select")] == [4, 5]
    assert not any(needs_gate(lv, m) for lv in range(1, 6) for m in ("ev", "reference"))


def test_choose_keeps_the_best_held_out_score():
    assert choose({"ev": 0.51, "reference": 0.57}) == "reference"
    assert choose({"ev": 0.60, "reference": 0.57}) == "ev"
    assert choose({"ev": -1.0, "reference": -1.0}) == "ev"  # both failed: the first
    assert choose({"reference": 0.5, "ev": 0.5}) == "reference"  # ties: the first
    with pytest.raises(ConfigError):
        choose({})


def test_cross_validate_scores_each_fit_on_the_other_half():
    """Fake folds and fitters: a fitter returns a label naming the fold it was fitted on, and
    each fold scores a label from a table; the choice is the best mean of the two held-out
    scores, and a fitter that fails scores -1 on both."""
    table = {("a", "A"): 0.2, ("a", "B"): 0.9, ("b", "A"): 0.6, ("b", "B"): 0.6}

    def fold(name):
        scores = {other: {k: v for (k, f), v in table.items() if f == other}
                  for other in "AB"}
        return SimpleNamespace(
            name=name,
            score_many=lambda models: [SimpleNamespace(ratio=scores[name][m]) for m in models])

    folds = (fold("A"), fold("B"))

    def fails(_data):
        raise EstimationError("no estimate")

    # fitted on A, a model is scored on B and the other way round
    sel = cross_validate({"a": lambda d: "a", "b": lambda d: "b", "c": fails}, folds)
    assert sel.fold_scores == {"a": (0.9, 0.2), "b": (0.6, 0.6), "c": (-1.0, -1.0)}
    assert sel.scores == pytest.approx({"a": 0.55, "b": 0.6, "c": -1.0})
    assert sel.choice == "b"
