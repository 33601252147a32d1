"""Sweep QC: integrity checks and the Allen noise/stability measurements of one current-clamp sweep.

Windows (sample indices, end-exclusive slices, as ipfx feeds ``ipfx.qc_features.measure_vm``), with
``s0``/``s1`` the first/last sample of the stimulus epoch (:attr:`glifx.Sweep.epochs`), ``r`` the last
finite voltage sample, ``S = int(stability_window_s * rate)`` and ``N = int(noise_window_s * rate)``:

=====================  ============================  =========================================
measurement            window                        value
=====================  ============================  =========================================
``slow_noise_rms_mv``  ``v[s0-1-S : s0-1]``          RMS about the mean, mV (``pre_vm_mv`` =
                                                     its mean)
``pre_noise_rms_mv``   ``v[s0-S : s0-S+N]``          RMS about the mean, mV
``post_noise_rms_mv``  ``v[r-N : r]``                RMS about the mean, mV (not on ramps)
``vm_delta_mv``        ``v[r-S : r]``                ``|pre_vm_mv - mean|``, mV (not on ramps;
                                                     the mean is ``post_vm_mv``)
``leak_pa``            sweep metadata or command     bias current, pA
=====================  ============================  =========================================

Pre-stimulus windows never reach back into the test pulse and post-stimulus windows never reach into
the stimulus: when the sweep has less baseline or tail than ``S`` samples they are clipped (and the
sweep fails integrity if ``QCCriteria.require_full_windows``, else a note says so).

The bias current is read from ``sweep.metadata["bias_current_pa"]`` (:data:`SWEEP_BIAS_CURRENT_KEY`,
pA), else from a raw NWB ``sweep.metadata["bias_current"]`` (see :func:`bias_current_from_metadata`);
without either, it is the mean command current over the baseline before the stimulus (ABF files store
the holding level in the command).  ``leak_source`` says which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glifx.qc._kernels import count_nan, voltage_pass
from glifx.qc.criteria import QCCriteria
from glifx.sweep import CURRENT_CLAMP, Sweep

#: Key of ``Sweep.metadata`` holding the sweep's bias (holding) current in pA.
SWEEP_BIAS_CURRENT_KEY = "bias_current_pa"

#: Measurements that have limits in :class:`QCCriteria`.
SWEEP_CRITERIA_MEASUREMENTS = (
    "pre_noise_rms_mv",
    "post_noise_rms_mv",
    "slow_noise_rms_mv",
    "vm_delta_mv",
    "leak_pa",
)
#: Every per-sweep measurement column, in table order (units in the names).
SWEEP_MEASUREMENTS = (*SWEEP_CRITERIA_MEASUREMENTS, "pre_vm_mv", "post_vm_mv")

PASSED, FAILED, EXCLUDED = "passed", "failed", "excluded"
LEAK_FROM_FILE = "file"
LEAK_FROM_COMMAND = "command baseline"


@dataclass
class SweepQC:
    """QC outcome of one sweep.

    Attributes
    ----------
    sweep_number, stimulus_name, stimulus_code, clamp_mode
        Identify the sweep.
    status
        ``"passed"``, ``"failed"`` or ``"excluded"`` (not current clamp, or a test/search sweep).
    measurements
        :data:`SWEEP_MEASUREMENTS` → value (mV or pA); NaN when not measured.
    integrity
        ``"ok"``, ``"failed"`` or ``"not measured"``.
    leak_source
        ``"file"`` (sweep metadata), ``"command baseline"`` or ``None`` (not measured).
    is_ramp
        Whether the ramp exceptions applied.
    reasons
        Why the sweep failed, readable (``"pre_noise_rms_mv 0.112 > 0.07"``); empty when it passed.
    not_measured
        ``"<measurement>: <why>"`` for each check that could not be made (neither pass nor fail,
        unless the criteria's ``not_measured_fails``).
    notes
        Other remarks (clipped windows, why a sweep was excluded).
    """

    sweep_number: int
    stimulus_name: str | None = None
    stimulus_code: str | None = None
    clamp_mode: str | None = CURRENT_CLAMP
    status: str = PASSED
    measurements: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(SWEEP_MEASUREMENTS, math.nan)
    )
    integrity: str = "not measured"
    leak_source: str | None = None
    is_ramp: bool = False
    reasons: list[str] = field(default_factory=list)
    not_measured: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether the sweep passed QC (excluded sweeps did not)."""
        return self.status == PASSED

    def row(self) -> dict[str, Any]:
        """One row of the QC sweep table."""
        return {
            "sweep_number": self.sweep_number,
            "stimulus_name": self.stimulus_name,
            "stimulus_code": self.stimulus_code,
            "clamp_mode": self.clamp_mode,
            "status": self.status,
            "passed": self.passed,
            **self.measurements,
            "integrity": self.integrity,
            "leak_source": self.leak_source,
            "is_ramp": self.is_ramp,
            "reasons": list(self.reasons),
            "not_measured": list(self.not_measured),
            "notes": list(self.notes),
        }


#: Resting/holding potentials outside this range (mV) are not physiological for a healthy neuron
#: (the plausibility warnings' baseline range, :mod:`glifx.qc.plausibility_warnings`).
BASELINE_RANGE_MV = (-100.0, -40.0)


def _median_within(n: int, below: int, above: int, lo: float, hi: float) -> bool:
    """Whether numpy's median of ``n`` values lies in ``[lo, hi]`` for sure, knowing only how many
    are ``< lo`` (``below``) and ``> hi`` (``above``).

    ``np.median`` is the middle sorted value, or the mean of the two middle ones (indices
    ``(n - 1) // 2`` and ``n // 2``); when both are in ``[lo, hi]`` so is their mean.  ``False``
    means "not known" (then the median is computed), never "outside".
    """
    return bool(n > 0 and lo <= hi and below <= (n - 1) // 2 and above <= n - 1 - n // 2)


@dataclass(frozen=True)
class VoltageStats:
    """What sweep QC's integrity checks and the plausibility warnings need of one sweep's
    voltage, from one pass over it (:func:`voltage_stats`).

    Attributes
    ----------
    n_nan
        NaN samples up to the last finite one.
    n_finite
        Finite samples.
    first, low, high
        First, smallest and largest finite sample, mV (NaN, inf, -inf when none).
    median_within
        The median of the finite samples is known to lie within the criteria's
        ``[v_median_mv_min, v_median_mv_max]`` (``False``: not known, compute it).
    n_before
        Finite samples before the stimulus (of the whole sweep without a stimulus epoch).
    baseline_within
        Their median is known to lie within :data:`BASELINE_RANGE_MV` (``False``: not known).
    split
        End (exclusive) of the samples "before the stimulus", as :func:`baseline_mv` takes them.
    """

    n_nan: int
    n_finite: int
    first: float
    low: float
    high: float
    median_within: bool
    n_before: int
    baseline_within: bool
    split: int


def voltage_stats(sweep: Sweep, criteria: QCCriteria | None = None) -> VoltageStats:
    """One compiled pass over ``sweep.v`` giving :class:`VoltageStats` (and the sweep's epochs).

    The numbers are those of the numpy expressions they replace (``np.isnan``, ``v[finite].min()``
    ...); medians are computed only when a count cannot tell on which side of a limit they lie.
    """
    c = criteria if criteria is not None else QCCriteria()
    v, ep = sweep.v, sweep.epochs
    stop = ep.recording[1] + 1 if ep.recording is not None else 0
    stim = ep.stimulus
    split = stim[0] if stim is not None and stim[0] > 0 else v.size
    q_lo, q_hi = float(c.v_median_mv_min), float(c.v_median_mv_max)
    b_lo, b_hi = BASELINE_RANGE_MV
    (n_nan, n_finite, first, low, high, q_below, q_above, n_before, b_below,
     b_above) = voltage_pass(v, stop, split, q_lo, q_hi, b_lo, b_hi)
    return VoltageStats(
        n_nan=int(n_nan), n_finite=int(n_finite), first=float(first), low=float(low),
        high=float(high),
        median_within=_median_within(n_finite, q_below, q_above, q_lo, q_hi),
        n_before=int(n_before),
        baseline_within=_median_within(n_before, b_below, b_above, b_lo, b_hi),
        split=int(split))


def measure_vm(values: np.ndarray) -> tuple[float, float]:
    """Mean and RMS about the mean of a voltage window, mV (NaN, NaN for an empty window)."""
    if values.size == 0:
        return math.nan, math.nan
    mean = float(np.mean(values))
    rms = float(np.sqrt(np.mean(np.square(values - mean))))
    return mean, rms


def fmt_value(x: float, limit: float | None = None) -> str:
    """``x`` with 3 significant digits, or more when needed to tell it apart from ``limit``."""
    for digits in range(3, 10):
        text = f"{x:.{digits}g}"
        if limit is None or float(text) != limit:
            return text
    return repr(x)


def qc_sweep(
    sweep: Sweep, criteria: QCCriteria | None = None, *, is_ramp: bool | None = None,
    stats: VoltageStats | None = None,
) -> SweepQC:
    """Measure and judge one current-clamp sweep.

    Parameters
    ----------
    sweep
        The sweep (v mV, i pA).  A voltage-clamp sweep or a test/search sweep is returned as
        ``"excluded"``.
    criteria
        Limits; default the Allen v1.1 criteria.
    is_ramp
        Force the ramp exceptions on or off; default: from the stimulus name/code and
        ``criteria.ramp_stimuli``.
    stats
        :func:`voltage_stats` of ``sweep`` with these criteria, when the caller has them
        already (:func:`glifx.run_qc` shares them with the plausibility warnings).

    Returns
    -------
    SweepQC
        Measurements, status, reasons, "not measured" items and notes.
    """
    c = criteria if criteria is not None else QCCriteria()
    out = SweepQC(
        sweep_number=sweep.sweep_number,
        stimulus_name=sweep.stimulus_name,
        stimulus_code=sweep.stimulus_code,
        clamp_mode=sweep.clamp_mode,
    )
    excluded = exclusion_reason(sweep.clamp_mode, sweep.stimulus_name, c)
    if excluded:
        out.status, out.integrity = EXCLUDED, "not measured"
        out.notes.append(excluded)
        return out
    ramp = c.is_ramp(sweep.stimulus_name, sweep.stimulus_code) if is_ramp is None else bool(is_ramp)
    out.is_ramp = ramp
    _measure(sweep, c, ramp, out, stats)
    _judge(c, out)
    return out


def exclusion_reason(
    clamp_mode: str | None, stimulus_name: str | None, criteria: QCCriteria
) -> str | None:
    """Why a sweep is left out of sweep QC, or ``None`` if it is QC'd."""
    if clamp_mode != CURRENT_CLAMP:
        return f"not evaluated: {clamp_mode or 'unknown clamp mode'} sweep"
    if criteria.is_excluded(stimulus_name):
        return f"not evaluated: {stimulus_name} sweep"
    return None


def _measure(sweep: Sweep, c: QCCriteria, ramp: bool, out: SweepQC,
             stats: VoltageStats | None = None) -> None:
    m, nm, notes = out.measurements, out.not_measured, out.notes
    integrity: list[str] = []
    rate, n = sweep.sampling_rate, sweep.n_samples
    n_stab = int(c.stability_window_s * rate)
    n_noise = int(c.noise_window_s * rate)
    v, i, ep = sweep.v, sweep.i, sweep.epochs
    t0 = float(sweep.time_at(0))

    def t_at(k: int) -> str:
        return f"{t0 + k / rate:.4g} s"

    # ---- response
    if ep.recording is None:
        out.integrity = "failed"
        out.reasons.append("integrity: the response has no finite sample")
        for name in SWEEP_CRITERIA_MEASUREMENTS:
            nm.append(f"{name}: no finite response")
        return
    r = ep.recording[1]
    if stats is None:
        stats = voltage_stats(sweep, c)
    if stats.n_nan:
        integrity.append(
            f"the response has {stats.n_nan} NaN sample(s) before its last finite sample at "
            f"{t_at(r)}"
        )
    # v[: r + 1] holds every finite sample: r is the last one
    integrity.extend(_implausible(stats, v, c))

    # ---- stimulus
    stim_missing: str | None = None
    if i is None:
        stim_missing = "the stimulus (command current) is not in the file"
    else:
        n_nan_i = int(count_nan(i))
        if n_nan_i:
            integrity.append(f"the stimulus contains {n_nan_i} NaN sample(s)")
            stim_missing = "the stimulus contains NaN"
        elif ep.stimulus is None:
            integrity.append(
                "no stimulus epoch: the command current does not change"
                + (" after the test pulse" if ep.test is not None else "")
            )
            stim_missing = "no stimulus epoch"

    floor = ep.test[1] + 1 if ep.test is not None else 0
    _measure_leak(sweep, c, ep, floor, out)

    if stim_missing is not None:
        if i is None:
            nm.append(f"integrity: {stim_missing}")
        for name in ("pre_noise_rms_mv", "slow_noise_rms_mv", "vm_delta_mv"):
            nm.append(f"{name}: {stim_missing}")
        if ramp:
            nm.append("post_noise_rms_mv: not evaluated on ramps")
        else:
            _measure_post(v, r, None, n_stab, n_noise, m, nm)
        _finish_integrity(integrity, out, measured=i is not None)
        return

    s0, s1 = ep.stimulus  # type: ignore[misc]
    # ---- pre-stimulus windows
    if s0 - 1 - n_stab < floor:
        what = " (after the test pulse)" if ep.test is not None else ""
        _short_epoch(max(s0 - floor, 0) / rate, f"baseline before the stimulus{what}", "pre", c,
                     integrity, notes)
    a, b = max(floor, s0 - 1 - n_stab), s0 - 1
    if b - a >= max(n_noise, 2):
        m["pre_vm_mv"], m["slow_noise_rms_mv"] = measure_vm(v[a:b])
    else:
        nm.append(f"slow_noise_rms_mv: only {max(b - a, 0)} baseline sample(s) before the stimulus")
    pa = max(floor, s0 - n_stab)
    if n_noise < 2:
        nm.append(
            f"pre_noise_rms_mv: the {c.noise_window_s:g} s noise window is under 2 samples "
            f"at {rate:g} Hz"
        )
    elif pa + n_noise > s0:
        nm.append("pre_noise_rms_mv: the baseline before the stimulus is shorter than the noise window")
    else:
        _, m["pre_noise_rms_mv"] = measure_vm(v[pa:pa + n_noise])

    # ---- post-stimulus windows and early stop
    post_ok = True
    if not ramp:
        if r < n - 1 and r < s1 + n_stab:
            integrity.append(
                f"recording stopped early: no data after {t_at(r)}, before the end of the experiment "
                f"epoch at {t_at(min(s1 + n_stab, n - 1))}"
            )
            post_ok = False
        elif s1 >= n - 1 and i is not None and i[-1] != i[s0 - 1]:
            integrity.append("recording stopped early: the stimulus is still on at the end of the sweep")
            post_ok = False
        elif r < s1 + n_stab:
            _short_epoch(max(r - s1, 0) / rate, "recording after the stimulus", "post", c,
                         integrity, notes)
    if ramp:
        nm.append("post_noise_rms_mv: not evaluated on ramps")
        nm.append("vm_delta_mv: not evaluated on ramps")
    elif not post_ok:
        nm.append("post_noise_rms_mv: recording stopped early")
        nm.append("vm_delta_mv: recording stopped early")
    else:
        _measure_post(v, r, s1, n_stab, n_noise, m, nm)
        if math.isfinite(m["post_vm_mv"]) and math.isfinite(m["pre_vm_mv"]):
            m["vm_delta_mv"] = abs(m["pre_vm_mv"] - m["post_vm_mv"])
        elif not math.isfinite(m["pre_vm_mv"]):
            nm.append("vm_delta_mv: no pre-stimulus baseline")
    _finish_integrity(integrity, out, measured=True)
    for name in SWEEP_MEASUREMENTS:
        value = m[name]
        if name in SWEEP_CRITERIA_MEASUREMENTS and math.isnan(value) and not any(
            s.startswith(f"{name}:") for s in nm
        ):
            nm.append(f"{name}: its window contains NaN")


def _short_epoch(have_s: float, what: str, side: str, c: QCCriteria, integrity: list[str],
                 notes: list[str]) -> None:
    """Record an experiment epoch shorter than the stability window on one side of the stimulus.

    Parameters
    ----------
    have_s
        Length available, s.
    what
        What is short (``"baseline before the stimulus"``, ``"recording after the stimulus"``).
    side
        ``"pre"`` or ``"post"``: the windows measured over what is available.
    c
        The criteria: with ``require_full_windows`` an integrity failure, else a note.
    integrity, notes
        The sweep's integrity problems and notes, appended to.
    """
    msg = (f"experiment epoch incomplete: {have_s:.3g} s of {what}, "
           f"{c.stability_window_s:g} s needed")
    if c.require_full_windows:
        integrity.append(msg)
    else:
        notes.append(f"{msg}; {side}-stimulus windows measured over the {have_s:.3g} s available")


def implausible_voltage(v: np.ndarray, c: QCCriteria) -> list[str]:
    """Why a recorded voltage trace (mV) cannot be a membrane recording: flat, within
    ±``v_peak_abs_mv_min`` (volts stored as millivolts), or a median outside
    ``[v_median_mv_min, v_median_mv_max]``.  Empty when it is plausible."""
    v = np.ascontiguousarray(v, dtype=np.float64)
    q_lo, q_hi = float(c.v_median_mv_min), float(c.v_median_mv_max)
    _, n_finite, _, low, high, below, above, _, _, _ = voltage_pass(v, 0, 0, q_lo, q_hi, 0.0, 0.0)
    return _implausible_parts(int(n_finite), float(low), float(high),
                              _median_within(n_finite, below, above, q_lo, q_hi), v, c)


def _implausible(stats: VoltageStats, v: np.ndarray, c: QCCriteria) -> list[str]:
    """:func:`implausible_voltage` of ``v`` from its :class:`VoltageStats`."""
    return _implausible_parts(stats.n_finite, stats.low, stats.high, stats.median_within, v, c)


def _implausible_parts(n_finite: int, low: float, high: float, median_within: bool,
                       v: np.ndarray, c: QCCriteria) -> list[str]:
    if n_finite == 0:
        return []
    problems = []
    if high - low < c.v_range_mv_min:
        problems.append(f"flat trace: the voltage spans {high - low:.3g} mV "
                        f"(at least {c.v_range_mv_min:g} mV expected of a recording)")
    peak = max(abs(low), abs(high))
    if peak < c.v_peak_abs_mv_min:
        problems.append(f"implausible scale: |v| never exceeds {peak:.3g} mV (volts stored as "
                        "millivolts?)")
    elif not median_within:  # the median is needed only when counts cannot place it
        median = float(np.median(v[np.isfinite(v)]))
        if not c.v_median_mv_min <= median <= c.v_median_mv_max:
            problems.append(f"implausible baseline: median voltage {median:.4g} mV, outside "
                            f"[{c.v_median_mv_min:g}, {c.v_median_mv_max:g}] mV")
    return problems


def _measure_post(v: np.ndarray, r: int, s1: int | None, n_stab: int, n_noise: int,
                  m: dict[str, float], nm: list[str]) -> None:
    """Post-stimulus stability and noise windows ending at the last finite sample ``r``."""
    lo = 0 if s1 is None else s1 + 1
    qa = max(lo, r - n_stab)
    if r - qa >= max(n_noise, 2):
        m["post_vm_mv"], _ = measure_vm(v[qa:r])
    else:
        nm.append("vm_delta_mv: no recording after the stimulus")
    if n_noise < 2:
        nm.append("post_noise_rms_mv: the noise window is under 2 samples")
    elif r - n_noise < lo:
        nm.append("post_noise_rms_mv: the recording after the stimulus is shorter than the noise window")
    else:
        _, m["post_noise_rms_mv"] = measure_vm(v[r - n_noise:r])


def bias_current_from_metadata(metadata: dict[str, Any]) -> float:
    """The bias current in pA from sweep metadata, or NaN.

    ``"bias_current_pa"`` (pA) is used as is.  Without it, a raw NWB ``"bias_current"`` is read: NWB
    specifies amperes, but MIES files (and ipfx) store pA, so a value below 1e-6 in magnitude is taken
    for amperes and converted; anything larger is taken for pA.
    """
    for key in (SWEEP_BIAS_CURRENT_KEY, "bias_current"):
        value = metadata.get(key)
        if value is None or isinstance(value, bool):
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(value):
            continue
        if key == "bias_current" and 0 < abs(value) < 1e-6:
            value *= 1e12
        return value
    return math.nan


def _measure_leak(sweep: Sweep, c: QCCriteria, ep: Any, floor: int, out: SweepQC) -> None:
    value = bias_current_from_metadata(sweep.metadata)
    if math.isfinite(value):
        out.measurements["leak_pa"], out.leak_source = value, LEAK_FROM_FILE
        return
    i = sweep.i
    if i is None:
        out.not_measured.append("leak_pa: no bias current in the file and no command current")
        return
    end = ep.stimulus[0] if ep.stimulus is not None else i.size
    base = i[floor:end]
    if base.size == 0 or not np.all(np.isfinite(base)):
        out.not_measured.append("leak_pa: no bias current in the file and no finite command baseline")
        return
    out.measurements["leak_pa"], out.leak_source = float(np.mean(base)), LEAK_FROM_COMMAND


def _finish_integrity(problems: list[str], out: SweepQC, *, measured: bool) -> None:
    out.reasons.extend(f"integrity: {p}" for p in problems)
    out.integrity = "failed" if problems else ("ok" if measured else "not measured")


def _judge(c: QCCriteria, out: SweepQC) -> None:
    m = out.measurements
    for name, limit in (
        ("pre_noise_rms_mv", c.pre_noise_rms_mv_max),
        ("post_noise_rms_mv", c.post_noise_rms_mv_max),
        ("slow_noise_rms_mv", c.slow_noise_rms_mv_max),
        ("vm_delta_mv", c.vm_delta_mv_max),
    ):
        if m[name] > limit:
            out.reasons.append(f"{name} {fmt_value(m[name], limit)} > {limit:g}")
    leak = m["leak_pa"]
    if leak < c.leak_pa_min:
        out.reasons.append(f"leak_pa {fmt_value(leak, c.leak_pa_min)} < {c.leak_pa_min:g}")
    elif leak > c.leak_pa_max:
        out.reasons.append(f"leak_pa {fmt_value(leak, c.leak_pa_max)} > {c.leak_pa_max:g}")
    if c.not_measured_fails:
        out.reasons.extend(f"not measured: {s}" for s in out.not_measured if not s.endswith("on ramps"))
    out.status = FAILED if out.reasons else PASSED
