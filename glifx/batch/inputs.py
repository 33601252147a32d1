"""The recordings a cohort run is given: files as named, folders searched recursively.

A file, named or found in a folder, is a cohort member when glifx's format sniffing
(:func:`glifx.io.sniff_format`, from its first bytes) recognises it, or when it carries a
recording's extension (``.nwb``, ``.abf``) but is unreadable — so that a corrupt recording
becomes a ``failed`` row instead of vanishing.  Hidden files and folders (names starting with
``.``) and the run's own output folder are not searched.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from glifx.errors import FileFormatError
from glifx.io import sniff_format

#: Extensions of the recordings glifx reads; a file with one of them in a searched folder is a
#: cohort member even when it cannot be read.
RECORDING_SUFFIXES = (".nwb", ".abf")


def _is_recording(path: Path) -> bool:
    try:
        sniff_format(path)
    except FileFormatError:
        return path.suffix.lower() in RECORDING_SUFFIXES
    return True


def find_recordings(
    paths: Iterable[str | os.PathLike[str]], *, exclude: str | os.PathLike[str] | None = None
) -> list[Path]:
    """The recordings named by ``paths``, absolute, each once, in a stable order.

    Parameters
    ----------
    paths
        Recordings and folders (searched recursively).
    exclude
        A folder not to search (the run's output folder, when it lies inside an input folder).

    Returns
    -------
    list of pathlib.Path
        Files in the order given; the files of a folder sorted by path.

    Raises
    ------
    FileFormatError
        When a path does not exist, a named file is no recording (and has no recording's
        extension), or a folder holds no recording.
    """
    skip = Path(exclude).resolve() if exclude is not None else None
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise FileFormatError(path, "no such file or folder")
        if path.is_dir():
            members = []
            for root, dirs, files in os.walk(path, followlinks=False):
                here = Path(root)
                dirs[:] = sorted(d for d in dirs
                                 if not d.startswith(".") and (here / d).resolve() != skip)
                members += [here / f for f in sorted(files)
                            if not f.startswith(".") and _is_recording(here / f)]
            if not members:
                raise FileFormatError(path, "folder holds no recording glifx reads "
                                            "(NWB 1/2 or ABF, searched recursively)")
            found += members
        elif _is_recording(path):
            found.append(path)
        else:
            sniff_format(path)  # raises, saying what the file looked like
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path.resolve(), None)
    return list(unique)
