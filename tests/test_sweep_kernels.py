"""The compiled epoch scan of :attr:`glifx.Sweep.epochs` against a plain numpy reference.

The reference finds the changes of the command as the whole array ``flatnonzero(i[1:] != i[:-1])``
and reads the epochs from it, as ``Sweep.epochs`` did before its kernels
(:mod:`glifx._sweep_kernels`); the kernels keep only the indices that are read.
"""

from __future__ import annotations

import numpy as np
import pytest

from glifx import Sweep
from glifx.sweep import STABILITY_WINDOW_S, Epochs, _find_test_pulse

RATE = 50e3


def reference_epochs(v: np.ndarray, i: np.ndarray | None, hint: bool | None) -> Epochs:
    n = v.size
    finite = np.flatnonzero(np.isfinite(v))
    recording = (0, int(finite[-1])) if finite.size else None
    test = stimulus = experiment = None
    if i is not None and np.all(np.isfinite(i)):
        changes = np.flatnonzero(i[1:] != i[:-1])
        test = _find_test_pulse(changes, RATE, hint)
        after = changes[changes > test[1]] if test is not None else changes
        if after.size >= 2:
            stimulus = (int(after[0]) + 1, int(after[-1]))
        elif after.size == 1:
            stimulus = (int(after[0]) + 1, n - 1)
        if stimulus is not None:
            pad = int(STABILITY_WINDOW_S * RATE)
            experiment = (max(0, stimulus[0] - pad), min(n - 1, stimulus[1] + pad))
    return Epochs((0, n - 1), recording, test, stimulus, experiment)


def _commands(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Commands (pA) of the shapes the epochs tell apart."""
    zero = np.zeros(n)
    test_pulse = zero.copy()
    test_pulse[500:1500] = -20.0  # 10 ms at 50 kHz, starting at 10 ms
    step = test_pulse.copy()
    step[10_000:60_000] = 100.0
    noise = test_pulse.copy()
    noise[10_000:60_000] = 50.0 + rng.normal(0.0, 10.0, 50_000)
    repeated = test_pulse.copy()  # noise with runs of equal samples
    repeated[10_000:60_000] = np.repeat(rng.normal(0.0, 10.0, 10_000), 5)
    never_returns = test_pulse.copy()
    never_returns[10_000:] = 80.0
    no_test = zero.copy()
    no_test[10_000:60_000] = 100.0
    step_only_start = zero.copy()
    step_only_start[30_000:] = 40.0
    late_pulse = zero.copy()  # a first pulse too late to be a test pulse
    late_pulse[25_000:25_100] = 500.0
    late_pulse[40_000:50_000] = 60.0
    with_nan = step.copy()
    with_nan[70_000] = np.nan
    single_change_at_end = zero.copy()
    single_change_at_end[-1] = 5.0
    return {"zero": zero, "test pulse only": test_pulse, "step": step, "noise": noise,
            "repeated": repeated, "never returns": never_returns, "no test pulse": no_test,
            "step to the end": step_only_start, "late pulse": late_pulse, "NaN": with_nan,
            "last sample": single_change_at_end}


@pytest.mark.parametrize("hint", [None, True, False])
def test_epochs_match_the_numpy_reference(hint: bool | None) -> None:
    rng = np.random.default_rng(7)
    n = 80_000
    v = -70.0 + rng.normal(0.0, 0.5, n)
    cut = v.copy()
    cut[75_000:] = np.nan  # the recording ends early
    empty = np.full(n, np.nan)
    for name, i in _commands(rng, n).items():
        for v_case in (v, cut, empty):
            for dtype in (np.float64, np.float32):
                sweep = Sweep(v_case.astype(dtype), i.astype(dtype), sampling_rate=RATE,
                              test_pulse=hint)
                expected = reference_epochs(sweep.v, sweep.i, hint)
                assert sweep.epochs == expected, (name, dtype)


def test_epochs_without_a_command() -> None:
    v = np.full(1000, -65.0)
    v[900:] = np.nan
    sweep = Sweep(v, None, sampling_rate=RATE)
    assert sweep.epochs == reference_epochs(sweep.v, None, None)
    assert sweep.epochs.recording == (0, 899)
    assert sweep.epochs.stimulus is None
