"""The data model every stage consumes: :class:`Sweep` (one recording) and :class:`Cell` (its sweeps).

Units, everywhere in glifx outside ``glifx.glif``: time ``t`` in s, membrane potential ``v`` in mV,
current ``i`` in pA, sampling rate in Hz, stimulus amplitude in pA.  Epochs are inclusive sample
index ranges ``(start, end)`` as in ipfx.

A :class:`Cell` lists its sweeps from metadata only (:class:`SweepRecord`) and loads each sweep's
arrays on first access, so listing a 1 GB file does not read it.  A reader may hand a sweep its
samples as stored in the file (:class:`FileSamples`, e.g. float32 volts): the sweep then keeps
those and builds its float64 ``v``/``i`` when they are used, so a loaded cell holds half the
memory and the values are the ones a conversion up front would give.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from glifx import _sweep_kernels
from glifx._threads import on_daemon_thread, run_into
from glifx.errors import ConfigError, GlifxError, SweepError
from glifx.stimulus import (
    NAME_FROM_FILE,
    NAME_SOURCES,
    NAME_UNKNOWN,
    TEST_PULSE_MAX_DURATION_S,
    TEST_PULSE_MAX_START_S,
    TEST_PULSE_MIN_GAP_S,
    classify_sweeps,
)

CURRENT_CLAMP = "CurrentClamp"
VOLTAGE_CLAMP = "VoltageClamp"
CLAMP_MODES = (CURRENT_CLAMP, VOLTAGE_CLAMP)


#: Allen IVSCC epoch lengths (s), as in ipfx: stability windows around the stimulus.
STABILITY_WINDOW_S = 0.5

#: Largest relative deviation of a sample interval from the median interval that is accepted
#: as a fixed time base (covers float round-off and the jitter of acquisition clocks).
DEFAULT_TIME_TOLERANCE = 0.01

IndexRange = tuple[int, int]


@dataclass(frozen=True)
class Epochs:
    """Sample index ranges of one sweep, each inclusive ``(start, end)`` or ``None`` if absent.

    Attributes
    ----------
    sweep
        The whole sweep, ``(0, n - 1)``.
    recording
        From 0 to the last finite voltage sample (a recording stopped early ends with NaN).
    test
        The test pulse itself (first command change to the end of the pulse), if there is one.
    stimulus
        First to last command change after the test pulse.
    experiment
        The stimulus widened by the 0.5 s stability windows on both sides, clipped to the sweep.
    """

    sweep: IndexRange
    recording: IndexRange | None
    test: IndexRange | None
    stimulus: IndexRange | None
    experiment: IndexRange | None


def _as_float64_1d(x: Any, what: str, sweep_number: int | None, source: str | None) -> np.ndarray:
    """Return ``x`` as a 1-D float64 array, a view when ``x`` already is one (no copy)."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SweepError(sweep_number, f"{what} is not numeric: {exc}", source) from None
    if arr.ndim != 1:
        raise SweepError(sweep_number, f"{what} must be 1-D, got shape {arr.shape}", source)
    return arr


