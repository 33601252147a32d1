"""``process_cell``: one recording in, its QC, features, GLIF fits and output folder out.

The one call that the ``glifx fit`` command, the cohort runner and users' pipelines make::

    result = glifx.process_cell("cell.nwb", "results/")    # writes results/<cell-id>/
    result.fit[3].test_ev, result.out_dir

It chains the stages of the data flow (file → Cell → QC → features → fit → outputs) through
their public functions and nothing else: :func:`glifx.io.load_cell`, :func:`glifx.qc.run_qc`,
:func:`glifx.features.extract_features`, :func:`glifx.fitting.fit_cell` and
:func:`glifx.report.write_fit_outputs` (the folder appears whole or not at all).
"""

from __future__ import annotations

import importlib
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glifx._display import fmt, html_repr, text_repr
from glifx._memory import release_free_memory
from glifx._numba import uncached_kernels
from glifx._threads import on_daemon_thread
from glifx.errors import ConfigError, FileFormatError, GlifxError
from glifx.features import CellFeatures, extract_features
from glifx.features.spikes import kernels_ready, warm_up
from glifx.fitting import FitResult, fit_cell
from glifx.fitting.data import release_kept
from glifx.fitting.pipeline import LEVELS, LevelFit
from glifx.fitting.preprocess import Preprocessing
from glifx.io import load_cell
from glifx.qc import QCCriteria, QCResult, resolve_criteria, run_qc
from glifx.report import CellReport, build_cell_report, write_fit_outputs
from glifx.report._forked import Pending, helper_allowed, in_helper
from glifx.report.from_fit import RecordedViews, recorded_views
from glifx.report.outputs import FROM_FILE, file_sha256, prepare_output_dir
from glifx.stimulus import NOISE_1, NOISE_2
from glifx.sweep import Cell

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

Progress = Callable[[str], None]

#: The stages of :func:`process_cell`: the prefix its progress messages of that stage start with
#: (:func:`glifx.fitting.fit_cell`'s own messages included), and a title.  Messages starting
#: with ``"warning:"`` belong to no stage.
STAGES = (
    ("loading", "loading"),
    ("QC", "QC"),
    ("compiling", "compiling numba kernels (first run in this process only)"),
    ("features", "features"),
    ("pre", "preparing sweeps and preprocessing estimates"),
    ("GLIF", "fitting"),
    ("writing", "writing outputs and report"),
)


