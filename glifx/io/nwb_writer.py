"""Write a :class:`~glifx.sweep.Cell` to an NWB 2 file (pynwb icephys), losslessly.

Layout written (readable by any NWB 2 icephys tool, and read back exactly by glifx):

* one ``IntracellularElectrode``; per sweep a ``CurrentClampSeries`` (``acquisition/data_NNNNN``,
  membrane potential stored in mV: ``unit="volts"``, ``conversion=1e-3``) and a
  ``CurrentClampStimulusSeries`` (``stimulus/presentation/stimulus_NNNNN``, pA: ``unit="amperes"``,
  ``conversion=1e-12``); voltage-clamp sweeps get ``VoltageClampSeries`` (pA) +
  ``VoltageClampStimulusSeries`` (mV).  A sweep without a known command gets no stimulus series.
* ``sweep_number`` on every series, ``stimulus_description`` = the stimulus name (``"N/A"`` if none);
  ``starting_time`` and ``rate`` from the sweep (or ``timestamps`` when the sweep carries an explicit
  time base that the rate does not reproduce exactly).
* the ``IntracellularRecordingsTable`` has one row per sweep (id = sweep number) and the columns
  ``glifx_stimulus_name``, ``glifx_stimulus_code``, ``glifx_stimulus_amplitude_pa`` (NaN if unknown)
  and ``glifx_name_source``, so names, codes, amplitudes and their provenance survive a round trip.
* Arrays are stored as float64, or as float32 when every value is exactly a float32 (data that came
  from a float32 file), so the values read back are identical either way.  Gzip-compressed.

* Metadata for DANDI: the electrode's ``cell_id`` is the cell id and every series has a
  description; pass ``subject`` (``subject_id``, ``species``, ``sex``, ``age`` ISO 8601 such as
  ``"P90D"`` or ``date_of_birth``, ...) and, optionally, ``experimenter``, ``institution``, ``lab``,
  ``experiment_description``, ``keywords``.  With a subject, nwbinspector (the check DANDI runs on
  upload) reports no critical issue and no best-practice violation on the written file.

The file is written to a temporary name beside ``path`` and renamed into place.
"""

from __future__ import annotations

import json
import os
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from glifx._files import atomic_path
from glifx.errors import ConfigError, FileFormatError, OutputError
from glifx.sweep import CURRENT_CLAMP, Cell, Sweep

#: Extra columns of the IntracellularRecordingsTable that carry glifx's stimulus metadata.
GLIFX_COLUMNS = {
    "glifx_stimulus_name": "Allen-style stimulus name ('' if unknown)",
    "glifx_stimulus_code": "stimulus code from the source file ('' if none)",
    "glifx_stimulus_amplitude_pa": "stimulus amplitude, pA (NaN if unknown)",
    "glifx_name_source": "how the stimulus name was obtained: file, inferred or unknown",
}
NO_NAME = "N/A"

#: Subject fields DANDI needs (nwbinspector: subject_id, species, sex, and age or date_of_birth).
REQUIRED_SUBJECT = ("subject_id", "species", "sex")
SUBJECT_SEXES = ("M", "F", "U", "O")


def _subject(subject: Any) -> Any:
    """A pynwb ``Subject`` from a mapping (or a Subject as it is); one-line errors."""
    from pynwb.file import Subject

    if subject is None or isinstance(subject, Subject):
        return subject
    if not isinstance(subject, dict):
        raise ConfigError(f"subject: expected a dict of Subject fields, got {type(subject).__name__}")
    missing = [k for k in REQUIRED_SUBJECT if not subject.get(k)]
    if missing:
        raise ConfigError(f"subject: missing {', '.join(missing)} (DANDI needs "
                          f"{', '.join(REQUIRED_SUBJECT)} and age or date_of_birth)")
    if "age" not in subject and "date_of_birth" not in subject:
        raise ConfigError("subject: give age (ISO 8601 duration, e.g. 'P90D') or date_of_birth")
    if subject["sex"] not in SUBJECT_SEXES:
        raise ConfigError(f"subject.sex: expected one of {', '.join(SUBJECT_SEXES)}, "
                          f"got {subject['sex']!r}")
    try:
        return Subject(**subject)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"subject: {exc}") from None


def _exact_array(x: np.ndarray, compress: bool) -> Any:
    """float32 if that loses nothing, else float64; wrapped for gzip when asked."""
    arr = np.asarray(x, dtype=np.float64)
    as32 = arr.astype(np.float32)
    with np.errstate(invalid="ignore"):
        lossless32 = np.array_equal(as32.astype(np.float64), arr, equal_nan=True)
    data = as32 if lossless32 else arr
    if not compress:
        return data
    from hdmf.backends.hdf5.h5_utils import H5DataIO

    return H5DataIO(data=data, compression="gzip", compression_opts=4, shuffle=True)


def _timing(sweep: Sweep) -> dict[str, Any]:
    """``starting_time`` + ``rate``, or ``timestamps`` when the rate would not rebuild ``t`` exactly."""
    t = sweep.t
    rebuilt = t[0] + np.arange(t.size) / sweep.sampling_rate
    if np.array_equal(rebuilt, t):
        return {"starting_time": float(t[0]), "rate": float(sweep.sampling_rate)}
    return {"timestamps": np.asarray(t, dtype=np.float64)}


