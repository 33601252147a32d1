"""Cross-checks of a fit against the cell's own measurements, shared by the report and the
summary file.

They sit below both readers, :mod:`glifx.report.from_fit` (a note in ``report.html``) and
:mod:`glifx.report.outputs` (``fit_summary.json``; it builds the report through ``from_fit``):
kept in ``outputs``, the check made the two modules import each other.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from glifx.features import CellFeatures
    from glifx.fitting import FitResult

#: Relative difference of R or τ between the fit and the Long Square responses above which
#: :func:`membrane_cross_check` reports a disagreement.
MEMBRANE_AGREEMENT = 0.10


def membrane_cross_check(fit: FitResult, features: CellFeatures | None) -> dict[str, Any] | None:
    """R and τ of the fit's passive estimate against the Long Square responses (ipfx's
    ``input_resistance`` and ``tau`` of the hyperpolarising sweeps, :mod:`glifx.features`).

    Parameters
    ----------
    fit
        The fit; its passive estimate ``fit.preprocessing.membrane`` (R in Ω, C in F).
    features
        The cell's features; ``features.cell["long_square"]`` holds ``input_resistance`` (MΩ)
        and ``tau`` (s).  ``None``: no check.

    Returns
    -------
    dict or None
        ``R_fit_mohm``, ``R_long_square_mohm``, ``tau_fit_ms``, ``tau_long_square_ms``, their
        relative differences ``R_rel_diff`` and ``tau_rel_diff`` (fit / Long Square − 1) and
        ``disagree`` (the names whose difference exceeds :data:`MEMBRANE_AGREEMENT`); ``None``
        when either side is missing.
    """
    mem = fit.preprocessing.membrane
    ls = (features.cell.get("long_square") or {}) if features is not None else {}
    r_ls, tau_ls = ls.get("input_resistance"), ls.get("tau")
    if mem is None or not hasattr(mem, "R") or r_ls is None or tau_ls is None:
        return None
    out = {"R_fit_mohm": mem.R * 1e-6, "R_long_square_mohm": float(r_ls),
           "tau_fit_ms": mem.R * mem.C * 1e3, "tau_long_square_ms": float(tau_ls) * 1e3}
    out["R_rel_diff"] = out["R_fit_mohm"] / out["R_long_square_mohm"] - 1.0
    out["tau_rel_diff"] = out["tau_fit_ms"] / out["tau_long_square_ms"] - 1.0
    out["disagree"] = [name for name in ("R", "tau")
                       if math.isfinite(out[f"{name}_rel_diff"])
                       and abs(out[f"{name}_rel_diff"]) > MEMBRANE_AGREEMENT]
    return out


__all__ = ["MEMBRANE_AGREEMENT", "membrane_cross_check"]
