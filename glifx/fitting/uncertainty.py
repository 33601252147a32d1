"""Uncertainty of the fitted parameters: standard errors and 95 % intervals, through ``lmfit``.

Three sources, each the one that matches how its estimate varies:

* **Per-spike least squares** (the voltage reset ``a``, ``b`` and the threshold components θ∞,
  ``a_spike``, ``b_spike``, ``a_voltage``, ``b_voltage``): the residual of each spike is nearly
  independent of the others', so ``lmfit.minimize`` (Levenberg–Marquardt, started at glifx's
  estimate, where it stays) gives the covariance from the Jacobian, scaled by the residual
  variance.  A rate at an end of its search interval (:mod:`glifx.fitting.flags`) has no
  interval: the Jacobian there says nothing about the side the data would go.
* **Between-sweep spread** (``R_input``, ``C``, the after-spike-current amplitudes, and the
  resting potential ``El_reference`` from each training sweep's rest windows): these
  regressions run over every sample, whose errors are strongly autocorrelated (intrinsic noise
  lasts milliseconds, the derivative is block-averaged), so a per-sample covariance would be far
  too narrow.  Each Noise 1 sweep gives its own estimate instead (:class:`Membrane` keeps them;
  the after-spike currents are refitted per sweep at the chosen rates), and a constant
  ``lmfit`` model fitted to them gives the standard error of their mean.
* **Half refits** (the optimised multipliers): the optimiser refitted on each half of Noise 1
  (:func:`glifx.fitting.selection.split_halves`): standard error ``|m₁ − m₂| / 2``.  A level
  without half refits has no measure of its multipliers' spread; the interval of a parameter
  it multiplies then also spans the estimate the optimiser started from (``shift``, the
  distance between the two, is added to the half-width): the data gave both answers, the
  regression's and the spike trains', and nothing says which is nearer the truth.

Intervals are ``value ± t · stderr`` with Student's ``t`` for the degrees of freedom of each
source (``n − p`` spikes, ``n − 1`` sweeps, 1 for two halves).  A fitted level's parameter that
is an estimate times a multiplier combines both relative errors (independent sources).

Those are the statistical spread within the model.  The estimates also carry errors the spread
does not show (the spike cut found a fraction of a millisecond late moves the reset; intrinsic
noise biases θ∞ and the threshold components), so each interval adds a **model error**
(:data:`MODEL_ERROR`, in quadrature: ``value ± √((t·stderr)² + (1.96·model_error)²)``), the
size the validation bench's development half needs for 95 % of its (cell, parameter) pairs
(:func:`glifx.testing.bench.interval_calibration`); the check half measures the coverage.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import stats

from glifx.errors import GlifxError
from glifx.fitting import estimators as est
from glifx.fitting.flags import _at_log_bound

#: Two-sided coverage of the intervals.
LEVEL = 0.95
#: Largest ``t · log_stderr`` whose exponential is a float (exp(709.78) is the largest double).
MAX_LOG_SPREAD = 709.0
#: Standard normal quantile of :data:`LEVEL` (the model error's factor).
_Z = float(stats.norm.ppf(0.5 + LEVEL / 2))

#: Model error of each parameter (:class:`Uncertainty` ``model_error``): ``(kind, size)`` with
#: kind ``"relative"`` (size × |value|), ``"absolute"`` (size in the parameter's SI unit) or
#: ``"log"`` (size on ``log(value)``, for rates fitted on a log scale).  Sizes: the smallest
#: that gives 95 % coverage on the validation bench's development half (200 kHz, intrinsic
#: noise 0.1 and 0.3 × rheobase)::
#:
#:     python -m glifx.testing.bench --from-table dev/cells.csv --out cal/ --calibration
MODEL_ERROR: dict[str, tuple[str, float]] = {
    "R_input": ("relative", 0.0034),
    "C": ("relative", 0.0),  # the spread between sweeps covers 98 % already
    "asc_amp_array": ("relative", 0.081),
    "a": ("absolute", 0.37),  # the cut found late: a, b read later on the same trajectory
    "b": ("absolute", 8.4e-3),
    "th_inf": ("absolute", 0.47e-3),
    "a_spike": ("absolute", 1.7e-3),
    "b_spike": ("log", 1.9),  # barely constrained by the thresholds: a factor of e^(1.96·1.9)
    "a_voltage": ("relative", 0.013),
    "b_voltage": ("log", 0.013),
}


@dataclass(frozen=True)
class Uncertainty:
    """Standard error and 95 % interval of one parameter.

    Attributes
    ----------
    value
        The estimate (SI unit of the parameter; a multiplier is dimensionless).
    stderr
        Its standard error (same unit); ``nan`` when it cannot be estimated.
    dof
        Degrees of freedom of the Student-t interval.
    source
        ``"least squares"``, ``"between sweeps"``, ``"half refits"`` or ``"combined"``.
    log_stderr
        For a positive rate fitted on a log scale: the standard error of ``log(value)``; the
        interval is then ``value · exp(± t · log_stderr)`` (never negative) and ``stderr`` its
        first-order equivalent ``value · log_stderr``.  ``None`` otherwise.
    model_error
        Standard deviation of the errors beyond the statistical spread (:data:`MODEL_ERROR`;
        same unit as ``value``, or on ``log(value)`` with ``log_stderr``); 0 without one.
    shift
        For a parameter an optimised multiplier without half refits scaled: the distance from
        the estimate the optimiser started from to ``value`` (same unit), added to the
        half-width so that the interval spans both; 0 otherwise.  Not used with ``log_stderr``
        (no multiplied parameter is fitted on a log scale).
    """

    value: float
    stderr: float
    dof: float
    source: str
    log_stderr: float | None = None
    model_error: float = 0.0
    shift: float = 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """The 95 % interval ``value ± (√((t(0.975, dof) · stderr)² + (1.96 · model_error)²)
        + shift)`` (on ``log(value)``, without ``shift``, with ``log_stderr``)."""
        if not (math.isfinite(self.stderr) and self.dof > 0):
            return (float("nan"), float("nan"))
        t = float(stats.t.ppf(0.5 + LEVEL / 2, self.dof))
        if self.log_stderr is not None:
            # A log-scale error so large that exp() would overflow is an unbounded interval (0, inf).
            log_spread = math.hypot(t * self.log_stderr, _Z * self.model_error)
            spread = math.exp(log_spread) if log_spread < MAX_LOG_SPREAD else math.inf
            return (self.value / spread, self.value * spread)
        half = math.hypot(t * self.stderr, _Z * self.model_error) + self.shift
        return (self.value - half, self.value + half)

    def as_dict(self) -> dict[str, Any]:
        """``{"value", "stderr", "model_error", "shift", "ci95": [lo, hi], "dof", "source",
        "log_stderr"}``."""
        return {"value": self.value, "stderr": self.stderr, "model_error": self.model_error,
                "shift": self.shift, "ci95": list(self.interval), "dof": self.dof,
                "source": self.source, "log_stderr": self.log_stderr}

    def scaled(self, factor: float) -> Uncertainty:
        """The same relative uncertainty for ``value × factor``."""
        linear = 1.0 if self.log_stderr is not None else abs(factor)
        return Uncertainty(self.value * factor, self.stderr * abs(factor), self.dof, self.source,
                           self.log_stderr, self.model_error * linear, self.shift * linear)

    def with_model_error(self, kind: str, size: float) -> Uncertainty:
        """This uncertainty with a model error of ``size`` of ``kind`` (:data:`MODEL_ERROR`):
        ``"relative"`` × |value|, ``"absolute"``, or ``"log"`` (a log-scale rate's; for a
        parameter without ``log_stderr`` its first-order equivalent, × |value|)."""
        if kind == "absolute":
            error = size
        elif kind == "log" and self.log_stderr is not None:
            error = size
        elif kind in ("relative", "log"):
            error = size * abs(self.value)
        else:
            raise ValueError(f"model error kind must be 'relative', 'absolute' or 'log', got {kind!r}")
        return replace(self, model_error=float(error))


def model_error_class(name: str) -> str:
    """The :data:`MODEL_ERROR` key of a parameter name (``asc_amp_array[1]`` ->
    ``asc_amp_array``)."""
    return name.split("[", 1)[0]


def _nan(value: float, source: str) -> Uncertainty:
    return Uncertainty(float(value), float("nan"), 0.0, source)


def lmfit_least_squares(residual: Callable[[Mapping[str, float]], np.ndarray],
                        start: Mapping[str, float]) -> dict[str, Uncertainty]:
    """Standard errors of a least-squares fit by ``lmfit.minimize`` (``leastsq``) from ``start``.

    Parameters
    ----------
    residual
        Parameter values (name -> float) -> residual vector.
    start
        The estimate (a least-squares optimum: the minimiser stays there).

    Returns
    -------
    dict
        Name -> :class:`Uncertainty` (``stderr`` nan when the covariance is singular).
    """
    import lmfit

    params = lmfit.Parameters()
    scale = {}
    for name, value in start.items():
        # lmfit works best on parameters of order 1: fit x / |x0|
        scale[name] = abs(value) if value else 1.0
        params.add(name, value=value / scale[name])

    def fcn(p: Any) -> np.ndarray:
        return residual({k: p[k].value * scale[k] for k in start})

    out = lmfit.minimize(fcn, params, method="leastsq")
    dof = float(max(out.nfree, 0))
    res = {}
    for name in start:
        se = out.params[name].stderr
        se = float(se) * scale[name] if se is not None and np.isfinite(se) else float("nan")
        res[name] = Uncertainty(float(start[name]), se, dof, "least squares")
    return res


def between_sweeps(values: Sequence[float], value: float | None = None) -> Uncertainty:
    """Standard error of the mean of per-sweep estimates (a constant ``lmfit`` model fitted to
    them), centred on ``value`` (default their mean)."""
    import lmfit

    x = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if value is not None:
        centre = float(value)
    else:
        centre = float(np.mean(x)) if x.size else float("nan")
    if x.size < 2:
        return _nan(centre, "between sweeps")
    model = lmfit.models.ConstantModel()
    fit = model.fit(x, model.make_params(c=float(np.mean(x))), x=np.arange(x.size))
    se = fit.params["c"].stderr
    return Uncertainty(centre, float(se) if se is not None else float("nan"), float(x.size - 1),
                       "between sweeps")


def half_refits(values: Sequence[float], value: float) -> Uncertainty:
    """Standard error from two refits on the halves of the training set: ``|m₁ − m₂| / 2``."""
    a, b = (float(v) for v in values)
    return Uncertainty(float(value), abs(a - b) / 2.0, 1.0, "half refits")


def combined(estimate: Uncertainty, multiplier: Uncertainty | None, factor: float) -> Uncertainty:
    """Uncertainty of ``estimate.value × factor`` when ``factor`` is an optimised multiplier with
    uncertainty ``multiplier`` (relative errors added in quadrature; dof: the smaller).  Without
    one (no half refits) the estimate's spread, scaled, with the optimiser's move from the
    estimate as ``shift``: the interval spans the estimate and the optimum."""
    if multiplier is None:
        moved = abs(estimate.value * factor - estimate.value)
        return replace(estimate.scaled(factor),
                       shift=moved if estimate.log_stderr is None else 0.0)
    value = estimate.value * factor
    if estimate.value == 0 or factor == 0:
        return _nan(value, "combined")
    rel = math.hypot(estimate.stderr / estimate.value, multiplier.stderr / factor)
    return Uncertainty(value, abs(value) * rel, min(estimate.dof, multiplier.dof), "combined")


# --------------------------------------------------------------------------- per estimate
def reset_uncertainty(sweeps: Sequence[Any], reset: est.SpikeReset) -> dict[str, Uncertainty]:
    """``a`` and ``b`` of ``V_after = a · V_threshold + b`` at the chosen cut, per spike."""
    xs, ys = [], []
    for s in sweeps:
        sp, v = np.asarray(s.spikes, dtype=np.int64), s.v
        sp = sp[sp + reset.cut_steps < v.size]
        xs.append(v[sp])
        ys.append(v[sp + reset.cut_steps])
    x, y = np.concatenate(xs), np.concatenate(ys)
    out = lmfit_least_squares(lambda p: y - (p["a"] * x + p["b"]),
                              {"a": reset.a_r, "b": reset.b_r})
    return out


def threshold_uncertainty(sweeps: Sequence[Any], cut: float,
                          tc: est.ThresholdComponents) -> dict[str, Uncertainty]:
    """θ∞ and the threshold components of a joint fit
    (:func:`glifx.fitting.estimators.threshold_components`), per observed threshold.  A rate at
    an end of its search interval is held fixed (its stderr nan)."""
    prepared = est.threshold_observations(sweeps, cut)
    y = np.concatenate([o.thresholds for o in prepared])
    start = {"th_inf": tc.theta_inf}
    fixed: dict[str, float] = {}
    for a_name, b_name, value_a, value_b, bounds in (
            ("a_spike", "b_spike", tc.a_spike, tc.b_spike, est.B_SPIKE_BOUNDS),
            ("a_voltage", "b_voltage", tc.a_voltage, tc.b_voltage, est.B_VOLTAGE_BOUNDS)):
        if value_a is None or value_b is None:
            continue
        start[a_name] = value_a
        if _at_log_bound(value_b, bounds) is None:
            start[f"log_{b_name}"] = math.log(value_b)  # rates are positive: fit on a log scale
        else:
            fixed[b_name] = value_b

    def residual(p: Mapping[str, float]) -> np.ndarray:
        q = {**fixed, **{k.removeprefix("log_"): math.exp(v) if k.startswith("log_") else v
                         for k, v in p.items()}}
        model = np.full_like(y, q["th_inf"])
        if "a_spike" in q:
            model += q["a_spike"] * est.spike_history_column(prepared, q["b_spike"])
        if "a_voltage" in q:
            model += q["a_voltage"] * est.voltage_feature_column(prepared, q["b_voltage"])
        r = y - model
        return np.where(np.isfinite(r), r, 0.0)

    out = lmfit_least_squares(residual, start)
    for name in [k for k in out if k.startswith("log_")]:
        u = out.pop(name)
        value = math.exp(u.value)
        out[name.removeprefix("log_")] = Uncertainty(value, value * u.stderr, u.dof, u.source,
                                                     log_stderr=u.stderr)
    out.update({name: _nan(value, "least squares") for name, value in fixed.items()})
    return out


def membrane_uncertainty(membrane: est.Membrane, rests: Sequence[float] = (),
                         el_reference: float | None = None) -> dict[str, Uncertainty]:
    """``R_input`` and ``C`` from the spread of the per-sweep estimates; ``El_reference`` (V)
    from the spread of the training sweeps' resting potentials ``rests`` (V) when given."""
    out = {"R_input": between_sweeps(membrane.R_sweeps, membrane.R),
           "C": between_sweeps(membrane.C_sweeps, membrane.C)}
    if len(rests):
        out["El_reference"] = between_sweeps(rests, el_reference)
    return out


