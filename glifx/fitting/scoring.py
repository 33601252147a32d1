"""Scoring a model against recorded spike trains: :class:`SpikeTrainData`.

The stimuli and recorded spikes of repeated sweeps on one grid, with the explained-variance
scorer (GLIF_SPEC §4, :mod:`glifx.fitting.explained_variance`) built once; a model is simulated
with the compiled simulator (one run per distinct stimulus) and scored.  The optimisers, the
cross-validation and the evaluation of fitted models all score through it.

Each distinct stimulus is checked once (:class:`glifx.glif.CheckedStimulus`) and its silent
stretches are crossed in closed form where the model provably cannot spike
(``simulate_many(skip_quiet=True)``): the 7 s gaps between the three epochs of a Noise sweep are
two thirds of its 25 s, and every optimiser step simulated them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from glifx.errors import ConfigError
from glifx.fitting.explained_variance import ExplainedVariance, ExplainedVarianceScorer

if TYPE_CHECKING:
    from glifx.glif import CheckedStimulus


@dataclass(frozen=True, eq=False)
class SpikeTrainData:
    """Stimuli and recorded spikes of repeated sweeps on one grid: what a model is scored on.

    Attributes
    ----------
    stimuli
        Injected current per sweep, A.
    spikes
        Recorded spike sample indices per sweep.
    dt
        Sample interval, s (the model is simulated at this step).
    n_samples
        Common grid length (the shortest sweep).
    """

    stimuli: list[np.ndarray]
    spikes: list[np.ndarray]
    dt: float
    n_samples: int
    _unique: list[int] = field(default_factory=list, repr=False)
    _scorer: ExplainedVarianceScorer | None = field(default=None, repr=False)
    _checked: list[CheckedStimulus] = field(default_factory=list, repr=False)

    @classmethod
    def from_sweeps(cls, sweeps: Sequence[Any]) -> SpikeTrainData:
        """From :class:`glifx.fitting.data.SISweep` objects (same ``dt``)."""
        if not sweeps:
            raise ConfigError("no sweeps to score a model on")
        dts = {round(s.dt, 15) for s in sweeps}
        if len(dts) != 1:
            raise ConfigError(f"sweeps have different sample intervals: {sorted(dts)}")
        return cls.from_arrays([s.i for s in sweeps], [s.spikes for s in sweeps],
                               float(sweeps[0].dt))

    @classmethod
    def from_arrays(cls, stimuli: Sequence[np.ndarray], spikes: Sequence[np.ndarray],
                    dt: float) -> SpikeTrainData:
        """From injected currents (A) and spike sample indices per sweep, sampled every ``dt``
        s; cut to the shortest sweep."""
        if not stimuli:
            raise ConfigError("no sweeps to score a model on")
        n = min(st.size for st in stimuli)
        stimuli = [np.ascontiguousarray(st[:n]) for st in stimuli]
        spikes = [sp[sp < n] for sp in map(np.asarray, spikes)]
        # identical stimuli (repeats of one protocol) are simulated once
        unique: list[int] = []
        firsts: list[np.ndarray] = []
        for st in stimuli:
            for k, f in enumerate(firsts):
                if np.array_equal(st, f):
                    unique.append(k)
                    break
            else:
                unique.append(len(firsts))
                firsts.append(st)
        from glifx.glif import CheckedStimulus

        scorer = ExplainedVarianceScorer(spikes, n, dt)
        checked = [CheckedStimulus.of(st, f"stimulus of sweep {unique.index(k)}")
                   for k, st in enumerate(firsts)]
        return cls(stimuli, spikes, float(dt), n, unique, scorer, checked)

    def simulate(self, model: Any) -> list[np.ndarray]:
        """The model's spike steps for each sweep (one run per distinct stimulus)."""
        return self.simulate_checked(model)[0]

    def _distinct_stimuli(self) -> list[CheckedStimulus]:
        """One stimulus per distinct protocol, in the order of the indices in ``_unique``."""
        return self._checked

    def simulate_checked(self, model: Any) -> tuple[list[np.ndarray], bool]:
        """Spike steps per sweep and whether any run stopped at a bad reset (reset state above
        threshold: the model would fire without end)."""
        from glifx.glif import simulate_many

        runs, trunc = simulate_many(model, self._distinct_stimuli(), self.dt,
                                    return_truncated=True, skip_quiet=True)
        return [runs[k] for k in self._unique], bool(np.any(trunc >= 0))

    def score(self, model: Any) -> ExplainedVariance:
        """Explained variance of ``model`` against these sweeps."""
        return self.score_many([model])[0]

    def score_with_runs(self, model: Any) -> tuple[ExplainedVariance, list[np.ndarray]]:
        """:meth:`score` of ``model`` and its spike steps per sweep (as :meth:`simulate`), from
        the same runs."""
        from glifx.glif import simulate_many

        runs = simulate_many(model, self._distinct_stimuli(), self.dt, skip_quiet=True)
        return self._score_runs(runs), [runs[k] for k in self._unique]

    def _score_runs(self, runs: Sequence[np.ndarray]) -> ExplainedVariance:
        """Explained variance of one model's runs on :meth:`_distinct_stimuli`."""
        assert self._scorer is not None
        if len(runs) == 1:
            return self._scorer.score(runs[0])
        return self._scorer.score([runs[k] for k in self._unique])

    def score_many(self, models: Sequence[Any]) -> list[ExplainedVariance]:
        """Explained variance of each of ``models`` (all runs in one parallel batch)."""
        from glifx.glif import simulate_many

        stims = self._distinct_stimuli()
        runs = simulate_many(list(models), stims, self.dt, skip_quiet=True)
        n = len(stims)
        return [self._score_runs(runs[j * n : (j + 1) * n]) for j in range(len(models))]
