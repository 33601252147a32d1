"""Every analysis runs on each sweep's own clock (issue 21, item 1)."""

from __future__ import annotations

import numpy as np
import pytest

import glifx
from glifx.sweep import Cell, Sweep
from glifx.testing.sweeps import spike_train_sweep

RATE = 50e3
#: (amplitude pA, spike peak times s) of a small Long Square family; the first spiking
#: depolarising step is 100 pA.
FAMILY = [(-50.0, []), (50.0, []), (100.0, [0.35]), (150.0, [0.25, 0.5, 0.75])]


def _family(starts: list[float]) -> Cell:
    sweeps = []
    for k, ((amp, spikes), t0) in enumerate(zip(FAMILY, starts, strict=True)):
        t, v, i = spike_train_sweep(1.0, RATE, spikes, step=(0.1, 0.9, amp), seed=k)
        sweeps.append(Sweep(v, i, t=t + t0, sweep_number=k + 1, stimulus_name="Long Square",
                            stimulus_amplitude=amp))
    return Cell.from_sweeps(sweeps, cell_id="family")


def test_from_zero_restarts_the_clock_and_keeps_the_samples() -> None:
    t, v, i = spike_train_sweep(0.5, RATE, [0.2])
    s = Sweep(v, i, t=t + 7.0, sweep_number=3)
    z = s.from_zero()
    assert s.t_start == 7.0 and z.t_start == 0.0
    assert z.t[0] == 0.0 and z.t[-1] == pytest.approx(t[-1])
    assert np.shares_memory(z.v, s.v)
    assert z.stimulus_window == pytest.approx((s.stimulus_window[0] - 7.0,
                                               s.stimulus_window[1] - 7.0))
    assert Sweep(v, i, sampling_rate=RATE).from_zero().t_start == 0.0


def test_sweeps_with_file_start_times_give_the_rheobase() -> None:
    feats = glifx.extract_features(_family([0.0, 2.0, 4.0, 6.0]))
    ls = feats.cell["long_square"]
    assert ls["rheobase_i"] == pytest.approx(100.0)
    assert ls["rheobase_sweep_number"] == 3
    # spike times on the sweep's own clock: the synthetic peaks were placed at 0.35 s etc.
    peaks = feats.spikes.groupby("sweep_number")["peak_t"].apply(list)
    assert peaks[3] == pytest.approx([0.35], abs=2e-4)
    assert peaks[4] == pytest.approx([0.25, 0.5, 0.75], abs=2e-4)


@pytest.mark.shared_data
def test_hippocampus_portal_nwb_rheobase(shared_data) -> None:
    """99111002.nwb keeps the file's start times (0, 2, ... 30 s); its steps are −2000…+1000 pA
    in 200 pA increments and the first depolarising step that fires is +200 pA (sweep 12; the
    0 pA sweep 11 is stored as 3e-5 pA and is not a depolarising step)."""
    cell = glifx.load_cell(shared_data / "real/bluepyefe/hippocampus-portal/99111002.nwb")
    assert cell.sweep(12).t_start == pytest.approx(22.0)
    ls = glifx.extract_features(cell).cell["long_square"]
    assert ls["rheobase_sweep_number"] == 12
    assert ls["rheobase_i"] == pytest.approx(200.0, abs=1e-3)
