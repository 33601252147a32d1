"""Held-out Noise stimuli for synthetic neurons (glifx.testing.validation.held_out_noise_sets)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from glifx.errors import ConfigError
from glifx.glif import GlifModel
from glifx.protocols import noise
from glifx.synth import GlifNeuron
from glifx.testing.validation import glif_threshold_current, held_out_ev, held_out_noise_sets

RATE = 20e3
SHORT = dict(epoch_duration=2.0, gap=1.0)


def glif3():
    return GlifModel(level=3, R_input=190e6, C=90e-12, th_inf=0.027, spike_cut_s=3.8e-3,
                     El_reference=-0.07, a=0.45, b=0.006,
                     asc_amp_array=(-14e-12, -130e-12), asc_tau_array=(1 / 3.0, 1 / 100.0))


@pytest.fixture(scope="module")
def sets_and_rheobase():
    model = glif3()
    rheo = glif_threshold_current(model, dt=1 / RATE) * 1e12
    neuron = GlifNeuron(model, noise_sigma_pa=10.0, noise_tau_ms=5.0)
    return held_out_noise_sets(neuron, rheo, sampling_rate=RATE, seeds=(3, 4, 5),
                               noise_kwargs=SHORT), rheo


def test_sets_carry_new_noise_of_the_noise_1_shape(sets_and_rheobase):
    sets, rheo = sets_and_rheobase
    assert len(sets) == 3
    used = [noise(rheo, k, RATE, **SHORT).i * 1e-12 for k in (1, 2)]
    for st, s in zip(sets, (3, 4, 5), strict=True):
        assert len(st.stimuli) == 3  # three repeats of one stimulus
        assert all(np.array_equal(x, st.stimuli[0]) for x in st.stimuli)
        n = st.n_samples
        expected = noise(rheo, 1, RATE, seed=s, **SHORT).i[:n] * 1e-12
        assert np.allclose(st.stimuli[0], expected, rtol=0, atol=1e-14)
        for u in used:
            assert not np.allclose(st.stimuli[0], u[:n], rtol=0, atol=1e-14)
        assert all(sp.size > 5 for sp in st.spikes)


def test_generating_model_scores_best(sets_and_rheobase):
    sets, _ = sets_and_rheobase
    true = glif3()
    table = held_out_ev({"true": true, "th+10%": replace(true, th_inf=true.th_inf * 1.1),
                         "no ASC": replace(true, asc_amp_array=(0.0, 0.0))}, sets)
    assert list(table.columns) == ["true", "th+10%", "no ASC"] and len(table) == 3
    assert table.index.name == "set"
    # intrinsic noise limits the repeat reliability, not the true model's fit to it
    assert table["true"].min() > 0.8
    assert (table["true"] > table["th+10%"]).all()
    assert (table["true"] > table["no ASC"]).all()


@pytest.mark.parametrize("kwargs", [dict(seeds=(2, 3)), dict(seeds=()), dict(repeats=1)])
def test_bad_requests_are_refused(kwargs):
    neuron = GlifNeuron(glif3())
    with pytest.raises(ConfigError):
        held_out_noise_sets(neuron, 100.0, sampling_rate=RATE, **kwargs)
