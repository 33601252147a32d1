"""Allen Institute NWB 1 (the Cell Types Database ``ephys.nwb`` layout) → :class:`~glifx.sweep.Cell`.

Read with h5py.  The layout this reader understands::

    nwb_version                          dataset "NWB-1.x" (or a root attribute 1.x)
    epochs/Sweep_N/{stimulus,response}/  timeseries (link), idx_start, count: the whole sweep
    epochs/Experiment_N/...              optional: the experiment window (test pulse excluded,
                                         ends where the valid response ends)
    acquisition/timeseries/Sweep_N/      the response: data (attrs conversion, unit),
                                         starting_time (attr rate) or timestamps,
                                         bias_current, bridge_balance, capacitance_compensation
                                         (current clamp, optional), ancestry attr (clamp mode)
    stimulus/presentation/Sweep_N/       the command, same form, plus aibs_stimulus_name,
                                         aibs_stimulus_amplitude_pa, aibs_stimulus_description
                                         (the stimulus code), aibs_stimulus_interval, gain, seal,
                                         initial_access_resistance (optional)

* Sweep numbers are the ``N`` of ``epochs/Sweep_N``; listing reads only these small metadata.
* Values are ``data * conversion`` in the stated unit (Volts/Amps or mV/pA), converted to mV / pA.
* The response past the end of ``Experiment_N`` (a recording stopped early, e.g. a ramp) is set to
  NaN, which :class:`~glifx.sweep.Sweep` treats as "recording ended here".
* Name: ``aibs_stimulus_name`` (source "file"), else the code looked up in ipfx's ontology, else
  inferred from the command; amplitude: ``aibs_stimulus_amplitude_pa``.  The remaining
  ``aibs_*``, ``seal``, ``initial_access_resistance`` and the CC settings go to ``sweep.metadata``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glifx.errors import FileFormatError, SweepError
from glifx.io.nwb2 import _AMP_UNITS, _VOLT_UNITS, _clean, _text, structure_problem
from glifx.stimulus import NAME_FROM_FILE, NAME_UNKNOWN, classify_sweeps, name_from_code
from glifx.sweep import CURRENT_CLAMP, VOLTAGE_CLAMP, Cell, FileSamples, Sweep, SweepRecord

_SWEEP_EPOCH = re.compile(r"^Sweep_(\d+)$")
#: per-sweep fields of stimulus/presentation/Sweep_N copied into sweep.metadata
STIMULUS_FIELDS = (
    "aibs_stimulus_name", "aibs_stimulus_amplitude_pa", "aibs_stimulus_description",
    "aibs_stimulus_interval", "gain", "seal", "initial_access_resistance",
)
CC_SETTINGS = ("bias_current", "bridge_balance", "capacitance_compensation")


@dataclass
class _Entry:
    number: int
    response: str
    stimulus: str | None
    start: int
    count: int
    experiment_end: int | None  # last valid response sample (inclusive), relative to start
    rate: float
    clamp_mode: str
    name: str | None
    code: str | None
    amplitude: float | None
    name_source: str
    problem: str | None = None  # why the sweep cannot be read, known from the file's structure


def _scalar(g: Any, key: str) -> Any:
    if key not in g:
        return None
    value = g[key][()]
    if isinstance(value, bytes | str) or (isinstance(value, np.ndarray) and value.dtype.kind in "SOU"):
        return _text(value)
    arr = np.asarray(value).ravel()
    return float(arr[0]) if arr.size else None


def _clamp_mode(series: Any, stimulus: Any | None) -> str:
    ancestry = " ".join(_text(a) for a in np.ravel(series.attrs.get("ancestry", [])))
    if "VoltageClamp" in ancestry:
        return VOLTAGE_CLAMP
    if "CurrentClamp" in ancestry:
        return CURRENT_CLAMP
    unit = _text(series["data"].attrs.get("unit", "")).strip().lower()
    return VOLTAGE_CLAMP if unit in _AMP_UNITS else CURRENT_CLAMP


def _factor(data: Any, target: str, where: str, path: Path) -> float:
    unit = _text(data.attrs.get("unit", "")).strip().lower()
    table, si = (_VOLT_UNITS, 1e-3) if target == "mV" else (_AMP_UNITS, 1e-12)
    if unit not in table:
        raise FileFormatError(path, f"{where}: unsupported unit {unit!r} (expected a {target} unit)")
    return _clean(float(data.attrs.get("conversion", 1.0)) * table[unit] / si)


def _epoch_range(f: Any, epoch: str, part: str) -> tuple[int, int] | None:
    if f"{epoch}/{part}/idx_start" not in f:
        return None
    g = f[f"{epoch}/{part}"]
    return int(np.ravel(g["idx_start"][()])[0]), int(np.ravel(g["count"][()])[0])


def _list(f: Any, path: Path) -> list[_Entry]:
    if "epochs" not in f:
        raise FileFormatError(path, "NWB 1 file has no 'epochs' group: not an Allen sweep layout")
    numbers = sorted(
        int(m.group(1)) for key in f["epochs"] if (m := _SWEEP_EPOCH.match(key))
    )
    entries = []
    for n in numbers:
        response = f"acquisition/timeseries/Sweep_{n}"
        if response not in f:
            continue  # an epoch without a recorded response is no sweep
        try:
            entries.append(_entry(f, n, response))
        except (OSError, KeyError, ValueError, TypeError, IndexError) as exc:  # one bad sweep
            entries.append(_Entry(
                number=n, response=response, stimulus=None, start=0, count=0, experiment_end=None,
                rate=float("nan"), clamp_mode=CURRENT_CLAMP, name=None, code=None, amplitude=None,
                name_source=NAME_UNKNOWN, problem=f"{response} cannot be read: {exc}"))
    return entries


def _entry(f: Any, n: int, response: str) -> _Entry:
    """The entry of sweep ``n``, with its ``problem`` when shapes or attributes rule it out."""
    series = f[response]
    stimulus = f"stimulus/presentation/Sweep_{n}"
    stim = f[stimulus] if stimulus in f else None
    data_len = int(series["data"].shape[0]) if series["data"].ndim else 0
    window = _epoch_range(f, f"epochs/Sweep_{n}", "response") or (0, data_len)
    start, count = window
    if count <= 0 or start + count > data_len:
        count = data_len - start
    exp = _epoch_range(f, f"epochs/Experiment_{n}", "response")
    experiment_end = None
    if exp is not None and exp[0] + exp[1] < start + count:
        experiment_end = exp[0] + exp[1] - 1 - start
    if "starting_time" in series:
        rate = float(series["starting_time"].attrs.get("rate", np.nan))
    elif "timestamps" in series and series["timestamps"].shape[0] >= 2:
        ts = series["timestamps"]
        span = float(ts[-1] - ts[0])
        rate = float((ts.shape[0] - 1) / span) if span else float("nan")
    else:
        rate = float("nan")
    meta_src = stim if stim is not None else series
    name = _scalar(meta_src, "aibs_stimulus_name") or None
    code = _scalar(meta_src, "aibs_stimulus_description") or None
    amplitude = _scalar(meta_src, "aibs_stimulus_amplitude_pa")
    if name is None:
        name = name_from_code(code)
    entry = _Entry(
        number=n, response=response, stimulus=stimulus if stim is not None else None,
        start=start, count=count, experiment_end=experiment_end, rate=rate,
        clamp_mode=_clamp_mode(series, stim), name=name, code=code,
        amplitude=None if amplitude is None or not np.isfinite(amplitude) else amplitude,
        name_source=NAME_FROM_FILE if name else NAME_UNKNOWN,
    )
    entry.problem = _entry_problem(f, entry)
    return entry


def _entry_problem(f: Any, e: _Entry) -> str | None:
    """Why the sweep of ``e`` cannot be read, from shapes and attributes only, or ``None``."""
    window = (e.start, e.count)
    return structure_problem(f, e.rate, e.clamp_mode, e.count,
                             [("response", e.response, window), ("stimulus", e.stimulus, window)])


def _read(f: Any, where: str, start: int, count: int, target: str, path: Path,
          as_stored: bool = False) -> np.ndarray | FileSamples:
    """Samples in mV or pA (``target``), float64; with ``as_stored``, samples stored in fewer
    bytes (float32, int16) come as :class:`~glifx.sweep.FileSamples` of the same values."""
    data = f[where]["data"]
    raw = np.asarray(data[start:start + count])
    factor = _factor(data, target, where, path)
    if as_stored and raw.dtype.kind in "fiu" and raw.dtype.itemsize < 8:
        return FileSamples(raw, factor)
    values = np.asarray(raw, dtype=np.float64)
    return values * factor if factor != 1.0 else values


def _recording_ended(samples: np.ndarray | FileSamples, last: int) -> np.ndarray | FileSamples:
    """A copy of ``samples`` with NaN after index ``last`` (the recording ended before the sweep
    did); integer samples become float64 (exact) to hold the NaN."""
    stored = samples.raw if isinstance(samples, FileSamples) else samples
    raw = stored.astype(stored.dtype if stored.dtype.kind == "f" else np.float64)
    raw[last + 1:] = np.nan
    if isinstance(samples, FileSamples):
        return FileSamples(raw, samples.scale, samples.offset)
    return raw


def _infer_missing_names(f: Any, entries: list[_Entry], path: Path) -> None:
    """Sweeps without a name in the file: infer it from the command (reads those commands)."""
    need = [e for e in entries if e.name is None and e.clamp_mode == CURRENT_CLAMP and e.stimulus
            and e.problem is None]
    if not need:
        return
    commands = [_read(f, e.stimulus, e.start, e.count, "pA", path) for e in need]
    for e, g in zip(need, classify_sweeps(commands, [e.rate for e in need]), strict=True):
        e.name, e.name_source = g.name, g.name_source
        if e.amplitude is None:
            e.amplitude = g.amplitude


def read_nwb1(path: str | Path) -> Cell:
    """Read an Allen NWB 1 file into a :class:`~glifx.sweep.Cell`.

    Parameters
    ----------
    path
        NWB 1 file in the Allen Cell Types layout (see the module docstring).

    Returns
    -------
    Cell
        Sweeps listed from metadata; data (v mV, i pA) read on first access.

    Raises
    ------
    FileFormatError
        When the file cannot be opened or does not have the layout.
    """
    import h5py

    path = Path(path)
    source = str(path)
    try:
        with h5py.File(path, "r") as f:
            entries = _list(f, path)
            _infer_missing_names(f, entries, path)
            metadata: dict[str, Any] = {"format": f"NWB 1 ({_text(f['nwb_version'][()])})"
                                        if "nwb_version" in f else "NWB 1"}
            for key in ("identifier", "session_description", "session_start_time"):
                if key in f:
                    metadata[key] = _text(f[key][()])
    except FileFormatError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise FileFormatError(path, f"cannot read NWB 1 file: {exc}") from None
    if not entries:
        raise FileFormatError(path, "no sweep found (no epochs/Sweep_N with a recorded response)")
    records = [
        SweepRecord(e.number, e.name, e.code, e.amplitude, e.rate, e.count, e.clamp_mode,
                    e.name_source, e.problem)
        for e in entries
    ]
    return Cell(records, _loader(path, {e.number: e for e in entries}), cell_id=path.stem,
                metadata=metadata, source=source)


def _loader(path: Path, entries: dict[int, _Entry]) -> Callable[[int], Sweep]:
    def load(number: int) -> Sweep:
        import h5py

        e = entries[number]
        metadata: dict[str, Any] = {"nwb_path": e.response}
        try:
            with h5py.File(path, "r") as f:
                response = _read(f, e.response, e.start, e.count, "mV" if e.clamp_mode ==
                                 CURRENT_CLAMP else "pA", path, as_stored=True)
                command = None
                if e.stimulus is not None:
                    command = _read(f, e.stimulus, e.start, e.count,
                                    "pA" if e.clamp_mode == CURRENT_CLAMP else "mV", path,
                                    as_stored=True)
                series = f[e.response]
                timestamps = None
                t0 = 0.0
                if "timestamps" in series:
                    timestamps = np.asarray(series["timestamps"][e.start:e.start + e.count],
                                            dtype=np.float64)
                elif "starting_time" in series:
                    t0 = float(np.ravel(series["starting_time"][()])[0]) + e.start / e.rate
                for key in CC_SETTINGS:
                    value = _scalar(series, key)
                    if value is not None:
                        metadata[key] = value
                if e.stimulus is not None:
                    for key in STIMULUS_FIELDS:
                        value = _scalar(f[e.stimulus], key)
                        if value is not None:
                            metadata[key] = value
        except (OSError, KeyError, ValueError, TypeError, FileFormatError) as exc:
            reason = exc.reason if isinstance(exc, FileFormatError) else str(exc)
            raise SweepError(number, f"cannot be read: {reason}", str(path)) from None
        if e.experiment_end is not None and e.clamp_mode == CURRENT_CLAMP:
            response = _recording_ended(response, e.experiment_end)
            metadata["experiment_end_index"] = e.experiment_end
        if e.clamp_mode == CURRENT_CLAMP:
            v, i = response, command
        else:
            assert command is not None  # a voltage-clamp sweep without one has a problem
            v, i = command, response
        return Sweep(
            v, i, sampling_rate=None if timestamps is not None else e.rate, t=timestamps,
            t_start=t0, sweep_number=number, stimulus_name=e.name, stimulus_code=e.code,
            stimulus_amplitude=e.amplitude, clamp_mode=e.clamp_mode, name_source=e.name_source,
            source=str(path), metadata=metadata,
        )

    return load
