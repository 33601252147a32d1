"""A model of a simpler level, written as a model of a richer level that contains it
(:meth:`glifx.glif.GlifModel.as_level`), fires the same spike trains through the same voltage."""

from __future__ import annotations

import numpy as np
import pytest
from test_glif_quiet import _epochs
from test_glif_simulate import _random_model

from glifx.errors import ConfigError
from glifx.glif import CheckedStimulus, GlifModel, simulate, simulate_many
from glifx.glif.model import CONTAINED_LEVELS

DT = 5e-6
PAIRS = [(inner, outer) for outer, inners in CONTAINED_LEVELS.items() for inner in inners]


@pytest.mark.parametrize(("inner", "outer"), PAIRS)
def test_embedded_model_fires_the_same_spikes(inner: int, outer: int) -> None:
    rng = np.random.default_rng(100 * inner + outer)
    n = 40_000
    base = np.convolve(rng.normal(0, 1, n), np.ones(200) / 200, mode="same")
    base /= base.std()
    spikes = 0
    for _ in range(6):
        model = _random_model(rng, inner)
        embedded = model.as_level(outer, rates_from=_random_model(rng, outer))
        assert embedded.level == outer and embedded.standard_level == outer
        stim = rng.uniform(1.2, 3.0) * model.th_inf / model.R_input * (1 + 0.3 * base)
        a = simulate(model, stim, DT, record=True)
        b = simulate(embedded, stim, DT, record=True)
        np.testing.assert_array_equal(b.spike_steps, a.spike_steps)
        np.testing.assert_array_equal(b.voltage, a.voltage)
        np.testing.assert_array_equal(b.threshold, a.threshold)
        # and through the fitting path: silent stretches skipped, several models at once
        gapped = _epochs(base[:30_000], float(stim.mean()), gap=20_000)
        fast = simulate_many([model, embedded], CheckedStimulus.of(gapped), DT, skip_quiet=True)
        np.testing.assert_array_equal(fast[1], fast[0])
        spikes += a.spike_steps.size + fast[0].size
    assert spikes > 50  # the models fired: the comparison means something


def test_switched_off_components_and_rates() -> None:
    rng = np.random.default_rng(5)
    glif3, glif5 = _random_model(rng, 3), _random_model(rng, 5)
    m = glif3.as_level(5, rates_from=glif5)
    assert (m.a, m.b, m.a_spike, m.a_voltage) == (0.0, 0.0, 0.0, 0.0)
    assert (m.b_spike, m.b_voltage, m.coeff_b) == (glif5.b_spike, glif5.b_voltage, glif5.coeff_b)
    assert m.asc_amp_array == glif3.asc_amp_array and m.asc_tau_array == glif3.asc_tau_array
    assert (m.R_input, m.C, m.th_inf, m.coeff_th_inf) == \
        (glif3.R_input, glif3.C, glif3.th_inf, glif3.coeff_th_inf)
    glif1 = _random_model(rng, 1)
    m = glif1.as_level(4, rates_from=_random_model(rng, 4))
    assert m.asc_amp_array == (0.0, 0.0) and m.init_AScurrents == (0.0, 0.0)
    assert isinstance(m, GlifModel) and m.to_allen_config()["asc_amp_array"] == [0.0, 0.0]


def test_only_into_a_containing_level() -> None:
    rng = np.random.default_rng(6)
    with pytest.raises(ConfigError, match="does not contain"):
        _random_model(rng, 2).as_level(3, rates_from=_random_model(rng, 3))
    with pytest.raises(ConfigError, match="does not contain"):
        _random_model(rng, 4).as_level(4, rates_from=_random_model(rng, 4))
    with pytest.raises(ConfigError, match="rates_from"):
        _random_model(rng, 3).as_level(4, rates_from=_random_model(rng, 5))
