"""Subthreshold features of step responses (ipfx definitions): baseline, deflection, tau, sag, Rin.

Units: ``t`` s, ``v`` mV, ``i`` pA; tau s; input resistance MΩ.  Windows ``[start, end]`` are the
stimulus step, s.  Slices follow ipfx: ``v[index(a):index(b)]`` with ``index`` the nearest sample.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy.optimize import curve_fit

from glifx.features._kernels import time_index


def _idx(t: np.ndarray, x: float) -> int:
    return int(time_index(t, float(x)))


def baseline_voltage(t: np.ndarray, v: np.ndarray, start: float, interval: float = 0.1) -> float:
    """Mean of ``v`` over the ``interval`` s before ``start`` (mV)."""
    a, b = _idx(t, start - interval), _idx(t, start)
    return float(v[a:b].mean()) if b > a else math.nan


def voltage_deflection(t: np.ndarray, v: np.ndarray, i: np.ndarray | None, start: float, end: float,
                       deflect_type: str | None = None) -> tuple[float, int]:
    """Peak deflection in ``[start, end)``: ``(v mV, index)``.

    ``deflect_type`` "min" or "max"; ``None`` chooses "max" when the current halfway through the
    window is ≥ 0 and "min" otherwise ("min" when ``i`` is ``None``).
    """
    a, b = _idx(t, start), _idx(t, end)
    if deflect_type is None:
        deflect_type = "min"
        if i is not None and i[_idx(t, (end - start) / 2.0 + start)] >= 0:
            deflect_type = "max"
    if b <= a:
        return math.nan, a
    k = int(np.argmin(v[a:b]) if deflect_type == "min" else np.argmax(v[a:b])) + a
    return float(v[k]), k


def _exp_curve(x, a, inv_tau, y0):
    return y0 + a * np.exp(-inv_tau * x)


def fit_membrane_time_constant(t: np.ndarray, v: np.ndarray, start: float, end: float,
                               rmse_max: float = 1.0) -> tuple[float, float, float]:
    """Fit ``y0 + a * exp(-inv_tau * x)`` to ``v`` on ``[start, end)``; NaNs when the fit fails or
    its RMSE exceeds ``rmse_max`` mV."""
    a, b = _idx(t, start), _idx(t, end)
    if b - a < 4:
        return math.nan, math.nan, math.nan
    x = t[a:b] - t[a]
    y = np.array(v[a:b])  # a copy: scipy holds the last fit's data until the next fit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, _ = curve_fit(_exp_curve, x, y, p0=(v[a] - v[b], 50.0, v[b]))
    except (RuntimeError, ValueError):
        return math.nan, math.nan, math.nan
    if np.sqrt(np.mean((_exp_curve(x, *popt) - y) ** 2)) > rmse_max:
        return math.nan, math.nan, math.nan
    return float(popt[0]), float(popt[1]), float(popt[2])


def time_constant(t: np.ndarray, v: np.ndarray, i: np.ndarray | None, start: float, end: float,
                  max_fit_end: float | None = None, frac: float = 0.1,
                  baseline_interval: float = 0.1, min_snr: float = 20.0) -> float:
    """Membrane time constant (s) of a hyperpolarising step response.

    Single exponential fitted from where the response first reaches ``frac`` of the peak deflection
    to the peak (or ``max_fit_end`` if earlier); NaN when the SNR (deflection / std of the baseline
    interval) is below ``min_snr`` or the fit's RMSE exceeds 1 mV.
    """
    v_peak, k_peak = voltage_deflection(t, v, i, start, end, "min")
    if max_fit_end is not None:
        k_peak = min(_idx(t, max_fit_end), k_peak)
        v_peak = float(v[k_peak])
    v_base = baseline_voltage(t, v, start, baseline_interval)
    a = _idx(t, start)
    noise = float(np.std(v[_idx(t, start - baseline_interval):a]))
    snr = math.inf if noise == 0 else abs(v_base - v_peak) / noise
    if not snr >= min_snr:
        return math.nan
    hit = np.flatnonzero(v[a:] <= frac * (v_peak - v_base) + v_base)
    if hit.size == 0:
        return math.nan
    _, inv_tau, _ = fit_membrane_time_constant(t, v, float(t[hit[0] + a]), float(t[k_peak]))
    return 1.0 / inv_tau if inv_tau == inv_tau else math.nan


def sag(t: np.ndarray, v: np.ndarray, i: np.ndarray | None, start: float, end: float,
        peak_width: float = 0.005, baseline_interval: float = 0.03,
        v_baseline_interval: float | None = None) -> float:
    """Sag fraction ``(v_peak_avg - v_steady) / (v_peak_avg - v_baseline)`` of a hyperpolarising step.

    ``v_peak_avg``: mean over ``peak_width`` s around the minimum; ``v_steady``: mean over the last
    ``baseline_interval`` s of the step; ``v_baseline``: mean over ``v_baseline_interval`` s
    (default ``baseline_interval``, as ipfx) before ``start``.
    """
    _, k = voltage_deflection(t, v, i, start, end, "min")
    tp = float(t[k])
    a, b = _idx(t, tp - peak_width / 2.0), _idx(t, tp + peak_width / 2.0)
    v_peak = float(v[a:b].mean()) if b > a else float(v[k])
    v_base = baseline_voltage(t, v, start, v_baseline_interval or baseline_interval)
    a, b = _idx(t, end - baseline_interval), _idx(t, end)
    v_steady = float(v[a:b].mean()) if b > a else math.nan
    den = v_peak - v_base
    return (v_peak - v_steady) / den if den != 0 else math.nan


def input_resistance(t_set: Sequence[np.ndarray], i_set: Sequence[np.ndarray],
                     v_set: Sequence[np.ndarray], start: float, end: float,
                     baseline_interval: float = 0.1) -> float:
    """Input resistance (MΩ): slope of peak deflection (mV) against current at the peak (pA) over
    hyperpolarising sweeps, x 1e3.

    With a single distinct current (one sweep, or several at the same amplitude) the slope is
    taken through the mean pre-stimulus baseline at 0 pA.  (ipfx does this for one sweep only;
    with several sweeps at one amplitude its least-squares fit is degenerate.)
    """
    vs, cs = [], []
    for t, i, v in zip(t_set, i_set, v_set, strict=True):
        vp, k = voltage_deflection(t, v, i, start, end, "min")
        vs.append(vp)
        cs.append(float(i[k]))
    v_arr, i_arr = np.array(vs), np.array(cs)
    if v_arr.size == 0:
        return math.nan
    if np.unique(i_arr).size < 2:
        base = np.mean([baseline_voltage(t, v, start, baseline_interval) for t, v in zip(t_set, v_set,
                                                                                         strict=True)])
        v_arr = np.append(v_arr, base) if v_arr.size == 1 else np.array([v_arr.mean(), base])
        i_arr = np.append(i_arr, 0.0) if i_arr.size == 1 else np.array([i_arr.mean(), 0.0])
    design = np.vstack([i_arr, np.ones_like(i_arr)]).T
    slope = np.linalg.lstsq(design, v_arr, rcond=None)[0][0]
    return float(slope * 1e3)
