"""Build the per-cell :class:`~glifx.report.CellReport` from the pipeline's results.

:func:`build_cell_report` turns ``(cell, QCResult, CellFeatures, FitResult)`` into the plain report
dataclasses of :mod:`glifx.report.data`: per fitted level the parameters (from the model's Allen
config), train / test explained variance, wall time, the recorded test spike trains and the
model's spikes on the test stimulus, the model's f-I curve on the Long Square steps, and the
model's voltage on one training epoch.

The simulations are :func:`glifx.fitting.evaluate_fit`'s, on the sweeps the fit used
(``FitResult.data``); this module only reads public result types and converts their arrays (s, mV,
pA, Hz) into report sections.  A section whose data are missing is left out and a note, from the
evaluation, says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from glifx.fitting import FitEvaluation, LevelFit, evaluate_fit
from glifx.report.data import (
    CellReport,
    FICurve,
    LevelReport,
    VoltageOverlay,
    parameters_from_allen_config,
)
from glifx.report.outputs import membrane_cross_check
from glifx.stimulus import LONG_SQUARE

if TYPE_CHECKING:  # pragma: no cover
    from glifx.features import CellFeatures
    from glifx.fitting import FitData, FitResult
    from glifx.qc import QCResult
    from glifx.sweep import Cell

_MV_PER_V = 1e3


def build_cell_report(
    cell: Cell,
    qc: QCResult | None,
    features: CellFeatures | None,
    fit: FitResult,
    *,
    data: FitData | None = None,
) -> CellReport:
    """The report of one fitted cell.

    Parameters
    ----------
    cell
        The recorded cell (``t`` s, ``v`` mV, ``i`` pA).
    qc
        Its QC result (sweep table, cell verdict), or ``None`` (no QC section).
    features
        Its features (``features.sweeps`` gives the recorded f-I curve: ``stim_amp`` pA,
        ``avg_rate`` Hz of the Long Square sweeps), or ``None``.
    fit
        The GLIF fits (:func:`glifx.fit_cell`).
    data
        The SI sweeps to simulate the models on (default ``fit.data``, the ones the fit used,
        with Long Square sweeps for the model f-I curve).  Without them the simulated sections
        are left out with a note.

    Returns
    -------
    CellReport
        One :class:`LevelReport` per level of ``fit`` (fitted: parameters, EVs, wall time, test
        spike trains, model f-I and overlay voltage; not fitted: ``status="failed"`` with the
        reason), the recorded f-I curve, a training-epoch overlay and the QC table when available.
        Sections that cannot be built are left out and explained in ``notes``.
    """
    notes: list[str] = [f"Fit method: {fit.method}; El_reference {fit.el_reference * _MV_PER_V:.2f} mV."]
    fi_data = _fi_from_features(features)
    if fi_data is None:
        notes.append("No recorded f-I curve: no analysed Long Square sweep.")
    evaluation = evaluate_fit(fit, data, long_square_amplitudes_pa=_long_square_amplitudes(features))
    check = membrane_cross_check(fit, features)
    if check is not None and check["disagree"]:
        notes.append(f"R and τ of the fit ({check['R_fit_mohm']:.0f} MΩ, {check['tau_fit_ms']:.1f} ms) "
                     f"disagree with the Long Square responses ({check['R_long_square_mohm']:.0f} MΩ, "
                     f"{check['tau_long_square_ms']:.1f} ms): {', '.join(check['disagree'])}.")
    levels = [_level_report(lf, evaluation, notes) for lf in fit.levels.values()]
    notes += evaluation.notes
    overlay = None
    if evaluation.overlay is not None:
        ev = evaluation.overlay
        overlay = VoltageOverlay(t=ev.t, v_data=ev.v_data, stimulus_pa=ev.stimulus_pa, label=ev.label)
    excluded = fit.sweeps.get("excluded") or {}
    if excluded:
        shown = "; ".join(f"{n}: {why}" for n, why in list(excluded.items())[:10])
        more = f" (+{len(excluded) - 10} more)" if len(excluded) > 10 else ""
        notes.append(f"Sweeps left out of the fit: {shown}{more}.")
    return CellReport(
        cell_id=cell.cell_id,
        source=cell.source,
        levels=levels,
        qc_table=qc.sweeps if qc is not None else None,
        qc_cell_passed=qc.cell_passed if qc is not None else None,
        qc_cell_reasons=list(qc.cell_reasons) if qc is not None else [],
        fi_data=fi_data,
        overlay=overlay,
        notes=notes,
    )


# ------------------------------------------------------------------------------------ levels
def _level_report(lf: LevelFit, evaluation: FitEvaluation, notes: list[str]) -> LevelReport:
    if not lf.ok:
        return LevelReport(lf.level, status="failed", reason=lf.reason or "not fitted",
                           train_ev=lf.train_ev, test_ev=lf.test_ev, wall_time_s=lf.wall_time)
    lv = LevelReport(lf.level, status="fitted", reason=lf.reason,
                     parameters=parameters_from_allen_config(lf.model.to_allen_config()),
                     train_ev=lf.train_ev, test_ev=lf.test_ev, wall_time_s=lf.wall_time)
    if lf.selection is not None:
        notes.append(f"GLIF{lf.level}: {lf.selection.describe()}.")
    notes += [f"GLIF{lf.level} flag ({flag.rule}): {flag.message}." for flag in lf.flags]
    intervals = [f"{name} {lo:.4g} – {hi:.4g}" for name, u in lf.uncertainty.items()
                 for lo, hi in [u.interval] if np.isfinite(lo)]
    if intervals:
        notes.append(f"GLIF{lf.level} 95 % intervals (SI): {'; '.join(intervals)}.")
    trains = evaluation.test_trains.get(lf.level)
    if trains is not None:
        lv.test_data_spikes, lv.test_model_spikes = trains.data_times, trains.model_times
        lv.test_t_range = trains.t_range
    fi = evaluation.fi.get(lf.level)
    if fi is not None:
        lv.fi_model = FICurve(fi.amplitude_pa, fi.rate_hz)
    if evaluation.overlay is not None:
        lv.model_v = evaluation.overlay.model_v.get(lf.level)
    return lv


# ---------------------------------------------------------------------------------------- f-I
def _long_square_rows(features: CellFeatures | None) -> Any:
    if features is None or features.sweeps is None or len(features.sweeps) == 0:
        return None
    table = features.sweeps
    needed = {"sweep_number", "stimulus_name", "stim_amp", "avg_rate"}
    if not needed <= set(table.columns):
        return None
    rows = table[table["stimulus_name"] == LONG_SQUARE]
    finite = np.isfinite(rows["stim_amp"].astype(float)) & np.isfinite(rows["avg_rate"].astype(float))
    rows = rows[finite]
    return rows if len(rows) else None


def _fi_from_features(features: CellFeatures | None) -> FICurve | None:
    """The recorded f-I curve: ``stim_amp`` (pA) against ``avg_rate`` (Hz) of Long Square sweeps."""
    rows = _long_square_rows(features)
    if rows is None:
        return None
    return FICurve(rows["stim_amp"].to_numpy(float), rows["avg_rate"].to_numpy(float))


def _long_square_amplitudes(features: CellFeatures | None) -> dict[int, float]:
    """Sweep number -> the features' ``stim_amp`` (pA) of each analysed Long Square sweep, so
    that the model and recorded f-I curves share the x axis."""
    rows = _long_square_rows(features)
    if rows is None:
        return {}
    return dict(zip(rows["sweep_number"].astype(int), rows["stim_amp"].astype(float), strict=True))


__all__ = ["build_cell_report"]
