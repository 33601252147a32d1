"""Build the per-cell :class:`~glifx.report.CellReport` from the pipeline's results.

:func:`build_cell_report` turns ``(cell, QCResult, CellFeatures, FitResult)`` into the plain report
dataclasses of :mod:`glifx.report.data`: per fitted level the parameters (from the model's Allen
config), train / test explained variance, wall time, the recorded test spike trains and the
model's spikes on the test stimulus, the model's f-I curve on the Long Square steps, the
model's voltage on one training epoch, one Noise 2 test epoch and one Long Square step; and from
the recording itself (``Cell``, ``CellFeatures``, ``QCResult``) the cell-feature panel, one example
trace per protocol, the first spike at rheobase, the QC criteria not measured and the warnings.

The simulations are :func:`glifx.fitting.evaluate_fit`'s, on the sweeps the fit used
(``FitResult.data``); this module only reads public result types and converts their arrays (s, mV,
pA, Hz) into report sections.  A section whose data are missing is left out and a note, from the
evaluation, says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from glifx.fitting import FitEvaluation, LevelFit, evaluate_fit
from glifx.report.checks import membrane_cross_check
from glifx.report.data import (
    CellReport,
    FICurve,
    LevelReport,
    SpikeWaveform,
    VoltageOverlay,
    parameters_from_allen_config,
)
from glifx.report.traces import MAX_TRACE_POINTS, envelope_indices
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
    recorded: RecordedViews | None = None,
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
    recorded
        The sections drawn from the recording itself (:func:`recorded_views` of ``cell`` and
        ``features``), when made already; default: made here, reading the sweeps they show.

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
    if recorded is None:
        recorded = recorded_views(cell, features)
    notes += evaluation.notes
    overlay = _overlay(evaluation.overlay, with_models=False)
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
        qc_not_measured=list(qc.cell_not_measured) if qc is not None else [],
        warnings=list(qc.warnings) if qc is not None else [],
        cell_features=cell_feature_rows(features),
        example_traces=recorded.example_traces,
        spike_waveform=recorded.spike_waveform,
        test_overlay=_overlay(evaluation.test_overlay),
        long_square_overlay=_overlay(evaluation.long_square_overlay),
        fit_wall_time_s=fit.wall_time,
    )


def _overlay(ev: Any, with_models: bool = True) -> VoltageOverlay | None:
    if ev is None:
        return None
    return VoltageOverlay(t=ev.t, v_data=ev.v_data, stimulus_pa=ev.stimulus_pa, label=ev.label,
                          models=dict(ev.model_v) if with_models else {})


@dataclass
class RecordedViews:
    """The report's sections drawn from the recording itself, reduced to what the figures show.

    :func:`glifx.process_cell` makes them while the sweeps QC and the features read are still
    in memory, so that writing the report does not read and decompress them from the file again.

    Attributes
    ----------
    example_traces
        :func:`example_traces` (``t`` s, ``v`` mV, ``i`` pA).
    spike_waveform
        :func:`first_spike_waveform`, or ``None``.
    """

    example_traces: list[VoltageOverlay]
    spike_waveform: SpikeWaveform | None


def recorded_views(cell: Cell, features: CellFeatures | None) -> RecordedViews:
    """:class:`RecordedViews` of a cell: its example traces and first spike waveform."""
    return RecordedViews(example_traces(cell, features), first_spike_waveform(cell, features))


# ------------------------------------------------------------------------------- cell features
#: The cell-feature panel: (label, key of CellFeatures.key_features(), unit, factor to that unit).
CELL_FEATURE_PANEL = (
    ("rheobase", "rheobase_i", "pA", 1.0),
    ("input resistance", "input_resistance", "MΩ", 1.0),
    ("membrane time constant τ", "tau", "ms", 1e3),
    ("sag ratio", "sag", "", 1.0),
    ("baseline", "v_baseline", "mV", 1.0),
    ("f-I slope", "fi_fit_slope", "Hz/pA", 1.0),
    ("AP threshold (first spike at rheobase)", "first_spike_threshold_v", "mV", 1.0),
    ("AP peak", "first_spike_peak_v", "mV", 1.0),
    ("AP width (half height)", "first_spike_width", "ms", 1e3),
    ("AP upstroke/downstroke ratio", "first_spike_upstroke_downstroke_ratio", "", 1.0),
)
#: Shown either side of the spike threshold in the waveform plot, ms.
WAVEFORM_WINDOW_MS = (-2.0, 6.0)


def cell_feature_rows(features: CellFeatures | None) -> list[tuple[str, float, str]]:
    """The cell-feature panel's ``(label, value, unit)`` rows (NaN: not measured)."""
    if features is None:
        return []
    key = features.key_features()
    return [(label, float(key.get(k, math.nan)) * factor, unit)
            for label, k, unit, factor in CELL_FEATURE_PANEL]


