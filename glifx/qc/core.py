"""``run_qc``: sweep QC of every current-clamp sweep and cell QC, returned as a :class:`QCResult`."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from glifx._display import html_repr, text_repr
from glifx._files import updated_dir, write_columns, write_text_atomic
from glifx.errors import ConfigError, GlifxError, SweepError
from glifx.glif import default_n_jobs
from glifx.qc.cell_measure import measure_protocol_sweeps
from glifx.qc.cell_qc import CELL_MEASUREMENTS, qc_cell_metadata
from glifx.qc.columns import QC_FILES
from glifx.qc.criteria import QCCriteria
from glifx.qc.plausibility_warnings import SweepFinding, sweep_finding, warnings_from_findings
from glifx.qc.sweep_qc import (
    EXCLUDED,
    FAILED,
    SWEEP_MEASUREMENTS,
    SweepQC,
    exclusion_reason,
    qc_sweep,
    voltage_stats,
)
from glifx.sweep import Cell, Sweep

#: Columns of :attr:`QCResult.sweeps`, in order.
QC_SWEEP_COLUMNS = (
    "sweep_number",
    "stimulus_name",
    "stimulus_code",
    "clamp_mode",
    "status",
    "passed",
    *SWEEP_MEASUREMENTS,
    "integrity",
    "leak_source",
    "is_ramp",
    "reasons",
    "not_measured",
    "notes",
)
_LIST_COLUMNS = ("reasons", "not_measured", "notes")


@dataclass
class QCResult:
    """Outcome of :func:`run_qc`.

    Attributes
    ----------
    cell_id
        The cell's id.
    sweeps
        One row per sweep of the cell (columns :data:`QC_SWEEP_COLUMNS`): ``status`` is
        ``"passed"``, ``"failed"`` or ``"excluded"`` (voltage-clamp, test and search sweeps);
        ``passed`` is a bool; measurements in mV / pA (NaN = not measured); ``reasons``,
        ``not_measured`` and ``notes`` are lists of readable strings.
    passed_sweeps
        Numbers of the current-clamp sweeps that passed, in file order.  This is the attribute the
        feature extraction and fitting stages use.
    cell_passed
        The cell verdict: no cell-level failure and at least ``criteria.min_passed_sweeps``
        passed sweeps.
    cell_reasons
        Why the cell failed (empty when it passed).
    cell_measurements
        Cell-level values (blowout_mv, electrode_0_pa, seal_gohm, ...; NaN = not measured).
    cell_not_measured
        ``"<measurement>: <why>"`` for each cell measurement the file does not hold.
    criteria
        The criteria used.
    source
        The file the cell came from, if known.
    cell_sources
        Where each cell value came from (``"file metadata"``, ``"sweep N (<code>)"``,
        ``"computed"``).
    warnings
        Plausibility warnings (:mod:`glifx.qc.plausibility_warnings`): implausible baselines,
        volt-scaled traces, and, added by :func:`glifx.process_cell`, the feature stage's spike
        warnings.  They never fail a sweep.
    """

    cell_id: str
    sweeps: pd.DataFrame
    passed_sweeps: list[int]
    cell_passed: bool
    cell_reasons: list[str]
    cell_measurements: dict[str, float]
    cell_not_measured: list[str]
    criteria: QCCriteria
    source: str | None = None
    cell_sources: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    _by_number: dict[int, SweepQC] = field(default_factory=dict, repr=False, compare=False)

    @property
    def failed_sweeps(self) -> list[int]:
        """Numbers of the current-clamp sweeps that failed QC."""
        return [int(n) for n in self.sweeps.loc[self.sweeps["status"] == FAILED, "sweep_number"]]

    @property
    def evaluated_sweeps(self) -> list[int]:
        """Numbers of the sweeps that were QC'd (passed or failed; not excluded)."""
        return [int(n) for n in self.sweeps.loc[self.sweeps["status"] != EXCLUDED, "sweep_number"]]

    def sweep_result(self, sweep_number: int) -> SweepQC:
        """The full :class:`~glifx.qc.SweepQC` of one sweep."""
        try:
            return self._by_number[int(sweep_number)]
        except KeyError:
            raise SweepError(sweep_number, "no such sweep in this QC result", self.source) from None

    def sweep_passed(self, sweep_number: int) -> bool:
        """Whether this sweep passed QC."""
        return int(sweep_number) in set(self.passed_sweeps)

    def reasons(self, sweep_number: int) -> list[str]:
        """Failure reasons of one sweep (empty if it passed or was excluded)."""
        rows = self.sweeps.loc[self.sweeps["sweep_number"] == sweep_number, "reasons"]
        if rows.empty:
            raise SweepError(sweep_number, "no such sweep in this QC result", self.source)
        return list(rows.iloc[0])

    # ---------------------------------------------------------------- export
    def to_dict(self) -> dict[str, Any]:
        """Everything as a JSON-ready dict (NaN → ``None``)."""
        sweeps = [{k: _jsonable(v) for k, v in row.items()} for row in self.sweeps.to_dict("records")]
        return {
            "cell_id": self.cell_id,
            "source": self.source,
            "cell": {
                "passed": self.cell_passed,
                "reasons": list(self.cell_reasons),
                "measurements": {k: _jsonable(v) for k, v in self.cell_measurements.items()},
                "not_measured": list(self.cell_not_measured),
                "sources": dict(self.cell_sources),
            },
            "passed_sweeps": list(self.passed_sweeps),
            "failed_sweeps": self.failed_sweeps,
            "sweeps": sweeps,
            "criteria": self.criteria.to_dict(),
            "warnings": list(self.warnings),
        }

    def sweep_table_for_csv(self) -> pd.DataFrame:
        """The sweep table with list columns joined by ``"; "`` (as written to qc.csv)."""
        table = self.sweeps.copy()
        for col in _LIST_COLUMNS:
            table[col] = table[col].map("; ".join)
        return table

    def write(self, out_dir: str | PathLike[str], *, atomic: bool = True) -> dict[str, Path]:
        """Write ``qc.csv`` (the sweep table) and ``qc.json`` (everything) into ``out_dir``, and
        their descriptions into ``columns.json`` (:mod:`glifx.qc.columns`).

        The pair appears together or not at all (:func:`glifx._files.updated_dir`: written in a
        staging folder that replaces ``out_dir``, keeping its other files); the directory is
        created if needed.  ``atomic=False`` writes straight into ``out_dir``, for a caller that
        stages the folder itself.

        Returns
        -------
        dict
            ``{"csv": path, "json": path, "columns": path}``.

        Raises
        ------
        OutputError
            When the files cannot be written (nothing is left behind).
        """
        out = Path(out_dir)
        paths = {"csv": out / "qc.csv", "json": out / "qc.json", "columns": out / "columns.json"}
        if not atomic:
            out.mkdir(parents=True, exist_ok=True)
        with updated_dir(out) if atomic else nullcontext(out) as stage:
            write_text_atomic(stage / "qc.csv", self.sweep_table_for_csv().to_csv(index=False))
            write_text_atomic(stage / "qc.json",
                              json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
            write_columns(stage, QC_FILES)
        return paths

    def format_table(self) -> str:
        """A human-readable sweep table plus the cell verdict (what ``glifx qc`` prints)."""
        cols = ["sweep_number", "stimulus_name", "status", "pre_noise_rms_mv", "post_noise_rms_mv",
                "slow_noise_rms_mv", "vm_delta_mv", "leak_pa"]
        table = self.sweeps[cols].copy()
        table.columns = ["sweep", "stimulus", "status", "pre_noise", "post_noise", "slow_noise",
                         "vm_delta", "leak_pa"]
        for col in ("pre_noise", "post_noise", "slow_noise", "vm_delta"):
            table[col] = table[col].map(lambda x: "n/m" if pd.isna(x) else f"{x:.3f}")
        table["leak_pa"] = table["leak_pa"].map(lambda x: "n/m" if pd.isna(x) else f"{x:.1f}")
        table["stimulus"] = table["stimulus"].fillna("?")
        table["reasons"] = [
            "; ".join(r) if r else ("; ".join(nt) if s == EXCLUDED else "")
            for r, nt, s in zip(self.sweeps["reasons"], self.sweeps["notes"], self.sweeps["status"],
                                strict=True)
        ]
        lines = [table.to_string(index=False) if len(table) else "(no sweeps)", ""]
        n_eval = len(self.evaluated_sweeps)
        lines.append(f"sweeps passed: {len(self.passed_sweeps)} of {n_eval} current-clamp sweeps "
                     f"evaluated (n/m = not measured)")
        cm = ", ".join(f"{k} {v:.3g}" for k, v in self.cell_measurements.items() if not math.isnan(v))
        if cm:
            lines.append(f"cell measurements: {cm}")
        if self.cell_not_measured:
            lines.append("cell not measured: " + "; ".join(self.cell_not_measured))
        lines.extend(f"warning: {w}" for w in self.warnings)
        verdict = "PASSED" if self.cell_passed else "FAILED: " + "; ".join(self.cell_reasons)
        lines.append(f"cell {self.cell_id}: {verdict}")
        return "\n".join(lines)

    def verdict(self) -> str:
        """``"passed"`` or ``"FAILED: <reasons>"``."""
        return "passed" if self.cell_passed else "FAILED: " + "; ".join(self.cell_reasons)

    def __repr__(self) -> str:
        excluded = len(self.sweeps) - len(self.evaluated_sweeps)
        lines = [f"cell {self.verdict()}",
                 f"sweeps: {len(self.passed_sweeps)} passed, {len(self.failed_sweeps)} failed, "
                 f"{excluded} excluded"]
        lines += [f"sweep {n} failed: {'; '.join(self.reasons(n))}" for n in self.failed_sweeps]
        lines += [f"warning: {w}" for w in self.warnings]
        return text_repr(f"QCResult({self.cell_id!r})", lines)

    def _repr_html_(self) -> str:
        """Notebook view: the verdict, what was not measured, warnings and the sweep table."""
        facts = [("cell", self.verdict()), ("sweeps passed", len(self.passed_sweeps)),
                 ("sweeps failed", len(self.failed_sweeps))]
        table = self.sweep_table_for_csv()[["sweep_number", "stimulus_name", "status", "reasons"]]
        notes = ([f"warning: {w}" for w in self.warnings]
                 + [f"not measured: {m}" for m in self.cell_not_measured])
        return html_repr(f"QC of {self.cell_id}", facts, table, notes)


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x


def resolve_criteria(
    criteria: QCCriteria | Mapping[str, Any] | str | PathLike[str] | None = None, **overrides: Any
) -> QCCriteria:
    """Criteria from a :class:`QCCriteria`, a mapping, a JSON/YAML file path or ``None`` (defaults),
    with keyword overrides applied on top.

    Raises
    ------
    ConfigError
        On an unknown criterion name, a wrong type or an unreadable file.
    """
    if criteria is None:
        base = QCCriteria()
    elif isinstance(criteria, QCCriteria):
        base = criteria
    elif isinstance(criteria, Mapping):
        base = QCCriteria.from_dict(criteria)
    elif isinstance(criteria, str | PathLike):
        base = QCCriteria.from_file(criteria)
    else:
        raise ConfigError(
            "criteria must be a QCCriteria, a mapping, a file path or None, "
            f"got {type(criteria).__name__}"
        )
    return QCCriteria.from_dict(overrides, base=base) if overrides else base


def run_qc(
    cell: Cell | Sweep,
    criteria: QCCriteria | Mapping[str, Any] | str | PathLike[str] | None = None,
    **overrides: Any,
) -> QCResult:
    """Sweep QC of every current-clamp sweep of a cell, and cell QC.

    Voltage-clamp sweeps and test/search sweeps are listed as ``"excluded"``.  A sweep that cannot
    be read or measured is marked failed with the reason; it never stops the run.

    Parameters
    ----------
    cell
        The cell (or a single sweep).
    criteria
        A :class:`QCCriteria`, a mapping of criteria, a JSON/YAML file, or ``None`` for the Allen
        v1.1 defaults.
    **overrides
        Individual criteria, e.g. ``run_qc(cell, pre_noise_rms_mv_max=0.1)``.

    Returns
    -------
    QCResult
        ``result.passed_sweeps`` lists the sweep numbers that passed.

    Raises
    ------
    ConfigError
        On invalid criteria.

    Examples
    --------
    >>> qc = glifx.run_qc(cell, vm_delta_mv_max=2.0)           # doctest: +SKIP
    >>> qc.passed_sweeps, qc.cell_passed                       # doctest: +SKIP
    >>> qc.write("out/cell1")                                  # doctest: +SKIP
    """
    c = resolve_criteria(criteria, **overrides)
    if isinstance(cell, Sweep):
        cell = Cell.from_sweeps([cell], source=cell.source)
    if not isinstance(cell, Cell):
        raise ConfigError(f"run_qc needs a glifx.Cell or glifx.Sweep, got {type(cell).__name__}")

    results: list[SweepQC] = []
    findings: list[tuple[int, SweepFinding]] = []  # the plausibility warnings' per sweep
    evaluated = start_read_ahead(cell, c)  # the next sweep is read while this one is measured
    try:
        for rec in cell.records:
            result, finding = _qc_one(cell, rec.sweep_number, rec.stimulus_name,
                                      rec.stimulus_code, rec.clamp_mode, c)
            results.append(result)
            if finding is not None and result.status != EXCLUDED:  # (the sweep's clamp mode)
                findings.append(finding)
    except BaseException:
        for number in evaluated:  # no read-ahead left running (e.g. before a fork)
            cell.release(number)
        raise

    rows = [r.row() for r in results]
    table = pd.DataFrame(rows, columns=list(QC_SWEEP_COLUMNS))
    if len(table):
        table["passed"] = table["passed"].astype(bool)
        table["sweep_number"] = table["sweep_number"].astype(int)
    for col in SWEEP_MEASUREMENTS:
        table[col] = table[col].astype(float)
    passed = [r.sweep_number for r in results if r.passed]
    n_eval = sum(r.status != EXCLUDED for r in results)

    cell_qc = qc_cell_metadata(cell.metadata, c, measure_protocol_sweeps(cell, c))
    cell_reasons = list(cell_qc.reasons)
    if len(passed) < c.min_passed_sweeps:
        cell_reasons.append(
            f"{len(passed)} current-clamp sweep(s) passed QC (of {n_eval} evaluated), "
            f"{c.min_passed_sweeps} needed"
        )
    return QCResult(
        warnings=warnings_from_findings(findings),
        cell_id=cell.cell_id,
        sweeps=table,
        passed_sweeps=passed,
        cell_passed=not cell_reasons,
        cell_reasons=cell_reasons,
        cell_measurements={k: cell_qc.measurements[k] for k in CELL_MEASUREMENTS},
        cell_not_measured=cell_qc.not_measured,
        cell_sources=cell_qc.sources,
        criteria=c,
        source=cell.source,
        _by_number={r.sweep_number: r for r in results},
    )


def start_read_ahead(cell: Cell, criteria: QCCriteria) -> list[int]:
    """Start reading the sweeps :func:`run_qc` measures, in its order, on a background thread
    (:meth:`glifx.Cell.read_ahead`) when a cell has two threads or more
    (:func:`glifx.glif.default_n_jobs`: never in a cohort worker); returns their numbers, the
    current-clamp sweeps whose stimulus the criteria do not exclude.  ``glifx fit`` calls it
    before it imports the fit's code, :func:`run_qc` again (sweeps queued already are
    skipped)."""
    evaluated = [r.sweep_number for r in cell.records
                 if not exclusion_reason(r.clamp_mode, r.stimulus_name, criteria)]
    if default_n_jobs() >= 2:
        cell.read_ahead(evaluated)
    return evaluated


def _qc_one(cell: Cell, number: int, name: str | None, code: str | None, clamp_mode: str,
            c: QCCriteria) -> tuple[SweepQC, tuple[int, SweepFinding] | None]:
    """QC of one sweep (never raises for a bad sweep) and, for a sweep that was read, what it
    contributes to the plausibility warnings.

    Both come from one :meth:`~glifx.Sweep.held` copy and one :func:`voltage_stats` pass, so
    the float64 samples, the epochs and the passes over the whole sweep are made once.
    """
    excluded = exclusion_reason(clamp_mode, name, c)
    if excluded:
        return SweepQC(number, name, code, clamp_mode, status=EXCLUDED, notes=[excluded]), None
    try:
        sweep = cell.sweep(number)
    except GlifxError as exc:
        reason = exc.reason if isinstance(exc, SweepError) else str(exc)
        if not reason.startswith("could not be read"):
            reason = f"could not be read: {reason}"
        return _failed(number, name, code, clamp_mode, reason), None
    held = sweep.held()
    # outside the try below: a failure here stops run_qc, as the warnings pass over the read
    # sweeps did when it was a separate pass
    stats = voltage_stats(held, c)
    finding = (number, sweep_finding(held, stats))
    try:
        return qc_sweep(held, c, stats=stats), finding
    except Exception as exc:  # a bug or an unforeseen sweep shape must not stop the other sweeps
        return _failed(number, name, code, clamp_mode,
                       f"QC could not be computed: {type(exc).__name__}: {exc}"), finding


def _failed(number: int, name: str | None, code: str | None, clamp_mode: str, reason: str) -> SweepQC:
    out = SweepQC(number, name, code, clamp_mode, status=FAILED, integrity="failed", reasons=[reason])
    out.not_measured.extend(f"{m}: sweep not usable" for m in SWEEP_MEASUREMENTS[:5])
    return out