class FileSamples:
    """Samples as a file stores them, with the factor and offset that give them in a sweep's unit.

    The values are ``float64(raw) * scale + offset`` (mV for ``v``, pA for ``i``), computed in
    that order, the arithmetic of a reader that converts up front, so they are identical to its.
    A :class:`Sweep` given ``FileSamples`` keeps ``raw`` (float32 volts take half the memory of
    float64 millivolts) and builds the float64 array when ``v``/``i`` is read; the array is
    shared while anyone holds it and built again after it has been released.

    Parameters
    ----------
    raw
        1-D samples in the file's unit and type (e.g. float32 V); kept read-only, not copied.
    scale
        Factor to the sweep's unit (e.g. 1e3 from V to mV).
    offset
        Added after scaling, in the sweep's unit.
    """

    def __init__(self, raw: np.ndarray, scale: float = 1.0, offset: float = 0.0) -> None:
        self.raw = _read_only(np.asarray(raw))
        self.scale = float(scale)
        self.offset = float(offset)
        self._ref: weakref.ref[np.ndarray] | None = None

    @property
    def size(self) -> int:
        return int(self.raw.size)

    def _convert(self, start: int, stop: int) -> np.ndarray:
        """A new float64 array of the values of ``raw[start:stop]`` in the sweep's unit."""
        raw = self.raw[start:stop]
        arr = np.empty(raw.shape, dtype=np.float64)
        if self.scale != 1.0:  # float64(raw) * scale in one pass (the inputs cast first)
            np.multiply(raw, self.scale, out=arr, dtype=np.float64)
        else:
            arr[...] = raw
        if self.offset:
            arr += self.offset
        return arr

    def float64(self) -> np.ndarray:
        """The values in the sweep's unit as a read-only float64 array (shared while held)."""
        arr = self._ref() if self._ref is not None else None
        if arr is None:
            arr = self._convert(0, self.raw.size)
            arr.flags.writeable = False
            self._ref = weakref.ref(arr)
        return arr

    def values(self, start: int, stop: int) -> np.ndarray:
        """The values of samples ``start:stop`` in the sweep's unit, float64: a view of the
        array :meth:`float64` built while it is held, else only that range converted."""
        arr = self._ref() if self._ref is not None else None
        return arr[start:stop] if arr is not None else self._convert(start, stop)

    def __getstate__(self) -> dict[str, Any]:
        return {"raw": self.raw, "scale": self.scale, "offset": self.offset, "_ref": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _samples_1d(x: Any, what: str, sweep_number: int | None,
                source: str | None) -> np.ndarray | FileSamples:
    """``x`` as a read-only 1-D float64 array, or ``x`` itself when it is 1-D numeric
    :class:`FileSamples`."""
    if not isinstance(x, FileSamples):
        return _read_only(_as_float64_1d(x, what, sweep_number, source))
    if x.raw.dtype.kind not in "fiu":
        raise SweepError(sweep_number, f"{what} is not numeric: {x.raw.dtype} samples", source)
    if x.raw.ndim != 1:
        raise SweepError(sweep_number, f"{what} must be 1-D, got shape {x.raw.shape}", source)
    return x


def _values(x: np.ndarray | FileSamples | None) -> np.ndarray | None:
    return x.float64() if isinstance(x, FileSamples) else x


def _read_only(arr: np.ndarray) -> np.ndarray:
    """A read-only view, so cached epochs can never disagree with the data."""
    view = arr.view()
    view.flags.writeable = False
    return view


def sweep_ranges(numbers: Iterable[int]) -> str:
    """``"1–5, 8, 10–12"`` from sweep numbers."""
    nums = sorted(set(int(n) for n in numbers))
    parts: list[str] = []
    k = 0
    while k < len(nums):
        j = k
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(str(nums[k]) if j == k else f"{nums[k]}–{nums[j]}")
        k = j + 1
    return ", ".join(parts)


class Sweep:
    """One current- or voltage-clamp sweep with its time base, stimulus and epochs.

    Parameters
    ----------
    v
        Membrane potential, mV (in voltage clamp: the command potential).  May end in NaN where
        the recording stopped early.  An array, or :class:`FileSamples` (kept as stored and
        converted to float64 mV when ``v`` is read).
    i
        Current, pA (in current clamp: the stimulus command; in voltage clamp: the response), or
        ``None`` when the stimulus is unknown (e.g. an ABF whose waveform file is missing).  An
        array or :class:`FileSamples`, as ``v``.
    sampling_rate
        Samples per second, Hz.  Required unless ``t`` is given.
    t
        Sample times, s.  Optional; if given it must be finite, increasing and uniform within
        ``time_tolerance`` (relative), and ``sampling_rate`` defaults to ``1 / median(diff(t))``.
    sweep_number
        The sweep's number in its file.
    stimulus_name, stimulus_code
        Allen-style name ("Long Square", "Noise 1", ...) and the file's stimulus code, if known.
    stimulus_amplitude
        Stimulus amplitude, pA, if known.
    clamp_mode
        ``"CurrentClamp"`` or ``"VoltageClamp"``.
    name_source
        How ``stimulus_name`` was obtained: ``"file"``, ``"inferred"`` or ``"unknown"``.
    test_pulse
        Whether the command starts with a test pulse; ``None`` detects it from ``i``.
    t_start
        Time of the first sample, s (used only when ``t`` is not given).
    source
        The file the sweep came from, for error messages.
    metadata
        Free-form extra information from the reader.
    time_tolerance
        Accepted relative jitter of the sample interval.

    Raises
    ------
    SweepError
        On a non-finite, non-monotonic or non-uniform time base, mismatched lengths or a bad rate.
    """

    def __init__(
        self,
        v: Any,
        i: Any | None,
        *,
        sampling_rate: float | None = None,
        t: Any | None = None,
        sweep_number: int = 0,
        stimulus_name: str | None = None,
        stimulus_code: str | None = None,
        stimulus_amplitude: float | None = None,
        clamp_mode: str = CURRENT_CLAMP,
        name_source: str | None = None,
        test_pulse: bool | None = None,
        t_start: float = 0.0,
        source: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        time_tolerance: float = DEFAULT_TIME_TOLERANCE,
    ) -> None:
        self.sweep_number = int(sweep_number)
        self.source = source
        if clamp_mode not in CLAMP_MODES:
            raise SweepError(
                sweep_number, f"clamp_mode must be one of {CLAMP_MODES}, got {clamp_mode!r}", source
            )
        self.clamp_mode = clamp_mode
        v_arr = _samples_1d(v, "v", sweep_number, source)
        if v_arr.size < 2:
            raise SweepError(sweep_number, f"needs at least 2 samples, got {v_arr.size}", source)
        self._v = v_arr
        self._n = v_arr.size
        if i is None:
            self._i = None
        else:
            i_arr = _samples_1d(i, "i", sweep_number, source)
            if i_arr.size != v_arr.size:
                raise SweepError(
                    sweep_number, f"v has {v_arr.size} samples but i has {i_arr.size}", source
                )
            self._i = i_arr
        self._t, self.sampling_rate = self._validate_time_base(
            t, sampling_rate, float(t_start), time_tolerance
        )
        self.stimulus_name = stimulus_name
        self.stimulus_code = stimulus_code
        self.stimulus_amplitude = None if stimulus_amplitude is None else float(stimulus_amplitude)
        if name_source is None:
            name_source = NAME_FROM_FILE if stimulus_name else NAME_UNKNOWN
        if name_source not in NAME_SOURCES:
            raise SweepError(
                sweep_number, f"name_source must be one of {NAME_SOURCES}, got {name_source!r}",
                source,
            )
        self.name_source = name_source
        self._test_pulse_hint = test_pulse
        self.metadata: dict[str, Any] = dict(metadata or {})

    # ---------------------------------------------------------------- time base
    def _validate_time_base(
        self, t: Any | None, rate: float | None, t_start: float, tol: float
    ) -> tuple[np.ndarray | None, float]:
        n, num, src = self._n, self.sweep_number, self.source
        if t is None:
            if rate is None:
                raise SweepError(num, "give sampling_rate (Hz) or a time array t (s)", src)
            rate = float(rate)
            if not np.isfinite(rate) or rate <= 0:
                raise SweepError(num, f"sampling_rate must be a positive number, got {rate}", src)
            if not np.isfinite(t_start):
                raise SweepError(num, f"t_start must be finite, got {t_start}", src)
            self._t_start = t_start
            return None, rate
        t_arr = _as_float64_1d(t, "t", num, src)
        if t_arr.size != n:
            raise SweepError(num, f"t has {t_arr.size} samples but v has {n}", src)
        bad = np.flatnonzero(~np.isfinite(t_arr))
        if bad.size:
            raise SweepError(num, f"time base has NaN/inf at sample {bad[0]}", src)
        dts = np.diff(t_arr)
        if np.any(dts <= 0):
            k = int(np.flatnonzero(dts <= 0)[0])
            raise SweepError(num, f"time base is not increasing at sample {k + 1}", src)
        dt = float(np.median(dts))
        jitter = float(np.max(np.abs(dts - dt)) / dt)
        if jitter > tol:
            raise SweepError(
                num,
                f"time base is not uniform: sample intervals deviate by up to {jitter:.2%} "
                f"from {dt:g} s (tolerance {tol:.2%})",
                src,
            )
        if rate is not None and abs(float(rate) * dt - 1.0) > tol:
            raise SweepError(
                num, f"sampling_rate {rate} Hz disagrees with the time base (1/dt = {1 / dt:g})",
                src,
            )
        self._t_start = float(t_arr[0])
        return _read_only(t_arr), float(rate) if rate is not None else 1.0 / dt

    # ---------------------------------------------------------------- arrays
    @property
    def v(self) -> np.ndarray:
        """Membrane potential, mV (read-only float64; built from :class:`FileSamples` when the
        reader gave those, and shared while held)."""
        return _values(self._v)  # type: ignore[return-value]

    @property
    def i(self) -> np.ndarray | None:
        """Current, pA (read-only float64, as ``v``), or ``None`` if the stimulus is unknown."""
        return _values(self._i)

    def values(self, channel: str, start: int, stop: int) -> np.ndarray:
        """Samples ``start:stop`` of ``v`` (mV) or ``i`` (pA) as float64, without building the
        whole channel from the file's samples when only a part is read
        (:meth:`FileSamples.values`).

        Raises
        ------
        ConfigError
            For a channel other than ``"v"`` and ``"i"``, or ``"i"`` on a sweep without current.
        """
        if channel not in ("v", "i"):
            raise ConfigError(f"channel must be 'v' or 'i', got {channel!r}")
        x = self._v if channel == "v" else self._i
        if x is None:
            raise ConfigError(f"sweep {self.sweep_number} has no current")
        return x.values(start, stop) if isinstance(x, FileSamples) else x[start:stop]

    @property
    def t(self) -> np.ndarray:
        """Sample times, s: the given array, or ``t_start + k / sampling_rate``.

        A synthesised time base is built on each access and not kept (it is as large as ``v``:
        40 MB for a 25 s sweep at 200 kHz); hold on to the result when you need it repeatedly.
        """
        if self._t is not None:
            return self._t
        # the values of time_at(np.arange(n)), built in place (one array, not two)
        t = np.arange(self._n, dtype=np.float64)
        t /= self.sampling_rate
        t += self._t_start
        return _read_only(t)

    def time_at(self, index: Any) -> Any:
        """Time, s, of sample ``index`` (an int or an integer array), without building ``t``."""
        if self._t is not None:
            return self._t[index]
        return self._t_start + np.asarray(index) / self.sampling_rate

    @property
    def t_start(self) -> float:
        """Time of the first sample in the file's clock, s (0 for most files; DANDI, MIES and
        some NWB writers keep each sweep's start time)."""
        return float(self._t_start)

    def from_zero(self) -> Sweep:
        """This sweep with its time base restarted at 0 s (same samples, stimulus and metadata).

        Analyses work on each sweep's own clock, so that windows found on one sweep mean the
        same thing on its neighbours whatever their start times in the file.  Returns ``self``
        when the sweep already starts at 0.
        """
        if self._t_start == 0.0:
            return self
        copy = self._same_samples()
        copy.metadata = dict(self.metadata)
        copy._t = None if self._t is None else _read_only(self._t - self._t[0])
        copy._t_start = 0.0
        return copy

    def held(self) -> Sweep:
        """This sweep with its float64 ``v`` and ``i`` built once and kept while the returned
        sweep lives.

        A sweep read as :class:`FileSamples` builds its float64 arrays on each access once nobody
        holds them; a stage that reads ``v`` and ``i`` several times per sweep (QC, fitting's
        preparation) works on ``sweep.held()`` so that they are built once, not once per use.
        Returns ``self`` when the sweep already holds float64 arrays.
        """
        if not isinstance(self._v, FileSamples) and not isinstance(self._i, FileSamples):
            return self
        copy = self._same_samples()
        copy._stored = {"v": self.file_samples("v"), "i": self.file_samples("i")}
        copy._v, copy._i = self.v, self.i
        return copy

    def file_samples(self, channel: str) -> FileSamples | None:
        """The samples of ``channel`` (``"v"`` or ``"i"``) as the file stores them, or ``None``
        when the sweep was given float64 values (a :meth:`held` copy keeps its sweep's).

        Lets a stage keep a converted copy in the file's compact form (float32 volts) and build
        its float64 values from them when needed (:class:`glifx.fitting.data.SISweep`).
        """
        if channel not in ("v", "i"):
            raise ConfigError(f"channel must be 'v' or 'i', got {channel!r}")
        stored = self.__dict__.get("_stored")
        if stored is not None:
            return stored[channel]
        x = self._v if channel == "v" else self._i
        return x if isinstance(x, FileSamples) else None

    def _same_samples(self) -> Sweep:
        """A shallow copy for a view of the same samples (:meth:`from_zero`, :meth:`held`): the
        cached epochs are sample indices, valid on both."""
        copy = Sweep.__new__(Sweep)
        copy.__dict__.update(self.__dict__)
        return copy

    @property
    def dt(self) -> float:
        """Sample interval, s."""
        return 1.0 / self.sampling_rate

    @property
    def n_samples(self) -> int:
        return int(self._n)

    @property
    def duration(self) -> float:
        """Length of the sweep, s (number of samples / sampling rate)."""
        return self._n / self.sampling_rate

    # ---------------------------------------------------------------- epochs
    @cached_property
    def epochs(self) -> Epochs:
        """The sweep's epochs, computed once from ``v`` and ``i`` (see :class:`Epochs`)."""
        n, rate, v, i = self._n, self.sampling_rate, self.v, self.i
        end = int(_sweep_kernels.last_finite(v))
        recording = (0, end) if end >= 0 else None
        test = stimulus = experiment = None
        finite, count, first, last = (False, 0, None, -1) if i is None else \
            _sweep_kernels.command_changes(i)
        if finite:
            # the changes (k where i[k + 1] != i[k]) are sorted: the test pulse is read from the
            # first ones, and the stimulus lies between the first change after it and the last
            test = _find_test_pulse(first[:min(count, _sweep_kernels.FIRST_CHANGES)], rate,
                                    self._test_pulse_hint)
            skip = 2 if test is not None else 0  # the test pulse is changes 0 and 1
            if count - skip >= 2:
                stimulus = (int(first[skip]) + 1, int(last))
            elif count - skip == 1:  # a step that never returns: runs to the end of the sweep
                stimulus = (int(first[skip]) + 1, n - 1)
            if stimulus is not None:
                pad = int(STABILITY_WINDOW_S * rate)
                experiment = (max(0, stimulus[0] - pad), min(n - 1, stimulus[1] + pad))
        return Epochs((0, n - 1), recording, test, stimulus, experiment)

    @property
    def stimulus_window(self) -> tuple[float, float] | None:
        """Start and end time of the stimulus epoch, s, or ``None``."""
        ep = self.epochs.stimulus
        if ep is None:
            return None
        return float(self.time_at(ep[0])), float(self.time_at(ep[1]))

    def __repr__(self) -> str:
        amp = "?" if self.stimulus_amplitude is None else f"{self.stimulus_amplitude:g} pA"
        return (
            f"Sweep({self.sweep_number}, {self.stimulus_name or 'unknown stimulus'}, {amp}, "
            f"{self.duration:g} s at {self.sampling_rate / 1e3:g} kHz, {self.clamp_mode})"
        )

    def record(self) -> SweepRecord:
        """This sweep's metadata as a :class:`SweepRecord`."""
        return SweepRecord(
            sweep_number=self.sweep_number,
            stimulus_name=self.stimulus_name,
            stimulus_code=self.stimulus_code,
            stimulus_amplitude=self.stimulus_amplitude,
            sampling_rate=self.sampling_rate,
            n_samples=self.n_samples,
            clamp_mode=self.clamp_mode,
            name_source=self.name_source,
        )


def _find_test_pulse(changes: np.ndarray, rate: float, hint: bool | None) -> IndexRange | None:
    """The test pulse as ``(start, end)`` sample indices, given the indices where ``i`` changes.

    With ``hint=None`` the first pulse counts as a test pulse only if it starts before 0.4 s, lasts
    at most 50 ms and is followed by at least 100 ms of unchanged command before anything else:
    this keeps a short square or a triple at the start of an ABF sweep from being mistaken for one.
    """
    if hint is False or changes.size < 2:
        return None
    start, end = int(changes[0]) + 1, int(changes[1])
    if hint is True:
        return start, end
    if start >= TEST_PULSE_MAX_START_S * rate or end - start > TEST_PULSE_MAX_DURATION_S * rate:
        return None
    if changes.size < 3 or changes[2] - end < TEST_PULSE_MIN_GAP_S * rate:
        return None
    return start, end


@dataclass(frozen=True)
class SweepRecord:
    """A sweep's metadata, known without reading its data.

    Attributes
    ----------
    sweep_number
        Number of the sweep in its file.
    stimulus_name, stimulus_code
        Allen-style stimulus name and the file's code (``None`` if unknown).
    stimulus_amplitude
        Amplitude, pA (``None`` if unknown).
    sampling_rate
        Hz.
    n_samples
        Number of samples.
    clamp_mode
        ``"CurrentClamp"`` or ``"VoltageClamp"``.
    name_source
        ``"file"``, ``"inferred"`` or ``"unknown"``.
    problem
        Why the sweep cannot be used, when the reader already knows it from the file's structure
        (a bad sampling rate, a 2-D dataset, a dangling reference, ...); loading such a sweep
        raises :class:`~glifx.errors.SweepError` with this reason.  ``None`` for a sweep that
        looks usable.
    """

    sweep_number: int
    stimulus_name: str | None
    stimulus_code: str | None
    stimulus_amplitude: float | None
    sampling_rate: float
    n_samples: int
    clamp_mode: str
    name_source: str
    problem: str | None = None

    @property
    def duration(self) -> float:
        """Sweep length, s (NaN when the sampling rate is unusable)."""
        if not self.sampling_rate > 0:
            return float("nan")
        return self.n_samples / self.sampling_rate


SWEEP_TABLE_COLUMNS = (
    "sweep_number",
    "stimulus_name",
    "stimulus_code",
    "stimulus_amplitude_pa",
    "duration_s",
    "sampling_rate_hz",
    "clamp_mode",
    "name_source",
    "problem",
)


def _matches(name: str | None, wanted: set[str]) -> bool:
    return name is not None and name.strip().casefold() in wanted


@dataclass
class _SweepStore:
    """Loader and cache shared by a cell and the selections made from it, with an optional
    read-ahead thread (:meth:`read_ahead`)."""

    loader: Callable[[int], Sweep]
    source: str | None
    cache: dict[int, Sweep] = field(default_factory=dict)
    #: sweep number → its load on the read-ahead thread, until :meth:`get` takes it
    ahead: dict[int, Future[Sweep]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _load(self, number: int) -> Sweep:
        try:
            return self.loader(number)
        except GlifxError:
            raise
        except Exception as exc:  # a reader library failed on this sweep: say which and why
            raise SweepError(number, f"could not be read: {exc}", self.source) from exc

    def get(self, number: int, cache: bool = True) -> Sweep:
        with self.lock:
            sweep = self.cache.get(number)
            pending = self.ahead.pop(number, None) if sweep is None else None
        if sweep is not None:
            return sweep
        # a load the read-ahead thread has started is waited for; one still queued is done here
        if pending is not None and not pending.cancel():
            sweep = pending.result()  # its error, if any, is this sweep's (same as _load's)
        else:
            sweep = self._load(number)
        if cache:
            with self.lock:
                self.cache[number] = sweep
        return sweep

    def read_ahead(self, numbers: Iterable[int]) -> None:
        """Load ``numbers`` in this order on one background thread, so that the file's reading
        (and inflating) overlaps the caller's work on the sweeps before; :meth:`get` then takes
        each from there (waiting if it is being read).  Sweeps loaded or queued already are
        skipped; a sweep that fails to load raises in :meth:`get`, as without read-ahead."""
        with self.lock:
            queue: dict[int, Future[Sweep]] = {
                n: Future() for n in dict.fromkeys(numbers)
                if n not in self.cache and n not in self.ahead}
            self.ahead.update(queue)
        if queue:  # one daemon thread (glifx._threads), ending with its queue
            on_daemon_thread(self._load_queue, queue, name="glifx-read-ahead")

    def _load_queue(self, queue: Mapping[int, Future[Sweep]]) -> None:
        for number, future in queue.items():  # a cancelled load is skipped
            run_into(future, self._load, number)

    def forget(self, number: int | None = None) -> None:
        """Drop one sweep (``None``: every sweep) from the cache and the read-ahead queue."""
        with self.lock:
            pending = (list(self.ahead.values()) if number is None
                       else [f for f in [self.ahead.pop(number, None)] if f is not None])
            if number is None:
                self.cache.clear()
                self.ahead.clear()
            else:
                self.cache.pop(number, None)
        # every queued load cancelled first, then the one under way waited for (no thread is
        # left reading; cancelling while waiting would let the thread start the next)
        running = [f for f in pending if not f.cancel()]
        for future in running:
            future.exception()


class Cell:
    """A recorded cell: its sweeps (loaded lazily), an id and metadata.

    Parameters
    ----------
    records
        Metadata of every sweep, in file order.
    loader
        ``loader(sweep_number) -> Sweep``; called once per sweep, on first access.
    cell_id
        Identifier used in output paths and reports.
    metadata
        Free-form cell metadata from the file (e.g. QC measurements such as seal resistance).
    source
        The file the cell was read from, if any.

    Examples
    --------
    >>> cell = Cell.from_sweeps([Sweep(v, i, sampling_rate=50e3, sweep_number=3)])  # doctest: +SKIP
    >>> for sweep in cell.select("Long Square"):                                     # doctest: +SKIP
    ...     print(sweep.sweep_number, sweep.stimulus_amplitude)
    """

    def __init__(
        self,
        records: Sequence[SweepRecord],
        loader: Callable[[int], Sweep],
        *,
        cell_id: str,
        metadata: Mapping[str, Any] | None = None,
        source: str | None = None,
    ) -> None:
        self._records = {r.sweep_number: r for r in records}
        if len(self._records) != len(records):
            raise ConfigError(f"{source or cell_id}: duplicate sweep numbers")
        self._store = _SweepStore(loader, source)
        self.cell_id = str(cell_id)
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.source = source

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_sweeps(
        cls,
        sweeps: Iterable[Sweep],
        *,
        cell_id: str = "cell",
        metadata: Mapping[str, Any] | None = None,
        source: str | None = None,
    ) -> Cell:
        """A cell from sweeps already in memory."""
        by_number = {s.sweep_number: s for s in sweeps}
        cell = cls(
            [s.record() for s in by_number.values()],
            by_number.__getitem__,
            cell_id=cell_id,
            metadata=metadata,
            source=source,
        )
        cell._store.cache.update(by_number)
        return cell

    @classmethod
    def from_arrays(
        cls,
        v: Sequence[Any],
        i: Sequence[Any | None],
        sampling_rate: float | Sequence[float],
        *,
        stimulus_names: Sequence[str | None] | None = None,
        stimulus_amplitudes: Sequence[float | None] | None = None,
        sweep_numbers: Sequence[int] | None = None,
        clamp_mode: str = CURRENT_CLAMP,
        cell_id: str = "cell",
        metadata: Mapping[str, Any] | None = None,
    ) -> Cell:
        """A cell from plain arrays: one voltage (mV) and one current (pA) array per sweep.

        Parameters
        ----------
        v, i
            Per-sweep voltage (mV) and current (pA) arrays of equal length; an ``i`` entry may be
            ``None`` when the stimulus is unknown.
        sampling_rate
            Hz, one for all sweeps or one per sweep.
        stimulus_names, stimulus_amplitudes
            Optional per-sweep names and amplitudes (pA).
        sweep_numbers
            Optional numbers; default 0, 1, 2, ...
        """
        n = len(v)
        if len(i) != n:
            raise ConfigError(f"from_arrays: {n} voltage arrays but {len(i)} current arrays")
        rates = (
            [float(sampling_rate)] * n
            if np.isscalar(sampling_rate)
            else [float(r) for r in sampling_rate]  # type: ignore[union-attr]
        )
        names = list(stimulus_names) if stimulus_names is not None else [None] * n
        amps = list(stimulus_amplitudes) if stimulus_amplitudes is not None else [None] * n
        numbers = list(sweep_numbers) if sweep_numbers is not None else list(range(n))
        for what, seq in (("sampling rates", rates), ("stimulus_names", names),
                          ("stimulus_amplitudes", amps), ("sweep_numbers", numbers)):
            if len(seq) != n:
                raise ConfigError(f"from_arrays: {n} sweeps but {len(seq)} {what}")
        sources: list[str | None] = [None] * n
        if stimulus_names is None and clamp_mode == CURRENT_CLAMP:
            # no names given: infer them (and missing amplitudes) from the command waveforms
            guesses = classify_sweeps(list(i), rates)
            names, sources = [g.name for g in guesses], [g.name_source for g in guesses]
            if stimulus_amplitudes is None:
                amps = [g.amplitude for g in guesses]
        sweeps = [
            Sweep(vk, ik, sampling_rate=rk, sweep_number=nk, stimulus_name=sk,
                  stimulus_amplitude=ak, clamp_mode=clamp_mode, name_source=ok)
            for vk, ik, rk, nk, sk, ak, ok in zip(v, i, rates, numbers, names, amps, sources,
                                                  strict=True)
        ]
        return cls.from_sweeps(sweeps, cell_id=cell_id, metadata=metadata)

    # ---------------------------------------------------------------- access
    @property
    def sweep_numbers(self) -> list[int]:
        """Sweep numbers in file order."""
        return list(self._records)

    @property
    def records(self) -> list[SweepRecord]:
        """Metadata of every sweep, in file order (reads no data)."""
        return list(self._records.values())

    def record(self, sweep_number: int) -> SweepRecord:
        """Metadata of one sweep (reads no data)."""
        try:
            return self._records[sweep_number]
        except KeyError:
            raise SweepError(sweep_number, "no such sweep in this cell", self.source) from None

    def sweep(self, sweep_number: int, *, cache: bool = True) -> Sweep:
        """Load (once) and return one sweep.

        With ``cache=False`` a sweep not yet loaded is read without being kept, for a single pass
        over large data (e.g. converting sweeps for fitting) that should not hold two copies.

        Raises
        ------
        SweepError
            For an unknown number, a sweep whose record names a ``problem``, or a sweep the
            reader cannot load.
        """
        problem = self.record(sweep_number).problem  # raises a clear error for an unknown number
        if problem:
            raise SweepError(sweep_number, problem, self.source)
        return self._store.get(sweep_number, cache)

    def __getitem__(self, sweep_number: int) -> Sweep:
        return self.sweep(sweep_number)

    def __iter__(self) -> Iterator[Sweep]:
        for number in self._records:
            yield self.sweep(number)

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, sweep_number: object) -> bool:
        return sweep_number in self._records

    def select(
        self,
        stimulus_names: str | Iterable[str] | None = None,
        *,
        clamp_mode: str | None = None,
        sweep_numbers: Iterable[int] | None = None,
    ) -> Cell:
        """A cell with the matching sweeps only, sharing this cell's loader and cache.

        Parameters
        ----------
        stimulus_names
            One name or several (case-insensitive, e.g. ``"Noise 1"``); ``None`` keeps all.
        clamp_mode
            Keep only this clamp mode.
        sweep_numbers
            Keep only these sweep numbers.
        """
        records = self.records
        if stimulus_names is not None:
            wanted = (
                {stimulus_names} if isinstance(stimulus_names, str) else set(stimulus_names)
            )
            wanted = {w.strip().casefold() for w in wanted}
            records = [r for r in records if _matches(r.stimulus_name, wanted)]
        if clamp_mode is not None:
            records = [r for r in records if r.clamp_mode == clamp_mode]
        if sweep_numbers is not None:
            keep = set(sweep_numbers)
            records = [r for r in records if r.sweep_number in keep]
        sub = Cell.__new__(Cell)
        sub._records = {r.sweep_number: r for r in records}
        sub._store = self._store
        sub.cell_id, sub.metadata, sub.source = self.cell_id, self.metadata, self.source
        return sub

    def sweep_table(self) -> pd.DataFrame:
        """One row per sweep (reads no data); columns in :data:`SWEEP_TABLE_COLUMNS`.

        Units: ``stimulus_amplitude_pa`` pA, ``duration_s`` s, ``sampling_rate_hz`` Hz;
        ``problem`` is the reason a sweep is unusable, when known without reading it, else None.
        """
        rows = [
            (r.sweep_number, r.stimulus_name, r.stimulus_code, r.stimulus_amplitude, r.duration,
             r.sampling_rate, r.clamp_mode, r.name_source, r.problem)
            for r in self._records.values()
        ]
        return pd.DataFrame(rows, columns=list(SWEEP_TABLE_COLUMNS))

    def clear_cache(self) -> None:
        """Forget loaded sweep data (it is read again on next access) and what
        :meth:`read_ahead` has not read yet."""
        self._store.forget()

    def release(self, sweep_number: int) -> None:
        """Forget one sweep's loaded data (read again on next access); nothing if not loaded."""
        self._store.forget(sweep_number)

    def read_ahead(self, sweep_numbers: Iterable[int]) -> None:
        """Start loading these sweeps, in this order, on a background thread.

        For a pass over many sweeps (QC): while the caller works on one sweep the next is read
        and inflated, and :meth:`sweep` takes it from there (waiting while it is being read).
        Loaded sweeps are cached as by :meth:`sweep`; sweeps with a ``problem``, unknown
        numbers and sweeps loaded already are skipped.  A sweep that cannot be read raises its
        error when it is asked for, as without read-ahead.
        """
        self._store.read_ahead(n for n in sweep_numbers
                               if n in self._records and not self._records[n].problem)

    def _stimulus_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self._records.values():
            key = r.stimulus_name or "unknown"
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))

    def __repr__(self) -> str:
        names = sorted({r.stimulus_name or "unknown" for r in self._records.values()})
        return f"Cell({self.cell_id!r}, {len(self)} sweeps: {', '.join(names)})"

    def _repr_html_(self) -> str:
        """Notebook view: source, sweep count per stimulus, and the sweep table (reads no data)."""
        from glifx._display import html_repr

        facts = [("source", self.source or "(arrays)"), ("sweeps", len(self)),
                 *((f"{name} sweeps", n) for name, n in self._stimulus_counts().items())]
        return html_repr(f"Cell {self.cell_id}", facts, self.sweep_table())
