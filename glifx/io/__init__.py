"""Readers (NWB2, Allen NWB1, ABF) that build a Cell, the NWB2 writer and the stimulus ontology.

* :func:`load_cell` finds the format from the file's first bytes (never its name) and dispatches:
  ABF 1/2 → :mod:`glifx.io.abf` (pyabf); NWB 2 → :mod:`glifx.io.nwb2` (h5py; MIES files through
  ipfx); Allen NWB 1 → :mod:`glifx.io.nwb1` (h5py).
* Every reader lists sweeps from metadata and reads a sweep's data on first access.  Files without
  stimulus names get names inferred from the command waveform (:mod:`glifx.stimulus`), marked
  ``name_source = "inferred"``.
* A file without a single current-clamp sweep is an error by default (glifx analyses current
  clamp); ``load_cell(path, require_current_clamp=False)`` lists it anyway.
* :func:`write_nwb` writes NWB 2 that reads back identical (data, units, rates, names, amplitudes).

>>> cell = glifx.io.load_cell("cell.nwb")      # doctest: +SKIP
>>> glifx.io.write_nwb(cell, "copy.nwb")       # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glifx.errors import FileFormatError
from glifx.io._format import ABF1, ABF2, NWB1, NWB2, sniff_format
from glifx.sweep import CURRENT_CLAMP, Cell

__all__ = ["load_cell", "sniff_format", "write_nwb"]


def load_cell(path: str | Path, *, require_current_clamp: bool = True) -> Cell:
    """Read a recording into a :class:`~glifx.sweep.Cell`; the format is found from the content.

    Parameters
    ----------
    path
        An NWB2 file (generic icephys or Allen/MIES), an Allen NWB1 file or an Axon ABF (1.x/2.x).
        The file name's extension is not used.
    require_current_clamp
        If true (default), a file without a single current-clamp sweep is an error: glifx analyses
        current clamp.  Pass ``False`` to list voltage-clamp-only files.

    Returns
    -------
    Cell
        Sweeps listed from metadata; each sweep's data (t s, v mV, i pA) is read on first access.

    Raises
    ------
    FileFormatError
        Missing, empty, truncated, unsupported or unusable file (the message names the file).
    """
    path = Path(path)
    kind = sniff_format(path)
    if kind in (ABF1, ABF2):
        from glifx.io.abf import read_abf

        cell = read_abf(path)
    elif kind == NWB2:
        from glifx.io.nwb2 import read_nwb2

        cell = read_nwb2(path)
    elif kind == NWB1:
        from glifx.io.nwb1 import read_nwb1

        cell = read_nwb1(path)
    else:  # pragma: no cover - sniff_format only returns the kinds above
        raise FileFormatError(path, f"unsupported format {kind}")
    if len(cell) == 0:
        raise FileFormatError(path, "file holds no sweeps")
    if require_current_clamp and not any(r.clamp_mode == CURRENT_CLAMP for r in cell.records):
        raise FileFormatError(
            path, f"no current-clamp sweep ({len(cell)} voltage-clamp sweeps only); "
            "glifx analyses current clamp"
        )
    return cell


def write_nwb(cell: Cell, path: str | Path, **kwargs: Any) -> Path:
    """Write ``cell`` to an NWB2 file; see :func:`glifx.io.nwb_writer.write_nwb`."""
    from glifx.io.nwb_writer import write_nwb as _write

    return _write(cell, path, **kwargs)
