"""Data preparation for GLIF fitting: the one place where Sweep units become SI.

:func:`prepare` takes a :class:`glifx.Cell` (``t`` s, ``v`` mV, ``i`` pA) and returns
:class:`FitData`, whose sweeps (:class:`SISweep`) carry

* ``v`` in V **relative to rest** (``El_reference``, the mean resting potential of the
  training sweeps, "Noise 1" by default: GLIF_SPEC §3.2 takes their pre-stimulus potential;
  here also the settled gaps between their epochs, :func:`rest_windows`),
* ``i`` in A, ``dt`` in s,
* the spike threshold sample indices found by the spike detector (by default
  :func:`default_spike_detector`: ipfx definitions with a lighter dV/dt filter, and only
  action potentials, each with its threshold at its own upstroke) in the
  stimulus window; Short Square and Short Square - Triple sweeps by glifx.features' Short
  Square rule instead (:func:`short_square_spikes`: detection parameters adapted to the fast
  passive rise, spikes searched to the end of the sweep, since a spike often comes after a 3 ms
  pulse has ended).

Only sweeps that passed QC are used (when a ``qc`` result is given), and the test stimulus
("Noise 2") goes into :attr:`FitData.test` only: no estimator reads it.

Conditioning (a deliberate choice, differing from the reference)
----------------------------------------------------------------
The reference low-passes the voltage (Bessel, 10 kHz) and block-averages both channels to 20 kHz
before every estimate.  glifx keeps the recorded grid for everything that is timed by spikes
(spike detection, spike cut, thresholds, simulation, explained variance) and block-averages
voltage *and* current over the same blocks only for the regressions (R, C, after-spike
currents: :func:`glifx.fitting.estimators.block_mean` by the factor of
:func:`~glifx.fitting.estimators.regression_block`, to about
:data:`~glifx.fitting.estimators.REGRESSION_RATE` = 20 kHz).  Averaging both channels
identically is a zero-phase anti-alias filter that keeps V and I aligned; a Bessel filter on V
alone delays V against I and biases the regression.  Recording noise that survives the
averaging is handled by the estimators themselves (centred differences, see
:mod:`glifx.fitting.estimators`).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glifx._memory import release_free_memory
from glifx.errors import EstimationError, GlifxError, SweepError
from glifx.stimulus import LONG_SQUARE, NOISE_1, NOISE_2, SHORT_SQUARE, SHORT_SQUARE_TRIPLE
from glifx.sweep import Cell, FileSamples, Sweep

#: Lowest sampling rate (Hz) of a sweep used for fitting: below it a spike lasts a sample or two,
#: thresholds and the spike cut are not resolved (a 1 kHz recording fits with test EV ~0).
MIN_FIT_RATE_HZ = 10e3
#: Length (s) of the pre-stimulus window used for the resting potential (its end is the stimulus).
REST_WINDOW_S = 0.5
#: Time (s) skipped after the test pulse before the rest window may begin.
TEST_PULSE_SETTLE_S = 0.1
#: Time (s) a gap inside the stimulus (the command back at its pre-stimulus value, as between
#: the three epochs of Noise 1 and 2, 5 s each) settles before its samples count as rest: the
#: membrane and the after-spike currents (time constants up to 1/3 s) have decayed by then.
GAP_SETTLE_S = 2.0
#: Shortest settled part of such a gap that counts as rest, s.
MIN_GAP_REST_S = 0.5
#: The command "holds its pre-stimulus value" within this many pA.
COMMAND_TOLERANCE_PA = 1.0

#: Samples :func:`hold_factor` looks at first for two consecutive changes of value.
HOLD_PROBE = 4096

#: Low-pass cutoff (kHz) of dV/dt for spike detection in fitting (ipfx's feature default is 10).
DETECTION_FILTER_KHZ = 40.0

MV, PA = 1e-3, 1e-12


SpikeDetector = Callable[[Sweep], np.ndarray]


class SISamples:
    """One channel of an :class:`SISweep` kept as the file stores it (e.g. float32 volts).

    The SI values are ``(float64(raw) * scale + offset) * factor - shift``, in that order: the
    arithmetic of :func:`to_si` on a sweep read from the file, so they are identical to an up
    front conversion.  They are built when read, and the float64 array is shared while anyone
    holds it (as :class:`glifx.sweep.FileSamples` does for a sweep's mV and pA); with ``keep``
    they are built at the first read and kept, and the file's samples dropped: a conversion put
    off until it is needed, for a channel read often once it is read at all.

    Parameters
    ----------
    samples
        The file's samples and their conversion to the sweep's unit (mV, pA).
    n
        Samples used (the recording without a NaN tail): ``samples.raw[:n]``.
    factor
        From the sweep's unit to SI (:data:`MV`, :data:`PA`).
    shift
        Subtracted last, SI (``El_reference`` for the voltage).
    keep
        Keep the float64 values from the first read on (instead of the file's samples).
    """

    def __init__(self, samples: FileSamples, n: int, factor: float, shift: float = 0.0, *,
                 keep: bool = False) -> None:
        self.raw: np.ndarray | None = samples.raw[:n]
        self.n = int(n)
        self.scale, self.offset = samples.scale, samples.offset
        self.factor, self.shift = float(factor), float(shift)
        self.keep = bool(keep)
        self.dtype = samples.raw.dtype
        self._ref: weakref.ref[np.ndarray] | None = None
        self._kept: np.ndarray | None = None

    @property
    def size(self) -> int:
        return self.n

    def _convert(self, raw: np.ndarray) -> np.ndarray:
        out = np.empty(raw.shape, dtype=np.float64)
        if self.scale != 1.0:  # FileSamples.float64's steps, then to_si's
            np.multiply(raw, self.scale, out=out, dtype=np.float64)
        else:
            out[...] = raw
        if self.offset:
            out += self.offset
        out *= self.factor
        if self.shift:
            out -= self.shift
        return out

    def float64(self) -> np.ndarray:
        """The SI values, read-only float64 (built once while held, or kept with ``keep``)."""
        if self._kept is not None:
            return self._kept
        arr = self._ref() if self._ref is not None else None
        if arr is None:
            if self.keep:
                with _KEEP_LOCK:  # levels on threads: one build, not one per thread
                    if self._kept is None:
                        self._kept = self._convert(self.raw)  # type: ignore[arg-type]
                        self._kept.flags.writeable = False
                        self.raw = None
                return self._kept
            arr = self._convert(self.raw)  # type: ignore[arg-type]
            arr.flags.writeable = False
            self._ref = weakref.ref(arr)
        return arr

    def release(self) -> bool:
        """Go back to the file's samples from values kept (``keep``), when they give exactly
        those values: the samples are rebuilt by the inverse conversion, rounded to the file's
        type, and each is checked by converting it again (a sample that does not give its
        value back is tried one step up and down; if that fails too, nothing changes).  Later
        reads build the values as without ``keep``.  Returns whether the samples are kept now.
        """
        kept = self._kept
        if kept is None:
            return self.raw is not None
        from glifx.fitting import _kernels

        raw = np.empty(kept.shape, dtype=self.dtype)
        integer = bool(np.issubdtype(self.dtype, np.integer))
        lo, hi = ((float(np.iinfo(self.dtype).min), float(np.iinfo(self.dtype).max))
                  if integer else (-np.inf, np.inf))
        # the kernel's conversion is _convert's, step for step (numba compiles without
        # fastmath: no fused multiply-add), so a sample it accepts gives its value back when
        # read; the few it does not (rounding of the inverse) are tried one step up and down
        bad = np.empty(_RELEASE_MAX_BAD, dtype=np.int64)
        n_bad = _kernels.samples_of_values(kept, raw, self.scale, self.offset, self.factor,
                                           self.shift, integer, lo, hi, bad)
        if n_bad > bad.size:
            return False
        for k in bad[:n_bad]:
            guesses = np.array([raw[k], raw[k]], dtype=self.dtype)
            if integer:
                if not lo < raw[k] < hi:
                    return False
                guesses += np.array([1, -1], dtype=self.dtype)
            else:
                guesses = np.nextafter(guesses, np.array([np.inf, -np.inf], dtype=self.dtype))
            back = self._convert(guesses)
            same = back.view(np.int64) == kept[k:k + 1].view(np.int64)
            if not same.any():
                return False
            raw[k] = guesses[np.argmax(same)]
        raw.flags.writeable = False
        self.raw, self._kept, self.keep = raw, None, False
        self._ref = weakref.ref(kept)  # shared while anyone still holds it
        return True

    def _held(self) -> np.ndarray | None:
        """The float64 values when built and held (by anyone), else ``None``."""
        if self._kept is not None:
            return self._kept
        return self._ref() if self._ref is not None else None

    def at(self, index: Any) -> np.ndarray:
        """The SI values at ``index`` (integers or a slice), without building the whole array."""
        arr = self._held()
        if arr is None:
            raw = self.raw  # read once: a first read of a kept channel may drop it meanwhile
            if raw is not None:
                return self._convert(np.atleast_1d(raw[index]))[() if np.ndim(index) == 0
                                                                 else ...]
            arr = self.float64()
        return arr[index]

    def same(self, other: SISamples) -> bool:
        """Whether ``other`` holds the same values (equal samples, same conversion)."""
        if self.size != other.size:
            return False
        if self.raw is None or other.raw is None:  # one was converted and kept
            return bool(np.array_equal(self.float64(), other.float64()))
        return ((self.scale, self.offset, self.factor, self.shift)
                == (other.scale, other.offset, other.factor, other.shift)
                and np.array_equal(self.raw, other.raw))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_ref": None}


#: Serialises the first read of a kept SISamples (its one conversion).
_KEEP_LOCK = threading.Lock()
#: Samples whose inverse conversion :meth:`SISamples.release` may correct; more, and it keeps
#: the values (the file's samples are rebuilt exactly nearly everywhere).
_RELEASE_MAX_BAD = 1024


class _Channel:
    """An :class:`SISweep` array field: set to a float64 array or :class:`SISamples`, read as
    the float64 array (built from the samples when they were given)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: Any, owner: type | None = None) -> np.ndarray:
        if obj is None:  # class access: the dataclass field has no default
            raise AttributeError(self.slot[1:])
        x = obj.__dict__[self.slot]
        return x.float64() if isinstance(x, SISamples) else x

    def __set__(self, obj: Any, value: np.ndarray | SISamples) -> None:
        obj.__dict__[self.slot] = value


@dataclass(frozen=True, eq=False)
class SISweep:
    """One sweep in SI units, relative to the cell's rest, with its spikes.

    ``v`` and ``i`` may be given as :class:`SISamples` (the file's compact samples, as
    :func:`prepare` keeps a sweep read from a file that stores float32): reading them builds
    the float64 values, shared while held, so a stage that reads them repeatedly holds them
    (``v = sweep.v``); :attr:`n_samples`, :meth:`v_at` and :meth:`i_at` need no build.

    Attributes
    ----------
    sweep_number
        The sweep's number in its file.
    stimulus_name
        Allen stimulus name.
    dt
        Sample interval, s.
    v
        Membrane potential relative to ``El_reference``, V.
    i
        Injected current, A.
    spikes
        Sample indices of the spike thresholds (int64, sorted).
    stimulus
        Inclusive sample range ``(start, end)`` of the stimulus epoch, or ``None``.
    rest
        This sweep's own resting potential (:func:`resting_potential`) relative to
        ``El_reference``, V (drift of rest).
    amplitude
        Stimulus amplitude, A (``nan`` when unknown).
    """

    sweep_number: int
    stimulus_name: str
    dt: float
    v: np.ndarray = _Channel()  # type: ignore[assignment]
    i: np.ndarray = _Channel()  # type: ignore[assignment]
    spikes: np.ndarray
    stimulus: tuple[int, int] | None
    rest: float = 0.0
    amplitude: float = float("nan")

    @property
    def n_samples(self) -> int:
        return int(self.__dict__["_v"].size)

    def v_at(self, index: Any) -> np.ndarray:
        """``v[index]`` (V relative to rest), without building ``v`` when it is not held."""
        x = self.__dict__["_v"]
        return x.at(index) if isinstance(x, SISamples) else x[index]

    def i_at(self, index: Any) -> np.ndarray:
        """``i[index]`` (A), without building ``i`` when it is not held."""
        x = self.__dict__["_i"]
        return x.at(index) if isinstance(x, SISamples) else x[index]

    @property
    def spike_v(self) -> np.ndarray:
        """Voltage at each spike threshold, V relative to rest."""
        return self.v_at(self.spikes)

    def stored(self, channel: str) -> np.ndarray | SISamples:
        """``v`` or ``i`` as kept: the float64 array or its :class:`SISamples`."""
        return self.__dict__["_" + channel]


@dataclass(frozen=True, eq=False)
class FitData:
    """Everything the estimators and the optimiser read, in SI units relative to rest.

    Attributes
    ----------
    el_reference
        Absolute resting potential, V (mean :func:`resting_potential` of the training sweeps).
    train
        Training sweeps (default "Noise 1").
    test
        Test sweeps (default "Noise 2"), used only to evaluate fitted models.
    short_square, triple, long_square
        Sweeps of those stimuli.
    excluded
        Sweep number -> reason it was left out (failed QC, no current, ...).
    rest_sweeps
        Resting potential (:func:`resting_potential`) of each training sweep that set
        ``el_reference``, V (absolute; their spread gives ``El_reference`` its uncertainty).
    """

    el_reference: float
    train: list[SISweep]
    test: list[SISweep]
    short_square: list[SISweep] = field(default_factory=list)
    triple: list[SISweep] = field(default_factory=list)
    long_square: list[SISweep] = field(default_factory=list)
    excluded: dict[int, str] = field(default_factory=dict)
    rest_sweeps: tuple[float, ...] = ()


def keep_on_read(sweeps: Iterable[SISweep], channel: str) -> None:
    """Let ``channel`` (``"v"``, ``"i"``) of ``sweeps``, where kept as the file's samples, be
    converted at its next read and kept from then on (:class:`SISamples` ``keep``), until
    :func:`release_kept`: for a stage that reads it whole again and again."""
    for s in sweeps:
        x = s.stored(channel)
        if isinstance(x, SISamples):
            x.keep = True


def release_kept(sweeps: Iterable[SISweep], channel: str) -> None:
    """Let ``channel`` (``"v"``, ``"i"``) of ``sweeps``, where kept as float64 since its first
    read (:class:`SISamples` ``keep``), go back to the file's samples (:meth:`SISamples.release`:
    only where they give the same values); reads then build the values again."""
    for s in sweeps:
        x = s.stored(channel)
        if isinstance(x, SISamples):
            x.release()


def default_spike_detector(sweep: Sweep) -> np.ndarray:
    """Threshold sample indices of the spikes of ``sweep`` in its stimulus window.

    ipfx definitions (:func:`glifx.features.spikes.detect_sweep_spikes`) with one change: dV/dt
    is low-passed at :data:`DETECTION_FILTER_KHZ` (clipped below the Nyquist frequency by
    glifx.features) instead of ipfx's 10 kHz.  GLIF fitting reads the *voltage* at threshold,
    and a filtered-dV/dt criterion marks the threshold a filter-dependent time δ early, reading
    ``θ − δ·dV/dt``: at 200 kHz the 10 kHz filter puts it 15 samples (75 µs) early and biased
    θ∞ of ground-truth cells by −0.6 to −1.2 mV; 40 kHz leaves 5 samples and −0.0 to −0.6 mV.

    Of ipfx's spikes it keeps the action potentials (:func:`_action_potentials`: no noise bump
    without a threshold, no early start of the next spike), and it finds again, from the
    upstroke, a threshold ipfx's merge rule left before the action potential
    (:func:`_upstroke_thresholds`): under strong intrinsic noise the lighter filter lets the
    noise cross ipfx's dV/dt cutoff on the approach to threshold.
    """
    from glifx.features.spikes import detect_sweep_spikes

    v = sweep.v  # held: the detection reads this array (shared), not a second conversion
    table = _action_potentials(detect_sweep_spikes(sweep, filter=DETECTION_FILTER_KHZ), v)
    return _upstroke_thresholds(table, sweep, v)


#: A spike whose threshold lies more than this many times the sweep's median threshold-to-
#: upstroke interval before its upstroke has its threshold found again from the upstroke
#: (:func:`_upstroke_thresholds`).
MERGED_OFFSET_FACTOR = 3


def _upstroke_thresholds(table: Any, sweep: Sweep, v: np.ndarray) -> np.ndarray:
    """Threshold sample indices of a spike table, each the last sample before its upstroke
    where dV/dt is at most ``thresh_frac`` × the mean upstroke (ipfx's rule).

    ipfx finds thresholds that way, then merges two "spikes" when the second's threshold comes
    at or before the first's peak and keeps the *first* threshold.  Under strong intrinsic
    noise the first is often the noise crossing ipfx's 20 V/s cutoff on the slow approach, up
    to 2 ms before the action potential (development cells 490718897 and 503814817, thresholds
    up to 20 mV low): the fit reads the voltage at threshold, and the spike cut, reset and
    threshold estimates take those values.  Only spikes whose threshold lies more than
    :data:`MERGED_OFFSET_FACTOR` × the sweep's median interval before their upstroke are
    searched again, on dV/dt filtered as for detection over that stretch (with the filter's
    margin), back from the upstroke to the old threshold; the others keep ipfx's threshold.
    """
    from glifx.features.spikes import SpikeParams, calculate_dvdt, effective_cutoff, filter_margin

    th = np.asarray(table["threshold_index"], dtype=np.int64)
    if th.size == 0:
        return th
    up = np.asarray(table["upstroke_index"], dtype=np.int64)
    offset = up - th
    far = np.flatnonzero(offset > MERGED_OFFSET_FACTOR * max(float(np.median(offset)), 1.0))
    if far.size == 0:
        return th
    target = SpikeParams().thresh_frac * float(np.mean(np.asarray(table["upstroke"], dtype=float)))
    rate = sweep.sampling_rate
    cutoff, _ = effective_cutoff(DETECTION_FILTER_KHZ, rate)
    margin = filter_margin(cutoff, rate) if cutoff is not None else 0
    t = sweep.t  # only here: a full time base is built for the few sweeps that need it
    th = th.copy()
    for k in far:
        a, b = max(int(th[k]) - margin, 0), min(int(up[k]) + margin, v.size - 1)
        dvdt, _, _ = calculate_dvdt(np.asarray(t[a:b + 1], dtype=float),
                                    np.asarray(v[a:b + 1], dtype=float), DETECTION_FILTER_KHZ,
                                    rate)
        below = np.flatnonzero(dvdt[th[k] - a:up[k] - a + 1] <= target)
        if below.size:
            th[k] += int(below[-1])
    return th


def _action_potentials(table: Any, v: np.ndarray) -> Any:
    """The spikes of a glifx.features spike table (indices into ``v``, mV) that rise as fast as
    their threshold's definition asks and that repolarise.

    ipfx's threshold is where dV/dt reaches ``thresh_frac`` (5 %) of the spikes' upstroke; an
    event whose own upstroke stays below that fraction of the sweep's median upstroke has no
    such point and is no action potential.  Strong intrinsic noise makes them: with the fit's
    light dV/dt filter the noise crosses ipfx's 20 V/s cutoff on the slow approach to
    threshold, and a bump 2–5 mV high passes ipfx's height test (development cell 490718897,
    GLIF1 truth, noise 0.3 × rheobase: 5 % of the training "spikes", upstroke ~20 V/s against
    the spikes' 3300 V/s, thresholds 5–20 mV low).  glifx.features keeps them, as ipfx does;
    the fit does not.  With :func:`_upstroke_thresholds` this moved that cell's spike cut from
    1.9 ms short to 0.09 ms long and R, C from −20 %, −73 % to −4 %, +3 %.

    A spike repolarises when the voltage falls ``min_height`` (ipfx's 2 mV) below the peak
    before the next spike's threshold.

    A spike that does not is the start of the next one, found early: ipfx merges such a pair
    only when dV/dt never turns negative between them, and with the fit's lighter dV/dt filter
    the noise of a 200 kHz recording turns it negative.  On ground-truth cells whose threshold
    lies near −25 mV, the dV/dt crossing came twice on one upstroke (a waveform that jumps in
    one sample rings), or once on the steep noisy approach to threshold: "spikes" 3 samples or
    a fraction of a millisecond apart, which no spike cut admits.  The later of the pair, whose
    threshold is the upstroke's, is kept.
    """
    from glifx.features.spikes import SpikeParams

    if len(table) < 2:
        return table
    params = SpikeParams()
    upstroke = np.asarray(table["upstroke"], dtype=float)
    table = table[~(upstroke < params.thresh_frac * np.nanmedian(upstroke))]
    if len(table) < 2:
        return table
    min_height = params.min_height
    peaks = np.asarray(table["peak_index"], dtype=np.int64)
    thresholds = np.asarray(table["threshold_index"], dtype=np.int64)
    keep = np.ones(len(table), dtype=bool)
    for k in range(len(table) - 1):
        between = v[peaks[k]:max(thresholds[k + 1], peaks[k]) + 1]
        keep[k] = v[peaks[k]] - np.min(between) >= min_height
    return table[keep]


def short_square_spikes(
    sweeps: Sequence[Sweep], *, filter_khz: float | None = DETECTION_FILTER_KHZ
) -> dict[int, np.ndarray]:
    """Threshold sample indices of the spikes of a group of pulse sweeps, by glifx.features' rule.

    The detection is glifx.features' own (:func:`glifx.features.extract.detect_pulse_spikes`: ipfx's
    ``dv_cutoff`` and ``thresh_frac`` adapted from the first ms after the pulse onset, because
    a 3 ms pulse drives the voltage fast but passively; spikes searched over the whole sweep,
    because they often cross threshold after the pulse has ended), so that fitting and
    ``spikes.csv`` cannot disagree.  Short Square - Triple sweeps are pulses of the same kind:
    give them as their own group.

    Parameters
    ----------
    sweeps
        Sweeps of one protocol (Short Square, or Short Square - Triple), common time base
        (``t`` s, ``v`` mV, ``i`` pA).
    filter_khz
        dV/dt low-pass cutoff, kHz (clipped below Nyquist by glifx.features); default
        :data:`DETECTION_FILTER_KHZ`, as for every fitting sweep.

    Returns
    -------
    dict
        Sweep number -> threshold indices (int64, sorted); empty arrays for sweeps without
        spikes or whose detection failed.
    """
    from glifx.features.extract import detect_pulse_spikes

    sweeps = list(sweeps)
    if not sweeps:
        return {}
    found = detect_pulse_spikes(sweeps, filter=filter_khz).spikes
    empty = np.empty(0, dtype=np.int64)
    return {s.sweep_number: np.sort(np.asarray(
                _action_potentials(found[s.sweep_number], s.v)["threshold_index"], dtype=np.int64))
            if s.sweep_number in found else empty for s in sweeps}


def rest_window(sweep: Sweep) -> tuple[int, int]:
    """Half-open sample range ``[a, b)`` of the pre-stimulus baseline used for the resting
    potential: the last :data:`REST_WINDOW_S` s before the stimulus, starting no earlier than
    :data:`TEST_PULSE_SETTLE_S` s after the test pulse.

    Raises
    ------
    SweepError
        When the sweep has no stimulus epoch or no baseline before it.
    """
    ep = sweep.epochs
    if ep.stimulus is None:
        raise SweepError(sweep.sweep_number, "no stimulus epoch, cannot measure rest")
    rate = sweep.sampling_rate
    b = ep.stimulus[0]
    a = max(0, b - int(round(REST_WINDOW_S * rate)))
    if ep.test is not None:
        a = max(a, ep.test[1] + 1 + int(round(TEST_PULSE_SETTLE_S * rate)))
    if b - a < 2:
        raise SweepError(sweep.sweep_number, "no baseline before the stimulus")
    return a, b


def rest_windows(sweep: Sweep) -> list[tuple[int, int]]:
    """Half-open sample ranges of a sweep at rest: the pre-stimulus window (:func:`rest_window`)
    and, inside the stimulus, the settled part of every gap in which the command holds its
    pre-stimulus value (from :data:`GAP_SETTLE_S` s after the gap starts to its end, where that
    leaves at least :data:`MIN_GAP_REST_S` s).

    A Noise sweep (three 3 s epochs, 5 s apart) has 0.5 s of rest before its stimulus and 6 s
    in its gaps.  The mean of 0.5 s windows is a poor resting potential under intrinsic noise:
    on the validation bench's development half (24 GLIF5 truths, three Noise 1 sweeps each) its
    rms error was 0.29 / 0.62 mV at intrinsic noise 0.1 / 0.3 × rheobase, and every voltage of
    the fit (θ∞, reset, the membrane's rest) is relative to it; with the gaps, 0.08 / 0.17 mV.

    Raises
    ------
    SweepError
        As :func:`rest_window`.
    """
    a, b = rest_window(sweep)
    windows = [(a, b)]
    ep = sweep.epochs
    end = ep.stimulus[1] + 1
    if ep.recording is not None:
        end = min(end, ep.recording[1] + 1)
    rate = sweep.sampling_rate
    settle, shortest = int(round(GAP_SETTLE_S * rate)), int(round(MIN_GAP_REST_S * rate))
    if end - b < settle + shortest:
        return windows
    held = float(np.median(sweep.values("i", a, b)))
    quiet = _within(sweep, "i", b, end, held - COMMAND_TOLERANCE_PA, held + COMMAND_TOLERANCE_PA)
    edges = np.diff(np.concatenate(([0], quiet.view(np.int8), [0])))
    for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if stop - start >= settle + shortest:
            windows.append((b + start + settle, b + stop))
    return windows


def _within(sweep: Sweep, channel: str, a: int, b: int, low: float, high: float) -> np.ndarray:
    """Whether each sample of ``channel`` in ``[a, b)`` lies in ``[low, high]`` (Sweep units),
    in blocks of 2**18 samples (no float64 copy of a long sweep at once: 40 MB for 25 s at
    200 kHz)."""
    out = np.empty(max(b - a, 0), dtype=bool)
    step = 1 << 18
    for k in range(a, b, step):
        x = sweep.values(channel, k, min(k + step, b))
        np.logical_and(x >= low, x <= high, out=out[k - a:k - a + x.size])
    return out


def resting_potential(sweep: Sweep) -> float:
    """Mean membrane potential of a sweep over its rest windows (:func:`rest_windows`), mV
    (Sweep units)."""
    parts = [sweep.values("v", a, b) for a, b in rest_windows(sweep)]
    return float(np.sum([p.sum() for p in parts]) / sum(p.size for p in parts))


def _recorded_samples(sweep: Sweep) -> int:
    """Number of samples up to the end of the recording (a NaN tail of a recording stopped
    early is cut off).

    Raises
    ------
    SweepError
        When the sweep has no current, no finite voltage or NaN inside the recording.
    """
    if sweep.i is None:
        raise SweepError(sweep.sweep_number, "the stimulus current is unknown")
    rec = sweep.epochs.recording
    if rec is None:
        raise SweepError(sweep.sweep_number, "no finite voltage")
    n = rec[1] + 1
    if not np.all(np.isfinite(sweep.v[:n])):
        raise SweepError(sweep.sweep_number, "NaN inside the recording")
    return n


def to_si(
    sweep: Sweep,
    el_reference: float,
    spike_detector: SpikeDetector | None = None,
    *,
    spikes: np.ndarray | None = None,
    compact: Collection[str] = (),
    keep: Collection[str] = (),
) -> SISweep:
    """Convert one sweep to SI relative to ``el_reference`` (V) and detect its spikes.

    Parameters
    ----------
    sweep
        A current-clamp sweep (``v`` mV, ``i`` pA).
    el_reference
        Absolute resting potential, V.
    spike_detector
        ``f(sweep) -> threshold sample indices``; default :func:`default_spike_detector`.
    spikes
        Threshold sample indices already detected (e.g. :func:`short_square_spikes`); the
        detector is then not called.
    compact
        Channels (``"v"``, ``"i"``) to keep in the file's form when it stores them in fewer
        bytes than float64 (:meth:`glifx.Sweep.file_samples`): :class:`SISamples`, the same
        values built when read, instead of converting them now.
    keep
        Channels of ``compact`` converted at their first read and kept from then on (their
        file samples dropped): :class:`SISamples` ``keep``.

    Raises
    ------
    SweepError
        When the sweep has no current.
    """
    n = _recorded_samples(sweep)
    if spikes is None:  # first: the detector's time base and dV/dt go before v and i come
        detector = spike_detector or default_spike_detector
        spikes = detector(sweep)
    stored_v = sweep.file_samples("v") if "v" in compact else None
    stored_i = sweep.file_samples("i") if "i" in compact else None
    v: np.ndarray | SISamples
    i: np.ndarray | SISamples
    if stored_v is not None:
        v = SISamples(stored_v, n, MV, el_reference, keep="v" in keep)
    else:
        v = np.asarray(sweep.v[:n], dtype=np.float64) * MV
        v -= el_reference  # in place: the same values without a second 40 MB array (25 s, 200 kHz)
    if stored_i is not None:
        i = SISamples(stored_i, n, PA, keep="i" in keep)
    else:
        i = np.asarray(sweep.i[:n], dtype=np.float64) * PA
    spikes = np.unique(np.asarray(spikes, dtype=np.int64))
    spikes = spikes[(spikes >= 0) & (spikes < n)]
    try:
        rest = resting_potential(sweep) * MV - el_reference
    except GlifxError:
        rest = float("nan")
    stim = sweep.epochs.stimulus
    if stim is not None:
        stim = (stim[0], min(stim[1], n - 1))
    amp = float("nan") if sweep.stimulus_amplitude is None else sweep.stimulus_amplitude * PA
    return SISweep(
        sweep_number=sweep.sweep_number,
        stimulus_name=sweep.stimulus_name or "",
        dt=sweep.dt,
        v=v,
        i=i,
        spikes=spikes,
        stimulus=stim,
        rest=rest,
        amplitude=amp,
    )


def hold_factor(v: np.ndarray) -> tuple[int, int]:
    """``(k, phase)`` when ``v`` changes value only every ``k`` samples, always at the same phase
    -- a recording at ``rate / k`` upsampled by repeating each sample ``k`` times; ``(1, 0)``
    otherwise (or with too few changes to tell).  ``v[phase::k]`` is then the original
    recording."""
    if v.size > HOLD_PROBE and np.isfinite(v[-1]):
        # a recording at its own rate changes value at two consecutive samples early on: the
        # gcd below is then 1, known without a pass over the whole sweep (the same answer)
        early = np.flatnonzero(np.diff(v[:HOLD_PROBE]) != 0)
        if np.any(np.diff(early) == 1):
            return 1, 0
    finite = np.flatnonzero(np.isfinite(v))
    if finite.size < 2:
        return 1, 0
    changes = np.flatnonzero(np.diff(v[: finite[-1] + 1]) != 0)
    if changes.size < 16:
        return 1, 0
    k = int(np.gcd.reduce(changes - changes[0]))
    return (k, int(changes[0] + 1) % k) if k > 1 else (1, 0)


def at_recorded_rate(sweep: Sweep) -> Sweep:
    """``sweep`` at the rate it was recorded at: a sweep upsampled by repeating samples
    (:func:`hold_factor`) is taken back to one sample per step, since its stair steps make every
    upstroke look like several spikes a few samples apart (no spike cut fits between them).
    Any other sweep is returned as it is."""
    k, phase = hold_factor(sweep.v)
    if k == 1:
        return sweep
    return Sweep(  # a Sweep's time base is uniform: rate and start time describe it
        sweep.v[phase::k], None if sweep.i is None else sweep.i[phase::k],
        sampling_rate=sweep.sampling_rate / k, t_start=float(sweep.time_at(phase)),
        sweep_number=sweep.sweep_number,
        stimulus_name=sweep.stimulus_name, stimulus_code=sweep.stimulus_code,
        stimulus_amplitude=sweep.stimulus_amplitude, clamp_mode=sweep.clamp_mode,
        name_source=sweep.name_source, source=sweep.source,
        metadata={**sweep.metadata, "upsampled_by": k},
    )


def _passed(qc: Any) -> set[int] | None:
    if qc is None:
        return None
    passed = qc.passed_sweeps if hasattr(qc, "passed_sweeps") else qc
    if callable(passed):
        passed = passed()
    numbers: set[int] = set()
    for p in passed:
        numbers.add(int(getattr(p, "sweep_number", p)))
    return numbers


def prepare(
    cell: Cell,
    *,
    qc: Any | None = None,
    train: str | Sequence[str] = NOISE_1,
    test: str | Sequence[str] = NOISE_2,
    spike_detector: SpikeDetector | None = None,
    long_square: bool = True,
    release: bool = False,
) -> FitData:
    """Select, convert and annotate the sweeps a GLIF fit needs.

    Parameters
    ----------
    cell
        The recorded cell.
    qc
        A QC result with ``passed_sweeps`` (sweep numbers or sweeps), or an iterable of sweep
        numbers; ``None`` uses every current-clamp sweep.
    train, test
        Stimulus names of the training and test sets.
    spike_detector
        ``f(sweep) -> threshold sample indices`` for every sweep.  Default: ipfx definitions via
        glifx.features, in the stimulus window (:func:`default_spike_detector`), and for Short
        Square and Short Square - Triple sweeps glifx.features' Short Square rule
        (:func:`short_square_spikes`, one group per protocol).
    long_square
        Also convert the Long Square sweeps (the collapse guard's and the report's f-I curve).
    release
        Drop from ``cell``'s cache (:meth:`~glifx.sweep.Cell.release`) first every sweep that
        will not be converted, then each one once it is: a cell whose sweeps were loaded
        already (by QC and features) is then converted without reading the file again and
        without holding both copies.

    Returns
    -------
    FitData
        Sweeps in SI units (V relative to rest, A, s).

    Raises
    ------
    EstimationError
        When no training sweep passed QC, is sampled at :data:`MIN_FIT_RATE_HZ` or more, or has
        a usable baseline.
    """
    passed = _passed(qc)
    excluded: dict[int, str] = {}
    cc = cell.select(clamp_mode="CurrentClamp")

    # Work from sweep numbers and load each sweep only while it is used (``cache=False``), so
    # that preparing a fit does not keep the recorded sweeps beside their SI copies.
    def usable(names: str | Iterable[str]) -> list[int]:
        out = []
        for record in cc.select(names).records:
            if passed is not None and record.sweep_number not in passed:
                excluded[record.sweep_number] = "failed QC"
            else:
                out.append(record.sweep_number)
        return out

    def load(numbers: list[int], last_use: bool = False) -> Iterator[Sweep]:
        for n in numbers:
            if n in excluded:
                continue
            try:
                sweep = cell.sweep(n, cache=False).held()  # v and i are read several times
            except GlifxError as exc:  # an unreadable sweep is left out, with the reason
                excluded[n] = str(exc)
                continue
            if release and last_use:  # `sweep` holds the samples until it is converted
                cell.release(n)
            sweep = at_recorded_rate(sweep)
            if sweep.i is None:
                excluded[n] = "stimulus current unknown"
            elif sweep.sampling_rate < MIN_FIT_RATE_HZ:
                excluded[n] = (f"sampled at {sweep.sampling_rate / 1e3:g} kHz, below the "
                               f"{MIN_FIT_RATE_HZ / 1e3:g} kHz fitting needs (spikes and the spike "
                               "cut are not resolved)")
            else:
                yield sweep
            # not held while the next sweep is read: two sweeps' float64 v and i (0.15 GB
            # for 25 s at 200 kHz) would be alive at once
            del sweep

    names = [train, test, SHORT_SQUARE, SHORT_SQUARE_TRIPLE] + ([LONG_SQUARE] if long_square else [])
    if release:  # what will not be converted goes first
        wanted = {r.sweep_number for role in names for r in cc.select(role).records
                  if passed is None or r.sweep_number in passed}
        for n in cell.sweep_numbers:
            if n not in wanted:
                cell.release(n)
    train_numbers = usable(train)
    rests, n_loaded = [], 0
    for s in load(train_numbers):
        n_loaded += 1
        try:  # only sweeps that will be fitted set the resting potential
            _recorded_samples(s)
            rests.append(resting_potential(s))
        except GlifxError as exc:
            excluded[s.sweep_number] = str(exc)
        del s  # its float64 v and i are not kept through the conversions below
    if not n_loaded:
        why = "; ".join(f"sweep {n}: {excluded[n]}" for n in train_numbers[:3] if n in excluded)
        raise EstimationError(f"{cell.cell_id}: no usable {train!r} sweeps to fit"
                              + (f" ({why})" if why else ""))
    if not rests:
        raise EstimationError(f"{cell.cell_id}: no {train!r} sweep has a pre-stimulus baseline")
    el_reference = float(np.mean(rests)) * MV

    currents: list[np.ndarray | SISamples] = []

    def shared_current(si: SISweep) -> SISweep:
        """Repeats of a frozen stimulus (Noise 1, Noise 2) record the same current: keep one
        read-only copy (saves 40 MB per repeat of a 25 s sweep at 200 kHz)."""
        i = si.stored("i")
        for c in currents:
            if isinstance(c, SISamples) != isinstance(i, SISamples):
                continue
            if c.same(i) if isinstance(c, SISamples) else (  # type: ignore[union-attr]
                    c.size == i.size and np.array_equal(c, i)):
                return SISweep(si.sweep_number, si.stimulus_name, si.dt, si.stored("v"), c,
                               si.spikes, si.stimulus, si.rest, si.amplitude)
        if isinstance(i, np.ndarray):
            i.setflags(write=False)
        currents.append(i)
        return si

    def convert(numbers: list[int], pulses: bool = False,
                compact: Collection[str] = ("v", "i"), keep: Collection[str] = ()
                ) -> list[SISweep]:
        found: dict[int, np.ndarray] = {}
        sweeps: Iterable[Sweep] = load(numbers, last_use=True)
        if pulses:  # short pulse sweeps: detected together, so held together (they are short)
            sweeps = list(sweeps)
            if spike_detector is None:
                found = short_square_spikes(sweeps)
        out = []
        for s in sweeps:
            try:
                out.append(shared_current(to_si(s, el_reference, spike_detector,
                                                spikes=found.get(s.sweep_number),
                                                compact=compact, keep=keep)))
            except GlifxError as exc:
                excluded[s.sweep_number] = str(exc)
            del s  # nor while the next one is read (see load)
        return out

    # What the file stores as float32 stays so (SISamples: the same values, built when read).
    # What is read throughout a stage is converted at its first read and kept (SISamples
    # keep) until release_kept: the training voltages (read by every estimator; preprocessing
    # lets them go when it is done) and the Long Square currents (simulated by every level's
    # collapse guard: preprocessing converts them when it is done, glifx.process_cell lets
    # them go before the report).  The training currents stay float64 (every forced run and
    # simulation reads them).  At 200 kHz FitData then holds 0.31 GB instead of 0.41 GB, and
    # 0.36 GB while preprocessing or fitting.
    data = FitData(
        el_reference=el_reference,
        train=convert(train_numbers, compact=("v",), keep=("v",)),
        test=convert(usable(test)),
        short_square=convert(usable(SHORT_SQUARE), pulses=True),
        triple=convert(usable(SHORT_SQUARE_TRIPLE), pulses=True),
        long_square=convert(usable(LONG_SQUARE), keep=("i",)) if long_square else [],
        excluded=excluded,
        rest_sweeps=tuple(float(r) * MV for r in rests),
    )
    from glifx.features.spikes import release_work_buffers

    release_work_buffers()  # the cell's spike detection is done: its dV/dt buffers go (40 MB)
    release_free_memory()  # and what the detection and conversion freed (~0.1 GB at 200 kHz)
    return data
