"""Standard errors and intervals (glifx.fitting.uncertainty) against closed-form references and
by coverage on simulated data with known truth."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from glifx.fitting import estimators as est
from glifx.fitting import uncertainty as unc


def test_least_squares_stderr_is_the_ols_formula():
    """lmfit's standard errors of a line equal σ̂² (XᵀX)⁻¹ (numpy, independent)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    y = 0.4 * x + 0.01 + 0.003 * rng.normal(size=200)
    X = np.column_stack([x, np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    r = y - X @ coef
    cov = (r @ r) / (x.size - 2) * np.linalg.inv(X.T @ X)
    got = unc.lmfit_least_squares(lambda p: y - (p["a"] * x + p["b"]),
                                  {"a": coef[0], "b": coef[1]})
    assert got["a"].stderr == pytest.approx(math.sqrt(cov[0, 0]), rel=1e-3)
    assert got["b"].stderr == pytest.approx(math.sqrt(cov[1, 1]), rel=1e-3)
    assert got["a"].dof == x.size - 2


def test_log_scale_interval_is_lognormal_and_unbounded_when_exp_overflows():
    """value · exp(±t·s) (scipy's t quantile); a log-scale error too large for exp() — seen on a
    200 kHz ground-truth cell whose b_spike was barely constrained — is (0, inf), null in JSON,
    not an OverflowError that lost the whole cell."""
    t = stats.t.ppf(0.975, 12)
    lo, hi = unc.Uncertainty(40.0, 4.0, 12, "least squares", log_stderr=0.1).interval
    assert (lo, hi) == pytest.approx((40.0 * math.exp(-0.1 * t), 40.0 * math.exp(0.1 * t)))
    wide = unc.Uncertainty(40.0, 4.0e4, 12, "least squares", log_stderr=1.0e3)
    assert wide.interval == (0.0, math.inf)
    assert wide.as_dict()["ci95"] == [0.0, math.inf]


def test_between_sweeps_is_the_standard_error_of_the_mean():
    values = [1.0e8, 1.1e8, 0.95e8]
    u = unc.between_sweeps(values)
    assert u.stderr == pytest.approx(stats.sem(values), rel=1e-6)
    lo, hi = u.interval
    assert (hi - lo) / 2 == pytest.approx(stats.t.ppf(0.975, 2) * stats.sem(values), rel=1e-6)
    assert math.isnan(unc.between_sweeps([1.0]).stderr)


def test_reset_intervals_cover_the_truth():
    """Spikes with a known reset line and independent noise: the 95 % intervals of a and b
    contain the truth in 90-99 % of 200 repetitions."""
    rng = np.random.default_rng(7)
    a_true, b_true, cut = 0.5, 0.004, 20
    hits = np.zeros(2)
    for _ in range(200):
        v = np.zeros(4000)
        spikes = np.arange(100, 3900, 120)
        v[spikes] = 0.02 + 0.004 * rng.normal(size=spikes.size)
        v[spikes + cut] = a_true * v[spikes] + b_true + 0.0005 * rng.normal(size=spikes.size)
        sweep = SimpleNamespace(v=v, spikes=spikes)
        reset = est.SpikeReset(cut * 5e-5, cut, 0.0, 0.0, 0.0, spikes.size)
        # start from the least-squares line (the estimator's value)
        A = np.column_stack([v[spikes], np.ones(spikes.size)])
        (a_hat, b_hat), *_ = np.linalg.lstsq(A, v[spikes + cut], rcond=None)
        reset = est.SpikeReset(reset.cut, cut, float(a_hat), float(b_hat), 0.0, spikes.size)
        got = unc.reset_uncertainty([sweep], reset)
        for k, (name, truth) in enumerate((("a", a_true), ("b", b_true))):
            lo, hi = got[name].interval
            hits[k] += lo <= truth <= hi
    assert np.all((hits / 200 >= 0.9) & (hits / 200 <= 0.99)), hits / 200


def test_log_scale_rate_interval_is_positive_and_asymmetric():
    u = unc.Uncertainty(30.0, 30.0 * 0.8, 10.0, "least squares", log_stderr=0.8)
    lo, hi = u.interval
    t = stats.t.ppf(0.975, 10)
    assert lo == pytest.approx(30.0 * math.exp(-t * 0.8))
    assert hi == pytest.approx(30.0 * math.exp(t * 0.8))


def test_combined_adds_relative_errors_in_quadrature():
    est_u = unc.Uncertainty(0.02, 0.0006, 50.0, "least squares")  # 3 %
    mult = unc.half_refits([0.98, 1.06], 1.02)  # stderr 0.04
    got = unc.combined(est_u, mult, 1.02)
    assert got.value == pytest.approx(0.0204)
    assert got.stderr == pytest.approx(0.0204 * math.hypot(0.03, 0.04 / 1.02))
    assert got.dof == 1.0


def test_without_half_refits_the_interval_spans_the_estimate_and_the_optimum():
    """An amplitude the optimiser halved, its multiplier's spread unknown: the interval is the
    scaled one widened by the move, so it holds the estimate (± its scaled spread) too."""
    t, z = stats.t.ppf(0.975, 2), stats.norm.ppf(0.975)
    est_u = unc.Uncertainty(-4e-11, 2e-12, 2.0, "between sweeps")
    got = unc.combined(est_u, None, 0.5).with_model_error("relative", 0.1)
    assert got.value == pytest.approx(-2e-11) and got.shift == pytest.approx(2e-11)
    half = math.hypot(t * 1e-12, z * 2e-12) + 2e-11
    assert got.interval == pytest.approx((-2e-11 - half, -2e-11 + half))
    lo, hi = got.interval
    assert lo < -4e-11 - t * 1e-12 and hi > -2e-11  # the estimate and the optimum both inside
    assert got.as_dict()["shift"] == pytest.approx(2e-11)
    mult = unc.half_refits([0.45, 0.55], 0.5)  # with half refits: their spread, no shift
    assert unc.combined(est_u, mult, 0.5).shift == 0.0


def test_model_error_adds_to_the_interval_in_quadrature():
    """value ± √((t·stderr)² + (z·model_error)²), t and z from scipy; relative and log kinds."""
    t, z = stats.t.ppf(0.975, 10), stats.norm.ppf(0.975)
    u = unc.Uncertainty(0.02, 0.001, 10.0, "least squares")
    lo, hi = u.with_model_error("absolute", 0.002).interval
    half = math.sqrt((t * 0.001) ** 2 + (z * 0.002) ** 2)
    assert (lo, hi) == pytest.approx((0.02 - half, 0.02 + half))
    assert u.with_model_error("relative", 0.1).model_error == pytest.approx(0.002)
    rate = unc.Uncertainty(30.0, 3.0, 10.0, "least squares", log_stderr=0.1)
    lo, hi = rate.with_model_error("log", 0.2).interval
    spread = math.exp(math.sqrt((t * 0.1) ** 2 + (z * 0.2) ** 2))
    assert (lo, hi) == pytest.approx((30.0 / spread, 30.0 * spread))
    assert math.isnan(unc.Uncertainty(1.0, math.nan, 5.0, "x").with_model_error(
        "absolute", 1.0).interval[0])  # no statistical spread: no interval at all
    assert rate.with_model_error("log", 0.2).as_dict()["model_error"] == 0.2


def test_level_uncertainty_maps_estimates_to_the_level_parameters():
    u = lambda v: unc.Uncertainty(v, 0.1 * abs(v), 5.0, "x")  # noqa: E731
    estimates = {"membrane": {"R_input": u(2e8), "C": u(1e-10)},
                 "asc": {"R_input": u(2.1e8), "asc_amp_array[0]": u(-1e-11),
                         "asc_amp_array[1]": u(-5e-11)},
                 "reset": {"a": u(0.5), "b": u(0.004)},
                 "threshold_spike": {"th_inf": u(0.02), "a_spike": u(0.002), "b_spike": u(30.0)}}
    g1 = unc.level_uncertainty(1, estimates, None, {"th_inf": 0.7}, None)
    assert set(g1) == {"R_input", "C"} and g1["R_input"].value == 2e8
    g4 = unc.level_uncertainty(4, estimates, "threshold_spike",
                               {"th_inf": 1.0, "a_spike": 2.0, "asc_amp": 1.0},
                               [{"th_inf": 0.9, "a_spike": 1.8, "asc_amp": 1.1},
                                {"th_inf": 1.1, "a_spike": 2.2, "asc_amp": 0.9}])
    assert g4["R_input"].value == 2.1e8  # GLIF3-5 take R from the after-spike-current fit
    assert g4["a_spike"].value == pytest.approx(0.004)
    assert g4["multiplier a_spike"].stderr == pytest.approx(0.2)
    assert {"a", "b", "b_spike", "asc_amp_array[1]"} <= set(g4)


def test_resting_potential_interval_from_the_sweep_baselines():
    """El_reference: the standard error of the mean of the training sweeps' baselines (sample
    standard deviation / √n, computed here by hand)."""
    membrane = SimpleNamespace(R_sweeps=[2e8, 2.2e8], R=2.1e8, C_sweeps=[1e-10, 1.2e-10], C=1.1e-10)
    rests = [-0.070, -0.071, -0.069]
    out = unc.membrane_uncertainty(membrane, rests, -0.070)
    assert out["El_reference"].value == -0.070
    assert out["El_reference"].stderr == pytest.approx(1e-3 / math.sqrt(3), rel=1e-6)
    assert out["El_reference"].dof == 2
    assert "El_reference" not in unc.membrane_uncertainty(membrane)
