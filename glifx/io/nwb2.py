"""NWB 2 → :class:`~glifx.sweep.Cell`: generic icephys files (h5py) and Allen/MIES files (ipfx).

Generic icephys files are read with h5py, following the NWB 2 schema, so extension root types (e.g.
``NDXICEphysFile``) need no namespace loading:

* Sweeps are the rows of ``general/intracellular_ephys/intracellular_recordings`` when the file has
  that table (its ``idx_start``/``count`` select the samples), otherwise the patch-clamp series in
  ``acquisition`` paired with ``stimulus/presentation`` series by ``sweep_number`` (or by order).
* Sweep number: the series' ``sweep_number`` attribute, else the table row id, else 0, 1, ...
* Clamp mode from the series type (``CurrentClampSeries``/``IZeroClampSeries`` → current clamp,
  ``VoltageClampSeries`` → voltage clamp), for unknown (extension) types from the response's unit.
* Values are ``data * conversion + offset`` in the stated unit, converted to mV and pA.
* Names: the glifx columns of the recordings table when present (files written by
  :func:`glifx.io.write_nwb`), else ``stimulus_description`` looked up as an Allen code or name,
  else inferred from the command (:mod:`glifx.stimulus`); a description that is neither is kept as
  the stimulus code.  Inference reads the *stimulus* series when the sweeps are listed; responses
  are read only when a sweep is first accessed, each time with a freshly opened (and closed) file.

Files written by MIES (``general/generated_by`` mentions MIES, or a ``general/labnotebook`` group:
the Allen Institute's NWB 2 files) are read through ipfx's dataset API, which knows their
labnotebook and stimulus codes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glifx.errors import FileFormatError, SweepError
from glifx.io._chunks import read_window
from glifx.io._format import sweep_size_problem
from glifx.stimulus import (
    LONG_SQUARE,
    NAME_FROM_FILE,
    NAME_INFERRED,
    NAME_SOURCES,
    NAME_UNKNOWN,
    NOISE_1,
    NOISE_2,
    RAMP,
    SHORT_SQUARE,
    SHORT_SQUARE_TRIPLE,
    TEST,
    classify_sweeps,
    name_from_code,
)
from glifx.sweep import CURRENT_CLAMP, VOLTAGE_CLAMP, Cell, FileSamples, Sweep, SweepRecord

RECORDINGS_TABLE = "general/intracellular_ephys/intracellular_recordings"
CC_TYPES = {"CurrentClampSeries", "IZeroClampSeries"}
VC_TYPES = {"VoltageClampSeries"}
#: SI value of one unit, by the unit strings NWB files use
_VOLT_UNITS = {"volts": 1.0, "volt": 1.0, "v": 1.0, "mv": 1e-3, "millivolts": 1e-3, "uv": 1e-6}
_AMP_UNITS = {
    "amperes": 1.0, "ampere": 1.0, "amps": 1.0, "a": 1.0, "na": 1e-9, "pa": 1e-12, "ua": 1e-6,
}
#: stimulus descriptions that say nothing
_EMPTY_DESCRIPTIONS = {"", "n/a", "na", "none", "no description", "unknown"}
ALLEN_NAMES = {
    LONG_SQUARE, SHORT_SQUARE, SHORT_SQUARE_TRIPLE, RAMP, NOISE_1, NOISE_2, TEST,
    "Ramp to Rheobase", "Square - 0.5ms Subthreshold", "Square - 2s Suprathreshold", "Search",
}


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return _text(value.tolist()[0]) if value.size else ""
    return "" if value is None else str(value)


def _si_factor(unit: str, target_si: float, table: dict[str, float], where: str, path: Path) -> float:
    scale = table.get(unit.strip().lower())
    if scale is None:
        raise FileFormatError(path, f"{where}: unsupported unit {unit!r}")
    return scale / target_si


def _clean(x: float) -> float:
    """Round a unit factor such as 1e-9/1e-12 = 1000.0000000000001 to the power of ten it means."""
    return float(f"{x:.12g}")


@dataclass
class _Entry:
    """Where one sweep's data live in the file (no data read)."""

    sweep_number: int
    response: str
    stimulus: str | None
    response_slice: tuple[int, int]  # idx_start, count (-1: to the end)
    stimulus_slice: tuple[int, int]
    clamp_mode: str
    rate: float
    n_samples: int
    description: str
    name: str | None = None
    code: str | None = None
    amplitude: float | None = None
    name_source: str | None = None
    problem: str | None = None  # why the sweep cannot be read, known from the file's structure


