"""Spike detection and per-spike features with ipfx 2.1.2's definitions, names and defaults.

Units: ``t`` s, ``v`` mV, ``i`` pA, dV/dt V/s (= mV/ms), widths s.  See FEATURES_SPEC.md.

Differences from ipfx (deliberate):

- ipfx raises when the sampling rate is at most twice the filter cutoff (every 10 and 20 kHz
  recording with the default 10 kHz filter).  glifx clips the cutoff to
  :data:`NYQUIST_FRACTION` of the Nyquist frequency and reports the value used
  (``DataFrame.attrs["filter_khz"]``, ``attrs["filter_clipped"]``).
- ipfx silently skips filtering when the time base jitters; glifx filters at the nominal rate (time
  bases are validated once, by :class:`glifx.Sweep`).
- ipfx writes the string ``"nan"`` as ``isi_type`` of spikes without a fast trough; glifx writes a
  missing value (``None``).
- Index columns that are always defined (threshold, peak, upstroke) are integers; the others are
  floats with NaN where undefined (ipfx makes every index column float).
- ipfx crashes (argmin of an empty slice) when a spike's trough is its peak (a plateau after the
  last spike); glifx leaves that spike's downstroke undefined.

Speed (same results, to rounding): the 10 kHz filter runs in cache-sized blocks of four overlapping
stretches side by side (interleaved recursions), spread over threads, with the derivative fused
into the backward pass (multiplying by reciprocal time steps computed in packed divisions, which
also validate the time base); the 1 kHz ("heavy") filtered dV/dt is
computed only from each fast trough to ``adp_max_delta_t`` after it, the only place the ADP test can
use it, four spikes' filters side by side, the spikes spread over two threads.  The searches from
one spike to the next (crossings, peaks, troughs, downstrokes) read block summaries (minimum and
maximum of every 64 samples of v and dV/dt, written by the filter's threads while the samples are
in cache) instead of every sample.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import signal

from glifx.errors import ConfigError, SweepError
from glifx.features import _kernels as K

#: The cutoff of the default filter is clipped to this fraction of the Nyquist frequency.
NYQUIST_FRACTION = 0.8

#: The heavily filtered dV/dt (ADP search) is computed only near each spike, from a stretch of
#: voltage this many cutoff periods wider on each side (relative error of the cut < 1e-10).
HEAVY_MARGIN_PERIODS = 6

ISI_TYPES = {0: None, 1: "direct", 2: "detour"}

SPIKE_COLUMNS = (
    "threshold_index", "clipped", "threshold_t", "threshold_v", "threshold_i",
    "peak_index", "peak_t", "peak_v", "peak_i",
    "trough_index", "trough_t", "trough_v", "trough_i",
    "upstroke_index", "upstroke", "upstroke_t", "upstroke_v",
    "downstroke_index", "downstroke", "downstroke_t", "downstroke_v",
    "isi_type",
    "fast_trough_index", "fast_trough_t", "fast_trough_v", "fast_trough_i",
    "adp_index", "adp_t", "adp_v", "adp_i",
    "slow_trough_index", "slow_trough_t", "slow_trough_v", "slow_trough_i",
    "width", "upstroke_downstroke_ratio",
)


@dataclass(frozen=True)
class SpikeParams:
    """Spike-detection parameters (ipfx's names and defaults).

    Attributes
    ----------
    dv_cutoff
        dV/dt that a putative spike must cross upwards, V/s.
    min_height
        Smallest threshold-to-peak height, mV.
    min_peak
        Lowest acceptable peak, mV.
    thresh_frac
        Threshold: fraction of the sweep's mean upstroke dV/dt.
    max_interval
        Longest threshold-to-peak time before the pair is re-found, s.
    filter
        Cutoff of the 4-pole zero-phase Bessel low-pass applied before differentiation, kHz
        (``None``: no filter).  Clipped below the Nyquist frequency when too high.
    reject_at_stim_start_interval
        Spikes whose threshold lies within this many s after ``start`` are rejected.
    clip_tol
        A last spike is clipped when v never returns to threshold + ``clip_tol`` mV before ``end``.
    heavy_filter, term_frac, adp_thresh, trough_tol, flat_interval, adp_max_delta_t, adp_max_delta_v
        Trough-detail parameters (kHz, fraction, V/s, mV, s, s, mV), as ipfx.
    """

    dv_cutoff: float = 20.0
    min_height: float = 2.0
    min_peak: float = -30.0
    thresh_frac: float = 0.05
    max_interval: float = 0.005
    filter: float | None = 10.0
    reject_at_stim_start_interval: float = 0.0
    clip_tol: float = 1.0
    heavy_filter: float = 1.0
    term_frac: float = 0.01
    adp_thresh: float = 0.5
    trough_tol: float = 0.5
    flat_interval: float = 0.002
    adp_max_delta_t: float = 0.005
    adp_max_delta_v: float = 10.0

    @classmethod
    def from_kwargs(cls, **params: Any) -> SpikeParams:
        """Build from keyword arguments, rejecting unknown names with a clear message."""
        known = set(cls.__dataclass_fields__)
        bad = sorted(set(params) - known)
        if bad:
            raise ConfigError(f"unknown spike-detection parameter(s) {bad}; known: {sorted(known)}")
        return cls(**params)


@lru_cache(maxsize=64)
def _bessel(cutoff_hz: float, rate_hz: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b, a = signal.bessel(4, cutoff_hz / (rate_hz / 2.0), "low")
    b, a = b / a[0], a / a[0]
    return b, a, signal.lfilter_zi(b, a)


#: (thread id, name) -> that thread's work buffer (a thread reads and replaces its own only)
_WORK: dict[tuple[int, str], np.ndarray] = {}


def _work(size: int, name: str) -> np.ndarray:
    """A per-thread float64 work buffer of ``size`` elements, reused between calls (a fresh 30 MB
    array costs more in page faults than the filtering itself)."""
    key = (threading.get_ident(), name)
    buf = _WORK.get(key)
    if buf is None or buf.size < size:
        alive = {t.ident for t in threading.enumerate()}
        for gone in [k for k in list(_WORK) if k[0] not in alive]:  # ended threads' buffers
            _WORK.pop(gone, None)
        buf = np.empty(size)
        _WORK[key] = buf
    return buf[:size]


def release_work_buffers() -> None:
    """Drop every thread's work buffers (up to the size of the longest sweep's dV/dt, e.g.
    40 MB for 25 s at 200 kHz): for a caller done with spike detection for a while.  A buffer in
    use stays valid; the next detection allocates afresh."""
    _WORK.clear()


def effective_cutoff(filter_khz: float | None, rate_hz: float) -> tuple[float | None, bool]:
    """The filter cutoff actually used, kHz, and whether it was clipped below Nyquist.

    Parameters
    ----------
    filter_khz
        Requested cutoff, kHz (``None`` or 0: no filter).
    rate_hz
        Sampling rate, Hz.
    """
    if not filter_khz:
        return None, False
    nyq_khz = rate_hz / 2e3
    if filter_khz >= nyq_khz:
        return NYQUIST_FRACTION * nyq_khz, True
    return float(filter_khz), False


#: Block groups per task when the filter runs on several threads: tasks of a few ms, so that a
#: thread slowed by other jobs on its core leaves the remaining tasks to the others.
GROUPS_PER_TASK = 4


#: Block summaries of ``v`` and dV/dt, ``(vmin, vmax, dmin, dmax)``
#: (:func:`~glifx.features._kernels.block_extremes`).
Summaries = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

_NONE = np.empty(0)  # "no block summary" for the kernels that take one


def _summary_buffers(n: int) -> Summaries:
    """Per-thread buffers for the block summaries of ``n`` samples of v (and n - 1 of dV/dt),
    overwritten by the next call in the same thread."""
    nv, nd = n // K.SUMMARY_BLOCK, (n - 1) // K.SUMMARY_BLOCK
    buf = _work(2 * nv + 2 * nd, "summaries")
    return buf[:nv], buf[nv:2 * nv], buf[2 * nv:2 * nv + nd], buf[2 * nv + nd:]


def block_summaries(v: np.ndarray, dvdt: np.ndarray, into: Summaries | None = None
                    ) -> Summaries:
    """Block minima and maxima of ``v`` (mV) and ``dvdt`` (V/s, length ``v.size - 1``), for the
    kernels' long searches (:func:`~glifx.features._kernels.block_extremes`):
    ``(vmin, vmax, dmin, dmax)``, written into ``into`` when given."""
    summ = _summary_buffers(v.size) if into is None else into
    vmin, vmax, dmin, dmax = summ
    K.block_extremes(v, 0, vmin.size, vmin, vmax)
    K.block_extremes(dvdt, 0, dmin.size, dmin, dmax)
    return summ


def _blocks_on_threads(b: np.ndarray, a: np.ndarray, zi: np.ndarray, v: np.ndarray,
                       t: np.ndarray, margin: int, groups: int, seg: int, rows: int,
                       out: np.ndarray, summ: Summaries | None = None) -> int:
    """Run :func:`~glifx.features._kernels.filtered_derivative_blocks` over every block group,
    on the calling thread and pool threads (:func:`glifx.glif.simulator.map_threads_with_caller`,
    each with its own cache-sized work buffer); the groups write disjoint parts of ``out`` (V/s),
    and of the block summaries ``summ`` when given (computed on the way, while each group's
    samples are in cache).  Returns the number of non-positive time steps of ``t``."""
    from glifx.glif.simulator import default_n_jobs, map_threads_with_caller

    sm = (_NONE,) * 4 if summ is None else summ

    def run(g: tuple[int, int]) -> int:
        work = _work(8 * rows, "block")  # per thread: _WORK is keyed by thread
        X, R = work[:4 * rows].reshape(rows, 4), work[4 * rows:].reshape(4, rows)
        return K.filtered_derivative_blocks(b, a, zi, v, t, margin, seg, g[0], g[1], X, R, out,
                                            *sm)

    n_jobs = min(default_n_jobs(), groups)
    if n_jobs <= 1:
        bad = run((0, groups))
    else:
        step = max(1, min(GROUPS_PER_TASK, groups // n_jobs))
        bad = sum(map_threads_with_caller(
            run, [(g, min(g + step, groups)) for g in range(0, groups, step)], n_jobs))
    if summ is not None:
        K.summary_seams(v, out, seg, groups, *summ)
    return bad


#: Samples the per-spike trough details filter (heavy dV/dt) in a sweep from which they run on
#: two threads (~0.8 ms of work on one: well above a thread pool's round trip).
TROUGH_THREAD_SAMPLES = 200_000


def _on_threads(fn: Any, n: int, parts: int) -> None:
    """``fn((k0, k1))`` over ``parts`` consecutive ranges that cover ``range(n)``, the calling
    thread and threads of :func:`glifx.glif.simulator.map_threads_with_caller` sharing them
    (inline when one part or one thread)."""
    from glifx.glif.simulator import default_n_jobs, map_threads_with_caller

    parts = max(1, min(parts, n, default_n_jobs()))
    if parts == 1:
        fn((0, n))
        return
    cuts = [n * j // parts for j in range(parts + 1)]
    map_threads_with_caller(fn, list(zip(cuts[:-1], cuts[1:], strict=True)), parts)


def calculate_dvdt(t: np.ndarray, v: np.ndarray, filter_khz: float | None,
                   rate_hz: float | None = None, *, reuse: bool = False
                   ) -> tuple[np.ndarray, float | None, bool]:
    """dV/dt (V/s, length n - 1) after an optional 4-pole zero-phase Bessel low-pass.

    Parameters
    ----------
    t, v
        Times (s) and voltages (mV), float64.
    filter_khz
        Cutoff, kHz, or ``None``; clipped below Nyquist (see :func:`effective_cutoff`).
    rate_hz
        Sampling rate, Hz (default: from the first two samples of ``t``, as ipfx).
    reuse
        Write into a per-thread buffer that the next call overwrites (internal use; without it,
        the result is a fresh array).

    Returns
    -------
    dvdt, cutoff_khz, clipped
        The derivative, the cutoff used (kHz or ``None``) and whether it was clipped.
    """
    if rate_hz is None:
        rate_hz = 1.0 / (t[1] - t[0])
    dvdt, cutoff, clipped, _ = _dvdt_checked(t, v, filter_khz, float(rate_hz), reuse)
    return dvdt, cutoff, clipped


def filter_margin(cutoff_khz: float, rate_hz: float) -> int:
    """Samples on each side of a stretch that the zero-phase Bessel filter of
    :func:`calculate_dvdt` (cutoff kHz, at ``rate_hz`` Hz) needs for its edges to settle, so
    that a stretch filtered with this margin has the dV/dt of the whole sweep there (the
    overlap the blocked filter gives its blocks)."""
    return int(12 * rate_hz / (cutoff_khz * 1e3)) + 32


def _filter_plan(v: np.ndarray, cutoff: float | None, rate_hz: float) -> tuple[int, int, int, int]:
    """``(margin, groups, seg, rows)`` of the blocked filter (:func:`K.block_plan`) for a cutoff
    (kHz) at ``rate_hz``; ``groups`` 0 when the blocked filter does not run (no filter, or too few
    samples)."""
    if cutoff is None or v.size <= 15:
        return 0, 0, 0, 0
    margin = filter_margin(cutoff, rate_hz)
    return (margin, *K.block_plan(v.size, margin))


def _dvdt_checked(t: np.ndarray, v: np.ndarray, filter_khz: float | None, rate_hz: float,
                  reuse: bool, summ: Summaries | None = None
                  ) -> tuple[np.ndarray, float | None, bool, int]:
    """:func:`calculate_dvdt`, plus the number of time steps ``t[k + 1] - t[k] <= 0`` (s) when
    the blocked filter counted them on its way (it reads every step), else -1 (not checked).
    The blocked filter also fills the block summaries ``summ`` when given (the other paths
    leave them alone)."""
    cutoff, clipped = effective_cutoff(filter_khz, rate_hz)
    margin, groups, seg, rows = _filter_plan(v, cutoff, rate_hz)
    if cutoff is not None and v.size > 15:
        b, a, zi = _bessel(cutoff * 1e3, rate_hz)
        if groups == 0:
            return K.filtered_derivative(b, a, zi, v, t, margin), cutoff, clipped, -1
        out = _work(v.size - 1, "out") if reuse else np.empty(v.size - 1)
        bad = _blocks_on_threads(b, a, zi, v, t, margin, groups, seg, rows, out, summ)
        return out, cutoff, clipped, bad
    return K.derivative(v, t), cutoff, clipped, -1


TIME_BASE_ERROR = "time base t must be strictly increasing"


def _validate(t: Any, v: Any, i: Any | None, check_time: bool = True
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Contiguous float64 ``t`` (s), ``v`` (mV), ``i`` (pA); raises :class:`SweepError` on bad
    shapes and, with ``check_time``, on a time base that is not strictly increasing (the caller
    checks it otherwise: the blocked filter counts bad steps on its way, :data:`TIME_BASE_ERROR`)."""
    v = np.ascontiguousarray(v, dtype=np.float64)
    t = np.ascontiguousarray(t, dtype=np.float64)
    if v.ndim != 1 or t.shape != v.shape:
        raise SweepError(None, f"t and v must be 1-D arrays of equal length, got {t.shape} and "
                               f"{v.shape}")
    if v.size < 3:
        raise SweepError(None, f"needs at least 3 samples, got {v.size}")
    if check_time and not K.strictly_increasing(t):
        raise SweepError(None, TIME_BASE_ERROR)
    if i is not None:
        i = np.ascontiguousarray(i, dtype=np.float64)
        if i.shape != v.shape:
            raise SweepError(None, f"i has shape {i.shape} but v has {v.shape}")
    return t, v, i


