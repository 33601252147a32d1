"""Readers (NWB2, Allen NWB1, ABF) that build a Cell, the NWB2 writer and the stimulus ontology.

* :func:`load_cell` finds the format from the file's first bytes (never its name) and dispatches:
  ABF 1/2 → :mod:`glifx.io.abf` (pyabf); NWB 2 → :mod:`glifx.io.nwb2` (h5py; MIES files through
  ipfx); Allen NWB 1 → :mod:`glifx.io.nwb1` (h5py); other formats neo reads (Igor, Axograph,
  WinWCP, Spike2, ...) → :mod:`glifx.io.neo_reader`, which also takes several channel files of
  one recording (``load_cell([voltage_file, current_file])``).
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

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from glifx.errors import FileFormatError
from glifx.io._format import ABF1, ABF2, NEO, NWB1, NWB2, sniff_format
from glifx.sweep import CURRENT_CLAMP, Cell

__all__ = ["load_cell", "sniff_format", "write_nwb"]


def load_cell(
    path: str | Path | Sequence[str | Path], *, require_current_clamp: bool = True
) -> Cell:
    """Read a recording into a :class:`~glifx.sweep.Cell`; the format is found from the content.

    Parameters
    ----------
    path
        An NWB2 file (generic icephys or Allen/MIES), an Allen NWB1 file or an Axon ABF (1.x/2.x).
        The file name's extension is not used for those; any other file goes to neo, which picks
        its reader by the extension.  A list of files is read through neo as the channel files of
        one recording (e.g. an Igor voltage wave and its current wave).
    require_current_clamp
        If true (default), a file without a single current-clamp sweep is an error: glifx analyses
        current clamp.  Pass ``False`` to list voltage-clamp-only files.

    Returns
    -------
    Cell
        Sweeps listed from metadata; each sweep's data (t s, v mV, i pA) is read on first access.
        A sweep the file's structure already rules out (bad rate, shape, unit or reference) is
        listed with its ``problem``, and loading it raises :class:`~glifx.errors.SweepError`.

    Raises
    ------
    FileFormatError
        Missing, empty, truncated, unsupported or unusable file (the message names the file).
    """
    if not isinstance(path, str | Path):
        from glifx.io.neo_reader import read_neo

        paths = [Path(p) for p in path]
        for p in paths:
            if sniff_format(p) != NEO:
                raise FileFormatError(p, "only files read through neo can be combined as channels")
        return _checked(read_neo(paths), paths[0], require_current_clamp)
    path = Path(path)
    kind = sniff_format(path)
    if kind == NEO:
        from glifx.io.neo_reader import read_neo

        cell = read_neo(path)
    elif kind in (ABF1, ABF2):
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
    return _checked(cell, path, require_current_clamp)


def _checked(cell: Cell, path: Path, require_current_clamp: bool) -> Cell:
    if len(cell) == 0:
        raise FileFormatError(path, "file holds no sweeps")
    bad = [r for r in cell.records if r.problem]
    if len(bad) == len(cell):
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise FileFormatError(path, f"no usable sweep: sweep {bad[0].sweep_number}: "
                                    f"{bad[0].problem}{more}")
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