def _series_info(f: Any, path_in_file: str, path: Path) -> tuple[float, int, str, str]:
    """(rate Hz, n samples, neurodata_type, unit) of a time series group; the rate is NaN or
    not positive when the file has no usable one (see :func:`_entry_problem`)."""
    g = f[path_in_file]
    if "data" not in g:
        raise FileFormatError(path, f"{path_in_file}: time series has no data")
    data = g["data"]
    n = int(data.shape[0]) if data.shape else 0
    if "starting_time" in g:
        rate = float(g["starting_time"].attrs.get("rate", np.nan))
    elif "timestamps" in g and g["timestamps"].ndim == 1 and g["timestamps"].shape[0] >= 2:
        ts = g["timestamps"]
        span = float(ts[-1] - ts[0])
        rate = float((ts.shape[0] - 1) / span) if span else float("nan")
    else:
        rate = float("nan")
    return rate, n, _text(g.attrs.get("neurodata_type", "")), _text(data.attrs.get("unit", ""))


def _clamp_mode(neurodata_type: str, unit: str) -> str | None:
    if neurodata_type in CC_TYPES:
        return CURRENT_CLAMP
    if neurodata_type in VC_TYPES:
        return VOLTAGE_CLAMP
    u = unit.strip().lower()
    if u in _VOLT_UNITS:
        return CURRENT_CLAMP
    if u in _AMP_UNITS:
        return VOLTAGE_CLAMP
    return None


def _natural_key(name: str) -> list[Any]:
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


def _sweep_number_attr(g: Any) -> int | None:
    value = g.attrs.get("sweep_number")
    if value is None:
        return None
    return int(np.asarray(value).ravel()[0])


def _list_from_table(f: Any, path: Path) -> list[_Entry]:
    table = f[RECORDINGS_TABLE]
    if "responses" not in table or "response" not in table["responses"]:
        return []
    responses = table["responses/response"][()]
    stimuli = (
        table["stimuli/stimulus"][()] if "stimuli" in table and "stimulus" in table["stimuli"]
        else [None] * len(responses)
    )
    ids = table["id"][()] if "id" in table else np.arange(len(responses))
    glifx_cols = {
        name: table[name][()] for name in (
            "glifx_stimulus_name", "glifx_stimulus_code", "glifx_stimulus_amplitude_pa",
            "glifx_name_source",
        ) if name in table
    }
    entries = []
    for row, (resp, stim) in enumerate(zip(responses, stimuli, strict=True)):
        if not resp["timeseries"]:
            continue  # a stimulus-only row: nothing recorded
        try:
            entry = _entry_from_row(f, resp, stim, path, int(ids[row]))
        except (OSError, KeyError, ValueError, TypeError) as exc:  # one bad row is one bad sweep
            entry = _bad_entry(int(ids[row]), f"recordings table row {row} cannot be read: {exc}")
        if entry is None:
            continue
        if len(glifx_cols) == 4:
            entry.name = _text(glifx_cols["glifx_stimulus_name"][row]) or None
            entry.code = _text(glifx_cols["glifx_stimulus_code"][row]) or None
            amp = float(glifx_cols["glifx_stimulus_amplitude_pa"][row])
            entry.amplitude = None if np.isnan(amp) else amp
            source = _text(glifx_cols["glifx_name_source"][row])
            entry.name_source = source if source in NAME_SOURCES else None
        entries.append(entry)
    return entries


def _entry_from_row(f: Any, resp: Any, stim: Any, path: Path, number: int) -> _Entry | None:
    """The entry of one row of the recordings table (``None``: not a patch-clamp series)."""
    response = f[resp["timeseries"]].name
    if response is None:
        return _bad_entry(number, "the recordings table refers to a response series that is no "
                                  "longer in the file (dangling reference)")
    stim_path = None
    stim_slice = (0, -1)
    if stim is not None and stim["timeseries"] and int(stim["idx_start"]) >= 0:
        stim_path = f[stim["timeseries"]].name
        if stim_path is None:
            return _bad_entry(number, "the recordings table refers to a stimulus series that is "
                                      "no longer in the file (dangling reference)")
        stim_slice = (int(stim["idx_start"]), int(stim["count"]))
    return _make_entry(f, response, stim_path, path, default_number=number,
                       response_slice=(int(resp["idx_start"]), int(resp["count"])),
                       stimulus_slice=stim_slice)