def asc_uncertainty(sweeps: Sequence[Any], asc: est.AfterSpikeCurrents, C: float, cut: float,
                    block: int, reset: tuple[float, float] | None, *,
                    cache: est.RegressionCache | None = None,
                    R: float | None = None) -> dict[str, Uncertainty]:
    """``R_input`` and the after-spike-current amplitudes of GLIF3–5 from per-sweep refits at the
    chosen rates (time constants are picked from a grid, :data:`ASC_RATES`: no interval).
    With ``R`` (Ω) given, the currents were fitted with it and C: no ``R_input`` (its
    uncertainty is the membrane's, :func:`membrane_uncertainty`).  ``cache``: per-sweep arrays
    shared with the fit of ``asc`` (:class:`~glifx.fitting.estimators.RegressionCache`)."""
    from glifx.glif.simulator import map_threads

    def refit(s: Any) -> tuple[float, float, float] | None:
        try:
            one = est.after_spike_currents([s], C, cut, rates=tuple(asc.k), block=block,
                                           reset=reset, cache=cache, R=R)
        except GlifxError:  # a sweep without enough spikes or subthreshold data: no refit
            return None
        return one.R, float(one.amp[0]), float(one.amp[1])

    # the sweeps' refits are independent (their forced runs release the GIL)
    per = [r for r in map_threads(refit, list(sweeps)) if r is not None]
    cols = list(zip(*per, strict=True)) if per else [[], [], []]
    out = {"asc_amp_array[0]": between_sweeps(cols[1], float(asc.amp[0])),
           "asc_amp_array[1]": between_sweeps(cols[2], float(asc.amp[1]))}
    return out if R is not None else {"R_input": between_sweeps(cols[0], asc.R), **out}