def detect_spikes(
    t: Any,
    v: Any,
    i: Any | None = None,
    start: float | None = None,
    end: float | None = None,
    *,
    sampling_rate: float | None = None,
    dvdt: np.ndarray | None = None,
    **params: Any,
) -> pd.DataFrame:
    """Detect spikes and measure their features (ipfx ``SpikeFeatureExtractor`` semantics).

    Parameters
    ----------
    t
        Sample times, s (strictly increasing).
    v
        Membrane potential, mV.
    i
        Injected current, pA, or ``None`` (then the ``*_i`` columns are absent).
    start, end
        Detection window, s (default: the whole sweep).
    sampling_rate
        Hz, for the filter design (default: from ``t[1] - t[0]`` as ipfx).
    dvdt
        Precomputed dV/dt (V/s, length n - 1) to reuse; it must match ``filter``.
    **params
        Any field of :class:`SpikeParams` (``dv_cutoff=20``, ``min_height=2``, ``min_peak=-30``,
        ``thresh_frac=0.05``, ``max_interval=0.005``, ``filter=10`` kHz, ...).

    Returns
    -------
    pandas.DataFrame
        One row per spike with the columns of :data:`SPIKE_COLUMNS` (``*_i`` only when ``i`` is
        given); ``attrs`` holds ``filter_khz`` (cutoff used, kHz), ``filter_clipped`` and
        ``params``.  Times s, voltages mV, upstroke/downstroke V/s, width s.

    Examples
    --------
    >>> spikes = detect_spikes(t, v, i, start=0.1, end=1.1)   # doctest: +SKIP
    >>> spikes["threshold_t"].to_numpy()                       # doctest: +SKIP
    """
    p = SpikeParams.from_kwargs(**params)
    t, v, i = _validate(t, v, i, check_time=False)
    rate = float(sampling_rate) if sampling_rate else 1.0 / (t[1] - t[0])
    # the blocked filter reads every time step anyway and counts the bad ones: no separate pass
    fused_check = dvdt is None and _filter_plan(v, effective_cutoff(p.filter, rate)[0], rate)[1] > 0
    if not fused_check and not K.strictly_increasing(t):
        raise SweepError(None, TIME_BASE_ERROR)
    summ = _summary_buffers(v.size)
    if dvdt is None:
        # the blocked filter writes the block summaries while its samples are in cache
        dvdt, cutoff, clipped_f, bad = _dvdt_checked(t, v, p.filter, rate, True, summ)
        if bad > 0 or (bad < 0 and fused_check and not K.strictly_increasing(t)):
            raise SweepError(None, TIME_BASE_ERROR)
    else:
        dvdt = np.ascontiguousarray(dvdt, dtype=np.float64)
        if dvdt.shape != (v.size - 1,):
            raise SweepError(None, f"dvdt must have {v.size - 1} samples (one fewer than v), got "
                                   f"shape {dvdt.shape}")
        cutoff, clipped_f = effective_cutoff(p.filter, rate)
    if not fused_check:
        block_summaries(v, dvdt, summ)
    vmin, vmax, dmin, dmax = summ
    start_t = t[0] if start is None else float(start)
    end_t = t[-1] if not end else float(end)
    si = K.time_index(t, start_t)
    ei = K.time_index(t, end_t)
    th, pk, up, clipped = K.detect(t, v, dvdt, si, ei, start_t, p.dv_cutoff, p.min_height,
                                   p.min_peak, p.thresh_frac, p.max_interval,
                                   p.reject_at_stim_start_interval, p.clip_tol, vmax, dmax)
    if th.size:
        troughs, downs = K.find_troughs(v, dvdt, th, pk, clipped, ei, vmin, dmin)
        hcut, _ = effective_cutoff(p.heavy_filter, rate)
        use_h = hcut is not None and v.size > 15
        hb, ha, hzi = _bessel((hcut or 1.0) * 1e3, rate)
        margin = int(HEAVY_MARGIN_PERIODS * rate / ((hcut or 1.0) * 1e3)) + 16
        n = th.size
        fast, adp, slow = (np.full(n, -1, dtype=np.int64) for _ in range(3))
        kind = np.zeros(n, dtype=np.int64)
        clip = clipped.copy()

        def details(k: tuple[int, int]) -> None:
            K.trough_details_into(
                t, v, dvdt, hb, ha, hzi, margin, use_h, th, pk, clipped, ei, p.term_frac,
                p.adp_thresh, p.trough_tol, p.flat_interval, p.adp_max_delta_t,
                p.adp_max_delta_v, troughs, vmin, dmin, k[0], k[1], fast, adp, slow, kind, clip)

        # each spike filters ~adp_max_delta_t plus two margins of voltage: worth two threads
        # only when that adds up
        work = n * (p.adp_max_delta_t * rate + 2 * margin) if use_h else 0
        _on_threads(details, n, 2 if work >= TROUGH_THREAD_SAMPLES else 1)
        adp[-1] = slow[-1] = -1  # the last spike has neither
        clipped = clip
        w = K.widths(t, v, th, pk, fast, clipped)
    else:
        troughs = downs = fast = adp = slow = kind = np.empty(0, dtype=np.int64)
        w = np.empty(0)
    df = _table(t, v, i, dvdt, th, pk, up, clipped, troughs, downs, fast, adp, slow, kind, w)
    df.attrs.update(filter_khz=cutoff, filter_clipped=clipped_f, params=dict(p.__dict__),
                    start=start_t, end=end_t)
    return df