def _bad_entry(number: int, problem: str) -> _Entry:
    """A sweep the file lists but that cannot be read (current clamp assumed, so that it is
    reported rather than skipped as voltage clamp)."""
    return _Entry(sweep_number=number, response="", stimulus=None, response_slice=(0, 0),
                  stimulus_slice=(0, 0), clamp_mode=CURRENT_CLAMP, rate=float("nan"), n_samples=0,
                  description="", name_source=NAME_UNKNOWN, problem=problem)


def _list_from_groups(f: Any, path: Path) -> list[_Entry]:
    acquisition = f.get("acquisition")
    if acquisition is None:
        return []
    responses = [
        g for name, g in acquisition.items()
        if hasattr(g, "attrs") and "data" in g and _clamp_mode(
            _text(g.attrs.get("neurodata_type", "")), _text(g["data"].attrs.get("unit", ""))
        ) is not None
    ]
    presentation = f.get("stimulus/presentation")
    stimuli = [g for g in presentation.values() if "data" in g] if presentation is not None else []
    stim_by_number = {
        n: g for g in stimuli if (n := _sweep_number_attr(g)) is not None
    }
    responses.sort(key=lambda g: (_sweep_number_attr(g) or 0, _natural_key(g.name)))
    stimuli.sort(key=lambda g: _natural_key(g.name))
    by_order = len(stimuli) == len(responses) and not stim_by_number
    entries = []
    for k, g in enumerate(responses):
        number = _sweep_number_attr(g)
        if number is not None and number in stim_by_number:
            stim = stim_by_number[number].name
        elif by_order:
            stim = stimuli[k].name
        else:
            stim = None
        try:
            entry = _make_entry(f, g.name, stim, path, default_number=k)
        except (OSError, KeyError, ValueError, TypeError) as exc:  # one bad series, one bad sweep
            entry = _bad_entry(k if number is None else number, f"{g.name} cannot be read: {exc}")
        if entry is not None:
            entries.append(entry)
    return entries


def _make_entry(
    f: Any, response: str, stimulus: str | None, path: Path, *, default_number: int,
    response_slice: tuple[int, int] = (0, -1), stimulus_slice: tuple[int, int] = (0, -1),
) -> _Entry | None:
    rate, n, kind, unit = _series_info(f, response, path)
    mode = _clamp_mode(kind, unit)
    if mode is None:
        return None  # not a patch-clamp recording (e.g. a camera trigger): not a sweep
    group = f[response]
    number = _sweep_number_attr(group)
    start, count = response_slice
    n_samples = (n - start) if count < 0 else count
    entry = _Entry(
        sweep_number=default_number if number is None else number,
        response=response, stimulus=stimulus, response_slice=response_slice,
        stimulus_slice=stimulus_slice, clamp_mode=mode, rate=rate, n_samples=n_samples,
        description=_text(group.attrs.get("stimulus_description", "")),
    )
    entry.problem = _entry_problem(f, entry)
    return entry


def _entry_problem(f: Any, e: _Entry) -> str | None:
    return structure_problem(f, e.rate, e.clamp_mode, e.n_samples,
                             [("response", e.response, e.response_slice),
                              ("stimulus", e.stimulus, e.stimulus_slice)])


