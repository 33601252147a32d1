"""Build the per-cell :class:`~glifx.report.CellReport` from the pipeline's results.

:func:`build_cell_report` turns ``(cell, QCResult, CellFeatures, FitResult)`` into the plain report
dataclasses of :mod:`glifx.report.data`: per fitted level the parameters (from the model's Allen
config), train / test explained variance, wall time, the recorded test spike trains and the
model's spikes on the test stimulus, the model's f-I curve on the Long Square steps, and the
model's voltage on one training epoch.

Units: the model is simulated in SI on the sweeps the fit used (``FitResult.data``, prepared by
:func:`glifx.fitting.data.prepare`, the one place where Sweep units become SI; nothing is converted
here on the way in).  The report
shows times in s, voltages in mV (``1e3 * (v + El_reference)``), currents in pA (``1e12 * i``).

Robustness: each optional section (test spike trains, f-I curve, voltage overlay) is built on its
own; when its data are missing (no Long Square sweep, no test sweep, a level that was not fitted)
the section is left out and a note says why.  Only the errors a missing or unusable piece raises
(:class:`glifx.GlifxError`, ``ValueError``) are turned into notes; anything else is a bug and
propagates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from glifx.errors import GlifxError
from glifx.report.data import (
    CellReport,
    FICurve,
    LevelReport,
    VoltageOverlay,
    parameters_from_allen_config,
)
from glifx.stimulus import LONG_SQUARE

if TYPE_CHECKING:  # pragma: no cover
    from glifx.features import CellFeatures
    from glifx.fitting import FitResult
    from glifx.fitting.data import FitData, SISweep
    from glifx.qc import QCResult
    from glifx.sweep import Cell

#: Display conversions (SI → report units); the inverse of nothing: SI data are never re-derived.
_MV_PER_V = 1e3
_PA_PER_A = 1e12
#: Current change (A) from the pre-stimulus level that marks a sample as inside a stimulus epoch.
_EPOCH_CURRENT_A = 1e-12
#: Gaps shorter than this (s) do not split an epoch; epochs shorter than the minimum are ignored.
_EPOCH_MERGE_S = 0.05
_EPOCH_MIN_S = 0.2
#: Time (s) shown on either side of the overlaid training epoch.
_OVERLAY_MARGIN_S = 0.2

_EXPECTED = (GlifxError, ValueError, FloatingPointError)


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
        The SI sweeps the fit used (:func:`glifx.fitting.data.prepare`, with Long Square sweeps
        for the model f-I curve).  ``None``: the ones the fit kept (``fit.data``), else prepared
        here from ``cell`` and ``qc``.

    Returns
    -------
    CellReport
        One :class:`LevelReport` per level of ``fit`` (fitted: parameters, EVs, wall time, test
        spike trains, model f-I and overlay voltage; not fitted: ``status="failed"`` with the
        reason), the recorded f-I curve, a training-epoch overlay and the QC table when available.
        Sections that cannot be built are left out and explained in ``notes``.
    """
    notes: list[str] = [f"Fit method: {fit.method}; El_reference {fit.el_reference * _MV_PER_V:.2f} mV."]
    if data is None:
        data = getattr(fit, "data", None)
    if data is None:
        try:
            data = _prepare(cell, qc)
        except _EXPECTED as exc:
            notes.append(f"Test spike trains, f-I curve and voltage overlay not shown: {exc}")
    levels = [_level_report(lf, data, notes) for lf in fit.levels.values()]
    fitted = {lf.level: lf.model for lf in fit.levels.values() if lf.ok}

    fi_data = _fi_from_features(features)
    if fi_data is None:
        notes.append("No recorded f-I curve: no analysed Long Square sweep.")
    if data is not None and fitted:
        ls = [s for s in data.long_square if s.stimulus is not None]
        if ls:
            amps = _long_square_amplitudes(ls, features)
            for lv in levels:
                if lv.level in fitted:
                    lv.fi_model = _section(notes, f"GLIF{lv.level} f-I curve",
                                           lambda m=fitted[lv.level]: _model_fi(m, ls, amps))
        else:
            notes.append("No model f-I curve: no Long Square sweep passed QC.")

    overlay = None
    if data is not None and data.train and fitted:
        found = _section(notes, "voltage overlay", lambda: _overlay(data, fitted))
        if found is not None:
            overlay, traces = found
            for lv in levels:
                lv.model_v = traces.get(lv.level)

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