def _table(t, v, i, dvdt, th, pk, up, clipped, troughs, downs, fast, adp, slow, kind, w):
    cols: dict[str, Any] = {}

    def points(name, idx, with_i, fixed):
        ok = idx >= 0
        safe = np.where(ok, idx, 0)
        cols[f"{name}_index"] = idx if fixed else np.where(ok, idx, np.nan)
        cols[f"{name}_t"] = np.where(ok, t[safe], np.nan)
        cols[f"{name}_v"] = np.where(ok, v[safe], np.nan)
        if with_i and i is not None:
            cols[f"{name}_i"] = np.where(ok, i[safe], np.nan)

    cols["threshold_index"] = th
    cols["clipped"] = clipped.astype(bool)
    points("threshold", th, True, True)
    points("peak", pk, True, True)
    points("trough", troughs, True, False)
    points("upstroke", up, False, True)
    cols["upstroke"] = dvdt[up]
    points("downstroke", downs, False, False)
    cols["downstroke"] = np.where(downs >= 0, dvdt[np.where(downs >= 0, downs, 0)], np.nan)
    cols["isi_type"] = np.array([ISI_TYPES[int(k)] for k in kind], dtype=object)
    points("fast_trough", fast, True, False)
    points("adp", adp, True, False)
    points("slow_trough", slow, True, False)
    cols["width"] = w
    with np.errstate(divide="ignore", invalid="ignore"):
        cols["upstroke_downstroke_ratio"] = cols["upstroke"] / -cols["downstroke"]
    order = [c for c in SPIKE_COLUMNS if c in cols]
    # every column is a fresh array of its own: no copy needed (a third of the construction)
    return pd.DataFrame({c: cols[c] for c in order}, copy=False)