# --------------------------------------------------------------------------- per level
#: Optimised multiplier -> the model parameters it scales (:mod:`glifx.fitting.optimize`).
MULTIPLIED = {"th_inf": ("th_inf",), "a_spike": ("a_spike",),
              "asc_amp": ("asc_amp_array[0]", "asc_amp_array[1]"), "a_voltage": ("a_voltage",)}


def level_uncertainty(
    level: int,
    estimates: Mapping[str, Mapping[str, Uncertainty]],
    thresholds: str | None,
    multipliers: Mapping[str, float],
    halves: Sequence[Mapping[str, float]] | None,
) -> dict[str, Uncertainty]:
    """The uncertainty of each fitted parameter of a level that has one.

    Parameters
    ----------
    level
        1–5.
    estimates
        :attr:`glifx.fitting.preprocess.Preprocessing.uncertainty`.
    thresholds
        Name of the threshold estimate the level started from (``"threshold_spike"``,
        ``"threshold_full"``; the reference's own estimates have none: ``None``).
    multipliers
        The optimiser's multipliers (name -> value).
    halves
        The multipliers of the refits on the two halves of Noise 1, or ``None``.

    Returns
    -------
    dict
        ``"multiplier <name>"`` (half refits, no model error) and model parameter names, with
        their :data:`MODEL_ERROR` (``El_reference``,
        ``R_input``, ``C``,
        ``a``, ``b``, ``asc_amp_array[0|1]``, ``th_inf``, ``a_spike``, ``b_spike``,
        ``a_voltage``, ``b_voltage``; effective values, SI) -> :class:`Uncertainty`.
    """
    base: dict[str, Uncertainty] = dict(estimates.get("membrane", {}))
    if level in (3, 4, 5):
        base.update(estimates.get("asc", {}))
    if level in (2, 4, 5):
        base.update(estimates.get("reset", {}))
    if thresholds is not None and level in (2, 4, 5):
        base.update(estimates.get(thresholds, {}))
    out: dict[str, Uncertainty] = {}
    mult_unc: dict[str, Uncertainty] = {}
    for name, m in multipliers.items():
        if halves is not None and all(name in h for h in halves):
            mult_unc[name] = half_refits([h[name] for h in halves], m)
            out[f"multiplier {name}"] = mult_unc[name]
    for name, u in base.items():
        owner = next((k for k, fields in MULTIPLIED.items() if name in fields), None)
        if owner is not None and owner in multipliers:
            u = combined(u, mult_unc.get(owner), multipliers[owner])
        error = MODEL_ERROR.get(model_error_class(name))
        out[name] = u.with_model_error(*error) if error is not None else u
    return out


__all__ = [
    "LEVEL",
    "MODEL_ERROR",
    "MULTIPLIED",
    "level_uncertainty",
    "Uncertainty",
    "asc_uncertainty",
    "between_sweeps",
    "combined",
    "half_refits",
    "lmfit_least_squares",
    "membrane_uncertainty",
    "model_error_class",
    "reset_uncertainty",
    "threshold_uncertainty",
]
