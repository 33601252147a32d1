"""The slow, obviously correct GLIF step (GLIF_SPEC.md section 2) that the tests check the compiled
simulator and everything built on it against: plain Python, one step at a time, written from the
spec and shared by every test module (the library's own step is ``glifx.glif._kernels._run``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from glifx.glif import GlifModel


@dataclass
class SlowRun:
    """The outputs of :func:`slow_glif` (SI, relative to rest).

    ``voltage``, ``threshold`` (N,) and ``asc`` (N, 2) are NaN on the spike step, inside the cut and
    after a truncation, and hold the reset state at the end of each cut, as :func:`glifx.simulate`
    records them; ``v_crossed`` is the voltage that crossed threshold, per spike;
    ``margin``/``valid`` are filled only for a forced run.
    """

    spikes: list[int]
    voltage: np.ndarray
    threshold: np.ndarray
    asc: np.ndarray
    truncated_at: int | None
    v_crossed: list[float] = field(default_factory=list)
    margin: np.ndarray | None = None
    valid: np.ndarray | None = None


def slow_glif(model: GlifModel, stim: np.ndarray, dt: float,
              forced_spikes: np.ndarray | None = None) -> SlowRun:
    """Simulate ``model`` on ``stim`` (A) at ``dt`` (s), one step at a time.

    With ``forced_spikes`` (sorted steps) the model spikes there instead of at threshold
    crossings (a step inside an earlier cut is skipped) and never truncates; ``margin`` is
    ``V - θ_s - θ_v`` wherever the threshold would be tested (``valid``).
    """
    m = model.methods
    n_cut = model.cut_steps(dt)
    C = model.coeff_C * model.C
    g = model.coeff_G / model.R_input
    El = model.El
    th_inf = model.coeff_th_inf * model.th_inf
    exact = m["threshold_dynamics_method"] == "three_components_exact"
    spike_th = m["threshold_dynamics_method"] in ("spike_component", "three_components_exact")
    asc_on = m["AScurrent_dynamics_method"] == "exp"
    k = [1.0 / tau for tau in model.asc_tau_array] if model.asc_tau_array is not None else [0.0, 0.0]
    N = len(stim)
    out = SlowRun([], np.full(N, np.nan), np.full(N, np.nan), np.full((N, 2), np.nan), None)
    forced = None if forced_spikes is None else sorted(int(s) for s in forced_spikes)
    if forced is not None:
        out.margin, out.valid = np.zeros(N), np.zeros(N, dtype=bool)
    V = model.init_voltage
    I = list(model.init_AScurrents) if asc_on else [0.0, 0.0]
    th_s = th_v = 0.0
    t = 0
    while t < N:
        Ie = stim[t]
        I_prev = list(I)
        I = [I[j] * math.exp(-k[j] * dt) for j in range(2)] if asc_on else [0.0, 0.0]
        V_new = V + (Ie + sum(I_prev) - g * (V - El)) * (dt / C)
        if spike_th:
            th_s = th_s * math.exp(-model.b_spike * dt)
        if exact:
            a_v = model.coeff_a * model.a_voltage
            b_v = model.coeff_b * model.b_voltage
            beta = (Ie + sum(I_prev) + g * El) / g
            phi = a_v / (b_v - g / C)
            th_v = (phi * (V - beta) * math.exp(-g * dt / C)
                    + math.exp(-b_v * dt) * (th_v - phi * (V - beta) - (a_v / b_v) * (beta - El))
                    + (a_v / b_v) * (beta - El))
        theta = th_inf + (th_s if spike_th else 0.0) + (th_v if exact else 0.0)
        if forced is None:
            spike = V_new > theta
        else:
            out.margin[t], out.valid[t] = V_new - th_s - th_v, True
            while forced and forced[0] < t:
                forced.pop(0)
            spike = bool(forced) and forced[0] == t
        if spike:
            out.spikes.append(t)
            out.v_crossed.append(V_new)
            V = 0.0 if m["voltage_reset_method"] == "zero" else model.a * V_new + model.b
            if m["AScurrent_reset_method"] == "sum":
                I = [model.coeff_asc_amp[j] * model.asc_amp_array[j]
                     + model.asc_r[j] * I[j] * math.exp(-k[j] * n_cut * dt) for j in range(2)]
            else:
                I = [0.0, 0.0]
            if m["threshold_reset_method"] == "three_components":
                th_s = th_s * math.exp(-model.b_spike * n_cut * dt) + model.a_spike
            theta = th_inf + (th_s if spike_th else 0.0) + (th_v if exact else 0.0)
            if t + n_cut < N:
                if forced is None and V > theta:
                    out.truncated_at = t + n_cut
                    return out
                out.voltage[t + n_cut], out.threshold[t + n_cut], out.asc[t + n_cut] = V, theta, I
            t += n_cut + 1
        else:
            V = V_new
            out.voltage[t], out.threshold[t], out.asc[t] = V, theta, I
            t += 1
    return out