def structure_problem(f: Any, rate: float, clamp_mode: str, n_samples: int,
                      series: Sequence[tuple[str, str | None, tuple[int, int]]]) -> str | None:
    """Why a sweep cannot be read, found from shapes and attributes (no sample data read), or
    ``None``: rate, size, dimensions, units, windows, lengths, and explicit response timestamps
    that are not finite and increasing (those are read, in chunks: the one per-sample check
    ``glifx info`` can afford, and only files without ``starting_time`` + ``rate`` have them).
    ``series`` are the ``(role, path, (start, count))`` of the response and the stimulus (path
    ``None``: none; count -1: to the end); also used by the NWB 1 reader."""
    response = series[0][1]
    if not (np.isfinite(rate) and rate > 0):
        return f"sampling rate {rate:g} Hz is not a positive number ({response})"
    if clamp_mode == VOLTAGE_CLAMP and series[1][1] is None:
        return "voltage-clamp sweep has no command"
    if too_large := sweep_size_problem(n_samples):
        return too_large
    targets = ("mV", "pA") if clamp_mode == CURRENT_CLAMP else ("pA", "mV")
    for (role, where, (start, count)), target in zip(series, targets, strict=True):
        if where is None:
            continue
        data = f[where]["data"]
        if data.ndim != 1:
            return f"{role} data must be 1-D, got shape {data.shape} ({where})"
        unit = _text(data.attrs.get("unit", ""))
        if unit.strip().lower() not in (_VOLT_UNITS if target == "mV" else _AMP_UNITS):
            return f"{role} has unsupported unit {unit!r}, expected a {target} unit ({where})"
        n = data.shape[0] - start if count < 0 else count
        if start < 0 or n < 0 or start + n > data.shape[0]:
            return (f"{role} window of {n} samples from sample {start} exceeds its "
                    f"{data.shape[0]} samples ({where})")
        if role == "stimulus" and n != n_samples:
            return f"response has {n_samples} samples, stimulus {n}"
        if "timestamps" in f[where] and f[where]["timestamps"].shape != data.shape:
            return (f"{role} has {data.shape[0]} samples but "
                    f"{f[where]['timestamps'].shape} timestamps ({where})")
        if role == "response" and "timestamps" in f[where]:  # the sweep's time base
            if bad := _time_base_problem(f[where]["timestamps"], start, n):
                return f"{bad} ({where})"
    return None


#: Timestamps read at once by :func:`_time_base_problem` (8 MB of float64).
_TIME_CHUNK = 2**20


def _time_base_problem(timestamps: Any, start: int, count: int) -> str | None:
    """Why ``timestamps[start:start + count]`` cannot be a time base (not finite, or not
    increasing: the sample index within the window, as :class:`~glifx.sweep.Sweep` names it),
    or ``None``.  Reads in chunks, so that memory stays bounded whatever the sweep's length."""
    previous = None
    for lo in range(start, start + count, _TIME_CHUNK):
        chunk = np.asarray(timestamps[lo:min(lo + _TIME_CHUNK, start + count)], dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(chunk))
        if bad.size:
            return f"time base has NaN/inf at sample {lo - start + int(bad[0])}"
        steps = np.diff(chunk if previous is None else np.concatenate(([previous], chunk)))
        back = np.flatnonzero(steps <= 0)
        if back.size:  # step k ends at sample k + 1 of the chunk (k of it after a carried one)
            k = int(back[0]) + (1 if previous is None else 0)
            return f"time base is not increasing at sample {lo - start + k}"
        previous = chunk[-1]
    return None


def _read_series(f: Any, where: str, window: tuple[int, int], target: str,
                 path: Path) -> np.ndarray | FileSamples:
    """Samples of a series in mV (``target="mV"``) or pA (``"pA"``): float64, or, for samples
    stored in fewer bytes (float32, int16), :class:`~glifx.sweep.FileSamples` that give the same
    float64 values when the sweep's ``v``/``i`` is read."""
    g = f[where]
    data = g["data"]
    start, count = window
    stop = data.shape[0] if count < 0 else start + count
    raw = read_window(data, start, stop)
    unit = _text(data.attrs.get("unit", ""))
    if target == "mV":
        factor = _si_factor(unit, 1e-3, _VOLT_UNITS, where, path)
    else:
        factor = _si_factor(unit, 1e-12, _AMP_UNITS, where, path)
    conversion = float(data.attrs.get("conversion", 1.0))
    offset = float(data.attrs.get("offset", 0.0))
    scale = _clean(conversion * factor)
    raw = np.asarray(raw)
    if raw.dtype.kind in "fiu" and raw.dtype.itemsize < 8:
        return FileSamples(raw, scale, offset * factor if offset else 0.0)
    values = np.asarray(raw, dtype=np.float64)
    if scale != 1.0:
        values = values * scale
    if offset:
        values = values + offset * factor
    return values


def _times(f: Any, where: str, window: tuple[int, int]) -> tuple[float, np.ndarray | None]:
    """(starting time s, explicit timestamps or None) of a series window."""
    g = f[where]
    start, count = window
    if "timestamps" in g:
        ts = g["timestamps"]
        stop = ts.shape[0] if count < 0 else start + count
        return 0.0, np.asarray(ts[start:stop], dtype=np.float64)
    t0 = float(g["starting_time"][()]) if "starting_time" in g else 0.0
    rate = float(g["starting_time"].attrs["rate"])
    return t0 + start / rate, None


