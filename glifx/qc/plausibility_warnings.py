"""Plausibility warnings: recordings that pass QC but whose values a physiologist would question.

Warnings never fail a sweep (QC's criteria do that); they say what to look at.  Two kinds come from
the recording itself (:func:`recording_warnings`, run by :func:`glifx.run_qc`):

- a baseline (median voltage before the stimulus, or of the whole sweep without one) outside
  :data:`BASELINE_RANGE_MV`: an offset junction potential, a bad reference or a dying cell;
- voltages whose every value lies within ±:data:`VOLT_SCALE_MAX` "mV": volts written as millivolts;
- flat traces, whose voltage spans less than QC's ``v_range_mv_min`` (QC fails them too, with
  that criterion as the reason): a disconnected headstage or a channel that holds one value.

Spike warnings (spikes on hyperpolarising steps, spikes only a few mV high) come from the feature
stage (:func:`glifx.features.extract.spike_warnings`); :func:`glifx.process_cell` adds them to
``QCResult.warnings`` so that ``qc.json`` holds every warning of the run.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from glifx.qc.criteria import QCCriteria
from glifx.qc.sweep_qc import BASELINE_RANGE_MV, VoltageStats, voltage_stats
from glifx.sweep import Sweep, sweep_ranges

#: What one sweep contributes to :func:`recording_warnings`: ``(kind, value)`` with kind
#: ``"flat"`` (value: its first finite voltage, mV), ``"volts"`` or ``"baseline"`` (value: the
#: baseline, mV); ``None`` when the sweep is plausible.
SweepFinding = tuple[str, float] | None
#: A trace whose every finite value is within ± this (in "mV") was almost surely recorded in volts.
VOLT_SCALE_MAX = 1.0


def baseline_mv(sweep: Sweep) -> float:
    """Median membrane potential before the stimulus (whole sweep without one), mV; NaN when
    nothing was recorded there."""
    v = sweep.v
    stim = sweep.epochs.stimulus
    before = v[: stim[0]] if stim is not None and stim[0] > 0 else v
    finite = before[np.isfinite(before)]
    return float(np.median(finite)) if finite.size else float("nan")


def sweep_finding(sweep: Sweep, stats: VoltageStats | None = None) -> SweepFinding:
    """What one sweep contributes to :func:`recording_warnings` (see :data:`SweepFinding`).

    Parameters
    ----------
    sweep
        A current-clamp sweep (``v`` mV), best :meth:`~glifx.Sweep.held`.
    stats
        Its :func:`~glifx.qc.sweep_qc.voltage_stats` when already computed (by sweep QC).
    """
    if stats is None:
        stats = voltage_stats(sweep)
    if stats.n_finite and stats.high - stats.low < QCCriteria().v_range_mv_min:
        return "flat", stats.first  # a constant is neither volts nor a baseline
    if stats.n_finite and max(abs(stats.low), abs(stats.high)) <= VOLT_SCALE_MAX:
        return "volts", float("nan")
    if stats.n_before == 0 or stats.baseline_within:  # NaN, or known to be in range
        return None
    before = sweep.v[: stats.split]
    base = float(np.median(before[np.isfinite(before)]))  # as baseline_mv, needed only here
    lo, hi = BASELINE_RANGE_MV
    return None if lo <= base <= hi else ("baseline", base)


def recording_warnings(sweeps: Iterable[Sweep]) -> list[str]:
    """Warnings about implausible baselines and volt-scaled traces, one line per kind.

    Parameters
    ----------
    sweeps
        Current-clamp sweeps (``v`` mV).

    Returns
    -------
    list of str
        E.g. ``"baseline outside -100…-40 mV on sweeps 1–16 (median -14.9 mV)"``.
    """
    return warnings_from_findings((s.sweep_number, sweep_finding(s.held())) for s in sweeps)


def warnings_from_findings(findings: Iterable[tuple[int, SweepFinding]]) -> list[str]:
    """:func:`recording_warnings` from each sweep's ``(sweep_number, sweep_finding(...))``."""
    off_range: dict[int, float] = {}
    volts: list[int] = []
    flat: dict[int, float] = {}
    lo, hi = BASELINE_RANGE_MV
    flat_mv = QCCriteria().v_range_mv_min
    for number, found in findings:
        if found is None:
            continue
        kind, value = found
        if kind == "flat":
            flat[number] = value
        elif kind == "volts":
            volts.append(number)
        else:
            off_range[number] = value
    out = []
    if off_range:
        out.append(f"baseline outside {lo:g}…{hi:g} mV on sweeps {sweep_ranges(off_range)} "
                   f"(median {np.median(list(off_range.values())):.1f} mV)")
    if volts:
        out.append(f"voltage within ±{VOLT_SCALE_MAX:g} mV on sweeps {sweep_ranges(volts)}: "
                   "recorded in volts and stored as millivolts?")
    if flat:
        out.append(f"flat voltage (range below {flat_mv:g} mV) on sweeps {sweep_ranges(flat)}: "
                   "no recording (headstage disconnected, channel held)?")
    return out
