"""Flags: fitted parameters worth distrusting, each with the rule it broke.

A fit can end valid but untrustworthy: an estimate at an end of its search interval (the data
did not pin it down, the optimum may lie beyond), or a value whose sign or relation the model
forbids or the data make implausible.  :func:`parameter_flags` lists them per level; they go
into ``fit_summary.json`` (``levels.GLIF<n>.flags``), the ``glifx fit`` table's notes and the
report.  A flag never changes the model: it tells the user where to look.

Rules (:attr:`Flag.rule`):

``at_search_bound``
    An estimated rate at an end of its search interval: ``b_spike``
    (:data:`~glifx.fitting.estimators.B_SPIKE_BOUNDS`), ``b_voltage``
    (:data:`~glifx.fitting.estimators.B_VOLTAGE_BOUNDS`, the reference's
    :data:`~glifx.fitting.estimators.REFERENCE_B_VOLTAGE_BOUNDS`), an after-spike-current rate at
    the first or last of :data:`~glifx.fitting.estimators.ASC_RATES`; the spike cut within one
    sample of :data:`~glifx.fitting.estimators.MIN_CUT_S` or
    :data:`~glifx.fitting.estimators.MAX_CUT_S`.
``multiplier_at_bound``
    An optimised multiplier at a bound of its interval
    (:attr:`glifx.fitting.optimize.OptimizationResult.at_bounds`).
``forbidden_sign``
    ``R_input`` or ``C`` not positive; θ∞ at or below rest.
``implausible_sign``
    A negative ``a_spike`` (the threshold drops after each spike, the opposite of what the
    spike component models).  (A reset slope outside 0–1 is not flagged: published Allen
    configs range from −0.09 to 1.28.)
``forbidden_relation``
    ``a_voltage >= b_voltage`` (GLIF5: the voltage component then grows without bound under a
    sustained depolarisation instead of settling).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from glifx.fitting.estimators import (
    ASC_RATES,
    B_SPIKE_BOUNDS,
    B_VOLTAGE_BOUNDS,
    MAX_CUT_S,
    MIN_CUT_S,
    REFERENCE_B_VOLTAGE_BOUNDS,
)

#: Relative distance, in log rate over the log width of the interval, within which an estimated
#: rate counts as at an end of its search interval (the rates are searched on a log scale).
AT_BOUND_LOG_RTOL = 1e-3

RULES = ("at_search_bound", "multiplier_at_bound", "forbidden_sign", "implausible_sign",
         "forbidden_relation")


@dataclass(frozen=True)
class Flag:
    """One fitted parameter worth distrusting.

    Attributes
    ----------
    parameter
        Model field (``"b_spike"``, ``"asc_tau_array[1]"``, ...) or ``"multiplier <name>"``.
    value
        Its value (SI: V, Ω, F, s, 1/s; a multiplier is dimensionless).
    rule
        One of :data:`RULES`.
    message
        One sentence for the user, with the value, its unit and the limit.
    """

    parameter: str
    value: float
    rule: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        """Plain dict with keys parameter, value, rule, message."""
        return asdict(self)


def _at_log_bound(x: float, bounds: tuple[float, float]) -> float | None:
    """The end of ``bounds`` (positive rates) that ``x`` sits at, or ``None``."""
    lo, hi = bounds
    if not (x > 0 and math.isfinite(x)):
        return None
    tol = AT_BOUND_LOG_RTOL * (math.log(hi) - math.log(lo))
    if abs(math.log(x) - math.log(lo)) <= tol:
        return lo
    if abs(math.log(x) - math.log(hi)) <= tol:
        return hi
    return None


def _rate_flag(name: str, x: float | None, bounds: tuple[float, float]) -> Flag | None:
    if x is None:
        return None
    end = _at_log_bound(float(x), bounds)
    if end is None:
        return None
    side = "lower" if end == bounds[0] else "upper"
    return Flag(name, float(x), "at_search_bound",
                f"{name} = {x:.4g} 1/s is at the {side} end of its search interval "
                f"{bounds[0]:g}–{bounds[1]:g} 1/s: the data do not pin it down (the best value "
                "may lie beyond)")


def parameter_flags(model: Any, optimization: Any = None) -> list[Flag]:
    """The flags of one fitted level.

    Parameters
    ----------
    model
        The fitted :class:`glifx.glif.GlifModel` (SI, effective values).
    optimization
        Its :class:`glifx.fitting.optimize.OptimizationResult`, or ``None`` (then no multiplier
        flags, and the ``b_voltage`` interval of the ``"ev"`` threshold fit is assumed).

    Returns
    -------
    list of Flag
        In the order of the rules above; empty when nothing is suspicious.
    """
    flags: list[Flag] = []
    level = model.level
    # --- signs the model forbids
    for name, unit in (("R_input", "Ω"), ("C", "F")):
        value = float(getattr(model, name))
        if not value > 0:
            flags.append(Flag(name, value, "forbidden_sign",
                              f"{name} = {value:.4g} {unit} is not positive"))
    th_inf = float(model.th_inf) * float(model.coeff_th_inf)
    if not th_inf > 0:
        flags.append(Flag("th_inf", th_inf, "forbidden_sign",
                          f"θ∞ = {th_inf * 1e3:.3g} mV is at or below rest: the model fires "
                          "without input"))
    # --- estimated rates at the ends of their search intervals
    method = getattr(optimization, "method", "ev")
    if level in (2, 4, 5):
        flags += [f for f in [_rate_flag("b_spike", model.b_spike, B_SPIKE_BOUNDS)] if f]
    if level == 5:
        vb = REFERENCE_B_VOLTAGE_BOUNDS if method == "reference" else B_VOLTAGE_BOUNDS
        flags += [f for f in [_rate_flag("b_voltage", model.b_voltage, vb)] if f]
    if level in (3, 4, 5) and model.asc_tau_array is not None:
        slowest, fastest = min(ASC_RATES), max(ASC_RATES)
        for j, tau in enumerate(model.asc_tau_array):
            k = 1.0 / float(tau)  # chosen from ASC_RATES exactly (up to rounding)
            for edge, side in ((slowest, "slowest"), (fastest, "fastest")):
                if math.isclose(k, edge, rel_tol=1e-6):
                    flags.append(Flag(
                        f"asc_tau_array[{j}]", float(tau), "at_search_bound",
                        f"after-spike current {j + 1}: τ = {float(tau) * 1e3:.4g} ms is the "
                        f"{side} of the rates tried ({slowest:g}–{fastest:g} 1/s): the true time "
                        "constant may lie beyond"))
    if model.spike_cut_s is not None:  # glifx-fitted: the cut was searched in MIN_CUT_S–MAX_CUT_S
        cut = float(model.spike_cut_s)
        for edge, side in ((MIN_CUT_S, "shortest"), (MAX_CUT_S, "longest")):
            if abs(cut - edge) <= float(model.dt) * (1 + 1e-6):
                flags.append(Flag(
                    "spike_cut_s", cut, "at_search_bound",
                    f"spike cut {cut * 1e3:.3g} ms is the {side} tried "
                    f"({MIN_CUT_S * 1e3:g}–{MAX_CUT_S * 1e3:g} ms): the spike may end "
                    f"{'earlier' if side == 'shortest' else 'later'}, or the reset estimate "
                    "is off"))
    # --- optimised multipliers at a bound of their interval
    if optimization is not None:
        for name, end in sorted(optimization.at_bounds.items()):
            x = float(optimization.multipliers[name])
            lo, hi = optimization.bounds[name]
            what = "switched the component off" if end == 0 else "the optimum may lie beyond"
            flags.append(Flag(f"multiplier {name}", x, "multiplier_at_bound",
                              f"the {name} multiplier {x:.3g} is at a bound of its interval "
                              f"{lo:g}–{hi:g} ({what})"))
    # --- signs and relations the data make implausible
    if level in (2, 4, 5) and model.a_spike is not None and model.a_spike < 0:
        flags.append(Flag("a_spike", float(model.a_spike), "implausible_sign",
                          f"a_spike = {model.a_spike * 1e3:.3g} mV is negative: the threshold "
                          "drops after each spike"))
    if (level == 5 and model.a_voltage is not None and model.b_voltage is not None
            and model.a_voltage >= model.b_voltage):
        flags.append(Flag("a_voltage", float(model.a_voltage), "forbidden_relation",
                          f"a_voltage = {model.a_voltage:.4g} 1/s ≥ b_voltage = "
                          f"{model.b_voltage:.4g} 1/s: the voltage component does not settle"))
    return flags


__all__ = ["AT_BOUND_LOG_RTOL", "RULES", "Flag", "parameter_flags"]
