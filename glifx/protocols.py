"""Stimulus waveforms of the standard (Allen IVSCC-like) current-clamp protocol set.

Every generator returns a :class:`Waveform`: the command current in pA on a fixed sampling grid,
with the Allen stimulus name and code it stands for, its amplitude and its epochs (times in s).
Defaults follow the Allen Cell Types protocols (Teeter et al. 2018; GLIF_SPEC §3); the sampling
rate is a parameter everywhere (Allen records at 200 kHz).

Each sweep starts with a test pulse (default −20 pA, 10 ms at 20 ms) followed by a quiet baseline,
as Allen sweeps do, so that :class:`glifx.Sweep` finds the test pulse and the stimulus epoch.

==========================  ====================  ==================================================
name                        code                  waveform
==========================  ====================  ==================================================
``"Long Square"``           ``C1LSCOARSE150216``  1 s step at 1.02 s
``"Short Square"``          ``C1SSFINEST150112``  3 ms pulse at 1.02 s
``"Short Square - Triple"`` ``C1SSTRIPLE171103``  three 3 ms pulses at 1.02 s, onset interval varied
``"Ramp"``                  ``C1RP25PR1S``        25 pA/s ramp from 0 at 1.02 s
``"Noise 1"``               ``C1NSSEED_1``        three 3 s pink-noise epochs (CV 0.2) at 0.75, 1.0,
                                                  1.5 × rheobase, 5 s apart; fixed seed 1
``"Noise 2"``               ``C1NSSEED_2``        as Noise 1 with fixed seed 2
``"Test"``                  ``TESTPULSE``         the test pulse alone
==========================  ====================  ==================================================

Sample times are ``k / sampling_rate``; an epoch ``(t0, t1)`` covers the samples with
``t0 <= t < t1``. Edges are rounded to the nearest sample.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from glifx.errors import ConfigError
from glifx.stimulus import LONG_SQUARE, NOISE_1, NOISE_2, RAMP, SHORT_SQUARE, SHORT_SQUARE_TRIPLE

__all__ = [
    "ALLEN_CODES",
    "DEFAULT_SAMPLING_RATE",
    "NOISE_SEEDS",
    "Waveform",
    "long_square",
    "noise",
    "pink_noise",
    "protocol_set",
    "ramp",
    "short_square",
    "short_square_triple",
    "test_sweep",
]

#: Allen IVSCC sampling rate, Hz.
DEFAULT_SAMPLING_RATE = 200e3

#: Allen stimulus name -> stimulus code written into files.
ALLEN_CODES: Mapping[str, str] = MappingProxyType(
    {
        LONG_SQUARE: "C1LSCOARSE150216",
        SHORT_SQUARE: "C1SSFINEST150112",
        SHORT_SQUARE_TRIPLE: "C1SSTRIPLE171103",
        RAMP: "C1RP25PR1S",
        NOISE_1: "C1NSSEED_1",
        NOISE_2: "C1NSSEED_2",
        "Test": "TESTPULSE",
    }
)

#: Fixed pink-noise seeds of the two noise stimuli (every repeat of a stimulus is identical).
NOISE_SEEDS: Mapping[str, int] = MappingProxyType({NOISE_1: 1, NOISE_2: 2})

#: Default test pulse: amplitude (pA), start (s), duration (s).
TEST_PULSE_PA = -20.0
TEST_PULSE_START_S = 0.02
TEST_PULSE_DURATION_S = 0.01
#: Stimulus onset of the Allen sweeps, s.
STIM_START_S = 1.02


@dataclass(frozen=True, eq=False)
class Waveform:
    """One sweep's command current with its stimulus identity.

    Attributes
    ----------
    name
        Allen stimulus name, e.g. ``"Long Square"``.
    code
        Allen stimulus code, e.g. ``"C1LSCOARSE150216"``.
    amplitude
        Stimulus amplitude, pA: step or pulse height; a ramp's final value; for noise sweeps the
        rheobase that the epochs scale.
    i
        Command current, pA (read-only float64, test pulse included).
    sampling_rate
        Hz.
    epochs
        Named ``(start, end)`` times in s: always ``"test"`` (if a test pulse is present) and
        ``"stimulus"`` (first to last change of the command after the test pulse); pulses and
        noise epochs as ``"pulse_1"``, ``"epoch_1"``, ...
    params
        Generator parameters worth keeping (e.g. the triple's interval, the noise seed).
    """

    name: str
    code: str
    amplitude: float
    i: np.ndarray
    sampling_rate: float
    epochs: Mapping[str, tuple[float, float]]
    params: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        arr = np.array(self.i, dtype=np.float64)
        arr.flags.writeable = False
        object.__setattr__(self, "i", arr)
        object.__setattr__(self, "epochs", MappingProxyType(dict(self.epochs)))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def n_samples(self) -> int:
        return int(self.i.size)

    @property
    def dt(self) -> float:
        """Sample interval, s."""
        return 1.0 / self.sampling_rate

    @property
    def duration(self) -> float:
        """Length, s."""
        return self.i.size / self.sampling_rate

    @property
    def t(self) -> np.ndarray:
        """Sample times, s."""
        return np.arange(self.i.size) / self.sampling_rate

    def epoch_slice(self, key: str) -> slice:
        """Sample slice of epoch ``key`` (``t0 <= t < t1``)."""
        t0, t1 = self.epochs[key]
        return slice(_idx(t0, self.sampling_rate), _idx(t1, self.sampling_rate))

    def __repr__(self) -> str:
        return (
            f"Waveform({self.name!r}, {self.amplitude:g} pA, {self.duration:g} s at "
            f"{self.sampling_rate / 1e3:g} kHz)"
        )


# ------------------------------------------------------------------------------------------ helpers
def _idx(t: float, rate: float) -> int:
    return int(round(t * rate))


def _check_rate(rate: float) -> float:
    rate = float(rate)
    if not np.isfinite(rate) or rate <= 0:
        raise ConfigError(f"sampling_rate must be a positive number of Hz, got {rate}")
    return rate


def _base(
    duration: float, rate: float, test_pulse_pa: float | None
) -> tuple[np.ndarray, dict[str, tuple[float, float]]]:
    """Zero command of ``duration`` s with the test pulse; returns (i, epochs)."""
    n = _idx(duration, rate)
    i = np.zeros(n)
    epochs: dict[str, tuple[float, float]] = {}
    if test_pulse_pa:
        a, b = _idx(TEST_PULSE_START_S, rate), _idx(TEST_PULSE_START_S + TEST_PULSE_DURATION_S, rate)
        i[a:b] = test_pulse_pa
        epochs["test"] = (a / rate, b / rate)
    return i, epochs


def _set(i: np.ndarray, rate: float, t0: float, t1: float, value: float) -> tuple[float, float]:
    a, b = _idx(t0, rate), _idx(t1, rate)
    i[a:b] = value
    return a / rate, b / rate


def _wave(name: str, amplitude: float, i: np.ndarray, rate: float,
          epochs: dict[str, tuple[float, float]], **params: float) -> Waveform:
    return Waveform(name, ALLEN_CODES[name], float(amplitude), i, rate, epochs, params)


# ---------------------------------------------------------------------------------------- generators
def test_sweep(
    sampling_rate: float = DEFAULT_SAMPLING_RATE,
    *,
    duration: float = 0.5,
    test_pulse_pa: float = TEST_PULSE_PA,
) -> Waveform:
    """The test pulse alone (Allen ``"Test"``): ``test_pulse_pa`` for 10 ms at 20 ms.

    Parameters
    ----------
    sampling_rate
        Hz.
    duration
        Sweep length, s.
    test_pulse_pa
        Pulse amplitude, pA.
    """
    rate = _check_rate(sampling_rate)
    i, epochs = _base(duration, rate, test_pulse_pa)
    epochs["stimulus"] = epochs["test"]
    return _wave("Test", test_pulse_pa, i, rate, epochs)


# keep pytest from collecting the generator as a test when it is imported into a test module
test_sweep.__test__ = False  # type: ignore[attr-defined]


def long_square(
    amplitude_pa: float,
    sampling_rate: float = DEFAULT_SAMPLING_RATE,
    *,
    start: float = STIM_START_S,
    width: float = 1.0,
    post: float = 1.0,
    test_pulse_pa: float | None = TEST_PULSE_PA,
) -> Waveform:
    """A ``"Long Square"`` sweep: a step of ``amplitude_pa`` for ``width`` s (default 1 s) at ``start``.

    Parameters
    ----------
    amplitude_pa
        Step amplitude, pA.
    sampling_rate
        Hz.
    start, width, post
        Step onset, step length and time kept after the step, s.
    test_pulse_pa
        Test-pulse amplitude, pA (``None`` or 0: no test pulse).
    """
    rate = _check_rate(sampling_rate)
    i, epochs = _base(start + width + post, rate, test_pulse_pa)
    epochs["stimulus"] = _set(i, rate, start, start + width, amplitude_pa)
    return _wave(LONG_SQUARE, amplitude_pa, i, rate, epochs)


def short_square(
    amplitude_pa: float,
    sampling_rate: float = DEFAULT_SAMPLING_RATE,
    *,
    start: float = STIM_START_S,
    width: float = 0.003,
    post: float = 1.0,
    test_pulse_pa: float | None = TEST_PULSE_PA,
) -> Waveform:
    """A ``"Short Square"`` sweep: one ``width`` s (default 3 ms) pulse of ``amplitude_pa`` at ``start``.

    Parameters are as for :func:`long_square`.
    """
    rate = _check_rate(sampling_rate)
    i, epochs = _base(start + width + post, rate, test_pulse_pa)
    epochs["stimulus"] = epochs["pulse_1"] = _set(i, rate, start, start + width, amplitude_pa)
    return _wave(SHORT_SQUARE, amplitude_pa, i, rate, epochs)


def short_square_triple(
    amplitude_pa: float,
    interval: float,
    sampling_rate: float = DEFAULT_SAMPLING_RATE,
    *,
    start: float = STIM_START_S,
    width: float = 0.003,
    post: float = 1.0,
    test_pulse_pa: float | None = TEST_PULSE_PA,
) -> Waveform:
    """A ``"Short Square - Triple"`` sweep: three ``width`` s pulses, onsets ``interval`` s apart.

    Parameters
    ----------
    amplitude_pa
        Pulse amplitude, pA.
    interval
        Onset-to-onset interval of the pulses, s (must exceed ``width``).
    sampling_rate, start, width, post, test_pulse_pa
        As for :func:`long_square`.
    """
    rate = _check_rate(sampling_rate)
    if interval <= width:
        raise ConfigError(f"triple interval ({interval} s) must exceed the pulse width ({width} s)")
    i, epochs = _base(start + 2 * interval + width + post, rate, test_pulse_pa)
    for k in range(3):
        t0 = start + k * interval
        epochs[f"pulse_{k + 1}"] = _set(i, rate, t0, t0 + width, amplitude_pa)
    epochs["stimulus"] = (epochs["pulse_1"][0], epochs["pulse_3"][1])
    return _wave(SHORT_SQUARE_TRIPLE, amplitude_pa, i, rate, epochs, interval=interval)


def ramp(
    final_pa: float,
    sampling_rate: float = DEFAULT_SAMPLING_RATE,
    *,
    slope_pa_per_s: float = 25.0,
    start: float = STIM_START_S,
    post: float = 1.0,
    test_pulse_pa: float | None = TEST_PULSE_PA,
) -> Waveform:
    """A ``"Ramp"`` sweep: from 0 at ``start``, rising ``slope_pa_per_s`` (25 pA/s) up to ``final_pa``.

    The command drops back to 0 once ``final_pa`` is reached (Allen ramps are ended by the
    acquisition after the cell has fired); the amplitude recorded is ``final_pa``.

    Parameters
    ----------
    final_pa
        Current reached at the end of the ramp, pA (> 0).
    sampling_rate
        Hz.
    slope_pa_per_s
        pA/s.
    start, post, test_pulse_pa
        As for :func:`long_square`.
    """
    rate = _check_rate(sampling_rate)
    if final_pa <= 0 or slope_pa_per_s <= 0:
        raise ConfigError("ramp: final_pa and slope_pa_per_s must be positive")
    width = final_pa / slope_pa_per_s
    i, epochs = _base(start + width + post, rate, test_pulse_pa)
    a, b = _idx(start, rate), _idx(start + width, rate)
    i[a:b] = slope_pa_per_s * (np.arange(b - a) + 1) / rate
    epochs["stimulus"] = (a / rate, b / rate)
    return _wave(RAMP, final_pa, i, rate, epochs, slope_pa_per_s=slope_pa_per_s)


def pink_noise(
    duration: float,
    sampling_rate: float,
    seed: int | Sequence[int],
    *,
    f_min: float = 1.0,
    f_max: float = 100.0,
) -> np.ndarray:
    """Zero-mean, unit-std pink (1/f power) noise band-limited to ``[f_min, f_max]`` Hz.

    Built as a sum of cosines at the Fourier frequencies ``k / duration`` inside the band, with
    amplitudes ∝ f^(−1/2) (power ∝ 1/f) and phases drawn from ``numpy.random.default_rng(seed)``.
    The random draws depend only on ``duration``, the band and the seed, so the same seed gives the
    same waveform sampled at any ``sampling_rate``.

    Parameters
    ----------
    duration
        s.
    sampling_rate
        Hz (must exceed ``2 * f_max``).
    seed
        Seed of the phases (anything :func:`numpy.random.default_rng` accepts as a seed).
    f_min, f_max
        Band edges, Hz.

    Returns
    -------
    numpy.ndarray
        ``round(duration * sampling_rate)`` samples, dimensionless.
    """
    rate = _check_rate(sampling_rate)
    if rate <= 2 * f_max:
        raise ConfigError(f"pink_noise: sampling_rate {rate} Hz must exceed 2 × f_max = {2 * f_max} Hz")
    n = _idx(duration, rate)
    k = np.arange(int(np.ceil(f_min * duration)), int(np.floor(f_max * duration)) + 1)
    k = k[k > 0]
    phases = np.random.default_rng(seed).uniform(0.0, 2.0 * np.pi, k.size)
    freqs = k / duration
    amps = freqs ** -0.5
    # exact time-domain synthesis through an inverse real FFT of length n (frequency bin k ↔ k/duration
    # because n / rate == duration up to rounding of n)
    spec = np.zeros(n // 2 + 1, dtype=np.complex128)
    if k.size and k[-1] >= spec.size:
        raise ConfigError("pink_noise: duration too short for the band at this sampling rate")
    spec[k] = amps * np.exp(1j * phases)
    x = np.fft.irfft(spec, n)
    x -= x.mean()
    return x / x.std()


def noise(
    rheobase_pa: float,
    which: int = 1,
    sampling_rate: float = DEFAULT_SAMPLING_RATE,
    *,
    scales: Sequence[float] = (0.75, 1.0, 1.5),
    epoch_duration: float = 3.0,
    gap: float = 5.0,
    start: float = STIM_START_S,
    post: float = 1.0,
    cv: float = 0.2,
    seed: int | None = None,
    test_pulse_pa: float | None = TEST_PULSE_PA,
) -> Waveform:
    """A ``"Noise 1"`` or ``"Noise 2"`` sweep: pink-noise epochs around multiples of the rheobase.

    Epoch ``j`` (``epoch_duration`` s, starting ``start + j * (epoch_duration + gap)``) carries
    ``scales[j] * rheobase_pa * (1 + cv * x_j)`` with ``x_j`` zero-mean unit-std pink noise
    (1–100 Hz, :func:`pink_noise`) seeded by ``(seed, j)`` from the stimulus' fixed seed, so every
    repeat of a stimulus is identical, the epochs differ, and each epoch's mean is exactly
    ``scales[j] * rheobase_pa`` and its coefficient of variation exactly ``cv``.

    Parameters
    ----------
    rheobase_pa
        Long-square rheobase of the cell, pA.
    which
        1 or 2 (``"Noise 1"`` / ``"Noise 2"``; fixed seeds :data:`NOISE_SEEDS`).
    sampling_rate
        Hz.
    scales
        Epoch means as multiples of the rheobase.
    epoch_duration, gap, start, post
        s.
    cv
        Coefficient of variation of each epoch.
    seed
        Override of the fixed seed (for experiments only; files should keep the fixed seeds).
    test_pulse_pa
        As for :func:`long_square`.
    """
    if which not in (1, 2):
        raise ConfigError(f"noise: which must be 1 or 2, got {which}")
    name = f"Noise {which}"
    rate = _check_rate(sampling_rate)
    seed = NOISE_SEEDS[name] if seed is None else int(seed)
    n_ep = len(scales)
    total = start + n_ep * epoch_duration + (n_ep - 1) * gap + post
    i, epochs = _base(total, rate, test_pulse_pa)
    m = _idx(epoch_duration, rate)
    for j, s in enumerate(scales):
        t0 = start + j * (epoch_duration + gap)
        a = _idx(t0, rate)
        x = pink_noise(epoch_duration, rate, (seed, j))
        i[a:a + m] = s * rheobase_pa * (1.0 + cv * x)
        epochs[f"epoch_{j + 1}"] = (a / rate, (a + m) / rate)
    epochs["stimulus"] = (epochs["epoch_1"][0], epochs[f"epoch_{n_ep}"][1])
    return _wave(name, rheobase_pa, i, rate, epochs, seed=seed, cv=cv)


def protocol_set(
    rheobase_pa: float,
    sampling_rate: float = DEFAULT_SAMPLING_RATE,
    *,
    short_square_threshold_pa: float | None = None,
    long_square_start_pa: float = -110.0,
    long_square_step_pa: float = 20.0,
    long_square_max_pa: float | None = None,
    short_square_steps: Sequence[float] = (-0.1, -0.05, -0.02, 0.0, 0.02, 0.05, 0.1),
    triple_intervals: Sequence[float] = (0.010, 0.015, 0.020, 0.030, 0.050),
    triple_factor: float = 1.2,
    ramp_final_factor: float = 2.0,
    noise_repeats: int = 2,
    noise_kwargs: Mapping[str, object] | None = None,
    post: float = 1.0,
    test_pulse_pa: float | None = TEST_PULSE_PA,
    include_test: bool = False,
) -> Iterator[Waveform]:
    """The whole protocol set for a cell of the given rheobase, in Allen acquisition order.

    Yields (pulse amplitudes rounded to 0.1 pA): Long Squares from ``long_square_start_pa`` upward
    in ``long_square_step_pa`` steps up to ``long_square_max_pa`` (default rheobase + 100 pA);
    Short Squares at
    ``short_square_threshold_pa × (1 + step)`` for each of ``short_square_steps`` (bracketing the
    threshold); Short Square - Triples at ``triple_factor ×`` the short-square threshold for each
    interval; one Ramp to ``ramp_final_factor × rheobase``; then ``noise_repeats`` × Noise 1 and
    ``noise_repeats`` × Noise 2 (interleaved 1, 2, 1, 2, ...).

    Parameters
    ----------
    rheobase_pa
        Long-square rheobase, pA (> 0).
    sampling_rate
        Hz.
    short_square_threshold_pa
        Threshold of a 3 ms pulse, pA; default 5 × rheobase (a typical Allen ratio).
    long_square_start_pa, long_square_step_pa, long_square_max_pa
        pA.
    short_square_steps
        Relative offsets around the short-square threshold.
    triple_intervals
        Onset-to-onset intervals of the triple pulses, s.
    triple_factor, ramp_final_factor
        Multipliers (see above).
    noise_repeats
        Repeats of each noise stimulus.
    noise_kwargs
        Extra keyword arguments of :func:`noise` (e.g. ``gap``).
    post
        Time kept after each stimulus, s.
    test_pulse_pa
        Test pulse of every sweep, pA (``None``: none).
    include_test
        Also yield a ``"Test"`` sweep first.
    """
    if not rheobase_pa > 0:
        raise ConfigError(f"protocol_set: rheobase_pa must be positive, got {rheobase_pa}")
    rate = _check_rate(sampling_rate)
    ss_thr = 5.0 * rheobase_pa if short_square_threshold_pa is None else float(short_square_threshold_pa)
    common = {"test_pulse_pa": test_pulse_pa, "post": post}
    if include_test:
        yield test_sweep(rate, test_pulse_pa=test_pulse_pa or TEST_PULSE_PA)
    top = rheobase_pa + 100.0 if long_square_max_pa is None else long_square_max_pa
    n_ls = int(np.floor((top - long_square_start_pa) / long_square_step_pa + 1e-9)) + 1
    for k in range(max(n_ls, 0)):
        yield long_square(long_square_start_pa + k * long_square_step_pa, rate, **common)
    for s in short_square_steps:
        yield short_square(round(ss_thr * (1.0 + s), 1), rate, **common)
    for interval in triple_intervals:
        yield short_square_triple(round(triple_factor * ss_thr, 1), interval, rate, **common)
    yield ramp(ramp_final_factor * rheobase_pa, rate, **common)
    kw = dict(noise_kwargs or {})
    kw.setdefault("post", post)
    for _ in range(noise_repeats):
        for which in (1, 2):
            yield noise(rheobase_pa, which, rate, test_pulse_pa=test_pulse_pa, **kw)
