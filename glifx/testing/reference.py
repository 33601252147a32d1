"""Reference cells: recordings beside their expected ``glifx fit`` result folders, refitted and
compared (:mod:`glifx.testing.compare`) by the project's regression tests and by the pytest
plugin (``pytest --glifx-reference DIR``).

Layout of a reference folder::

    DIR/
      rs_cell.nwb            a recording (any format glifx reads)
      rs_cell/               its expected result: glifx fit DIR/rs_cell.nwb --out DIR
                             (report.html may be deleted: it is not compared)
      glifx-reference.yaml   optional (or .yml / .json), keys:
                               tolerances: a mapping, or a tolerances file relative to DIR
                               criteria:   the QC criteria file the references were fitted with
                               recordings: {name: path relative to DIR}, for recordings kept
                                           elsewhere

Each subfolder holding a ``fit_summary.json`` is a reference cell; its recording is the one file
``DIR/<name>.*`` unless the manifest names it; it is refitted with the levels and the method its
expected ``fit_summary.json`` records.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from glifx.errors import ConfigError, FileFormatError
from glifx.report.compare import (
    SUMMARY_FILE,
    CellOutputs,
    Tolerances,
    cell_folders,
    compare_results,
    read_json_or_yaml,
)
from glifx.testing.compare import assert_results_match

#: Names of the optional manifest of a reference folder, in the order they are looked for.
MANIFEST_NAMES = ("glifx-reference.yaml", "glifx-reference.yml", "glifx-reference.json")
_MANIFEST_KEYS = {"tolerances", "criteria", "recordings"}
_ToleranceArg = Tolerances | Mapping[str, Any] | str | os.PathLike[str] | None


@dataclass(frozen=True, eq=False)
class ReferenceCell:
    """A recording and its expected result folder, with the options it was fitted with.

    Attributes
    ----------
    name
        The expected folder's name.
    recording
        The recording (``None`` when none was found; :meth:`fit` then raises).
    expected
        The expected result folder.
    levels, method
        What the expected result was fitted with (from its ``fit_summary.json``).
    criteria
        QC criteria file (``None``: glifx's default).
    tolerances
        The reference folder's tolerances (``None``: the defaults).
    """

    name: str
    recording: Path | None
    expected: Path
    levels: tuple[int, ...]
    method: str
    criteria: Path | None = None
    tolerances: Tolerances | None = None

    def fit(self, out_dir: str | os.PathLike[str]) -> Path:
        """Fit the recording as ``glifx fit`` does, with the expected result's levels and method
        and the reference folder's criteria, into ``out_dir/<cell-id>/`` (without
        ``report.html``, which is not compared); returns that folder.

        Raises
        ------
        ConfigError
            When the reference cell has no recording.
        GlifxError
            When the recording cannot be read or fitted.
        """
        if self.recording is None:
            raise ConfigError(f"reference cell {self.name}: no recording (expected one file "
                              f"{self.expected.parent / self.name}.<ext>, or an entry under "
                              "'recordings' in the folder's glifx-reference manifest)")
        return fit_to_folder(self.recording, out_dir, levels=self.levels, method=self.method,
                             criteria=self.criteria)

    def compare(self, actual: str | os.PathLike[str] | CellOutputs,
                tolerances: _ToleranceArg = None) -> pd.DataFrame:
        """:func:`~glifx.testing.compare.compare_results` of the expected folder and ``actual``
        (the reference folder's tolerances unless others are given)."""
        return compare_results(self.expected, actual, self._tolerances(tolerances))

    def assert_matches(self, actual: str | os.PathLike[str] | CellOutputs,
                       tolerances: _ToleranceArg = None) -> pd.DataFrame:
        """:func:`~glifx.testing.compare.assert_results_match` of the expected folder and
        ``actual``."""
        return assert_results_match(self.expected, actual, self._tolerances(tolerances))

    def _tolerances(self, tolerances: _ToleranceArg) -> _ToleranceArg:
        return tolerances if tolerances is not None else self.tolerances


def read_manifest(directory: str | os.PathLike[str]) -> tuple[Path | None, dict[str, Any]]:
    """The manifest of a reference folder (path, content), or ``(None, {})`` without one.

    Raises
    ------
    FileFormatError, ConfigError
        When it does not parse or has other keys than tolerances, criteria and recordings.
    """
    folder = Path(directory)
    for name in MANIFEST_NAMES:
        path = folder / name
        if path.is_file():
            data = read_json_or_yaml(path, "reference manifest")
            data = {} if data is None else data
            if not isinstance(data, dict) or set(data) - _MANIFEST_KEYS:
                raise ConfigError(f"{path}: expected a mapping with keys among "
                                  f"{', '.join(sorted(_MANIFEST_KEYS))}")
            return path, data
    return None, {}


def reference_cells(directory: str | os.PathLike[str]) -> list[ReferenceCell]:
    """The reference cells of a folder (layout in the module docstring), sorted by name.

    Raises
    ------
    FileFormatError, ConfigError
        When the folder holds no result folder, is itself one cell's result folder, or its
        manifest is not valid.
    """
    folder = Path(directory)
    manifest, data = read_manifest(folder) if folder.is_dir() else (None, {})
    source = str(manifest or folder)
    tolerances = data.get("tolerances")
    if isinstance(tolerances, str):
        tolerances = Tolerances.load(folder / tolerances)
    elif tolerances is not None:
        tolerances = Tolerances.from_mapping(tolerances, source=f"{source}: tolerances")
    criteria = folder / data["criteria"] if data.get("criteria") else None
    recordings = data.get("recordings") or {}
    if not isinstance(recordings, dict):
        raise ConfigError(f"{source}: recordings must map cell names to files")
    cells = []
    for name, expected in cell_folders(folder).items():
        if expected == folder:
            raise FileFormatError(folder, "is one cell's result folder; a reference folder holds "
                                          "result folders beside their recordings")
        summary = read_json_or_yaml(expected / SUMMARY_FILE)
        levels = tuple(sorted(int(k[4:]) for k in summary.get("levels", {})
                              if k.startswith("GLIF") and k[4:].isdigit()))
        if name in recordings:
            recording: Path | None = folder / recordings[name]
        else:
            found = [p for p in folder.iterdir()
                     if p.is_file() and p.stem == name and p.suffix and p.name not in MANIFEST_NAMES]
            recording = found[0] if len(found) == 1 else None
        cells.append(ReferenceCell(name, recording, expected, levels or (1, 2, 3, 4, 5),
                                   str(summary.get("method") or "select"), criteria, tolerances))
    return cells


def fit_to_folder(recording: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                  levels: tuple[int, ...] = (1, 2, 3, 4, 5), method: str = "select",
                  criteria: str | os.PathLike[str] | None = None) -> Path:
    """:func:`glifx.process_cell` (what ``glifx fit`` runs) writing every output but
    ``report.html``, which a comparison does not read.

    Returns
    -------
    pathlib.Path
        ``out_dir/<cell-id>/``.
    """
    from glifx.process import process_cell
    from glifx.report.outputs import write_fit_outputs

    result = process_cell(recording, levels=levels, method=method, criteria=criteria)
    return write_fit_outputs(out_dir, result.cell, result.qc, result.features, result.fit,
                             with_report=False)


__all__ = ["MANIFEST_NAMES", "ReferenceCell", "fit_to_folder", "read_manifest", "reference_cells"]
