"""Exclusions in ``glifx.fitting.data.prepare``: a sweep that cannot be used is left out with its
reason, and the other sweeps are prepared as if it were not there.

Each case is a small cell of resistor-like sweeps (known rest, known current) with one defect: NaN
inside a Noise sweep, no baseline before the stimulus, an unknown current.  The reference is the
same cell without the defective sweep.
"""

from __future__ import annotations

import numpy as np
import pytest

from glifx.errors import GlifxError
from glifx.fitting.data import prepare
from glifx.sweep import Cell, Sweep

RATE = 10e3
N = 30_000
STIM_ON = 10_200  # 1.02 s
NO_BASELINE = dict(no_baseline=True)
#: resting potentials, mV; no training sweep is at the mean of the others
BASELINE = {1: -70.0, 2: -75.0, 3: -71.0, 4: -60.0, 5: -62.0, 6: -71.0, 7: -71.0, 8: -71.0}


def _sweep(number: int, name: str, *, amp: float = 50.0, no_baseline: bool = False,
           current_known: bool = True, nan_at: slice | None = None) -> Sweep:
    """Test pulse at 20 ms, rest ``BASELINE[number]`` mV, a step of ``amp`` pA from 1.02 s to
    2.5 s; the voltage is rest + 0.2 mV/pA x current (no spikes).  ``no_baseline``: no test
    pulse, and the step starts at the second sample."""
    i = np.zeros(N)
    if no_baseline:
        i[1:25_000] = amp
    else:
        i[200:300] = -20.0
        i[STIM_ON:25_000] = amp
    v = BASELINE[number] + 0.2 * i
    if nan_at is not None:
        v[nan_at] = np.nan
    return Sweep(v, i if current_known else None, sampling_rate=RATE, sweep_number=number,
                 stimulus_name=name, stimulus_amplitude=amp)


def _no_spikes(sweep: Sweep) -> np.ndarray:
    return np.empty(0, dtype=np.int64)


def _cell(**defects) -> Cell:
    """Noise 1: sweeps 1-3; Noise 2: 4-5; Short Square 6, Triple 7, Long Square 8.
    ``defects`` maps ``"s<number>"`` to keyword arguments of :func:`_sweep`."""
    roles = {1: "Noise 1", 2: "Noise 1", 3: "Noise 1", 4: "Noise 2", 5: "Noise 2",
             6: "Short Square", 7: "Short Square - Triple", 8: "Long Square"}
    return Cell.from_sweeps([_sweep(n, name, **defects.get(f"s{n}", {}))
                             for n, name in roles.items()], cell_id="c")


def _roles(data) -> dict[str, list[int]]:
    return {role: [s.sweep_number for s in getattr(data, role)]
            for role in ("train", "test", "short_square", "triple", "long_square")}


def _without(number: int) -> dict[str, list[int]]:
    full = {"train": [1, 2, 3], "test": [4, 5], "short_square": [6], "triple": [7],
            "long_square": [8]}
    return {role: [n for n in numbers if n != number] for role, numbers in full.items()}


def test_clean_cell_uses_every_sweep():
    data = prepare(_cell(), spike_detector=_no_spikes)
    assert _roles(data) == _without(0) and data.excluded == {}
    assert data.el_reference == pytest.approx(np.mean([-70.0, -75.0, -71.0]) * 1e-3, abs=1e-12)


@pytest.mark.parametrize("number", [2, 4])
def test_nan_inside_a_noise_sweep_excludes_it(number):
    """A gap of NaN in the middle of the recording (not a recording that stopped early): the
    sweep is left out with the reason, every other sweep is prepared as without it."""
    data = prepare(_cell(**{f"s{number}": dict(nan_at=slice(15_000, 15_010))}),
                   spike_detector=_no_spikes)
    assert _roles(data) == _without(number)
    assert data.excluded == {number: f"sweep {number}: NaN inside the recording"}
    for s in data.train + data.test:
        assert np.all(np.isfinite(s.v)) and np.all(np.isfinite(s.i))


def test_nan_training_sweep_does_not_set_the_resting_potential():
    """el_reference is the mean pre-stimulus potential of the training sweeps (FitData): a Noise 1
    sweep excluded for NaN inside its recording must not count, although its baseline is finite."""
    data = prepare(_cell(s2=dict(nan_at=slice(15_000, 15_010))), spike_detector=_no_spikes)
    assert data.el_reference == pytest.approx(np.mean([-70.0, -71.0]) * 1e-3, abs=1e-12)


def test_recording_stopped_early_is_kept_up_to_its_end():
    """A NaN tail is a recording that ended early: the sweep is kept, cut at its last sample."""
    data = prepare(_cell(s3=dict(nan_at=slice(28_000, None))), spike_detector=_no_spikes)
    assert _roles(data) == _without(0) and data.excluded == {}
    (s3,) = [s for s in data.train if s.sweep_number == 3]
    assert s3.n_samples == 28_000


def test_missing_baseline_excludes_a_training_sweep():
    """A Noise 1 sweep whose stimulus starts with the recording has no baseline to give the
    resting potential: it is left out, and the rest comes from the other two."""
    data = prepare(_cell(s1=NO_BASELINE), spike_detector=_no_spikes)
    assert _roles(data) == _without(1)
    assert data.excluded == {1: "sweep 1: no baseline before the stimulus"}
    assert data.el_reference == pytest.approx(np.mean([-75.0, -71.0]) * 1e-3, abs=1e-12)


def test_missing_baseline_keeps_a_test_sweep_without_its_rest():
    """A test sweep needs no baseline (the rest is the training sweeps'): it stays, with its own
    rest unknown."""
    data = prepare(_cell(s5=NO_BASELINE), spike_detector=_no_spikes)
    assert _roles(data) == _without(0) and data.excluded == {}
    (s5,) = [s for s in data.test if s.sweep_number == 5]
    assert np.isnan(s5.rest)
    assert s5.v[0] == pytest.approx((-62.0 - np.mean([-70.0, -75.0, -71.0])) * 1e-3, abs=1e-12)


def test_no_training_baseline_at_all_raises():
    with pytest.raises(GlifxError, match="pre-stimulus baseline"):
        prepare(_cell(s1=NO_BASELINE, s2=NO_BASELINE, s3=NO_BASELINE), spike_detector=_no_spikes)


@pytest.mark.parametrize("number", [2, 4, 6, 7, 8])
def test_unknown_current_excludes_the_sweep(number):
    data = prepare(_cell(**{f"s{number}": dict(current_known=False)}), spike_detector=_no_spikes)
    assert _roles(data) == _without(number)
    assert data.excluded == {number: "stimulus current unknown"}


def test_no_training_current_at_all_raises():
    unknown = dict(current_known=False)
    with pytest.raises(GlifxError, match="no usable 'Noise 1' sweeps"):
        prepare(_cell(s1=unknown, s2=unknown, s3=unknown), spike_detector=_no_spikes)


def test_exclusions_add_up():
    """Three defects at once, in three roles: each sweep with its own reason, the rest intact."""
    data = prepare(_cell(s1=NO_BASELINE, s4=dict(nan_at=slice(20_000, 20_001)),
                         s6=dict(current_known=False)), spike_detector=_no_spikes)
    assert _roles(data) == {"train": [2, 3], "test": [5], "short_square": [], "triple": [7],
                            "long_square": [8]}
    assert data.excluded == {1: "sweep 1: no baseline before the stimulus",
                             4: "sweep 4: NaN inside the recording",
                             6: "stimulus current unknown"}
