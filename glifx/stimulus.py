"""The stimulus vocabulary (below every module that uses it): names, name sources, the test-pulse
rule, Allen codes through ipfx's ontology, and classes inferred from the command waveform.

Files that carry stimulus codes (Allen NWB1, MIES NWB2) are named with ipfx's default stimulus
ontology (:func:`name_from_code`).  Files that carry none (ABF, generic NWB2) are classified from
the command current (:func:`classify_sweeps`), with ``name_source = "inferred"``:

=========================  =====================================================================
class                      rule (after an Allen-style test pulse, if any, is set aside)
=========================  =====================================================================
``Long Square``            at least one flat step lasting >= 100 ms
``Short Square``           a single flat step lasting <= 10 ms
``Short Square - Triple``  exactly three flat steps, each <= 10 ms
``Ramp``                   a monotonic stretch of changing command lasting >= 20 ms
``Noise``                  a stretch of changing command lasting >= 20 ms that is not monotonic
``Test``                   nothing but the test pulse
=========================  =====================================================================

Amplitudes (pA):

* Long Square: the step's level minus the holding level (the command's first value).  A protocol
  with several long steps (a hyperpolarising prepulse, two steps per sweep, ...) is resolved across
  the sweeps of the file that share a length and rate: every long-step window is tried, and the
  window whose level varies most from sweep to sweep is *the* step (ties: the earliest).  Sweeps of
  such a family whose command is flat are the family's 0 pA step.  A lone sweep uses its step with
  the largest ``|amplitude|``.
* Short Square and Triple: the pulse's level minus holding (the largest ``|level|`` if they differ).
* Ramp: the command at the end of the ramp, absolute (so a ramp continued across sweeps reports the
  current each sweep reached); flat sweeps in a family of ramps are ramps at their flat level.
* Noise: mean command over the noisy stretch minus holding.

Anything else (steps of 10-100 ms, two or more than three short pulses, a flat command that is not
part of a step family) gets no name and ``name_source = "unknown"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

#: How a sweep's stimulus name was obtained.
NAME_FROM_FILE = "file"
NAME_INFERRED = "inferred"
NAME_UNKNOWN = "unknown"
NAME_SOURCES = (NAME_FROM_FILE, NAME_INFERRED, NAME_UNKNOWN)

#: A first pulse is taken for a test pulse only if it starts before this time (s) ...
TEST_PULSE_MAX_START_S = 0.4
#: ... lasts at most this long (s) ...
TEST_PULSE_MAX_DURATION_S = 0.05
#: ... and is followed by at least this much unchanged command (s) before the stimulus.
TEST_PULSE_MIN_GAP_S = 0.1

LONG_SQUARE = "Long Square"
SHORT_SQUARE = "Short Square"
SHORT_SQUARE_TRIPLE = "Short Square - Triple"
RAMP = "Ramp"
NOISE = "Noise"
TEST = "Test"
#: The Allen protocol set's two frozen noise stimuli: training (Noise 1) and test (Noise 2).
NOISE_1 = "Noise 1"
NOISE_2 = "Noise 2"

#: A flat step at least this long (s) makes a Long Square.
LONG_STEP_MIN_S = 0.1
#: A flat step at most this long (s) is a short square pulse.
SHORT_STEP_MAX_S = 0.01
#: A stretch of continuously changing command at least this long (s) is a ramp or noise.
DYNAMIC_MIN_S = 0.02
#: Command changes closer than this (s) belong to one continuously changing stretch.
DYNAMIC_MAX_GAP_S = 0.001
#: Fraction of same-sign changes above which a changing stretch counts as monotonic (a ramp).
RAMP_MONOTONIC_FRACTION = 0.95


@dataclass(frozen=True)
class StimulusGuess:
    """What a command waveform looks like.

    Attributes
    ----------
    name
        Allen-style class name, or ``None`` when the waveform fits no class.
    amplitude
        pA (see the module docstring for each class), or ``None``.
    name_source
        ``"inferred"`` when ``name`` was inferred, ``"unknown"`` otherwise.
    """

    name: str | None
    amplitude: float | None
    name_source: str
    # internal: long-step windows (start, end) in samples, holding level and flatness, for families
    _long_windows: tuple[tuple[int, int], ...] = field(default=(), repr=False, compare=False)
    _holding: float = field(default=0.0, repr=False, compare=False)
    _flat: bool = field(default=False, repr=False, compare=False)


_UNKNOWN = StimulusGuess(None, None, NAME_UNKNOWN)


@dataclass(frozen=True)
class _Segment:
    start: int  # first sample
    stop: int  # one past the last sample
    dynamic: bool
    level: float  # flat: the level; dynamic: mean over the segment


def _segments(i: np.ndarray, rate: float) -> list[_Segment]:
    """Split a command into flat plateaus and continuously changing stretches."""
    n = i.size
    scale = max(1.0, float(np.max(np.abs(i))))
    edges = np.flatnonzero(np.abs(np.diff(i)) > 1e-9 * scale)  # change between k and k + 1
    bounds = {0, n}
    dynamic: set[int] = set()
    if edges.size:
        max_gap = max(2, int(round(DYNAMIC_MAX_GAP_S * rate)))
        clusters = np.split(edges, np.flatnonzero(np.diff(edges) > max_gap) + 1)
        min_span = DYNAMIC_MIN_S * rate
        for cl in clusters:
            if cl.size >= 10 and cl[-1] - cl[0] >= min_span:
                bounds.update((int(cl[0]) + 1, int(cl[-1]) + 1))
                dynamic.add(int(cl[0]) + 1)
            else:
                bounds.update(int(e) + 1 for e in cl)
    ordered = sorted(bounds)
    out = []
    for a, b in zip(ordered[:-1], ordered[1:], strict=True):
        if a in dynamic:
            out.append(_Segment(a, b, True, float(np.mean(i[a:b]))))
        else:
            out.append(_Segment(a, b, False, float(i[a])))
    return out


def classify_command(i: Any, sampling_rate: float) -> StimulusGuess:
    """Classify one command waveform (pA) sampled at ``sampling_rate`` (Hz).

    Returns
    -------
    StimulusGuess
        Name, amplitude (pA) and name source; see the module docstring for the rules.
    """
    if i is None:
        return _UNKNOWN
    i = np.asarray(i, dtype=np.float64)
    if i.ndim != 1 or i.size < 2 or not np.all(np.isfinite(i)):
        return _UNKNOWN
    rate = float(sampling_rate)
    segs = _segments(i, rate)
    holding = segs[0].level if not segs[0].dynamic else float(i[0])

    def is_base(s: _Segment) -> bool:
        return not s.dynamic and s.level == holding

    active = [s for s in segs if not is_base(s)]
    test_pulse = False
    if active and not active[0].dynamic:
        first = active[0]
        k = segs.index(first)
        after = segs[k + 1] if k + 1 < len(segs) else None
        if (
            first.start < TEST_PULSE_MAX_START_S * rate
            and first.stop - first.start <= TEST_PULSE_MAX_DURATION_S * rate
            and after is not None
            and is_base(after)
            and (after.stop - after.start >= TEST_PULSE_MIN_GAP_S * rate)
        ):  # a lone early pulse counts as a test pulse too: the sweep is then a "Test" sweep
            test_pulse = True
            active = active[1:]
    if not active:
        # flat (after any test pulse): in a family of steps or ramps this is the 0 pA member
        return StimulusGuess(TEST if test_pulse else None, None,
                             NAME_INFERRED if test_pulse else NAME_UNKNOWN, _holding=holding,
                             _flat=True)

    dyn = [s for s in active if s.dynamic]
    if dyn:
        main = max(dyn, key=lambda s: s.stop - s.start)
        d = np.diff(i[main.start - 1:main.stop])
        d = d[d != 0]
        monotonic = d.size and max(np.mean(d > 0), np.mean(d < 0)) >= RAMP_MONOTONIC_FRACTION
        if monotonic:
            # the level the ramp reaches: the first sample after it (or its last sample)
            peak = float(i[min(main.stop, i.size - 1)])
            return StimulusGuess(RAMP, peak, NAME_INFERRED, _holding=holding)
        return StimulusGuess(NOISE, main.level - holding, NAME_INFERRED, _holding=holding)

    steps = [(s.stop - s.start) / rate for s in active]
    amps = [s.level - holding for s in active]
    longs = [s for s, dur in zip(active, steps, strict=True) if dur >= LONG_STEP_MIN_S]
    if longs:
        biggest = max(longs, key=lambda s: abs(s.level - holding))
        return StimulusGuess(
            LONG_SQUARE, biggest.level - holding, NAME_INFERRED,
            _long_windows=tuple((s.start, s.stop) for s in longs), _holding=holding,
        )
    biggest_amp = max(amps, key=abs)
    if all(dur <= SHORT_STEP_MAX_S for dur in steps):
        if len(active) == 1:
            return StimulusGuess(SHORT_SQUARE, biggest_amp, NAME_INFERRED, _holding=holding)
        if len(active) == 3:
            return StimulusGuess(SHORT_SQUARE_TRIPLE, biggest_amp, NAME_INFERRED, _holding=holding)
    return StimulusGuess(None, biggest_amp, NAME_UNKNOWN, _holding=holding)


def classify_sweeps(
    commands: Sequence[Any | None], sampling_rates: float | Sequence[float]
) -> list[StimulusGuess]:
    """Classify the command waveforms (pA) of one file's sweeps, resolving step families.

    Parameters
    ----------
    commands
        One command array per sweep (pA), or ``None`` where it is unknown.
    sampling_rates
        Hz, one for all or one per sweep.

    Returns
    -------
    list of StimulusGuess
        One per sweep, in order.  See the module docstring for how multi-step protocols and flat
        sweeps are resolved across sweeps of equal length and rate.
    """
    n = len(commands)
    rates = [float(sampling_rates)] * n if np.isscalar(sampling_rates) else list(sampling_rates)
    guesses = [classify_command(c, r) for c, r in zip(commands, rates, strict=True)]
    groups: dict[tuple[int, float], list[int]] = {}
    for k, c in enumerate(commands):
        if c is not None and (guesses[k].name_source != NAME_UNKNOWN or guesses[k]._flat):
            groups.setdefault((len(c), rates[k]), []).append(k)
    for members in groups.values():
        names = {guesses[k].name for k in members}
        if LONG_SQUARE in names:
            _resolve_step_family(commands, guesses, members)
        elif RAMP in names:
            for k in members:
                if guesses[k]._flat:
                    level = float(np.asarray(commands[k], dtype=np.float64)[0])
                    guesses[k] = StimulusGuess(RAMP, level, NAME_INFERRED, _holding=level)
    return guesses


def _resolve_step_family(
    commands: Sequence[Any | None], guesses: list[StimulusGuess], members: list[int]
) -> None:
    """Amplitude = level in the long-step window that varies most across the family (in place)."""
    family = [k for k in members if guesses[k].name == LONG_SQUARE or guesses[k]._flat]
    windows = sorted({w for k in family for w in guesses[k]._long_windows})
    arrays = {k: np.asarray(commands[k], dtype=np.float64) for k in family}
    best: tuple[float, int] | None = None
    best_levels: dict[int, float] = {}
    for w_index, (a, b) in enumerate(windows):
        mid = (a + b - 1) // 2
        levels = {k: float(arrays[k][mid]) - guesses[k]._holding for k in family}
        spread = round(max(levels.values()) - min(levels.values()), 9)
        if best is None or spread > best[0]:
            best, best_levels = (spread, w_index), levels
    if best is None or best[0] == 0 or len(family) < 2:
        return
    for k in family:
        guesses[k] = StimulusGuess(LONG_SQUARE, best_levels[k], NAME_INFERRED,
                                   _long_windows=guesses[k]._long_windows,
                                   _holding=guesses[k]._holding)


# ------------------------------------------------------------------ ontology (files with codes)
@lru_cache(maxsize=1)
def _ontology() -> Any:
    from ipfx.stimulus import StimulusOntology

    return StimulusOntology.default()


def name_from_code(code: str | None) -> str | None:
    """The Allen stimulus name for a stimulus code, by ipfx's default stimulus ontology.

    Tries the code as given, then without a MIES ``_DA_0`` suffix, then without a trailing
    six-digit date (``C1LSCOARSE150216`` → ``C1LSCOARSE``).  Returns ``None`` if none matches.
    """
    if not code:
        return None
    import re

    candidates = [code]
    stripped = re.sub(r"_DA_\d+$", "", code)
    candidates.append(stripped)
    candidates.append(re.sub(r"\d{6}(\[\d+\])?$", "", stripped))
    ontology = _ontology()
    for candidate in dict.fromkeys(candidates):
        for stim in ontology.stimuli:
            if stim.has_tag(candidate, tag_type="code"):
                names = stim.tags(tag_type="name", flat=True)
                names = [t for t in names if t != "name"]
                if names:
                    # the ontology files some codes under the name "Unknown": that is no name
                    return None if names[-1] == "Unknown" else names[-1]
    return None
