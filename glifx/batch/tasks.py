"""What runs on a dask worker: small plain functions that take paths and options and return plain
dicts (the big :class:`~glifx.process.CellResult` never leaves the worker).

* :func:`identify` reads a file's sweep list (no sweep data) for its cell id, so that the client
  can name every result folder before any fit starts (two files, one cell id → two folders).
* :func:`fit_one` skips a cell whose folder is complete for the same bytes and options
  (:func:`finished_summary`), or calls :func:`glifx.process_cell` and returns the cohort row.

A file glifx cannot use (:class:`~glifx.GlifxError`) gives a ``failed`` row at once: retrying
would fail the same way.  Any other exception propagates, so that dask retries the task (e.g. a
flaky network file system) and then reports it; a worker that dies is dask's to report
(``KilledWorker``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glifx._files import jsonable
from glifx.batch.table import failed_row, row_from_summary
from glifx.errors import GlifxError
from glifx.io import load_cell
from glifx.process import process_cell
from glifx.qc import QCCriteria
from glifx.report.outputs import SUMMARY_NAME, config_name, file_sha256
from glifx.report.render import REPORT_NAME

#: Files every finished cell folder holds (plus one neuron config per fitted level).
RESULT_FILES = ("qc.csv", "qc.json", "sweep_features.csv", "spikes.csv", "cell_features.json",
                SUMMARY_NAME, REPORT_NAME)


@dataclass(frozen=True)
class FitOptions:
    """The options a cohort fits every cell with (a finished folder is reused only when they
    match).

    Attributes
    ----------
    levels
        GLIF levels, among 1–5.
    method
        ``"select"``, ``"ev"`` or ``"reference"``.
    criteria
        The resolved QC criteria.
    """

    levels: tuple[int, ...]
    method: str
    criteria: QCCriteria


def identify(source: str) -> dict[str, Any]:
    """``{"cell_id": ...}`` of a recording, or ``{"error": reason}`` when it cannot be read."""
    try:
        return {"cell_id": load_cell(source).cell_id}
    except GlifxError as exc:
        return {"error": str(exc)}


def finished_summary(folder: Path, sha256: str | None, options: FitOptions) -> dict[str, Any] | None:
    """The ``fit_summary.json`` of ``folder`` if it is a complete result of the same source bytes
    fitted with the same options, else ``None``."""
    try:
        summary = json.loads((folder / SUMMARY_NAME).read_text())
        qc = json.loads((folder / "qc.json").read_text())
    except (OSError, ValueError):
        return None
    levels = summary.get("levels") or {}
    fitted = [e.get("level") for e in levels.values() if e.get("status") == "fitted"]
    same = (
        sha256 is not None
        and summary.get("source_sha256") == sha256
        and summary.get("method") == options.method
        and sorted(levels) == sorted(f"GLIF{n}" for n in options.levels)
        and qc.get("criteria") == jsonable(options.criteria.to_dict())
    )
    needed = [*RESULT_FILES, *(config_name(n) for n in fitted)]
    if same and all((folder / name).is_file() for name in needed):
        return summary
    return None


def announce_start(topic: str, folder: str) -> None:
    """On a dask worker: log a ``{"folder", "worker"}`` event on ``topic``, so that the client
    times the cell from when it starts running rather than from when it was queued (the
    scheduler does not tell which of a worker's tasks is executing).  Does nothing outside a
    worker."""
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # called outside a dask worker (a test, a plain call)
        return
    worker.log_event(topic, {"folder": folder, "worker": worker.address})


def fit_one(source: str, out_dir: str, folder: str, options: FitOptions, force: bool = False,
            announce: str | None = None) -> dict[str, Any]:
    """Fit one cell into ``out_dir/folder`` (or keep its finished folder); the cohort row.

    Parameters
    ----------
    source
        The recording.
    out_dir
        The cohort's output folder.
    folder
        The cell's folder name inside it.
    options
        Levels, method and QC criteria.
    force
        Refit even when the folder is finished for the same bytes and options.
    announce
        Event topic to report the start on (:func:`announce_start`; the runner's per-cell
        timeout), or ``None``.

    Returns
    -------
    dict
        The row (:data:`glifx.batch.table.COHORT_COLUMNS`).
    """
    if announce is not None:
        announce_start(announce, folder)
    t_start = time.perf_counter()
    sha256 = file_sha256(source)
    target = Path(out_dir) / folder
    if not force:
        summary = finished_summary(target, sha256, options)
        if summary is not None:
            return row_from_summary(summary, source=source, folder=folder, resumed=True,
                                    wall_time_s=time.perf_counter() - t_start)
    try:
        result = process_cell(source, out_dir, levels=options.levels, method=options.method,
                              criteria=options.criteria, folder=folder, source_sha256=sha256)
    except GlifxError as exc:
        return failed_row(source, str(exc), source_sha256=sha256, method=options.method,
                          wall_time_s=time.perf_counter() - t_start)
    summary = json.loads((Path(result.out_dir or target) / SUMMARY_NAME).read_text())
    return row_from_summary(summary, source=source, folder=folder, resumed=False,
                            wall_time_s=time.perf_counter() - t_start)


def folder_names(cell_ids: Mapping[str, str], sources: Sequence[str]) -> dict[str, str]:
    """Result folder per source: its cell id, or ``<cell id>-<8 hex of SHA-256 of the path>``
    for every file whose cell id another file shares (stable across runs, whatever the order).
    A source whose cell id cannot name a folder gets none.

    Parameters
    ----------
    cell_ids
        Source → cell id, for the files that could be read.
    sources
        All sources, for the order.
    """
    import hashlib

    from glifx.report.outputs import safe_cell_dirname

    names = {}
    for source in sources:
        try:
            names[source] = safe_cell_dirname(cell_ids[source])
        except (KeyError, GlifxError):
            continue
    counts: dict[str, int] = {}
    for name in names.values():
        counts[name.casefold()] = counts.get(name.casefold(), 0) + 1
    return {s: (name if counts[name.casefold()] == 1 else
                f"{name}-{hashlib.sha256(s.encode()).hexdigest()[:8]}")
            for s, name in names.items()}