def _prepare(cell: Cell, qc: QCResult | None) -> FitData:
    from glifx.fitting.data import prepare

    return prepare(cell, qc=qc, long_square=True)


def _section(notes: list[str], what: str, build: Any) -> Any:
    """``build()``, or ``None`` with a note when its data are missing or unusable."""
    try:
        return build()
    except _EXPECTED as exc:
        notes.append(f"{what} not shown: {exc}")
        return None


# ------------------------------------------------------------------------------------ levels
def _level_report(lf: Any, data: FitData | None, notes: list[str]) -> LevelReport:
    if not lf.ok:
        return LevelReport(lf.level, status="failed", reason=lf.reason or "not fitted",
                           train_ev=lf.train_ev, test_ev=lf.test_ev, wall_time_s=lf.wall_time)
    model = lf.model
    lv = LevelReport(lf.level, status="fitted", reason=lf.reason,
                     parameters=parameters_from_allen_config(model.to_allen_config()),
                     train_ev=lf.train_ev, test_ev=lf.test_ev, wall_time_s=lf.wall_time)
    if lf.selection is not None:
        notes.append(f"GLIF{lf.level}: {lf.selection.describe()}.")
    if data is not None and data.test:
        trains = _section(notes, f"GLIF{lf.level} test spike trains",
                          lambda: _test_trains(model, data.test))
        if trains is not None:
            lv.test_data_spikes, lv.test_model_spikes, lv.test_t_range = trains
    elif data is not None:
        notes.append(f"GLIF{lf.level}: no test sweep, no test spike trains.")
    return lv


def _test_trains(model: Any, test: Sequence[SISweep]
                 ) -> tuple[list[np.ndarray], list[np.ndarray], tuple[float, float] | None]:
    """Recorded spike times per test repeat and the model's on the test stimuli (s from sweep
    start), simulated exactly as the test EV is scored (common grid, data ``dt``)."""
    from glifx.fitting.optimize import SpikeTrainData

    tsd = SpikeTrainData.from_sweeps(list(test))
    dt = tsd.dt
    data_times = [np.asarray(sp, dtype=np.float64) * dt for sp in tsd.spikes]
    model_times: list[np.ndarray] = []
    seen: list[np.ndarray] = []
    for steps in tsd.simulate(model):  # identical repeats give identical runs: show each once
        if not any(np.array_equal(steps, s) for s in seen):
            seen.append(steps)
            model_times.append(np.asarray(steps, dtype=np.float64) * dt)
    windows = [s.stimulus for s in test if s.stimulus is not None]
    t_range = None
    if windows:
        a = min(w[0] for w in windows) * dt
        b = min(max(w[1] for w in windows), tsd.n_samples - 1) * dt
        t_range = (a, b) if b > a else None
    return data_times, model_times, t_range


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


def _long_square_amplitudes(sweeps: Sequence[SISweep], features: CellFeatures | None) -> list[float]:
    """Amplitude (pA) of each Long Square sweep: the features' ``stim_amp`` (so model and data
    share the x axis), else the sweep's own amplitude."""
    rows = _long_square_rows(features)
    by_number = {} if rows is None else dict(zip(rows["sweep_number"].astype(int),
                                                 rows["stim_amp"].astype(float), strict=True))
    return [by_number.get(s.sweep_number, s.amplitude * _PA_PER_A) for s in sweeps]


