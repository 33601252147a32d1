"""Spike-train features of one sweep (ipfx names): rates, ISIs, adaptation, bursts, pauses, delay.

Units: times and ISIs s, rates Hz.  Inputs are the spike table of
:func:`glifx.features.spikes.detect_spikes` (``threshold_t``, ``isi_type``, trough columns).

``burst`` and ``pause`` follow ipfx's definitions (pauses: unusually long ISIs found by a greedy
CV-reduction search among "detour" ISIs and direct ISIs longer than 3x the median direct ISI;
bursts: runs of "direct" ISIs between "detour" ones, scored by a burstiness index and pruned).
ipfx 2.1.2 crashes in both (``pause`` reads a missing attribute; ``burst`` truncates the label
"pauselike" to the width of its string array, so pauses are never excluded); glifx's work.
``delay`` differs from ipfx: ``tau`` is a single-exponential fit of the pre-spike rise (ipfx fits a
double exponential and picks a "dominant" constant by empirical rules).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from glifx.errors import ConfigError

TRAIN_KEYS = ("avg_rate", "latency", "first_isi", "mean_isi", "median_isi", "isi_cv", "adapt")


def _thresholds(spikes: pd.DataFrame, exclude_clipped: bool = False) -> np.ndarray:
    if len(spikes) == 0:
        return np.empty(0)
    tt = spikes["threshold_t"].to_numpy(dtype=float)
    if exclude_clipped and "clipped" in spikes:
        tt = tt[~spikes["clipped"].to_numpy(dtype=bool)]
    return tt


def adaptation_index(isis: np.ndarray) -> float:
    """Mean of ``(isi[k+1] - isi[k]) / (isi[k+1] + isi[k])`` (NaN with fewer than 2 ISIs)."""
    isis = np.asarray(isis, dtype=float)
    if isis.size <= 1:
        return math.nan
    s = isis[1:] + isis[:-1]
    if np.allclose(s, 0.0):
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (isis[1:] - isis[:-1]) / s
    d[(isis[1:] == 0) & (isis[:-1] == 0)] = 0.0
    return float(np.nanmean(d)) if np.any(np.isfinite(d)) else math.nan


def spike_train_features(spikes: pd.DataFrame, start: float, end: float,
                         exclude_clipped: bool = False) -> dict[str, float]:
    """Basic spike-train features over ``[start, end]`` (s).

    Returns
    -------
    dict
        ``avg_rate`` (Hz, spikes with threshold in the window / window length), ``latency`` (s,
        first threshold - start), ``first_isi``, ``mean_isi``, ``median_isi`` (s), ``isi_cv``
        (std with ddof 0 / mean) and ``adapt``; NaN where undefined (ipfx omits the keys when
        there are no spikes; glifx always returns all of them).
    """
    tt = _thresholds(spikes, exclude_clipped)
    isis = np.diff(tt)
    n_in = int(np.count_nonzero((tt >= start) & (tt <= end)))
    return {
        "avg_rate": n_in / (end - start),
        "latency": float(tt[0] - start) if tt.size else math.nan,
        "first_isi": float(isis[0]) if isis.size else math.nan,
        "mean_isi": float(isis.mean()) if isis.size else math.nan,
        "median_isi": float(np.median(isis)) if isis.size else math.nan,
        "isi_cv": float(isis.std() / isis.mean()) if isis.size else math.nan,
        "adapt": adaptation_index(isis),
    }


# ----------------------------------------------------------------------------- pauses and bursts


def detect_pauses(isis: np.ndarray, isi_types: np.ndarray, cost_weight: float = 1.0) -> np.ndarray:
    """Indices of ISIs that are pauses (sorted).

    Candidates are "detour" ISIs, then "direct" ISIs longer than 3x the median direct ISI; they are
    added greedily while removing them lowers the CV of the remaining ISIs by more than the cost
    ``cost_weight * sum(std(rest) / |mean(rest) - pause|)``.
    """
    isis = np.asarray(isis, dtype=float)
    types = np.asarray(isi_types, dtype=object)
    if isis.size != types.size:
        raise ConfigError(f"{isis.size} ISIs but {types.size} ISI types")
    direct = types == "direct"
    if not direct.any():
        return np.empty(0, dtype=int)
    med = np.median(isis[direct])
    candidates = [k for k in range(isis.size) if types[k] == "detour"]
    candidates += [k for k in range(isis.size) if types[k] == "direct" and isis[k] > 3 * med]
    if not candidates:
        return np.empty(0, dtype=int)
    chosen: list[int] = []
    all_cv = isis.std() / isis.mean()
    best = 0.0
    for k in candidates:
        trial = chosen + [k]
        rest = np.delete(isis, trial)
        if rest.size < 2:
            break
        cv = rest.std() / rest.mean()
        with np.errstate(divide="ignore"):
            cost = cost_weight * np.sum(rest.std() / np.abs(rest.mean() - isis[trial]))
        net = (all_cv - cv) - cost
        if 0 < net < best:
            break
        best = max(best, net)
        chosen.append(k)
    if best <= 0:
        return np.empty(0, dtype=int)
    return np.sort(np.array(chosen, dtype=int))


def _burstiness(in_isis: np.ndarray, out_isis: np.ndarray) -> float:
    r_in, r_out = 1.0 / in_isis.min(), 1.0 / out_isis.min()
    return (r_in - r_out) / (r_in + r_out)


def _score_bursts(bursts, isis, delta_t, c_n=0.1, c_tx=0.01):
    inside = np.zeros(isis.size, dtype=bool)
    for a, b in bursts:
        inside[a:b] = True
    if not (~inside).any():
        return [-1e12] * len(bursts)
    frac = delta_t / isis
    scores = []
    for a, b in bursts:
        score = _burstiness(isis[a:b], isis[~inside])
        if b < delta_t.size:
            score -= c_tx / frac[b]
        if a > 0:
            score -= c_tx / frac[a - 1]
        score -= c_n * (b - a - 1)
        scores.append(score)
    return scores


def detect_bursts(isis, isi_types, fast_tr_t, slow_tr_v, slow_tr_t, thr_v, tol: float = 0.5,
                  pause_cost: float = 1.0) -> list[tuple[float, int, int]]:
    """Bursts as ``(burstiness_index, first ISI, ISI after the burst)``.

    ``fast_tr_t``, ``slow_tr_v``, ``slow_tr_t``, ``thr_v`` have one entry per spike (n + 1 for n ISIs).
    """
    isis = np.asarray(isis, dtype=float)
    types = np.array(isi_types, dtype=object)
    if isis.size < 2:
        return []
    fast_tr_t = np.asarray(fast_tr_t, dtype=float)[:-1]
    slow_tr_v = np.asarray(slow_tr_v, dtype=float)[:-1]
    slow_tr_t = np.asarray(slow_tr_t, dtype=float)[:-1]
    thr_v = np.asarray(thr_v, dtype=float)
    types[detect_pauses(isis, types, pause_cost)] = "pauselike"
    if not ((types == "direct").any() and (types == "detour").any()):
        return []
    with np.errstate(invalid="ignore"):
        mid = (thr_v[:-1] < slow_tr_v + tol) & (types == "detour")
    types[mid] = "midburst"
    into = [k + 1 for k in range(types.size - 1) if types[k + 1] == "direct" and types[k] == "detour"]
    if types[0] == "direct":
        into = [0] + into
    out: list[int] = []
    dropped: list[int] = []
    nexts = into[1:] + [isis.size] if into else []
    for j, (a, nxt) in enumerate(zip(into, nexts, strict=True)):
        for k in range(a + 1, nxt):
            if types[k] == "detour":
                out.append(k)
                break
            if types[k] == "pauselike":
                dropped.append(j)
                break
    into = [a for j, a in enumerate(into) if j not in dropped]
    if len(out) == len(into) - 1:
        out.append(types.size)
    if not into and not out:
        return []
    if len(into) != len(out):
        return []  # inconsistent boundaries: no reliable burst (ipfx raises here)
    pairs = list(zip(into, out, strict=True))
    delta_t = slow_tr_t - fast_tr_t
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = _score_bursts(pairs, isis, delta_t)
        best = float(np.mean(scores))
        trial = list(pairs)
        del trial[int(np.nanargmin(scores)) if np.any(np.isfinite(scores)) else 0]
        while trial:
            scores = _score_bursts(trial, isis, delta_t)
            if np.mean(scores) > best:
                best = float(np.mean(scores))
                pairs = list(trial)
                del trial[int(np.argmin(scores))]
            else:
                break
    if not best >= 0:
        return []
    result = []
    for j, (a, b) in enumerate(pairs):
        if j == len(pairs) - 1:
            if b <= isis.size - 1:
                metric = _burstiness(isis[a:b], isis[b:])
            elif j == 0:
                metric = _burstiness(isis[a:b], isis[:a]) if a > 0 else math.nan
            else:
                metric = _burstiness(isis[a:b], isis[pairs[j - 1][1]:a])
        else:
            metric = _burstiness(isis[a:b], isis[b:pairs[j + 1][0]])
        result.append((float(metric), int(a), int(b)))
    return result


def pause(spikes: pd.DataFrame, start: float, end: float, cost_weight: float = 1.0) -> tuple[int, float]:
    """Number of pauses and the fraction of ``[start, end]`` spent in them."""
    if len(spikes) < 3:
        return 0, 0.0
    isis = np.diff(spikes["threshold_t"].to_numpy(dtype=float))
    types = spikes["isi_type"].to_numpy(dtype=object)[:-1]
    found = detect_pauses(isis, types, cost_weight)
    if found.size == 0:
        return 0, 0.0
    return int(found.size), float(isis[found].sum() / (end - start))


def burst(spikes: pd.DataFrame, tol: float = 0.5, pause_cost: float = 1.0) -> tuple[float, int]:
    """Largest burstiness index and number of bursts (``(0.0, 0)`` when there are none)."""
    if len(spikes) < 3:
        return 0.0, 0
    isis = np.diff(spikes["threshold_t"].to_numpy(dtype=float))
    found = detect_bursts(
        isis, spikes["isi_type"].to_numpy(dtype=object)[:-1],
        spikes["fast_trough_t"].to_numpy(dtype=float), spikes["slow_trough_v"].to_numpy(dtype=float),
        spikes["slow_trough_t"].to_numpy(dtype=float), spikes["threshold_v"].to_numpy(dtype=float),
        tol, pause_cost)
    if not found:
        return 0.0, 0
    return float(np.nanmax([b[0] for b in found])), len(found)


#: Most samples the exponential fit of :func:`delay` uses: a longer rise (a late first spike in a
#: high-rate recording: 10 M samples at 500 kHz took a minute) is thinned evenly, which moves the
#: fitted tau by far less than its own uncertainty.
DELAY_FIT_MAX_SAMPLES = 100_000


def delay(t: np.ndarray, v: np.ndarray, spikes: pd.DataFrame, start: float) -> tuple[float, float]:
    """``(latency / tau, tau)`` with ``tau`` (s) a single-exponential fit of the rise from
    ``start`` to the first spike's threshold (at most :data:`DELAY_FIT_MAX_SAMPLES` samples of
    it); ``(nan, nan)`` when the fit fails."""
    if len(spikes) == 0:
        return 0.0, 0.0
    t_spk = float(spikes["threshold_t"].iloc[0])
    a, b = np.searchsorted(t, [start, t_spk])
    if b - a < 5:
        return math.nan, math.nan
    step = -(-(b - a) // DELAY_FIT_MAX_SAMPLES)  # evenly thinned beyond the cap
    x = t[a:b:step] - t[a]
    y = np.array(v[a:b:step])  # a copy: scipy holds the last fit's data until the next fit

    def rise(xx: np.ndarray, y_inf: float, amp: float, tau: float) -> np.ndarray:
        return y_inf - amp * np.exp(-xx / tau)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, _ = curve_fit(rise, x, y, p0=(y[-1], y[-1] - y[0], max(x[-1] / 3, 1e-4)),
                                maxfev=2000)
    except (RuntimeError, ValueError):
        return math.nan, math.nan
    tau = float(popt[2])
    if not tau > 0:
        return math.nan, math.nan
    return (t_spk - start) / tau, tau


def all_train_features(t: np.ndarray, v: np.ndarray, spikes: pd.DataFrame, start: float, end: float,
                       extra: bool = True) -> dict[str, Any]:
    """:func:`spike_train_features` plus, when ``extra``, ``burst``/``burst_count``,
    ``pause``/``pause_frac`` and ``delay``/``delay_tau`` (0 when there are no spikes, as ipfx)."""
    out: dict[str, Any] = spike_train_features(spikes, start, end)
    if extra:
        out["burst"], out["burst_count"] = burst(spikes)
        out["pause"], out["pause_frac"] = pause(spikes, start, end)
        out["delay"], out["delay_tau"] = delay(t, v, spikes, start) if len(spikes) else (0.0, 0.0)
    return out
