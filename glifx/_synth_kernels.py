"""Compiled kernels of :mod:`glifx.synth` (private).

Conductance-based point neuron of Pospischil et al. (2008): leak, transient Na (m³h), delayed
rectifier K (n⁴) and slow non-inactivating M-type K (p), with Traub–Miles rate functions shifted
by ``V_T``, plus an optional spike-triggered after-hyperpolarisation (AHP) K conductance.
Units inside the kernels: mV, ms, pA, nS, pF (so nS·mV = pA and pA/pF = mV/ms).

Scheme: classical fixed-step Runge–Kutta 4 on the 5-dimensional state.  The injected current is
held constant over each output sample (zero-order hold, as a digital command is), and the
intrinsic noise — an Ornstein–Uhlenbeck current and an Ornstein–Uhlenbeck fluctuation of a
conductance with its own reversal potential, both discretised exactly, the conductance optionally
scaled by a Boltzmann gate of the membrane potential at the start of the step — is held constant
over each integration step (operator splitting; with noise off the scheme is plain RK4).  Spikes
are upward crossings of ``v_spike`` located by linear interpolation between integration steps.

The AHP conductance (reversal E_K) is ``g_AHP(t) = Σ Δg exp(−(t − t_s)/τ_AHP)`` over past spikes
``t_s``: it is not part of the RK4 state but evaluated exactly at each RK4 stage time, and a spike
found in a step adds ``Δg`` decayed from the interpolated crossing to the step's end (the AHP
therefore starts at the end of the step in which V crossed ``v_spike``, ≤ one step late, during
the spike's peak where the Na current dominates).

Parameter vector layout (``P_*`` indices below): C, g_L, E_L, g_Na, E_Na, g_Kd, E_K, g_M,
tau_max, V_T, Δg_AHP (nS per spike; 0: no AHP), τ_AHP (ms).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from glifx._numba import CACHE

P_C, P_GL, P_EL, P_GNA, P_ENA, P_GKD, P_EK, P_GM, P_TAUMAX, P_VT, P_DGAHP, P_TAUAHP = range(12)
N_PARAMS = 12
N_STATE = 5  # V, m, h, n, p


@njit(cache=CACHE, inline="always")
def _xexp(x: float, k: float) -> float:
    """x / (1 − exp(−x/k)), continuous at x = 0 (value k there)."""
    u = x / k
    if abs(u) < 1e-6:
        return k * (1.0 + 0.5 * u)
    return x / (1.0 - math.exp(-u))


@njit(cache=CACHE)
def derivatives(
    y: np.ndarray, i_inj: float, g_noise: float, e_noise: float, par: np.ndarray, out: np.ndarray,
    g_ahp: float = 0.0,
) -> None:
    """Write dy/dt (per ms) of state ``y = (V, m, h, n, p)`` into ``out``.

    ``i_inj`` (pA) is injected; ``g_noise`` (nS) is an extra conductance with reversal ``e_noise``
    (mV), i.e. the current ``g_noise * (e_noise - V)`` is added too; ``g_ahp`` (nS) is the AHP
    conductance, reversal E_K.
    """
    v, m, h, n, p = y[0], y[1], y[2], y[3], y[4]
    u = v - par[P_VT]
    a_m = 0.32 * _xexp(u - 13.0, 4.0)
    b_m = 0.28 * _xexp(-(u - 40.0), 5.0)
    a_h = 0.128 * math.exp(-(u - 17.0) / 18.0)
    b_h = 4.0 / (1.0 + math.exp(-(u - 40.0) / 5.0))
    a_n = 0.032 * _xexp(u - 15.0, 5.0)
    b_n = 0.5 * math.exp(-(u - 10.0) / 40.0)
    p_inf = 1.0 / (1.0 + math.exp(-(v + 35.0) / 10.0))
    tau_p = par[P_TAUMAX] / (3.3 * math.exp((v + 35.0) / 20.0) + math.exp(-(v + 35.0) / 20.0))
    i_ion = (
        par[P_GL] * (v - par[P_EL])
        + par[P_GNA] * m * m * m * h * (v - par[P_ENA])
        + par[P_GKD] * n * n * n * n * (v - par[P_EK])
        + (par[P_GM] * p + g_ahp) * (v - par[P_EK])
        + g_noise * (v - e_noise)
    )
    out[0] = (i_inj - i_ion) / par[P_C]
    out[1] = a_m * (1.0 - m) - b_m * m
    out[2] = a_h * (1.0 - h) - b_h * h
    out[3] = a_n * (1.0 - n) - b_n * n
    out[4] = (p_inf - p) / tau_p


@njit(cache=CACHE, inline="always")
def noise_gate(v: float, v_half: float, k: float) -> float:
    """Boltzmann gate ``1 / (1 + exp(-(v - v_half) / k))`` of the noise conductance (mV, mV);
    1 when ``v_half`` is NaN (ungated)."""
    if v_half != v_half:
        return 1.0
    return 1.0 / (1.0 + math.exp(-(v - v_half) / k))


@njit(cache=CACHE)
def _ou_step(x: float, decay: float, kick: float, xi: np.ndarray, k: int) -> float:
    return x * decay + kick * xi[k if k < xi.size else xi.size - 1]


@njit(cache=CACHE)
def simulate_cb(
    par: np.ndarray,
    y0: np.ndarray,
    i_stim: np.ndarray,
    substeps: int,
    dt_ms: float,
    xi_i: np.ndarray,
    sigma_i: float,
    xi_g: np.ndarray,
    sigma_g: float,
    e_noise: float,
    noise_tau_ms: float,
    v_spike: float,
    max_spikes: int,
    gate_v_half: float = math.nan,
    gate_k: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Integrate the model over ``i_stim`` (pA per output sample; ``substeps`` RK4 steps each).

    Parameters
    ----------
    par
        Parameter vector (module docstring).
    y0
        Initial state; not modified.
    i_stim
        Injected current, pA, one value per output sample (held over the sample).
    substeps
        RK4 steps per output sample; the sample interval is ``substeps * dt_ms``.
    dt_ms
        Integration step, ms.
    xi_i, sigma_i
        Standard normal draws (one per integration step, plus one) and stationary std (pA) of the
        Ornstein–Uhlenbeck noise *current*; an empty array or ``sigma_i = 0`` switches it off.
    xi_g, sigma_g, e_noise
        The same for the Ornstein–Uhlenbeck noise *conductance* (zero-mean fluctuation, nS) with
        reversal potential ``e_noise`` (mV).
    noise_tau_ms
        Correlation time of both noise processes, ms; each starts from its stationary
        distribution (``sigma * xi[0]``).
    v_spike
        Spike detection level, mV (upward crossing).
    max_spikes
        Capacity of the spike-time array.
    gate_v_half, gate_k
        Half-activation and slope (mV) of the Boltzmann gate :func:`noise_gate` that scales the
        noise conductance, evaluated at the membrane potential at the start of each step; NaN
        ``gate_v_half`` (default): ungated.

    The AHP (``par[P_DGAHP]`` nS per spike, decay ``par[P_TAUAHP]`` ms) starts at 0.

    Returns
    -------
    v
        Membrane potential at each output sample time, mV.
    spikes
        Spike times, ms from the first sample (first ``n_spikes`` entries valid).
    n_spikes
        Number of spikes (may exceed ``max_spikes``; then only the first ``max_spikes`` are kept).
    y
        Final state.
    """
    n_out = i_stim.size
    v_out = np.empty(n_out)
    spikes = np.empty(max_spikes)
    n_sp = 0
    y = y0.copy()
    k1 = np.empty(N_STATE)
    k2 = np.empty(N_STATE)
    k3 = np.empty(N_STATE)
    k4 = np.empty(N_STATE)
    tmp = np.empty(N_STATE)
    noisy_i = xi_i.size > 0 and sigma_i > 0.0
    noisy_g = xi_g.size > 0 and sigma_g > 0.0
    decay = math.exp(-dt_ms / noise_tau_ms) if noise_tau_ms > 0.0 else 0.0
    root = math.sqrt(1.0 - decay * decay)
    eta_i = sigma_i * xi_i[0] if noisy_i else 0.0
    eta_g = sigma_g * xi_g[0] if noisy_g else 0.0
    step = 0
    h2 = 0.5 * dt_ms
    dg_ahp = par[P_DGAHP]
    tau_ahp = par[P_TAUAHP]
    ahp = dg_ahp > 0.0
    ahp_half = math.exp(-h2 / tau_ahp) if ahp else 1.0
    ahp_full = ahp_half * ahp_half
    g_a = 0.0  # AHP conductance at the start of the step, nS
    for k in range(n_out):
        v_out[k] = y[0]
        for _ in range(substeps):
            i_tot = i_stim[k] + eta_i
            v_prev = y[0]
            g_tot = eta_g * noise_gate(v_prev, gate_v_half, gate_k) if noisy_g else 0.0
            g_mid = g_a * ahp_half
            g_end = g_a * ahp_full
            derivatives(y, i_tot, g_tot, e_noise, par, k1, g_a)
            for j in range(N_STATE):
                tmp[j] = y[j] + h2 * k1[j]
            derivatives(tmp, i_tot, g_tot, e_noise, par, k2, g_mid)
            for j in range(N_STATE):
                tmp[j] = y[j] + h2 * k2[j]
            derivatives(tmp, i_tot, g_tot, e_noise, par, k3, g_mid)
            for j in range(N_STATE):
                tmp[j] = y[j] + dt_ms * k3[j]
            derivatives(tmp, i_tot, g_tot, e_noise, par, k4, g_end)
            for j in range(N_STATE):
                y[j] += dt_ms / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j])
            g_a = g_end
            if v_prev < v_spike <= y[0]:
                frac = (v_spike - v_prev) / (y[0] - v_prev)
                if n_sp < max_spikes:
                    spikes[n_sp] = (step + frac) * dt_ms
                n_sp += 1
                if ahp:
                    g_a += dg_ahp * math.exp(-(1.0 - frac) * dt_ms / tau_ahp)
            step += 1
            if noisy_i:
                eta_i = _ou_step(eta_i, decay, sigma_i * root, xi_i, step)
            if noisy_g:
                eta_g = _ou_step(eta_g, decay, sigma_g * root, xi_g, step)
    return v_out, spikes, n_sp, y