def _pick(features: CellFeatures, name: str) -> int | None:
    """The example sweep of one protocol: Long Square's rheobase sweep, else the analysed sweep
    of that stimulus with the most spikes (the first on a tie)."""
    if name == LONG_SQUARE:
        n = (features.cell.get("long_square") or {}).get("rheobase_sweep_number")
        if n is not None:
            return int(n)
    rows = features.sweeps[features.sweeps["stimulus_name"] == name]
    if not len(rows):
        return None
    counts = rows.get("spike_count_whole_sweep", rows["spike_count"]).to_numpy(float)
    return int(rows["sweep_number"].iloc[int(np.argmax(counts))])


def example_traces(cell: Cell, features: CellFeatures | None) -> list[VoltageOverlay]:
    """One recorded sweep per protocol among the analysed sweeps (``t`` s from sweep start)."""
    if features is None or not len(features.sweeps):
        return []
    out = []
    for name in dict.fromkeys(features.sweeps["stimulus_name"].dropna()):
        n = _pick(features, name)
        if n is None:
            continue
        s = cell.sweep(n, cache=False).from_zero().held()
        amp = "" if s.stimulus_amplitude is None else f", {s.stimulus_amplitude:.4g} pA"
        # Kept reduced (the figure draws MAX_TRACE_POINTS anyway): a whole 200 kHz Noise sweep
        # would hold hundreds of MB in the report for the life of the result.
        keep = envelope_indices(2 * MAX_TRACE_POINTS, *((s.v,) if s.i is None else (s.v, s.i)))
        v = s.v[keep]
        out.append(VoltageOverlay(t=s.time_at(keep), v_data=np.nan_to_num(v, nan=float(np.nanmean(v))),
                                  stimulus_pa=None if s.i is None else np.nan_to_num(s.i[keep]),
                                  label=f"{name}, sweep {n}{amp}"))
    return out


def first_spike_waveform(cell: Cell, features: CellFeatures | None) -> SpikeWaveform | None:
    """The first spike of the rheobase sweep (else of the first sweep with a spike), from
    :data:`WAVEFORM_WINDOW_MS` around its threshold; dV/dt by central differences."""
    if features is None or not len(features.spikes):
        return None
    spikes = features.spikes
    n = (features.cell.get("long_square") or {}).get("rheobase_sweep_number")
    rows = spikes[spikes["sweep_number"] == n] if n is not None else spikes.iloc[:0]
    what = "first spike at rheobase"
    if not len(rows):
        rows, what = spikes.iloc[:1], "first spike found"
    first = rows.iloc[0]
    s = cell.sweep(int(first["sweep_number"]), cache=False).from_zero()
    k = int(first["threshold_index"])
    lo = max(0, k + int(WAVEFORM_WINDOW_MS[0] * 1e-3 * s.sampling_rate))
    hi = min(s.n_samples, k + int(WAVEFORM_WINDOW_MS[1] * 1e-3 * s.sampling_rate))
    v = np.asarray(s.v[lo:hi], dtype=float)
    if v.size < 3 or not np.all(np.isfinite(v)):
        return None
    t_ms = (np.arange(lo, hi) - k) / s.sampling_rate * 1e3
    dvdt = np.gradient(v, t_ms)  # mV/ms = V/s
    return SpikeWaveform(t_ms, v, dvdt, f"{what}, sweep {int(first['sweep_number'])}")


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


__all__ = ["RecordedViews", "build_cell_report", "recorded_views"]
