"""NEST and BMTK parameter sets from a fitted or published :class:`~glifx.glif.GlifModel`.

:func:`to_nest` gives NEST's ``glif_psc`` / ``glif_cond`` parameters (conversion table and the
differences between the simulators in :mod:`glifx.export.nest`); :func:`to_bmtk` wraps them as a
BMTK PointNet cell model.  This layer imports only :mod:`glifx.glif` (and NEST, lazily, for
:func:`simulate_nest`).
"""

from glifx.export.bmtk import to_bmtk
from glifx.export.nest import (
    RESET_MODES,
    NestNeuron,
    NestRun,
    clip_reset,
    simulate_nest,
    spike_cut_seconds,
    step_current,
    to_nest,
)

__all__ = [
    "NestNeuron",
    "NestRun",
    "RESET_MODES",
    "clip_reset",
    "simulate_nest",
    "spike_cut_seconds",
    "step_current",
    "to_bmtk",
    "to_nest",
]