def is_mies(f: Any) -> bool:
    """Whether an open NWB 2 file was written by MIES (Allen Institute's acquisition software)."""
    if "general/labnotebook" in f:
        return True
    if "general/generated_by" in f:
        text = " ".join(_text(x) for x in np.ravel(f["general/generated_by"][()]))
        return "MIES" in text.upper()
    return False


def read_nwb2(path: str | Path) -> Cell:
    """Read an NWB 2 intracellular-electrophysiology file into a :class:`~glifx.sweep.Cell`.

    Parameters
    ----------
    path
        NWB 2 file (generic icephys, extension root types included, or Allen/MIES).

    Returns
    -------
    Cell
        Sweeps listed from metadata; data read on first access (v mV, i pA, t s).

    Raises
    ------
    FileFormatError
        When the file cannot be opened or holds no patch-clamp sweep.
    """
    import h5py

    path = Path(path)
    source = str(path)
    try:
        with h5py.File(path, "r") as f:
            if is_mies(f):
                mies = True
                entries: list[_Entry] = []
            else:
                mies = False
                entries = _list_from_table(f, path) if RECORDINGS_TABLE in f else []
                if not entries:
                    entries = _list_from_groups(f, path)
                _name_entries(f, entries, path)
                metadata = _file_metadata(f)
    except FileFormatError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise FileFormatError(path, f"cannot read NWB 2 file: {exc}") from None
    if mies:
        return _read_mies(path)
    if not entries:
        raise FileFormatError(
            path, "no patch-clamp sweep found (no CurrentClampSeries/VoltageClampSeries)"
        )
    numbers = [e.sweep_number for e in entries]
    if len(set(numbers)) != len(numbers):
        raise FileFormatError(path, "several recordings share one sweep number")
    by_number = {e.sweep_number: e for e in entries}
    records = [
        SweepRecord(
            sweep_number=e.sweep_number, stimulus_name=e.name, stimulus_code=e.code,
            stimulus_amplitude=e.amplitude, sampling_rate=e.rate, n_samples=e.n_samples,
            clamp_mode=e.clamp_mode, name_source=e.name_source or NAME_UNKNOWN,
            problem=e.problem,
        )
        for e in entries
    ]
    return Cell(records, _loader(path, by_number), cell_id=path.stem, metadata=metadata,
                source=source)


def _file_metadata(f: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"format": f"NWB {_text(f.attrs.get('nwb_version', ''))}"}
    for key in ("identifier", "session_description", "session_start_time", "general/session_id"):
        if key in f:
            meta[key.split("/")[-1]] = _text(f[key][()])
    return meta


def _name_entries(f: Any, entries: list[_Entry], path: Path) -> None:
    """Fill name, code, amplitude and name source of entries that lack them (reads commands)."""
    need = [e for e in entries if e.name_source is None and e.problem is None]
    for e in need:
        desc = e.description.strip()
        if desc.lower() in _EMPTY_DESCRIPTIONS:
            continue
        allen = name_from_code(desc)
        if allen is not None:
            e.name, e.code = allen, desc
        elif desc in ALLEN_NAMES:
            e.name = desc
        else:
            e.code = desc  # a lab's own label (e.g. "Step"): keep it, infer the class
    commands: list[np.ndarray | None] = []
    for e in need:
        if e.stimulus is None or e.clamp_mode != CURRENT_CLAMP:
            commands.append(None)
            continue
        try:
            command = _read_series(f, e.stimulus, e.stimulus_slice, "pA", path)
            commands.append(command.float64() if isinstance(command, FileSamples) else command)
        except FileFormatError:
            commands.append(None)
    guesses = classify_sweeps(commands, [e.rate for e in need]) if need else []
    for e, g in zip(need, guesses, strict=True):
        if e.name is not None:
            e.name_source = NAME_FROM_FILE
            # an Allen name from the file: the amplitude still comes from the waveform
            if g.name_source == NAME_INFERRED or g.amplitude is not None:
                e.amplitude = g.amplitude
        elif g.name is not None:
            e.name, e.amplitude, e.name_source = g.name, g.amplitude, NAME_INFERRED
        else:
            e.amplitude, e.name_source = g.amplitude, NAME_UNKNOWN


