"""Cell QC measurements from the protocol sweeps of an Allen/MIES recording (ipfx's definitions).

Allen/MIES experiments record, besides the current-clamp sweeps, a few sweeps that document the
patch: electrode in the bath (``EXTPINBATH``), cell-attached seal test (``EXTPCllATT``), break-in
(``EXTPBREAKN``) and blowout (``EXTPBLWOUT``).  When a file holds them (the stimulus code or name
contains one of the tags in :class:`~glifx.qc.QCCriteria`), the last one of each kind gives:

==================================  ================================================================
measurement                         definition
==================================  ================================================================
``electrode_0_pa``                  mean current over the first 5 ms of the bath sweep, pA
``blowout_mv``                      mean voltage of the blowout sweep after its test-pulse epoch
                                    (the pulse end plus as many samples as precede the pulse), mV
``seal_gohm``                       seal test (voltage clamp): for every command pulse after the
                                    first, ΔV/ΔI between the 1 ms before the pulse and the 1 ms
                                    before its end, averaged; mV/pA = GΩ
``input_resistance_mohm``           the same on the break-in sweep, in MΩ
``initial_access_resistance_mohm``  break-in sweep: ΔV/ΔI between the 1 ms before each pulse and
                                    the current peak within it, averaged, MΩ
==================================  ================================================================

Values given by the reader in ``Cell.metadata`` (keys :data:`glifx.qc.CELL_METADATA_KEYS`) take
precedence over these measurements.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from glifx.errors import GlifxError
from glifx.qc.criteria import QCCriteria
from glifx.sweep import VOLTAGE_CLAMP, Cell, Sweep

#: Electrode-0 averaging window at the start of the bath sweep, s.
ELECTRODE_0_WINDOW_S = 0.005
#: Window before a pulse edge averaged for seal and resistance, s.
PULSE_BASELINE_S = 0.001
#: A first command change later than this is not a test pulse (s), as in ipfx.
TEST_PULSE_MAX_TIME_S = 0.4


@dataclass
class ProtocolMeasurements:
    """Cell values measured from protocol sweeps.

    Attributes
    ----------
    values
        Measurement name → value (only those measured).
    sources
        Measurement name → ``"sweep N (<code>)"``.
    problems
        Measurement name → why a protocol sweep that exists gave no value.
    """

    values: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


def _matches(tags: Sequence[str], *texts: str | None) -> bool:
    texts_cf = [t.casefold() for t in texts if t]
    return any(tag.casefold() in t for tag in tags for t in texts_cf)


def measure_electrode_0(sweep: Sweep) -> float:
    """Mean current over the first 5 ms of a bath sweep, pA (NaN if it cannot be measured)."""
    n = int(ELECTRODE_0_WINDOW_S * sweep.sampling_rate)
    if sweep.i is None or n < 1:
        return math.nan
    return float(np.mean(sweep.i[:n]))


def measure_blowout(sweep: Sweep) -> float:
    """Mean voltage after the test-pulse epoch of a blowout sweep, mV (NaN without a test pulse)."""
    command = sweep.i if sweep.clamp_mode != VOLTAGE_CLAMP else sweep.v
    if command is None or sweep.epochs.recording is None:
        return math.nan
    changes = np.flatnonzero(np.diff(command))
    if changes.size < 2 or changes[0] >= TEST_PULSE_MAX_TIME_S * sweep.sampling_rate:
        return math.nan
    start, end = int(changes[0]) + 1, int(changes[1])
    v = sweep.v[: sweep.epochs.recording[1] + 1]
    tail = v[end + start:]
    return float(np.mean(tail)) if tail.size else math.nan


def _pulses(command: np.ndarray) -> list[tuple[int, int]]:
    """Rising and falling edges of the command's square pulses, the first (test) pulse skipped."""
    d = np.diff(command)
    up, down = np.flatnonzero(d > 0)[1:], np.flatnonzero(d < 0)[1:]
    if up.size != down.size or np.any(up >= down):
        raise ValueError("the command pulses are not complete positive square pulses")
    return list(zip(up.tolist(), down.tolist(), strict=True))


def pulse_resistance(sweep: Sweep, *, peak: bool = False) -> float:
    """ΔV/ΔI of the command pulses of a voltage-clamp sweep, mV/pA (= GΩ); NaN without pulses.

    With ``peak=False`` the steady state (the 1 ms before each pulse ends) is used, with
    ``peak=True`` the sample of peak current within the pulse (access resistance).
    """
    if sweep.i is None:
        return math.nan
    v, i = np.asarray(sweep.v), np.asarray(sweep.i)
    n = int(PULSE_BASELINE_S * sweep.sampling_rate)
    pulses = _pulses(v)
    if not pulses or n < 1:
        return math.nan
    r = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for up, down in pulses:
            v0, i0 = np.mean(v[up - 1 - n:up - 1]), np.mean(i[up - 1 - n:up - 1])
            if peak:
                k = up + int(np.argmax(i[up:down - 1]))
                v1, i1 = v[k], i[k]
            else:
                v1, i1 = np.mean(v[down - 1 - n:down - 1]), np.mean(i[down - 1 - n:down - 1])
            r.append((v1 - v0) / (i1 - i0))
        return float(np.mean(r))


def measure_protocol_sweeps(cell: Cell, criteria: QCCriteria | None = None) -> ProtocolMeasurements:
    """Measure electrode 0, blowout, seal, input and access resistance from the protocol sweeps.

    Parameters
    ----------
    cell
        The cell; only the protocol sweeps are loaded (the last of each kind).
    criteria
        Supplies the tags that identify the protocol sweeps.
    """
    c = criteria if criteria is not None else QCCriteria()
    out = ProtocolMeasurements()
    plan = (
        (c.bath_stimuli, None, {"electrode_0_pa": measure_electrode_0}),
        (c.blowout_stimuli, None, {"blowout_mv": measure_blowout}),
        (c.seal_stimuli, VOLTAGE_CLAMP, {"seal_gohm": pulse_resistance}),
        (c.breakin_stimuli, VOLTAGE_CLAMP, {
            "input_resistance_mohm": lambda s: 1e3 * pulse_resistance(s),
            "initial_access_resistance_mohm": lambda s: 1e3 * pulse_resistance(s, peak=True),
        }),
    )
    records = cell.records
    for tags, mode, measures in plan:
        found = [r for r in records if _matches(tags, r.stimulus_code, r.stimulus_name)
                 and (mode is None or r.clamp_mode == mode)]
        if not found:
            continue
        rec = found[-1]
        label = f"sweep {rec.sweep_number} ({rec.stimulus_code or rec.stimulus_name})"
        try:
            sweep = cell.sweep(rec.sweep_number)
        except GlifxError as exc:
            for name in measures:
                out.problems[name] = f"{label} could not be read: {exc}"
            continue
        for name, func in measures.items():
            try:
                value = float(func(sweep))
            except (ValueError, ZeroDivisionError, FloatingPointError) as exc:
                out.problems[name] = f"{label}: {exc}"
                continue
            if math.isfinite(value):
                out.values[name], out.sources[name] = value, label
            else:
                out.problems[name] = f"{label}: no usable pulse"
    return out
