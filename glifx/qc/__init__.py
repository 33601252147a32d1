"""Sweep and cell quality control: criteria, measurements, verdicts with reasons.

>>> qc = glifx.run_qc(cell)                     # doctest: +SKIP
>>> qc.passed_sweeps                            # the sweeps features and fitting use  # doctest: +SKIP
>>> qc.write("out/cell1")                       # qc.csv + qc.json                     # doctest: +SKIP

Criteria are the Allen "Ephys QC Criteria v1.1" by default (:class:`QCCriteria`); sweep measurements
follow ipfx's definitions (see :mod:`glifx.qc.sweep_qc`); cell measurements come from
``Cell.metadata`` (keys in :data:`CELL_METADATA_KEYS`) and bias currents from
``Sweep.metadata["bias_current_pa"]`` (:data:`SWEEP_BIAS_CURRENT_KEY`).

Names are imported on first use, so ``import glifx.qc.criteria`` (e.g. by the CLI) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from glifx.qc.cell_measure import ProtocolMeasurements, measure_protocol_sweeps
    from glifx.qc.cell_qc import CELL_MEASUREMENTS, CELL_METADATA_KEYS, CellQC, qc_cell_metadata
    from glifx.qc.core import QC_SWEEP_COLUMNS, QCResult, resolve_criteria, run_qc
    from glifx.qc.criteria import QCCriteria
    from glifx.qc.sweep_qc import (
        SWEEP_BIAS_CURRENT_KEY,
        SWEEP_MEASUREMENTS,
        SweepQC,
        bias_current_from_metadata,
        measure_vm,
        qc_sweep,
    )

_LAZY = {
    "CELL_MEASUREMENTS": "glifx.qc.cell_qc",
    "CELL_METADATA_KEYS": "glifx.qc.cell_qc",
    "CellQC": "glifx.qc.cell_qc",
    "ProtocolMeasurements": "glifx.qc.cell_measure",
    "measure_protocol_sweeps": "glifx.qc.cell_measure",
    "qc_cell_metadata": "glifx.qc.cell_qc",
    "QC_SWEEP_COLUMNS": "glifx.qc.core",
    "QCResult": "glifx.qc.core",
    "resolve_criteria": "glifx.qc.core",
    "run_qc": "glifx.qc.core",
    "QCCriteria": "glifx.qc.criteria",
    "SWEEP_BIAS_CURRENT_KEY": "glifx.qc.sweep_qc",
    "SWEEP_MEASUREMENTS": "glifx.qc.sweep_qc",
    "SweepQC": "glifx.qc.sweep_qc",
    "bias_current_from_metadata": "glifx.qc.sweep_qc",
    "measure_vm": "glifx.qc.sweep_qc",
    "qc_sweep": "glifx.qc.sweep_qc",
}

__all__ = [
    "CELL_MEASUREMENTS",
    "CELL_METADATA_KEYS",
    "CellQC",
    "ProtocolMeasurements",
    "QCCriteria",
    "QCResult",
    "QC_SWEEP_COLUMNS",
    "SWEEP_BIAS_CURRENT_KEY",
    "SWEEP_MEASUREMENTS",
    "SweepQC",
    "bias_current_from_metadata",
    "measure_protocol_sweeps",
    "measure_vm",
    "qc_cell_metadata",
    "qc_sweep",
    "resolve_criteria",
    "run_qc",
]


# PEP 562 hook for the _LAZY names; the same six lines stand in glifx and glifx.testing (deliberately
# written out: each names its own package in the error, no shared helper to import first)
def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'glifx.qc' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