def _loader(path: Path, entries: dict[int, _Entry]) -> Callable[[int], Sweep]:
    def load(number: int) -> Sweep:
        import h5py

        e = entries[number]
        try:
            with h5py.File(path, "r") as f:
                if e.clamp_mode == CURRENT_CLAMP:
                    v = _read_series(f, e.response, e.response_slice, "mV", path)
                    i = (None if e.stimulus is None
                         else _read_series(f, e.stimulus, e.stimulus_slice, "pA", path))
                else:
                    i = _read_series(f, e.response, e.response_slice, "pA", path)
                    v = _read_series(f, e.stimulus, e.stimulus_slice, "mV", path)
                t0, timestamps = _times(f, e.response, e.response_slice)
                attrs = f[e.response]
                metadata: dict[str, Any] = {"nwb_path": e.response}
                for key in ("bias_current", "bridge_balance", "capacitance_compensation"):
                    if key in attrs:
                        metadata[key] = float(attrs[key][()])
        except (OSError, KeyError, ValueError, TypeError, FileFormatError) as exc:
            reason = exc.reason if isinstance(exc, FileFormatError) else str(exc)
            raise SweepError(number, f"cannot be read: {reason}", str(path)) from None
        if i is not None and i.size != v.size:
            raise SweepError(number, f"response has {v.size} samples, stimulus {i.size}", str(path))
        return Sweep(
            v, i, sampling_rate=None if timestamps is not None else e.rate, t=timestamps,
            t_start=t0, sweep_number=number, stimulus_name=e.name, stimulus_code=e.code,
            stimulus_amplitude=e.amplitude, clamp_mode=e.clamp_mode,
            name_source=e.name_source or NAME_UNKNOWN, source=str(path), metadata=metadata,
        )

    return load


# ------------------------------------------------------------------ Allen / MIES via ipfx
def _read_mies(path: Path) -> Cell:
    """Allen/MIES NWB 2 through ``ipfx.dataset.create.create_ephys_data_set``."""
    import warnings

    import h5py

    try:
        from ipfx.dataset.create import create_ephys_data_set

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data_set = create_ephys_data_set(nwb_file=str(path))
            table = data_set.sweep_table
    except Exception as exc:  # ipfx raises a variety of errors on files it cannot parse
        raise FileFormatError(path, f"ipfx cannot read this MIES NWB file: {exc}") from None
    # rates and lengths from the acquisition series, so that listing reads no data
    shapes: dict[int, tuple[float, int]] = {}
    with h5py.File(path, "r") as f:
        for name, g in f.get("acquisition", {}).items():
            if "data" in g and (num := _sweep_number_attr(g)) is not None:
                rate, n, _, _ = _series_info(f, f"acquisition/{name}", path)
                shapes[num] = (rate, n)
    records = []
    for row in table.itertuples():
        number = int(row.sweep_number)
        if number not in shapes:
            continue
        code = getattr(row, "stimulus_code", None) or None
        name = getattr(row, "stimulus_name", None) or name_from_code(code)
        if name == "Unknown":
            name = None
        mode = CURRENT_CLAMP if "CurrentClamp" in str(getattr(row, "clamp_mode", "")) else VOLTAGE_CLAMP
        amp = getattr(row, "stimulus_amplitude", None)
        amp = None if amp is None or not np.isfinite(float(amp)) else float(amp)
        rate, n = shapes[number]
        problem = (sweep_size_problem(n) if np.isfinite(rate) and rate > 0
                   else f"sampling rate {rate:g} Hz is not a positive number")
        records.append(SweepRecord(number, name, code, amp, rate, n, mode,
                                   NAME_FROM_FILE if name else NAME_UNKNOWN, problem))
    by_number = {r.sweep_number: r for r in records}

    def load(number: int) -> Sweep:
        rec = by_number[number]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = data_set.sweep(number)
        if rec.clamp_mode == CURRENT_CLAMP:
            v, i = s.v, s.i
        else:
            v, i = s.v, s.i  # ipfx already gives v (command, mV) and i (response, pA) in VC
        return Sweep(v, i, sampling_rate=float(s.sampling_rate), sweep_number=number,
                     stimulus_name=rec.stimulus_name, stimulus_code=rec.stimulus_code,
                     stimulus_amplitude=rec.stimulus_amplitude, clamp_mode=rec.clamp_mode,
                     name_source=rec.name_source, source=str(path))

    return Cell(records, load, cell_id=path.stem, metadata={"format": "NWB 2 (MIES)"},
                source=str(path))