def recorded_length(sweep: Any) -> int:
    """Samples of a :class:`glifx.Sweep` up to its last recorded (finite) one; raises
    :class:`~glifx.errors.SweepError` when there is none."""
    rec = sweep.epochs.recording
    if rec is None:
        raise SweepError(sweep.sweep_number, "no recorded (finite) voltage", sweep.source)
    return int(rec[1]) + 1


def recorded_arrays(sweep: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(t, v, i)`` of a :class:`glifx.Sweep` up to its last recorded sample (a recording stopped
    early ends in NaN, which spike detection must not see)."""
    t, v, i = sweep.t, sweep.v, sweep.i  # first: the epochs are found on these same arrays
    end = recorded_length(sweep)
    if end < v.size:
        t, v = t[:end], v[:end]
        i = None if i is None else i[:end]
    return t, v, i


def recorded_current(sweep: Any, n: int) -> np.ndarray | None:
    """The first ``n`` samples of a :class:`glifx.Sweep`'s current (pA), or ``None``: the ``i``
    of :func:`recorded_arrays`, taken on its own."""
    i = sweep.i
    if i is None or n >= i.size:
        return i
    return i[:n]


def sweep_window(sweep: Any) -> tuple[float | None, float | None]:
    """The stimulus window of a :class:`glifx.Sweep`, s, or ``(None, None)`` when unknown."""
    win = sweep.stimulus_window
    if win is None:
        return None, None
    return win


def detect_sweep_spikes(sweep: Any, start: float | None = None, end: float | None = None,
                        **params: Any) -> pd.DataFrame:
    """:func:`detect_spikes` on a :class:`glifx.Sweep`.

    Parameters
    ----------
    sweep
        The sweep (``t`` s, ``v`` mV, ``i`` pA or ``None``).
    start, end
        Window, s; default: the sweep's stimulus window, or the whole sweep when the stimulus is
        unknown.
    **params
        Fields of :class:`SpikeParams`.
    """
    if start is None and end is None:
        start, end = sweep_window(sweep)
    t, v, i = recorded_arrays(sweep)
    if end is not None:
        end = min(end, float(t[-1]))
    return detect_spikes(t, v, i, start, end, sampling_rate=sweep.sampling_rate, **params)


def adjusted_detection_params(sweeps: Any, start: float, end: float, *, filter: float | None = 10.0,
                              thresh_frac_floor: float | None = 0.1) -> tuple[float, float]:
    """``(dv_cutoff V/s, thresh_frac)`` adapted to sweeps whose stimulus drives the voltage fast
    but passively (Short Square): ipfx's estimate, from the window ``[start, end]`` s just after
    stimulus onset (Allen: 1 ms).

    ``dv_cutoff`` = 1.1 x the median over sweeps of the largest dV/dt in the window;
    ``thresh_frac`` = 1.2 x the median dV/dt at the window end / the mean upstroke of the spikes
    found with that cutoff, raised to ``thresh_frac_floor`` (ipfx uses 0.1 for Short Square).

    Parameters
    ----------
    sweeps
        :class:`glifx.Sweep` objects (``t`` s, ``v`` mV) on a common time base.
    start, end
        The passive window, s.
    filter
        Bessel cutoff, kHz (clipped below Nyquist as everywhere in glifx).
    thresh_frac_floor
        Lower bound of ``thresh_frac`` (``None``: none).
    """
    sweeps = list(sweeps)
    if not sweeps:
        raise ConfigError("adjusted_detection_params needs at least one sweep")
    t0 = sweeps[0].t
    a, b = K.time_index(t0, start), K.time_index(t0, end)
    maxes, ends, dvs = [], [], []
    for s in sweeps:
        dv, _, _ = calculate_dvdt(s.t, s.v, filter, s.sampling_rate)
        dvs.append(dv)
        maxes.append(float(dv[a:b].max()) if b > a else float(dv[a]))
        ends.append(float(dv[b]))
    cutoff = float(np.median(maxes)) * 1.1
    min_thresh = float(np.median(ends)) * 1.2
    ups = []
    for s, dv in zip(sweeps, dvs, strict=True):
        v = np.ascontiguousarray(s.v, dtype=np.float64)
        ps = K.putative_spikes(dv, 0, v.size - 1, cutoff, _NONE)
        if ps.size:
            pk = K.find_peaks(v, ps, v.size - 1, _NONE)
            ps, pk = K.filter_spikes(v, dv, ps, pk, 2.0, -30.0)
            ups.extend(dv[K.find_upstrokes(dv, ps, pk)].tolist())
    frac = min_thresh / float(np.mean(ups)) if ups else SpikeParams.thresh_frac
    if thresh_frac_floor is not None:
        frac = max(thresh_frac_floor, frac)
    return cutoff, frac


def kernels_ready() -> bool:
    """Whether the spike-detection kernels are compiled in this process (or loaded from
    numba's on-disk cache), so that the next detection pays no first-run cost."""
    return bool(K.detect.signatures) and bool(K.filtered_derivative_blocks.signatures)


#: The warm-up trace: this many seconds at this rate (long enough for the blocked filter path).
WARM_UP_S, WARM_UP_RATE = 0.2, 50e3


def warm_up() -> None:
    """Compile the spike-detection kernels (or load them from numba's cache) by detecting the
    one spike of a short synthetic trace, so that callers can time that first-run cost apart
    from the analysis (:func:`glifx.process_cell` reports it as its own stage)."""
    t = np.arange(int(WARM_UP_S * WARM_UP_RATE)) / WARM_UP_RATE
    spike = 100.0 * np.exp(-(((t - 0.1) / 3e-4) ** 2)) - 10.0 * np.exp(-np.abs(t - 0.101) / 5e-3)
    detect_spikes(t, -70.0 + spike, np.zeros_like(t), filter=8.0)
