"""glifx: quality control, feature extraction and GLIF fitting of whole-cell current-clamp recordings.

The public face (imported lazily, so ``import glifx`` stays fast)::

    cell = glifx.load_cell("cell.nwb")            # NWB2 (MIES or generic), Allen NWB1, ABF
    qc = glifx.run_qc(cell)                       # QCResult
    feats = glifx.extract_features(cell, qc=qc)   # CellFeatures
    fit = glifx.fit_cell(cell, levels=(1, 2, 3, 4, 5))
    result = glifx.process_cell("cell.nwb", "results/")   # all of the above + the output folder
    cohort = glifx.fit_cohort(["cells/"], "results/")     # many cells on dask.distributed
    model = glifx.GlifModel.from_allen_config(config_dict)
    out = glifx.simulate(model, stimulus_A, dt=5e-6)
"""

from __future__ import annotations

import importlib
from typing import Any

from glifx.errors import ConfigError, FileFormatError, GlifxError, OutputError, SweepError
from glifx.sweep import Cell, Sweep, SweepRecord

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use)
_LAZY = {
    "load_cell": "glifx.io",
    "write_nwb": "glifx.io",
    "run_qc": "glifx.qc",
    "extract_features": "glifx.features",
    "fit_cell": "glifx.fitting",
    "process_cell": "glifx.process",
    "CellResult": "glifx.process",
    "fit_cohort": "glifx.batch",
    "GlifModel": "glifx.glif",
    "simulate": "glifx.glif",
    "simulate_many": "glifx.glif",
    "set_threads": "glifx.glif",
}

__all__ = [
    "Cell",
    "ConfigError",
    "FileFormatError",
    "GlifxError",
    "OutputError",
    "Sweep",
    "SweepError",
    "SweepRecord",
    "__version__",
    *_LAZY,
]


# PEP 562 hook for the _LAZY names; the same six lines stand in glifx.qc and glifx.testing (deliberately
# written out: each names its own package in the error, no shared helper to import first)
def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'glifx' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