def write_nwb(
    cell: Cell,
    path: str | os.PathLike[str],
    *,
    session_start_time: datetime | None = None,
    compress: bool = True,
    subject: Any = None,
    experimenter: str | list[str] | None = None,
    institution: str | None = None,
    lab: str | None = None,
    experiment_description: str | None = None,
    keywords: list[str] | None = None,
) -> Path:
    """Write ``cell`` to ``path`` as NWB 2 (icephys), atomically.

    Parameters
    ----------
    cell
        The cell; every sweep is loaded.  Units in the file: V (stored as mV with conversion 1e-3)
        and A (stored as pA with conversion 1e-12).
    path
        Output file; its folder must exist.  An existing file is replaced only on success.
    session_start_time
        Defaults to ``cell.metadata["session_start_time"]`` if it is a datetime, else now (UTC).
        The session description is the source file's (``cell.metadata["session_description"]``)
        where its reader found one, else ``"glifx export of cell <id>"``.
    compress
        Gzip the data arrays.
    subject
        The animal: a dict of pynwb ``Subject`` fields (``subject_id``, ``species`` as a Latin
        binomial such as ``"Mus musculus"``, ``sex`` M/F/U/O, ``age`` as an ISO 8601 duration such
        as ``"P56D"`` or ``date_of_birth``; ``strain``, ``genotype``, ``description`` ...) or a
        ``Subject``.  DANDI requires it; without it nwbinspector reports a critical issue.
    experimenter, institution, lab, experiment_description, keywords
        Optional file metadata (DANDI best-practice suggestions).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    FileFormatError
        When the file cannot be written.
    ConfigError
        A subject without the fields DANDI needs.
    """
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.icephys import (
        CurrentClampSeries,
        CurrentClampStimulusSeries,
        IntracellularRecordingsTable,
        VoltageClampSeries,
        VoltageClampStimulusSeries,
    )

    path = Path(path)
    nwb_subject = _subject(subject)
    if not path.parent.is_dir():
        raise FileFormatError(path, f"cannot write: folder {path.parent} does not exist")
    if session_start_time is None:
        meta_time = cell.metadata.get("session_start_time")
        session_start_time = meta_time if isinstance(meta_time, datetime) else datetime.now(UTC)
    if session_start_time.tzinfo is None:
        session_start_time = session_start_time.replace(tzinfo=UTC)
    description = json.dumps(
        {"glifx_cell_id": cell.cell_id, "source": cell.source}, default=str
    )
    # the source's own description where the reader has one (DANDI shows it), else a placeholder
    source_description = cell.metadata.get("session_description")
    if not (isinstance(source_description, str) and source_description.strip()):
        source_description = f"glifx export of cell {cell.cell_id}"
    nwbfile = NWBFile(
        session_description=source_description,
        identifier=cell.cell_id,
        session_start_time=session_start_time,
        notes=description,
        subject=nwb_subject,
        experimenter=experimenter,
        institution=institution,
        lab=lab,
        experiment_description=experiment_description,
        keywords=keywords,
    )
    device = nwbfile.create_device(name="amplifier", description="patch-clamp amplifier")
    electrode = nwbfile.create_icephys_electrode(
        name="electrode_0", description="recording electrode", device=device,
        cell_id=str(cell.cell_id),
    )
    table = IntracellularRecordingsTable()
    for name, doc in GLIFX_COLUMNS.items():
        table.add_column(name=name, description=doc)
    nwbfile.intracellular_recordings = table

    for sweep in cell:
        n = sweep.sweep_number
        name = sweep.stimulus_name or NO_NAME
        common = {
            "electrode": electrode,
            "gain": 1.0,
            "sweep_number": np.uint32(n),
            "stimulus_description": name,
            **_timing(sweep),
        }
        what = f"sweep {n} ({name})"
        cc = sweep.clamp_mode == CURRENT_CLAMP
        v_data = _exact_array(sweep.v, compress)
        i_data = None if sweep.i is None else _exact_array(sweep.i, compress)
        if cc:
            md = sweep.metadata
            extras = {
                key: float(md[key])
                for key in ("bias_current", "bridge_balance", "capacitance_compensation")
                if isinstance(md.get(key), (int, float)) and np.isfinite(md[key])
            }
            response = CurrentClampSeries(
                name=f"data_{n:05d}", data=v_data, unit="volts", conversion=1e-3, **extras,
                description=f"membrane potential, {what}", **common,
            )
            stimulus = None if i_data is None else CurrentClampStimulusSeries(
                name=f"stimulus_{n:05d}", data=i_data, unit="amperes", conversion=1e-12,
                description=f"injected current, {what}", **common
            )
        else:
            if i_data is None:
                raise FileFormatError(path, f"sweep {n}: voltage-clamp sweep has no current")
            response = VoltageClampSeries(
                name=f"data_{n:05d}", data=i_data, unit="amperes", conversion=1e-12,
                description=f"membrane current, {what}", **common
            )
            stimulus = VoltageClampStimulusSeries(
                name=f"stimulus_{n:05d}", data=v_data, unit="volts", conversion=1e-3,
                description=f"command potential, {what}", **common
            )
        nwbfile.add_acquisition(response)
        if stimulus is not None:
            nwbfile.add_stimulus(stimulus)
        amp = sweep.stimulus_amplitude
        nwbfile.add_intracellular_recording(
            electrode=electrode, stimulus=stimulus, response=response, id=n,
            glifx_stimulus_name=sweep.stimulus_name or "",
            glifx_stimulus_code=sweep.stimulus_code or "",
            glifx_stimulus_amplitude_pa=float("nan") if amp is None else float(amp),
            glifx_name_source=sweep.name_source,
        )

    try:
        with atomic_path(path) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # hdmf's dtype-conversion chatter
            with NWBHDF5IO(str(tmp), "w") as io:
                io.write(nwbfile)
    except OSError as exc:  # an OutputError from atomic_path says why without the path
        reason = exc.reason if isinstance(exc, OutputError) else exc.strerror or exc
        raise FileFormatError(path, f"cannot write NWB file: {reason}") from None
    return path
