"""Cell QC: judge the cell-level measurements a file holds (seal, access, blowout, electrode 0).

Readers put these values into ``Cell.metadata`` under the keys of :data:`CELL_METADATA_KEYS`
(e.g. from MIES NWB2 lab-notebook entries or Allen NWB1 ``sweep_data``).  A value that is absent,
``None`` or NaN is "not measured": it is reported, and does not fail the cell unless
``QCCriteria.not_measured_fails``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from glifx.qc.cell_measure import ProtocolMeasurements
from glifx.qc.criteria import QCCriteria
from glifx.qc.sweep_qc import fmt_value

#: ``Cell.metadata`` keys read by cell QC → meaning and unit.
CELL_METADATA_KEYS: dict[str, str] = {
    "blowout_mv": "blowout voltage (pipette potential after withdrawal), mV",
    "electrode_0_pa": "electrode offset current in the bath before sealing ('electrode 0'), pA",
    "seal_gohm": "seal resistance, GΩ",
    "initial_access_resistance_mohm": "access (series) resistance at break-in, MΩ",
    "input_resistance_mohm": "input resistance at break-in, MΩ",
    "input_access_resistance_ratio": "access / input resistance (computed from the two above if absent)",
}

#: Cell measurement columns, in report order.
CELL_MEASUREMENTS = tuple(CELL_METADATA_KEYS)


@dataclass
class CellQC:
    """QC outcome of the cell-level measurements (before counting passed sweeps).

    Attributes
    ----------
    measurements
        :data:`CELL_MEASUREMENTS` → value (NaN when not measured).
    reasons
        Readable failures, e.g. ``"seal_gohm 0.5 < 1"``.
    not_measured
        ``"<measurement>: <why>"`` for each measurement the file does not hold.
    sources
        Where each value came from: ``"file metadata"``, ``"sweep N (<code>)"`` or ``"computed"``.
    """

    measurements: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    not_measured: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)


def _number(metadata: Mapping[str, Any], key: str) -> float:
    value = metadata.get(key)
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def qc_cell_metadata(
    metadata: Mapping[str, Any],
    criteria: QCCriteria | None = None,
    protocol: ProtocolMeasurements | None = None,
) -> CellQC:
    """Judge the cell-level QC measurements (see :data:`CELL_METADATA_KEYS`).

    Parameters
    ----------
    metadata
        ``Cell.metadata``; values in the units of the key names (mV, pA, GΩ, MΩ).  They take
        precedence over ``protocol``.
    criteria
        Limits; default Allen v1.1.
    protocol
        Values measured from the file's protocol sweeps
        (:func:`glifx.qc.cell_measure.measure_protocol_sweeps`), used where metadata has none.
    """
    c = criteria if criteria is not None else QCCriteria()
    out = CellQC()
    m: dict[str, float] = {}
    for key in CELL_MEASUREMENTS:
        m[key] = _number(metadata, key)
        if math.isfinite(m[key]):
            out.sources[key] = "file metadata"
        elif protocol is not None and key in protocol.values:
            m[key] = protocol.values[key]
            out.sources[key] = protocol.sources[key]
    if math.isnan(m["input_access_resistance_ratio"]):
        ra, rin = m["initial_access_resistance_mohm"], m["input_resistance_mohm"]
        if math.isfinite(ra) and math.isfinite(rin) and rin != 0:
            m["input_access_resistance_ratio"] = ra / rin
            out.sources["input_access_resistance_ratio"] = "computed"
    out.measurements = m
    problems = protocol.problems if protocol is not None else {}

    def check_range(key: str, lo: float, hi: float) -> None:
        x = m[key]
        if math.isnan(x):
            out.not_measured.append(f"{key}: {problems.get(key, 'not in the file')}")
        elif x < lo:
            out.reasons.append(f"{key} {fmt_value(x, lo)} < {lo:g}")
        elif x > hi:
            out.reasons.append(f"{key} {fmt_value(x, hi)} > {hi:g}")

    check_range("blowout_mv", c.blowout_mv_min, c.blowout_mv_max)
    check_range("electrode_0_pa", c.electrode_0_pa_min, c.electrode_0_pa_max)
    check_range("seal_gohm", c.seal_gohm_min, math.inf)
    check_range(
        "initial_access_resistance_mohm", c.access_resistance_mohm_min, c.access_resistance_mohm_max
    )
    if math.isnan(m["input_access_resistance_ratio"]):
        pair = ("initial_access_resistance_mohm", "input_resistance_mohm")
        missing = [k for k in pair if math.isnan(m[k])]
        why = f"{' and '.join(missing)} not in the file" if missing else "input resistance is 0"
        out.not_measured.append(f"input_access_resistance_ratio: {why}")
    else:
        check_range("input_access_resistance_ratio", -math.inf, c.input_vs_access_resistance_max)
    if c.not_measured_fails:
        out.reasons.extend(f"not measured: {s}" for s in out.not_measured)
    return out