def _model_fi(model: Any, sweeps: Sequence[SISweep], amplitudes_pa: Sequence[float]) -> FICurve | None:
    """The model's firing rate (Hz) in the stimulus window of each Long Square sweep, simulated on
    that sweep's recorded current (A) at its ``dt``."""
    from glifx.glif import simulate_many

    keep = [(s, a) for s, a in zip(sweeps, amplitudes_pa, strict=True) if np.isfinite(a)]
    if not keep:
        return None
    dts = {s.dt for s, _ in keep}
    rates = []
    if len(dts) == 1:
        runs = simulate_many(model, [s.i for s, _ in keep], keep[0][0].dt)
    else:
        from glifx.glif import simulate

        runs = [simulate(model, s.i, s.dt).spike_steps for s, _ in keep]
    for (s, _), steps in zip(keep, runs, strict=True):
        a, b = s.stimulus  # inclusive; the window lasts (b - a) * dt s, as ipfx's avg_rate counts
        n = np.count_nonzero((steps >= a) & (steps <= b))
        rates.append(n / (max(b - a, 1) * s.dt))
    return FICurve(np.array([a for _, a in keep]), np.array(rates))


# ------------------------------------------------------------------------------------ overlay
def _epochs(s: SISweep) -> list[tuple[int, int]]:
    """Half-open sample ranges of the stimulus epochs of a sweep (current away from its
    pre-stimulus level), gaps under :data:`_EPOCH_MERGE_S` merged, short ones dropped."""
    if s.stimulus is None:
        return []
    a, b = s.stimulus
    base = float(np.median(s.i[max(0, a - int(0.1 / s.dt)):a])) if a > 0 else 0.0
    active = np.abs(s.i[a:b + 1] - base) > _EPOCH_CURRENT_A
    if not active.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate(([0], active.astype(np.int8), [0]))))
    runs = [[int(x) + a, int(y) + a] for x, y in zip(edges[::2], edges[1::2], strict=True)]
    merged = [runs[0]]
    for x, y in runs[1:]:
        if (x - merged[-1][1]) * s.dt < _EPOCH_MERGE_S:
            merged[-1][1] = y
        else:
            merged.append([x, y])
    return [(x, y) for x, y in merged if (y - x) * s.dt >= _EPOCH_MIN_S]


def _overlay(data: FitData, models: dict[int, Any]) -> tuple[VoltageOverlay, dict[int, np.ndarray]]:
    """The training epoch with the most recorded spikes (first training sweep), and each model's
    voltage on it (mV, NaN in spike cuts), simulated on the whole sweep so the state is right."""
    from glifx.glif import simulate

    s = data.train[0]
    epochs = _epochs(s)
    if not epochs:
        if s.stimulus is None:
            raise GlifxError(f"sweep {s.sweep_number}: no stimulus epoch")
        epochs = [(s.stimulus[0], s.stimulus[1] + 1)]
    counts = [np.count_nonzero((s.spikes >= x) & (s.spikes < y)) for x, y in epochs]
    k = int(np.argmax(counts))
    x, y = epochs[k]
    margin = int(round(_OVERLAY_MARGIN_S / s.dt))
    lo, hi = max(0, x - margin), min(s.n_samples, y + margin)
    el_mv = data.el_reference * _MV_PER_V
    t = np.arange(lo, hi) * s.dt
    overlay = VoltageOverlay(
        t=t, v_data=s.v[lo:hi] * _MV_PER_V + el_mv, stimulus_pa=s.i[lo:hi] * _PA_PER_A,
        label=f"{s.stimulus_name}, sweep {s.sweep_number}, epoch {k + 1} of {len(epochs)}",
    )
    traces = {}
    for level, model in models.items():
        v = simulate(model, s.i, s.dt, record=("voltage",)).voltage
        traces[level] = v[lo:hi] * _MV_PER_V + el_mv
    return overlay, traces


__all__ = ["build_cell_report"]
