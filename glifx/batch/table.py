"""The cohort table: one row per input file, written as ``cohort.csv`` and ``cohort.parquet``.

Columns (:data:`COHORT_COLUMNS`, always all of them and in this order, whatever levels were
fitted, so that tables of several runs concatenate):

======================  ===========================================================================
``source``              the recording, absolute path
``cell_id``             the cell id the file gives (empty when the file could not be read)
``folder``              the cell's result folder inside the output folder (empty when none was
                        written); the cell id, or ``<cell id>-<8 hex>`` when files share one
``status``              ``fitted`` (at least one level fitted) or ``failed``
``reason``              why it failed (empty when fitted)
``resumed``             true when the folder of an earlier run was kept (same bytes, same options)
``source_sha256``       SHA-256 of the file's bytes (hex)
``method``              the optimiser policy (``select``, ``ev``, ``reference``)
``wall_time_s``         seconds this run spent on the cell (reading, fitting, writing; ~0 if resumed)
``fit_wall_time_s``     seconds the fit itself took (from ``fit_summary.json``)
``qc_cell_passed``      cell-level QC verdict
``qc_passed_sweeps``    number of sweeps that passed QC
``qc_failed_sweeps``    number of sweeps that failed QC
``n_levels_fitted``     number of GLIF levels fitted
``glif<n>_status``      per level 1–5: ``fitted``, ``failed`` or empty when not asked for
``glif<n>_reason``      why the level failed or what it hit (empty otherwise)
``glif<n>_train_ev``    explained-variance ratio on the training stimulus (Noise 1)
``glif<n>_test_ev``     explained-variance ratio on the test stimulus (Noise 2)
``glif<n>_<param>``     the main fitted parameters (:data:`MAIN_PARAMETERS`), SI units, NaN
                        where the level has no such parameter
======================  ===========================================================================
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from glifx._files import write_files_atomic

LEVELS = (1, 2, 3, 4, 5)
#: Main fitted parameters per level: column suffix → (name in ``fit_summary.json``, unit).
MAIN_PARAMETERS: dict[str, tuple[str, str]] = {
    "El_reference": ("El_reference", "V"),
    "R_input": ("R_input", "Ω"),
    "C": ("C", "F"),
    "tau_m": ("tau_m", "s"),
    "th_inf": ("th_inf", "V"),
    "spike_cut_length": ("spike_cut_length", "steps"),
    "a_r": ("a_r (voltage reset slope)", ""),
    "b_r": ("b_r (voltage reset intercept)", "V"),
    "asc_amp_1": ("asc_amp_1", "A"),
    "asc_amp_2": ("asc_amp_2", "A"),
    "asc_k_1": ("asc_k_1", "1/s"),
    "asc_k_2": ("asc_k_2", "1/s"),
    "a_spike": ("a_spike", "V"),
    "b_spike": ("b_spike", "1/s"),
    "a_voltage": ("a_voltage", "1/s"),
    "b_voltage": ("b_voltage", "1/s"),
}
BASE_COLUMNS = (
    "source", "cell_id", "folder", "status", "reason", "resumed", "source_sha256", "method",
    "wall_time_s", "fit_wall_time_s", "qc_cell_passed", "qc_passed_sweeps", "qc_failed_sweeps",
    "n_levels_fitted",
)
LEVEL_COLUMNS = ("status", "reason", "train_ev", "test_ev", *MAIN_PARAMETERS)
COHORT_COLUMNS = BASE_COLUMNS + tuple(f"glif{n}_{c}" for n in LEVELS for c in LEVEL_COLUMNS)
_TEXT = {"source", "cell_id", "folder", "status", "reason", "source_sha256", "method"} | {
    f"glif{n}_{c}" for n in LEVELS for c in ("status", "reason")}
_INTEGER = {"qc_passed_sweeps", "qc_failed_sweeps", "n_levels_fitted"}
_BOOLEAN = {"resumed", "qc_cell_passed"}
CSV_NAME, PARQUET_NAME = "cohort.csv", "cohort.parquet"


def failed_row(source: str, reason: str, **known: Any) -> dict[str, Any]:
    """A ``failed`` row for a file that gave no result (``known``: other columns already known)."""
    return {"source": source, "status": "failed", "reason": reason, "resumed": False, **known}


def row_from_summary(summary: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The cohort row of a cell from its ``fit_summary.json`` (``extra``: ``source``, ``folder``,
    ``wall_time_s``, ``resumed``).  A cell with no fitted level is ``failed``, with the levels'
    reasons."""
    levels = summary.get("levels") or {}
    qc = summary.get("qc") or {}
    fitted = [e for e in levels.values() if e.get("status") == "fitted"]
    row: dict[str, Any] = {
        "cell_id": summary.get("cell_id"),
        "source_sha256": summary.get("source_sha256"),
        "method": summary.get("method"),
        "fit_wall_time_s": summary.get("wall_time_s"),
        "qc_cell_passed": qc.get("cell_passed"),
        "qc_passed_sweeps": len(qc.get("passed_sweeps") or ()),
        "qc_failed_sweeps": len(qc.get("failed_sweeps") or ()),
        "n_levels_fitted": len(fitted),
        "status": "fitted" if fitted else "failed",
        "reason": "" if fitted else "no GLIF level could be fitted: " + "; ".join(
            f"{name}: {e.get('reason')}" for name, e in levels.items()),
    }
    for name, entry in levels.items():
        prefix = name.lower() + "_"
        row[prefix + "status"] = entry.get("status")
        row[prefix + "reason"] = entry.get("reason") or ""
        row[prefix + "train_ev"] = entry.get("train_ev")
        row[prefix + "test_ev"] = entry.get("test_ev")
        params = entry.get("parameters") or {}
        for column, (key, _unit) in MAIN_PARAMETERS.items():
            value = (params.get(key) or {}).get("value")
            row[prefix + column] = value
    row.update(extra)
    return row


def cohort_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows → the cohort DataFrame: columns :data:`COHORT_COLUMNS`, sorted by ``source``; text
    columns empty rather than missing, numbers float (NaN when missing), counts nullable ints."""
    frame = pd.DataFrame(list(rows), columns=list(COHORT_COLUMNS))
    for column in COHORT_COLUMNS:
        values = frame[column]
        if column in _TEXT:
            frame[column] = values.fillna("").astype(str)
        elif column in _INTEGER:
            frame[column] = pd.array(values, dtype="Int64")
        elif column in _BOOLEAN:
            frame[column] = pd.array(values, dtype="boolean")
        else:
            frame[column] = pd.to_numeric(values.map(_number), errors="coerce").astype(float)
    return frame.sort_values("source", kind="stable").reset_index(drop=True)


def _number(x: Any) -> float:
    return math.nan if x is None else x


def write_cohort_tables(frame: pd.DataFrame, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``cohort.csv`` and ``cohort.parquet`` into ``out_dir``, together and atomically
    (a failure leaves both as they were: the two formats never disagree).

    Returns
    -------
    dict
        ``{"csv": path, "parquet": path}``.
    """
    parent = Path(out_dir)
    paths = {"csv": parent / CSV_NAME, "parquet": parent / PARQUET_NAME}
    write_files_atomic({
        # UTF-8 with pandas' own line ends, as a text file opened with newline="" would get
        paths["csv"]: lambda fh: fh.write(frame.to_csv(index=False).encode("utf-8")),
        paths["parquet"]: lambda fh: frame.to_parquet(fh, index=False),
    })
    return paths
