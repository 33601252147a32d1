"""Flags of fitted parameters (glifx.fitting.flags): one hand-built model per rule; the sample
cells' real cases are in test_fitting_samples.py (test_pathological_estimates_are_flagged)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from glifx.fitting.flags import RULES, parameter_flags
from glifx.fitting.optimize import OptimizationResult
from glifx.glif import GlifModel


@pytest.fixture()
def glif5() -> GlifModel:
    """A GLIF5 model with every parameter inside its search interval and of a plausible sign."""
    return GlifModel(level=5, R_input=190e6, C=90e-12, th_inf=0.027, spike_cut_s=3.8e-3,
                     spike_cut_length=76, dt=5e-5, a=0.6, b=-0.004, a_spike=0.002, b_spike=50.0,
                     a_voltage=5.0, b_voltage=40.0, asc_amp_array=(-5e-12, -1e-11),
                     asc_tau_array=(1 / 10.0, 1 / 30.0))


def _rules(flags, parameter):
    return [f.rule for f in flags if f.parameter == parameter]


def test_plausible_model_has_no_flags(glif5):
    assert parameter_flags(glif5) == []


@pytest.mark.parametrize("b_spike", [1.0, 2000.0])
def test_b_spike_at_either_end_of_its_search(glif5, b_spike):
    flags = parameter_flags(replace(glif5, b_spike=b_spike))
    assert _rules(flags, "b_spike") == ["at_search_bound"]
    assert all(f.rule in RULES and f.message for f in flags)


def test_b_voltage_bound_depends_on_the_optimiser(glif5):
    """The joint fit searches b_voltage in 1–300 1/s, the reference in 1–2000 1/s."""
    model = replace(glif5, b_voltage=300.0, a_voltage=5.0)
    assert _rules(parameter_flags(model), "b_voltage") == ["at_search_bound"]
    ref = OptimizationResult(model, {"th_inf": 1.0}, -1.0, 1, "reference",
                             bounds={"th_inf": (0.5, 2.0)})
    assert _rules(parameter_flags(model, ref), "b_voltage") == []


def test_negative_a_spike(glif5):
    flags = parameter_flags(replace(glif5, a_spike=-0.00577))
    assert _rules(flags, "a_spike") == ["implausible_sign"]
    assert "-5.77 mV" in flags[0].message


def test_a_voltage_not_below_b_voltage(glif5):
    # GlifModel accepts this relation (an optimiser can land on it), so the flag is the only guard
    model = replace(glif5, a_voltage=50.0, b_voltage=40.0)
    assert _rules(parameter_flags(model), "a_voltage") == ["forbidden_relation"]


def test_asc_time_constant_at_the_edge_of_the_rates_tried(glif5):
    flags = parameter_flags(replace(glif5, asc_tau_array=(1 / 3.0, 1 / 300.0)))
    assert _rules(flags, "asc_tau_array[0]") == ["at_search_bound"]
    assert _rules(flags, "asc_tau_array[1]") == ["at_search_bound"]
    assert "slowest" in flags[0].message and "fastest" in flags[1].message


@pytest.mark.parametrize(("cut_s", "side"), [(1e-3, "shortest"), (10e-3, "longest"),
                                             (10e-3 - 5e-5, "longest")])
def test_spike_cut_at_an_end_of_its_search(glif5, cut_s, side):
    """The cut is searched from 1 to 10 ms (GLIF_SPEC §3.4, estimators.MIN_CUT_S/MAX_CUT_S);
    within one sample of an end it is flagged, one sample further in it is not."""
    flags = parameter_flags(replace(glif5, spike_cut_s=cut_s))
    assert _rules(flags, "spike_cut_s") == ["at_search_bound"] and side in flags[0].message
    assert _rules(parameter_flags(replace(glif5, spike_cut_s=1e-3 + 2 * 5e-5)), "spike_cut_s") == []
    # a published config's cut (steps, spike_cut_s None) was not searched by glifx: no flag
    assert _rules(parameter_flags(replace(glif5, spike_cut_s=None, spike_cut_length=20)),
                  "spike_cut_s") == []


def test_threshold_at_rest_is_forbidden(glif5):
    # GlifModel accepts θ∞ <= 0 (it is relative to rest; a fit can drive it there), so the flag is
    # the only guard
    model = replace(glif5, th_inf=-0.001)
    assert _rules(parameter_flags(model), "th_inf") == ["forbidden_sign"]


def test_multiplier_at_a_bound(glif5):
    opt = OptimizationResult(glif5, {"th_inf": 1.0, "a_spike": 0.0}, 0.5, 10, "ev",
                             bounds={"th_inf": (0.5, 2.0), "a_spike": (0.0, 3.0)})
    flags = parameter_flags(glif5, opt)
    assert _rules(flags, "multiplier a_spike") == ["multiplier_at_bound"]
    assert "switched the component off" in flags[0].message
    assert _rules(flags, "multiplier th_inf") == []