@dataclass
class CellResult:
    """Everything :func:`process_cell` made for one cell.

    Attributes
    ----------
    cell
        The recording (``t`` s, ``v`` mV, ``i`` pA).
    qc
        Sweep and cell QC with reasons.
    features
        Spikes, sweep features and the cell record (ipfx units).
    fit
        The GLIF fits (SI models, train/test explained variance per level).
    out_dir
        The cell's output folder, or ``None`` when nothing was written.
    warnings
        Things worth a look that did not stop the run (the cell failed QC, implausible baselines
        or spikes (``qc.warnings``), no test sweep ...).
    wall_time
        Seconds from the start of loading to the end of writing.
    """

    cell: Cell
    qc: QCResult
    features: CellFeatures
    fit: FitResult
    out_dir: Path | None = None
    warnings: list[str] = field(default_factory=list)
    wall_time: float = 0.0
    _report: CellReport | None = field(default=None, repr=False, compare=False)
    _recorded: RecordedViews | None = field(default=None, repr=False, compare=False)

    @property
    def n_fitted(self) -> int:
        """Number of levels fitted."""
        return sum(lf.ok for lf in self.fit.levels.values())

    def write(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write the output folder ``out_dir/<cell-id>/`` (as ``process_cell(..., out_dir)``
        does: qc, features, neuron configs, fit_summary.json, report.html, columns.json), all or
        nothing; sets and returns :attr:`out_dir`."""
        self.out_dir = write_fit_outputs(out_dir, self.cell, self.qc, self.features, self.fit,
                                         report=self._report, recorded=self._recorded)
        return self.out_dir

    def report(self) -> CellReport:
        """The per-cell report's data (simulates the fitted models once; kept)."""
        if self._report is None:
            self._report = build_cell_report(self.cell, self.qc, self.features, self.fit,
                                             recorded=self._recorded)
        return self._report

    def plot(self, what: str = "ev") -> Figure:
        """One of the report's figures as a matplotlib Figure.

        Parameters
        ----------
        what
            ``"ev"`` (explained variance per level), ``"fi"`` (f-I curves of data and models),
            ``"voltage"`` (a training epoch: data and each level's model voltage) or ``"qc"``
            (sweep QC summary).

        Raises
        ------
        ConfigError
            On another ``what``, or when the figure's data are missing.
        """
        from glifx.report.plots import (
            plot_explained_variance,
            plot_fi_curve,
            plot_qc_summary,
            plot_voltage_overlay,
        )

        rep = self.report()
        if what == "ev":
            return plot_explained_variance(rep.levels)
        if what == "fi":
            return plot_fi_curve(rep.fi_data, rep.levels)
        if what == "voltage":
            if rep.overlay is None:
                raise ConfigError(f"{self.cell.cell_id}: no training epoch to overlay")
            return plot_voltage_overlay(rep.overlay, rep.levels)
        if what == "qc":
            return plot_qc_summary(self.qc.sweeps)
        raise ConfigError(f"plot: what must be 'ev', 'fi', 'voltage' or 'qc', got {what!r}")

    def __repr__(self) -> str:
        lines = [f"QC: cell {self.qc.verdict()}, {len(self.qc.passed_sweeps)} sweeps passed",
                 f"features: {len(self.features.spikes)} spikes; "
                 + ", ".join(f"{k}={fmt(v)}" for k, v in
                             list(self.features.key_features().items())[:3]),
                 *(self.fit.level_line(lf) for lf in self.fit.levels.values()),
                 f"output: {self.out_dir}" if self.out_dir else "output: not written",
                 *(f"warning: {w}" for w in self.warnings)]
        return text_repr(f"CellResult({self.cell.cell_id!r}, {self.wall_time:.1f} s)", lines)

    def _repr_html_(self) -> str:
        """Notebook view: the QC, feature and fit views one under the other."""
        head = html_repr(f"Cell {self.cell.cell_id}",
                         [("source", self.cell.source), ("wall time, s", self.wall_time),
                          ("output folder", self.out_dir or "not written")],
                         notes=[f"warning: {w}" for w in self.warnings])
        return head + self.qc._repr_html_() + self.features._repr_html_() + self.fit._repr_html_()


def _ignore(_message: str) -> None:
    """A progress callback that reports nothing."""


def _warn(warnings: list[str], say: Progress, message: str) -> None:
    warnings.append(message)
    say(f"warning: {message}")


#: A QC failure reason with its value and limit (glifx.qc: ``"pre_noise_rms_mv 0.112 > 0.07"``).
_LIMIT_REASON = re.compile(r"^(?P<name>\w+) (?P<value>\S+) (?P<op>[<>]) (?P<limit>\S+)$")


def qc_left_no_training(qc: QCResult, train: str = NOISE_1, top: int = 3) -> str | None:
    """One line on why QC left no ``train`` sweep to fit, or ``None`` when one passed (or the
    cell has none, a different problem).

    Says how many ``train`` sweeps failed, the ``top`` criteria that failed most often with the
    worst value and the limit (mV / pA, as in ``qc.csv``) and how to relax them: a criteria file
    for ``--criteria`` (``process_cell(criteria=...)``) with the ``<measurement>_max`` /
    ``_min`` keys of :class:`glifx.qc.QCCriteria`.
    """
    rows = qc.sweeps[(qc.sweeps["stimulus_name"] == train) & (qc.sweeps["status"] != "excluded")]
    if len(rows) == 0 or rows["passed"].astype(bool).any():
        return None
    counts: Counter[str] = Counter()
    worst: dict[str, tuple[float, str, float]] = {}
    other: Counter[str] = Counter()
    for reasons in rows["reasons"]:
        for reason in reasons:
            m = _LIMIT_REASON.match(str(reason))
            if m is None:
                other[str(reason).split(":")[0]] += 1
                continue
            name, op = m["name"], m["op"]
            try:
                value, limit = float(m["value"]), float(m["limit"])
            except ValueError:  # not a number and its limit: count it with the others
                other[name] += 1
                continue
            counts[name] += 1
            prev = worst.get(name)
            if prev is None or (value > prev[0] if op == ">" else value < prev[0]):
                worst[name] = (value, op, limit)
    parts = [f"{name} in {n} (worst {worst[name][0]:g} {worst[name][1]} {worst[name][2]:g})"
             for name, n in counts.most_common(top)]
    parts += [f"{name} in {n}" for name, n in other.most_common(max(top - len(parts), 0))]
    relax = ", ".join(f'"{name}_{"max" if worst[name][1] == ">" else "min"}": {worst[name][0]:g}'
                      for name, _ in counts.most_common(top))
    how = (f"relax them with --criteria FILE, e.g. {{{relax}}}" if relax else
           "see qc.csv; relax the criteria with --criteria FILE")
    return (f"QC rejected all {len(rows)} '{train}' sweeps ({'; '.join(parts) or 'see qc.csv'}): "
            f"nothing to fit; {how}")


def _data_side(cell: Cell, qc: QCResult) -> tuple[CellFeatures, RecordedViews]:
    """The features and the report's views of the recording (example traces, first spike),
    reduced while QC's copies of the sweeps are in memory: writing the report then reads
    nothing from the file (a few MB kept)."""
    features = extract_features(cell, qc=qc)
    return features, recorded_views(cell, features)


class _Gated:
    """A progress callback (``say``) that also waits for ``helper`` to finish at the first
    ``"preprocessing:"`` message, and says how long it waited (:attr:`waited`, s).

    That message (the spike cut and reset) is sent by the preprocessing's regression chain as it
    starts, in this (the calling) thread, after the fit converted its sweeps and found the cut,
    and while its threshold chain already runs on a thread of its own
    (:func:`glifx.fitting.preprocess.preprocess`): the regressions wait here, the thresholds go
    on, and Ctrl-C or SIGTERM during the wait is raised here, which kills the helper.  While
    the helper lives, the pages of the recording that the fit released are the helper's alone;
    the regressions build the cell's largest working sets, which should not come on top of
    them.  So the helper overlaps the conversion, the spike cut and the thresholds, and the
    cell's peak memory stays that of the regressions.  The fit's wall time leaves out the part
    of the wait after the thresholds ended (the preprocessing's ``"waiting"`` time), in which
    the fit did nothing.
    """

    def __init__(self, say: Progress, helper: Pending[Any]) -> None:
        self.say, self.helper = say, helper
        self.waited: float | None = None

    def __call__(self, message: str) -> None:
        self.say(message)
        if message.startswith("preprocessing:") and self.waited is None:
            t0 = time.perf_counter()
            # what drawing the report needs, imported while the regressions wait (the helper
            # was forked without it: a smaller, faster fork)
            importlib.import_module("glifx.report.render")
            self.helper.wait()
            self.waited = time.perf_counter() - t0
            self.say(f"preprocessing: the features were made meanwhile by a helper process "
                     f"(the regressions waited {self.waited:.2f} s for it, the thresholds "
                     f"went on)")


def _feature_warnings(qc: QCResult, features: CellFeatures, warnings: list[str],
                      say: Progress) -> None:
    """Add the features' plausibility warnings to QC's (qc.json holds every one) and say all."""
    qc.warnings.extend(features.cell.get("warnings", []))
    for message in qc.warnings:
        _warn(warnings, say, message)


def _not_fitted(cell: Cell, levels: Sequence[int], method: str, reason: str) -> FitResult:
    """A fit result whose every level says ``reason`` (nothing was estimated)."""
    fits = {lv: LevelFit(lv, reason=reason) for lv in sorted(set(levels))}
    return FitResult(cell.cell_id, fits, Preprocessing(), float("nan"), {}, 0.0, method)


def process_cell(
    path_or_cell: str | os.PathLike[str] | Cell,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    levels: Sequence[int] = LEVELS,
    method: str = "select",
    criteria: QCCriteria | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    folder: str | None = None,
    source_sha256: str | None = None,
) -> CellResult:
    """Load, QC, extract features, fit GLIF models and (with ``out_dir``) write the outputs.

    Parameters
    ----------
    path_or_cell
        A recording glifx reads (NWB2, Allen NWB1, ABF) or an already loaded :class:`~glifx.Cell`.
    out_dir
        Parent folder of the cell's output folder ``out_dir/<cell-id>/`` (qc.csv, qc.json,
        sweep_features.csv, spikes.csv, cell_features.json, GLIF<n>_neuron_config.json,
        fit_summary.json, report.html), written all at once; ``None`` writes nothing.
    levels
        GLIF levels to fit, among 1–5.
    method
        ``"select"``, ``"ev"`` or ``"reference"`` (:func:`glifx.fitting.fit_cell`).
    criteria
        QC criteria: a :class:`~glifx.qc.QCCriteria`, a mapping, a JSON/YAML file or ``None``
        (Allen defaults).
    progress
        Called with one line per step, ``"<stage>: <what>"`` (the stage prefixes are
        :data:`STAGES`; fit_cell's messages pass through) and ``"warning: <what>"`` for each
        warning; e.g. ``progress=print``.
    folder
        Name of the output folder inside ``out_dir`` instead of the cell id (the cohort runner
        uses it when two files share a cell id).
    source_sha256
        SHA-256 of the source file's bytes when the caller has it already (the cohort runner
        hashes it to find finished cells); ``None``: computed here when writing.

    Returns
    -------
    CellResult

    Raises
    ------
    GlifxError
        When the file cannot be read (:class:`~glifx.FileFormatError`), the criteria are invalid
        (:class:`~glifx.ConfigError`), ``out_dir`` cannot be written (:class:`~glifx.OutputError`,
        found before any work; leftovers of killed runs in it are removed first) or the cell
        cannot be fitted at all, e.g. no Noise 1 sweep (:class:`~glifx.FileFormatError` naming
        the file); nothing is written then.
        When the file has Noise 1 sweeps but QC rejected them all, nothing is raised: the
        result has no fitted level, every level's ``reason`` and ``warnings`` carry one line
        (:func:`qc_left_no_training`: how many failed, the main criteria with values and limits,
        how to relax them), and the folder is written whole (QC, features, fit_summary.json).
    """
    t_start = time.perf_counter()
    say = progress or _ignore
    criteria = resolve_criteria(criteria)
    if isinstance(path_or_cell, Cell):
        cell = path_or_cell
        say(f"loading: {cell.cell_id} (already loaded)")
    else:
        say(f"loading: {os.fspath(path_or_cell)}")
        cell = load_cell(path_or_cell)
    if out_dir is not None:
        prepare_output_dir(out_dir)  # an unusable out_dir is found before any work
    # fit_summary.json's hash of the file, on a thread beside QC (hashing and reading release
    # the GIL; QC leaves part of a core idle), not at the end
    sha256 = (None if out_dir is None or not cell.source or source_sha256 is not None
              else on_daemon_thread(file_sha256, cell.source, name="glifx-sha256"))
    source = cell.source or cell.cell_id
    warnings: list[str] = []
    say(f"QC: {len(cell.records)} sweeps")
    qc = run_qc(cell, criteria)
    if not qc.cell_passed:
        _warn(warnings, say, f"cell {cell.cell_id} failed QC ({'; '.join(qc.cell_reasons)}); "
             f"fitting the {len(qc.passed_sweeps)} sweeps that passed")
    pending = [] if kernels_ready() else uncached_kernels()
    if pending:  # the other kernels compile where first used: announced here, once
        say(f"compiling: numba kernels for {', '.join(pending)} (not in numba's cache: first "
            f"run after an install or update only, about a minute on 2 cores, in the stages "
            f"that first use them; later runs load the cache)")
    else:
        say("compiling: nothing to compile, numba's cache holds the kernels")
    if not kernels_ready():
        warm_up()  # here, not in the helper below: compiled once, for both processes
    no_training = qc_left_no_training(qc)
    # features and the report's views of the recording need nothing of the fit: with a fit
    # to run they are made by a forked helper process while the fit converts its sweeps (both
    # hold the GIL too often to share one process on threads)
    alongside = no_training is None and helper_allowed()
    say("features: spikes, sweep features, cell record"
        + (" (alongside the fit, in a helper process)" if alongside else ""))
    data_side = (in_helper(lambda: _data_side(cell, qc), what=f"{source}: features")
                 if alongside else None)
    gated = _Gated(say, data_side) if data_side is not None else None
    try:
        if data_side is None:
            features, recorded = _data_side(cell, qc)
            _feature_warnings(qc, features, warnings, say)
        if no_training is not None:  # still write QC and features: they say what to relax
            _warn(warnings, say, f"{source}: {no_training}")
            fit = _not_fitted(cell, levels, method, no_training)
        else:
            try:
                # the fit converts the loaded sweeps one at a time and drops each from the
                # cache: no second reading of the file, never two copies of a sweep here
                fit = fit_cell(cell, levels, qc=qc, method=method,  # type: ignore[arg-type]
                               progress=say if gated is None else gated, release_sweeps=True)
                # the fit's own time (fit_summary.json): not the part of the wait in which it
                # did nothing (the thresholds had ended)
                fit.wall_time -= fit.preprocessing.times.get("waiting", 0.0)
            except GlifxError as exc:
                raise FileFormatError(source, f"cannot fit: {exc}") from None
        if data_side is not None:
            features, recorded = data_side.result()
            _feature_warnings(qc, features, warnings, say)
    finally:
        if data_side is not None:
            data_side.cancel()
    cell.clear_cache()
    if fit.data is not None:  # the report simulates a Long Square sweep at most: the kept
        release_kept(fit.data.long_square, "i")  # float64 currents go back to the file's
    release_free_memory()  # what the fit and the recorded samples leave free, before the report
    if fit.data is not None and not fit.data.test:
        _warn(warnings, say,
              f"no usable {NOISE_2} sweep in {source}: test explained variance not computed")
    result = CellResult(cell, qc, features, fit, warnings=warnings, _recorded=recorded)
    if out_dir is not None:
        say(f"writing: {Path(out_dir)}")
        result.out_dir = write_fit_outputs(
            out_dir, cell, qc, features, fit, folder=folder, recorded=recorded,
            source_sha256=(source_sha256 if source_sha256 is not None
                           else sha256.result() if sha256 is not None else FROM_FILE))
    result.wall_time = time.perf_counter() - t_start
    return result
