"""GLIF fitting: preprocessing estimators, optimisation, explained variance, the fit_cell pipeline.

Modules: :mod:`~glifx.fitting.data` (the one place where Sweep units become SI),
:mod:`~glifx.fitting.estimators` (GLIF_SPEC §3 steps 2–8), :mod:`~glifx.fitting.optimize`
(training-EV and reference objectives), :mod:`~glifx.fitting.selection` (choosing between
them by cross-validation inside the training set), :mod:`~glifx.fitting.explained_variance`
(§4), :mod:`~glifx.fitting.pipeline` (:func:`fit_cell`).  Ground-truth cells and held-out
stimuli for validating fits are in :mod:`glifx.testing.validation`.
"""

from glifx.fitting.explained_variance import (
    ExplainedVariance,
    ExplainedVarianceScorer,
    explained_variance_ratio,
)
from glifx.fitting.pipeline import FitResult, LevelFit, fit_cell

__all__ = [
    "ExplainedVariance",
    "ExplainedVarianceScorer",
    "FitResult",
    "LevelFit",
    "explained_variance_ratio",
    "fit_cell",
]
