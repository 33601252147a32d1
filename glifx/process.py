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

import os
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glifx.errors import FileFormatError, GlifxError
from glifx.features import CellFeatures, extract_features
from glifx.fitting import FitResult, fit_cell
from glifx.fitting.pipeline import LEVELS, LevelFit
from glifx.fitting.preprocess import Preprocessing
from glifx.io import load_cell
from glifx.qc import QCCriteria, QCResult, resolve_criteria, run_qc
from glifx.report import write_fit_outputs
from glifx.stimulus import NOISE_1, NOISE_2
from glifx.sweep import Cell

Progress = Callable[[str], None]

#: The stages of :func:`process_cell`: the prefix its progress messages of that stage start with
#: (:func:`glifx.fitting.fit_cell`'s own messages included), and a title.  Messages starting
#: with ``"warning:"`` belong to no stage.
STAGES = (
    ("loading", "loading"),
    ("QC", "QC"),
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
        Things worth a look that did not stop the run (the cell failed QC, no test sweep ...).
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

    @property
    def n_fitted(self) -> int:
        """Number of levels fitted."""
        return sum(lf.ok for lf in self.fit.levels.values())


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

    Returns
    -------
    CellResult

    Raises
    ------
    GlifxError
        When the file cannot be read (:class:`~glifx.FileFormatError`), the criteria are invalid
        (:class:`~glifx.ConfigError`) or the cell cannot be fitted at all, e.g. no Noise 1
        sweep (:class:`~glifx.FileFormatError` naming the file); nothing is written then.
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
    source = cell.source or cell.cell_id
    warnings: list[str] = []
    say(f"QC: {len(cell.records)} sweeps")
    qc = run_qc(cell, criteria)
    if not qc.cell_passed:
        _warn(warnings, say, f"cell {cell.cell_id} failed QC ({'; '.join(qc.cell_reasons)}); "
             f"fitting the {len(qc.passed_sweeps)} sweeps that passed")
    say("features: spikes, sweep features, cell record")
    features = extract_features(cell, qc=qc)
    cell.clear_cache()  # fitting reads the sweeps again one at a time; don't hold two copies
    no_training = qc_left_no_training(qc)
    if no_training is not None:  # still write QC and features: they say what to relax
        _warn(warnings, say, f"{source}: {no_training}")
        fit = _not_fitted(cell, levels, method, no_training)
    else:
        try:
            fit = fit_cell(cell, levels, qc=qc, method=method,  # type: ignore[arg-type]
                           progress=say)
        except GlifxError as exc:
            raise FileFormatError(source, f"cannot fit: {exc}") from None
    if fit.data is not None and not fit.data.test:
        _warn(warnings, say,
              f"no usable {NOISE_2} sweep in {source}: test explained variance not computed")
    result = CellResult(cell, qc, features, fit, warnings=warnings)
    if out_dir is not None:
        say(f"writing: {Path(out_dir)}")
        result.out_dir = write_fit_outputs(out_dir, cell, qc, features, fit)
    result.wall_time = time.perf_counter() - t_start
    return result
