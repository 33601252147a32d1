"""GLIF fitting: preprocessing estimators, optimisation, explained variance, the fit_cell pipeline.

Modules, in the order of the data flow: :mod:`~glifx.fitting.data` (the one place where Sweep
units become SI), :mod:`~glifx.fitting.estimators` (GLIF_SPEC §3 steps 2–8, on
:class:`~glifx.fitting.data.SISweep` sequences), :mod:`~glifx.fitting.preprocess` (the
estimates every level starts from, typed, each made or failed with its reason),
:mod:`~glifx.fitting.scoring` (a model scored against recorded spike trains) and
:mod:`~glifx.fitting.explained_variance` (§4), :mod:`~glifx.fitting.optimize` (training-EV and
reference objectives), :mod:`~glifx.fitting.selection` (which optimisers a level fits, and the
cross-validation that chooses between them), :mod:`~glifx.fitting.pipeline` (:func:`fit_cell`,
one level at a time), :mod:`~glifx.fitting.flags` (fitted parameters at a bound of their search
or of a forbidden sign or relation), :mod:`~glifx.fitting.uncertainty` (standard errors and 95 %
intervals through lmfit), :mod:`~glifx.fitting.evaluate` (what a fitted model does on the cell's
protocols: plain arrays for reports).  Ground-truth cells and held-out
stimuli for validating fits are in :mod:`glifx.testing.validation`, the validation bench in
:mod:`glifx.testing.bench`.
"""

from glifx.fitting.data import FitData, SISweep
from glifx.fitting.evaluate import FitEvaluation, evaluate_fit
from glifx.fitting.explained_variance import (
    ExplainedVariance,
    ExplainedVarianceScorer,
    explained_variance_ratio,
)
from glifx.fitting.pipeline import FitResult, LevelFit, fit_cell
from glifx.fitting.preprocess import Failed, Preprocessing
from glifx.fitting.scoring import SpikeTrainData
from glifx.fitting.selection import Selection

__all__ = [
    "ExplainedVariance",
    "Failed",
    "FitData",
    "FitEvaluation",
    "Preprocessing",
    "SISweep",
    "Selection",
    "SpikeTrainData",
    "evaluate_fit",
    "ExplainedVarianceScorer",
    "FitResult",
    "LevelFit",
    "explained_variance_ratio",
    "fit_cell",
]
