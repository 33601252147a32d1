"""Recordings in the formats neo reads (Igor .ibw/.pxp, Axograph, WinWCP, Spike2, ...) → Cell.

Native formats keep their native readers (:func:`glifx.io.load_cell` sends NWB 1/2 and ABF there
from their content); anything else goes through `neo <https://neo.readthedocs.io>`_, which picks
its IO class by the file's extension.

* Each neo ``Segment`` is a sweep (numbered 0 … n-1 in file order).
* Channels are found by their units, never their index or name: the first analog signal whose
  units convert to mV is the membrane potential, the first whose units convert to pA the current
  (the stimulus).  A file with no voltage channel is a :class:`~glifx.errors.FileFormatError`.
* Several files can be given as the channels of the same sweeps (Igor saves one wave per file, as
  ``B6_Ch3_IDRest_181.ibw`` (mV) and ``B6_Ch0_IDRest_181.ibw`` (pA)): every file must then hold
  the same number of segments, and segment k of each file belongs to sweep k.
* Stimulus names and amplitudes are inferred from the current
  (:func:`glifx.stimulus.classify_sweeps`); neo files carry no Allen stimulus names.  The data
  are read when the file is opened (neo reads these formats whole).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glifx.errors import FileFormatError
from glifx.io._format import check_readable
from glifx.stimulus import classify_sweeps
from glifx.sweep import CURRENT_CLAMP, Cell, Sweep, SweepRecord


def _rescaled(signal: Any, unit: str) -> np.ndarray | None:
    """``signal`` (a neo AnalogSignal, one channel) in ``unit``, or ``None`` if incompatible."""
    try:
        out = signal.rescale(unit)
    except (ValueError, TypeError):
        return None
    return np.asarray(out.magnitude, dtype=np.float64)


def _read_segments(path: Path) -> list[list[Any]]:
    import neo

    check_readable(path)
    try:
        io = neo.io.get_io(str(path))
    except (OSError, TypeError, ValueError) as exc:  # neo raises IOError (= OSError) for no match
        raise FileFormatError(path, f"not a format glifx or neo can read ({exc})") from None
    try:
        blocks = io.read(lazy=False) if hasattr(io, "read") else [io.read_block()]
    except ImportError as exc:
        raise FileFormatError(path, f"neo needs another package for this format: {exc}") from None
    except Exception as exc:  # neo's IOs raise anything on a file they cannot parse
        raise FileFormatError(path, f"neo cannot read it (truncated or corrupt?): {exc}") from None
    segments = []
    for block in blocks:
        for segment in block.segments:
            channels = []
            for signal in segment.analogsignals:
                for k in range(signal.shape[1] if signal.ndim == 2 else 1):
                    channels.append(signal[:, k] if signal.ndim == 2 else signal)
            segments.append(channels)
    if not segments:
        raise FileFormatError(path, "neo found no segment (sweep) in the file")
    return segments


def read_neo(paths: str | Path | Sequence[str | Path]) -> Cell:
    """Read one recording (or the channel files of one recording) through neo.

    Parameters
    ----------
    paths
        A file neo reads, or several files holding the channels of the same sweeps.

    Returns
    -------
    Cell
        Current-clamp sweeps, ``v`` in mV, ``i`` in pA (``None`` when no channel is a current);
        the cell id is the first file's stem.

    Raises
    ------
    FileFormatError
        Unreadable file, different segment counts across files, or no voltage channel.
    """
    files = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not files:
        raise FileFormatError("", "no file given")
    per_file = [_read_segments(f) for f in files]
    n = len(per_file[0])
    for f, segs in zip(files, per_file, strict=True):
        if len(segs) != n:
            raise FileFormatError(f, f"holds {len(segs)} segments, {files[0].name} holds {n}: "
                                     "channel files must hold the same sweeps")
    units_seen: list[str] = []
    sweeps_v: list[np.ndarray] = []
    sweeps_i: list[np.ndarray | None] = []
    rates: list[float] = []
    starts: list[float] = []
    for k in range(n):
        v = i = None
        rate = start = None
        for segs in per_file:
            for signal in segs[k]:
                units_seen.append(str(signal.units.dimensionality))
                if v is None:
                    v = _rescaled(signal, "mV")
                    if v is not None:
                        rate = float(signal.sampling_rate.rescale("Hz").magnitude)
                        start = float(signal.t_start.rescale("s").magnitude)
                        continue
                if i is None:
                    i = _rescaled(signal, "pA")
        if v is None:
            units = ", ".join(sorted(set(units_seen))) or "none"
            names = ", ".join(f.name for f in files)
            raise FileFormatError(files[0], f"no voltage channel in {names} (signal units: {units}); "
                                            "glifx needs the membrane potential in a unit of volts")
        if i is not None and i.shape != v.shape:
            raise FileFormatError(files[0], f"segment {k}: current has {i.size} samples, voltage "
                                            f"{v.size}")
        sweeps_v.append(v.ravel())
        sweeps_i.append(None if i is None else i.ravel())
        rates.append(float(rate))  # type: ignore[arg-type]
        starts.append(float(start))  # type: ignore[arg-type]

    guesses = classify_sweeps(sweeps_i, rates)
    source = str(files[0])
    records = [
        SweepRecord(
            sweep_number=k, stimulus_name=g.name, stimulus_code=None, stimulus_amplitude=g.amplitude,
            sampling_rate=rates[k], n_samples=int(sweeps_v[k].size), clamp_mode=CURRENT_CLAMP,
            name_source=g.name_source,
        )
        for k, g in enumerate(guesses)
    ]

    def load(number: int) -> Sweep:
        rec = records[number]
        return Sweep(
            sweeps_v[number], sweeps_i[number], sampling_rate=rates[number], sweep_number=number,
            stimulus_name=rec.stimulus_name, stimulus_amplitude=rec.stimulus_amplitude,
            clamp_mode=CURRENT_CLAMP, name_source=rec.name_source, t_start=starts[number],
            source=source,
        )

    metadata = {"format": "neo", "files": [str(f) for f in files]}
    return Cell(records, load, cell_id=files[0].stem, metadata=metadata, source=source)


__all__ = ["read_neo"]
