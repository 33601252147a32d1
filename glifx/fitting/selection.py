"""Choosing between optimisers by cross-validation inside the training set.

The training EV ratio of a deterministic model against a few repeats of one frozen stimulus is
rugged in θ∞ (one spike more or less re-phases the rest of the train).  On cells that no GLIF
level contains (conductance-based models, real neurons) its tall narrow peaks can be coincidences
of the training stimulus, and the reference method's smooth likelihood then generalises better; on
cells a GLIF level does contain, the EV optimum is the better one.  Which case holds is decided
without looking at the test set: both optimisers are refitted on one half of the training data
and scored on the other (:func:`cross_validate`), per cell at GLIF3 and, where that chose the
reference, per level at GLIF4/5 (:data:`SELECT_LEVELS`, :data:`GATE_LEVEL`).  Which optimisers
a level fits is the plain policy :func:`optimisers`; which one wins, :func:`choose`.

The halves (:func:`split_halves`) are blocked in time: every stretch of stimulus of at least
``min_run_s`` (the three Noise epochs) is cut in two; fold A joins the first halves, fold B the
second, each preceded by ``gap_s`` of the holding current so that the model relaxes between
them.  Each fold so holds every stimulus amplitude, and the repeats stay repeats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from glifx.errors import ConfigError, GlifxError
from glifx.fitting.scoring import SpikeTrainData

#: The two optimisers (:mod:`glifx.fitting.optimize`): maximise the training explained variance,
#: or the published method's forced-spike likelihood.
EV, REFERENCE = "ev", "reference"
#: Values of ``fit_cell``'s ``method``: the EV optimiser at every level, the reference at every
#: level, or the EV optimiser except where :func:`optimisers` lets a cross-validation choose.
METHODS = ("select", EV, REFERENCE)
#: Levels at which ``method="select"`` may choose the reference optimiser instead of the EV
#: optimiser, by cross-validation on the training set.  At :data:`GATE_LEVEL` the
#: cross-validation always runs; at the others only when it chose the reference at
#: :data:`GATE_LEVEL` too.  GLIF1/2 always use the EV optimiser.
SELECT_LEVELS = (3, 4, 5)
#: The level whose cross-validation decides whether the reference is considered at all.  Why
#: the gate (measured: mean EV on held-out Noise stimuli, 16 ground-truth GLIF cells and 18
#: conductance-based ones; README, "Why the choice"): at GLIF3 both optimisers share the
#: preprocessing and the EV optimiser's fits to half the data are stable, so the comparison
#: tells whether maximising the training EV over θ∞ overfits this cell (it does on
#: conductance-based cells, not on GLIF cells).  At GLIF4/5 the half-data EV fits are unstable
#: on GLIF cells and a cross-validation there alone wrongly preferred the reference (a cell lost
#: 0.25 at GLIF4, another 0.37 at GLIF5); behind the gate it never ran on a GLIF cell, and on
#: the conductance-based cells it raised the mean at GLIF4 0.531 -> 0.541 and at GLIF5
#: 0.525 -> 0.537 (worst cell -0.018).
GATE_LEVEL = 3


def optimisers(level: int, method: str, gate: str | None) -> tuple[str, ...]:
    """The optimisers fitted at ``level``; with two, a cross-validation chooses between them.

    Parameters
    ----------
    level
        GLIF level, 1–5.
    method
        ``"ev"`` or ``"reference"`` (that optimiser alone) or ``"select"``.
    gate
        With ``"select"``: the optimiser the cross-validation at :data:`GATE_LEVEL` chose, or
        ``None`` when it has not run or could not (read as ``"ev"``).
    """
    if method != "select":
        return (method,)
    if level == GATE_LEVEL or (level in SELECT_LEVELS and gate == REFERENCE):
        return (EV, REFERENCE)
    return (EV,)


def needs_gate(level: int, method: str) -> bool:
    """Whether :func:`optimisers` needs the :data:`GATE_LEVEL` choice to answer for ``level``."""
    return method == "select" and level in SELECT_LEVELS and level != GATE_LEVEL


def choose(scores: Mapping[str, float]) -> str:
    """The candidate with the highest held-out score; ties go to the first."""
    if not scores:
        raise ConfigError("no candidates to choose from")
    names = list(scores)
    return max(names, key=lambda n: (scores[n], -names.index(n)))


#: Shortest stretch of stimulus (s) that :func:`split_halves` cuts in two.
MIN_RUN_S = 1.0
#: Holding current (s) before each half in a fold.
GAP_S = 0.5
#: Interruptions of the stimulus shorter than this (s) do not end a stretch.
MERGE_S = 0.05


def stimulus_runs(i: np.ndarray, window: tuple[int, int] | None, dt: float, *,
                  min_run_s: float = MIN_RUN_S, merge_s: float = MERGE_S) -> list[tuple[int, int]]:
    """Half-open sample ranges ``[a, b)`` where a stimulus is applied for at least ``min_run_s``.

    "Applied" is a current differing from the holding current (the median before ``window``)
    by more than 0.1 % of the largest difference; gaps under ``merge_s`` are bridged.  Without
    such stretches, the whole stimulus ``window`` (inclusive sample range) is one run.

    Parameters
    ----------
    i
        Injected current, A.
    window
        Inclusive ``(start, end)`` samples of the stimulus epoch, or ``None`` (whole sweep).
    dt
        Sample interval, s.
    """
    a0, b0 = (0, i.size) if window is None else (int(window[0]), min(int(window[1]) + 1, i.size))
    hold = float(np.median(i[:a0])) if a0 > 0 else 0.0
    diff = np.abs(i[a0:b0] - hold)
    if diff.size == 0 or not np.any(diff > 0):
        return [(a0, b0)] if b0 - a0 >= 2 else []
    on = diff > 1e-3 * float(diff.max())
    edges = np.flatnonzero(np.diff(np.concatenate(([0], on.view(np.int8), [0]))))
    runs = [[int(s) + a0, int(e) + a0] for s, e in zip(edges[::2], edges[1::2], strict=True)]
    merged = [runs[0]]
    for s, e in runs[1:]:
        if (s - merged[-1][1]) * dt < merge_s:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    long = [(s, e) for s, e in merged if (e - s) * dt >= min_run_s]
    return long or [(a0, b0)]


def split_halves(sweeps: Sequence[Any], *, min_run_s: float = MIN_RUN_S,
                 gap_s: float = GAP_S) -> tuple[SpikeTrainData, SpikeTrainData]:
    """Two blocked folds of the training sweeps: the first and the second half of every stretch
    of stimulus (:func:`stimulus_runs` of the first sweep), each after ``gap_s`` of holding
    current.

    Parameters
    ----------
    sweeps
        :class:`glifx.fitting.data.SISweep` objects of one protocol (same ``dt``; the stretches
        are found on the first one).

    Returns
    -------
    (fold_a, fold_b)
        :class:`~glifx.fitting.scoring.SpikeTrainData` of the first and of the second halves.

    Raises
    ------
    ConfigError
        When there are no sweeps or the stimulus is too short to halve.
    """
    if not sweeps:
        raise ConfigError("no training sweeps to split")
    first = sweeps[0]
    dt = float(first.dt)
    runs = stimulus_runs(first.i, first.stimulus, dt, min_run_s=min_run_s)
    if not runs or min(e - s for s, e in runs) < 4:
        raise ConfigError("the training stimulus is too short to cut into two halves")
    halves = ([(s, (s + e) // 2) for s, e in runs], [((s + e) // 2, e) for s, e in runs])
    a0 = 0 if first.stimulus is None else int(first.stimulus[0])
    gap = max(int(round(gap_s / dt)), 1)
    folds = []
    for windows in halves:
        stimuli, spikes = [], []
        for sw in sweeps:
            hold = float(np.median(sw.i[:a0])) if a0 > 0 else 0.0
            sp = np.asarray(sw.spikes, dtype=np.int64)
            parts, steps, offset = [], [], 0
            for s, e in windows:
                parts += [np.full(gap, hold), sw.i[s:e]]
                offset += gap
                steps.append(sp[(sp >= s) & (sp < e)] - s + offset)
                offset += e - s
            stimuli.append(np.concatenate(parts))
            spikes.append(np.concatenate(steps))
        folds.append(SpikeTrainData.from_arrays(stimuli, spikes, dt))
    return folds[0], folds[1]


@dataclass(frozen=True)
class Selection:
    """Outcome of :func:`cross_validate`.

    Attributes
    ----------
    choice
        Name of the chosen candidate.
    scores
        Candidate -> EV ratio on the held-out half, averaged over the two folds (a fit that
        failed or gave no EV scores -1).
    fold_scores
        Candidate -> the two held-out EV ratios (fitted on A scored on B, then the reverse).
    """

    choice: str
    scores: dict[str, float]
    fold_scores: dict[str, tuple[float, float]]

    def describe(self) -> str:
        """One line, e.g. ``"reference optimiser chosen by cross-validation (held-out halves
        EV 0.567 vs ev 0.515)"``."""
        others = ", ".join(f"{n} {v:.3f}" for n, v in self.scores.items() if n != self.choice)
        return (f"{self.choice} optimiser chosen by cross-validation (held-out halves EV "
                f"{self.scores[self.choice]:.3f} vs {others})")


def cross_validate(fitters: Mapping[str, Callable[[SpikeTrainData], Any]],
                   folds: tuple[SpikeTrainData, SpikeTrainData]) -> Selection:
    """Fit each candidate on one fold, score it on the other, both ways; keep the best mean.

    Parameters
    ----------
    fitters
        Candidate name -> function fitting a model (:class:`glifx.glif.GlifModel`) to a
        :class:`~glifx.fitting.scoring.SpikeTrainData`.  Ties go to the first candidate.
    folds
        The two halves (:func:`split_halves`).
    """
    if not fitters:
        raise ConfigError("no candidates to choose from")
    names = list(fitters)
    per: dict[str, list[float]] = {n: [] for n in names}
    for train, held in (folds, folds[::-1]):
        models, fitted = [], []
        for name in names:
            try:
                models.append(fitters[name](train))
                fitted.append(name)
            except GlifxError:
                per[name].append(-1.0)
        for name, sc in zip(fitted, held.score_many(models), strict=True):
            per[name].append(float(sc.ratio) if np.isfinite(sc.ratio) else -1.0)
    scores = {n: float(np.mean(v)) for n, v in per.items()}
    return Selection(choose(scores), scores, {n: (v[0], v[1]) for n, v in per.items()})
