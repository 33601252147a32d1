"""Crossing the stimulus's silent stretches in closed form (``simulate_many(skip_quiet=True)``).

The references are the step-by-step runs: the kernel without the jump (itself checked against the
Allen reference and the plain-Python step of ``tests/glif_reference.py`` in
``test_glif_simulate.py``) and that plain-Python step.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from glif_reference import slow_glif
from test_glif_simulate import _random_model

from glifx.glif import CheckedStimulus, GlifModel, _kernels, simulate, simulate_many
from glifx.glif.simulator import QUIET_MIN_STEPS

DT = 5e-6


def _epochs(noise: np.ndarray, amp: float, gap: int, n_epochs: int = 3) -> np.ndarray:
    """``n_epochs`` epochs of ``amp * (1 + 0.2 noise)`` separated and followed by ``gap`` zeros,
    after a short zero lead (the layout of a Noise 1 sweep)."""
    parts = [np.zeros(2000)]
    m = noise.size // n_epochs
    for k in range(n_epochs):
        parts += [amp * (1.0 + 0.2 * noise[k * m:(k + 1) * m]), np.zeros(gap)]
    return np.concatenate(parts)


def test_quiet_stretches_are_the_long_zero_runs() -> None:
    n = QUIET_MIN_STEPS
    stim = np.concatenate([np.zeros(n), [1.0], np.zeros(n - 1), [2.0, 0.0], np.zeros(n + 5)])
    got = _kernels.quiet_stretches(stim, n)
    np.testing.assert_array_equal(got, [[0, n], [2 * n + 1, 2 * n + 1 + n + 6]])
    assert CheckedStimulus.of(stim).quiet.tolist() == got.tolist()


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5, None])
def test_jump_equals_stepping_through_zero_stimulus(level: int | None) -> None:
    # the closed-form state after n silent steps against the plain-Python step, from random states
    rng = np.random.default_rng(5 + (level or 0))
    for _ in range(4):
        model = _random_model(rng, level)
        n = int(rng.integers(50, 4000))
        run = slow_glif(model, np.zeros(n), DT)
        if run.spikes:  # a depolarising start fired: not a silent stretch
            continue
        p, f = model._kernel_arrays(DT)
        th_dyn, asc_dyn = int(f[_kernels.F_TH_DYNAMICS]), int(f[_kernels.F_ASC_DYNAMICS])
        v, i1, i2, th_s, th_v = _kernels._quiet_jump(
            p, th_dyn, asc_dyn, p[_kernels.P_V_INIT],
            p[_kernels.P_ASC_INIT_1] if asc_dyn else 0.0,
            p[_kernels.P_ASC_INIT_2] if asc_dyn else 0.0, 0.0, 0.0, n)
        # rounding of ~mV states: 1e-15 V absolute (the step's own rounding is ~1e-19 V)
        assert v == pytest.approx(run.voltage[-1], rel=0, abs=1e-15)
        assert (i1, i2) == pytest.approx(tuple(run.asc[-1]), rel=1e-12, abs=1e-24)
        theta = th_s + th_v + p[_kernels.P_TH_INF]
        assert theta == pytest.approx(run.threshold[-1], rel=0, abs=1e-15)


def test_spike_free_bound_refuses_near_threshold_and_rebound() -> None:
    model = GlifModel(level=3, R_input=2e8, C=1e-10, th_inf=0.02, spike_cut_length=20,
                      asc_amp_array=(-5e-11, -5e-12), asc_tau_array=(0.01, 0.3))
    p, f = model._kernel_arrays(DT)
    free = _kernels._spike_free
    assert free(p, 0, 1, 0.001, -2e-11, -1e-12, 0.0, 0.0)       # settling, hyperpolarising ASC
    assert free(p, 0, 1, 0.0195, 0.0, 0.0, 0.0, 0.0)            # below threshold, decaying
    assert not free(p, 0, 1, 0.02 - 1e-12, 0.0, 0.0, 0.0, 0.0)  # within the rounding margin
    assert not free(p, 0, 1, 0.0, 2e-10, 0.0, 0.0, 0.0)         # 200 pA x 200 MOhm = 40 mV drive


def _assert_same_spikes(models: list[GlifModel], stim: np.ndarray) -> int:
    checked = CheckedStimulus.of(stim)
    fast = simulate_many(models, checked, DT, skip_quiet=True)
    plain = simulate_many(models, stim, DT)
    for m, a, b in zip(models, fast, plain, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"GLIF{m.level}")
        np.testing.assert_array_equal(b, simulate(m, stim, DT).spike_steps)
    return sum(a.size for a in fast)


@pytest.mark.shared_data
def test_skip_quiet_keeps_every_allen_spike_train(shared_data: Path) -> None:
    # the 96 published configs of the reference runs (GLIF1-5 of 20 cells), on a Noise 1-like
    # layout of their reference noise: every spike where the stepped run has it
    root = shared_data / "allen_glif"
    runs = json.loads((root / "reference_spikes.json").read_text())["runs"]
    x = np.load(root / "noise_x.npy").astype(np.float64)
    by_amp: dict[float, list[GlifModel]] = {}
    for run in runs:
        config = json.loads((root / "configs" / run["cell"] / run["config"]).read_text())
        by_amp.setdefault(float.fromhex(run["amp_A"]), []).append(
            GlifModel.from_allen_config(config))
    total = 0
    for amp, models in by_amp.items():
        total += _assert_same_spikes(models, _epochs(x[:60_000], amp, gap=40_000))
    assert total > 500


def test_skip_quiet_keeps_rebound_spikes_in_the_gap() -> None:
    # a depolarising after-spike current fires on in the silent stretch: never jumped over
    model = GlifModel(level=3, R_input=2e8, C=1e-10, th_inf=0.02, spike_cut_length=20,
                      asc_amp_array=(1.5e-10, -1e-12), asc_tau_array=(0.3, 0.01),
                      asc_r=(1.0, 1.0))
    rng = np.random.default_rng(3)
    stim = _epochs(rng.standard_normal(30_000), 1.2e-10, gap=60_000)
    plain = simulate(model, stim, DT).spike_steps
    quiet = CheckedStimulus.of(stim).quiet
    in_gaps = sum(int(np.sum((plain >= a) & (plain < b))) for a, b in quiet)
    assert in_gaps > 0
    _assert_same_spikes([model], stim)


def test_random_models_same_spikes_with_gaps() -> None:
    rng = np.random.default_rng(11)
    base = np.convolve(rng.normal(0, 1, 40_000), np.ones(200) / 200, mode="same")
    base /= base.std()
    for level in (1, 2, 3, 4, 5, None):
        models = [_random_model(rng, level) for _ in range(3)]
        for m in models:
            amp = rng.uniform(1.2, 3.0) * m.th_inf / m.R_input
            _assert_same_spikes([m], _epochs(base, amp, gap=30_000))
