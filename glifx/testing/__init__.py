"""Public testing helpers: regression comparison of result folders against reference cells.

- :func:`compare_results` / :func:`assert_results_match` (:mod:`glifx.testing.compare`): compare a
  ``glifx fit`` result folder (or a cohort of them) with an expected one, quantity by quantity,
  within per-class tolerances; ``glifx compare`` on the command line.
- :func:`reference_cells` (:mod:`glifx.testing.reference`): recordings beside their expected
  result folders, refitted and compared.
- :mod:`glifx.testing.pytest_plugin`: ``pytest --glifx-reference DIR`` refits every reference cell
  in DIR and compares; fixtures ``glifx_reference`` and ``glifx_reference_cell``.

Names are imported on first use, so loading the pytest plugin (which imports this package) stays
light for test sessions that do not use it.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "compare_results": "glifx.testing.compare",
    "assert_results_match": "glifx.testing.compare",
    "CellOutputs": "glifx.testing.compare",
    "ReferenceCell": "glifx.testing.reference",
    "Tolerance": "glifx.testing.compare",
    "Tolerances": "glifx.testing.compare",
    "DEFAULT_TOLERANCES": "glifx.testing.compare",
    "reference_cells": "glifx.testing.reference",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'glifx.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
