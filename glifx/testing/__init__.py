"""Public testing and validation helpers (no pipeline stage imports this package).

- :mod:`glifx.testing.validation`: ground-truth cells recorded from any GLIF config through the
  standard protocol set (:func:`~glifx.testing.validation.ground_truth_cell`), parameter recovery
  (:func:`~glifx.testing.validation.recovery`) and held-out Noise stimuli
  (:func:`~glifx.testing.validation.held_out_noise_sets`, :func:`~glifx.testing.validation.held_out_ev`).
- :mod:`glifx.testing.bench`: the validation bench (``python -m glifx.testing.bench``):
  ground-truth cells from Allen configs (every level as truth) and conductance cells under
  documented recording conditions, fitted and compared with their truth; the fixed development /
  check split of the configs.
- :mod:`glifx.testing.sweeps`: synthetic current-clamp sweeps with spike-shaped events
  (:func:`~glifx.testing.sweeps.spike_train_sweep`), for detector tests and benchmarks.
- :mod:`glifx.testing.compare`: :func:`compare_results` / :func:`assert_results_match` compare a
  ``glifx fit`` result folder (or a cohort of them) with an expected one, quantity by quantity,
  within per-class tolerances (``glifx compare`` on the command line).
- :mod:`glifx.testing.reference`: reference cells (:func:`reference_cells`), recordings beside
  their expected result folders, refitted and compared.
- :mod:`glifx.testing.pytest_plugin`: ``pytest --glifx-reference DIR`` refits every reference cell
  of DIR and compares; fixtures ``glifx_reference`` and ``glifx_reference_cell``.

The names listed here are imported on first use, so that loading the pytest plugin (which
imports this package, in every pytest session where glifx is installed) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "compare_results": "glifx.testing.compare",
    "assert_results_match": "glifx.testing.compare",
    "CellOutputs": "glifx.testing.compare",
    "Tolerance": "glifx.testing.compare",
    "Tolerances": "glifx.testing.compare",
    "DEFAULT_TOLERANCES": "glifx.testing.compare",
    "ReferenceCell": "glifx.testing.reference",
    "reference_cells": "glifx.testing.reference",
}

__all__ = list(_LAZY)


# PEP 562 hook for the _LAZY names; the same six lines stand in glifx and glifx.qc (deliberately
# written out: each names its own package in the error, no shared helper to import first)
def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'glifx.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
