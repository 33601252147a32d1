"""The Pospischil et al. (2008) RS and FS neurons typed from the paper, for the tests only.

Pospischil M, Toledo-Rodriguez M, Monier C, Piwkowska Z, Bal T, Frégnac Y, Markram H, Destexhe A
(2008) Minimal Hodgkin-Huxley type models for different classes of cortical and thalamic neurons.
Biol Cybern 99:427-441.  Single compartment (a cylinder with L = d), the paper's units throughout:
V mV, t ms, conductance densities mS/cm², current densities µA/cm², C_m = 1 µF/cm²:

    C_m dV/dt = -g_leak (V - E_leak) - I_Na - I_Kd - I_M + I_inj / area
    I_Na = g_Na m³ h (V - E_Na)     I_Kd = g_Kd n⁴ (V - E_K)     I_M = g_M p (V - E_K)
    dx/dt = α_x(V) (1 - x) - β_x(V) x   for x = m, h, n      dp/dt = (p∞(V) - p) / τ_p(V)
    α_m = -0.32 (V - V_T - 13) / (exp(-(V - V_T - 13) / 4) - 1)
    β_m = 0.28 (V - V_T - 40) / (exp((V - V_T - 40) / 5) - 1)
    α_h = 0.128 exp(-(V - V_T - 17) / 18)          β_h = 4 / (1 + exp(-(V - V_T - 40) / 5))
    α_n = -0.032 (V - V_T - 15) / (exp(-(V - V_T - 15) / 5) - 1)
    β_n = 0.5 exp(-(V - V_T - 10) / 40)
    p∞ = 1 / (1 + exp(-(V + 35) / 10))      τ_p = τ_max / (3.3 exp((V + 35) / 20) + exp(-(V + 35) / 20))

Parameters (the paper's RS and FS cells): E_Na = 50 mV, E_K = -90 mV and

    cell  L = d (µm)  g_leak (S/cm²)  E_leak (mV)  g_Na (mS/cm²)  g_Kd  g_M     τ_max (ms)  V_T (mV)
    RS    61.4        2.05e-5         -70.3        56             6     0.075   608         -56.2
    FS    56.9        3.8e-5          -70.4        58             3.9   0.0787  502         -57.9

Integrated by ``scipy.integrate.solve_ivp`` (LSODA, tight tolerances) piece by piece of a
piecewise-constant command; spikes are upward crossings of 0 mV located by solve_ivp's events.
Nothing here imports glifx: it is the oracle of ``glifx.synth``'s conductance models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq, minimize_scalar

E_NA, E_K, C_M = 50.0, -90.0, 1.0


@dataclass(frozen=True)
class PaperCell:
    """One parameter set of the paper (units as in the module docstring)."""

    diameter_um: float
    g_leak_s_cm2: float
    e_leak: float
    g_na: float
    g_kd: float
    g_m: float
    tau_max: float
    v_t: float

    @property
    def area_cm2(self) -> float:
        """Lateral area of the cylinder with L = d (π d L), cm²."""
        d = self.diameter_um * 1e-4
        return math.pi * d * d

    @property
    def g_leak(self) -> float:
        """mS/cm²."""
        return self.g_leak_s_cm2 * 1e3

    def density(self, i_pa: float) -> float:
        """An injected current, pA, as a density over the membrane, µA/cm²."""
        return i_pa * 1e-6 / self.area_cm2


RS = PaperCell(61.4, 2.05e-5, -70.3, 56.0, 6.0, 0.075, 608.0, -56.2)
FS = PaperCell(56.9, 3.8e-5, -70.4, 58.0, 3.9, 0.0787, 502.0, -57.9)


def _x_over_expm1(x: float, k: float) -> float:
    """x / (exp(x / k) - 1), with its limit k at x = 0."""
    return k if abs(x) < 1e-12 else x / math.expm1(x / k)


def rates(cell: PaperCell, v: float) -> tuple[float, float, float, float, float, float]:
    """α_m, β_m, α_h, β_h, α_n, β_n at ``v`` mV, 1/ms."""
    u = v - cell.v_t
    a_m = 0.32 * _x_over_expm1(-(u - 13.0), 4.0)
    b_m = 0.28 * _x_over_expm1(u - 40.0, 5.0)
    a_h = 0.128 * math.exp(-(u - 17.0) / 18.0)
    b_h = 4.0 / (1.0 + math.exp(-(u - 40.0) / 5.0))
    a_n = 0.032 * _x_over_expm1(-(u - 15.0), 5.0)
    b_n = 0.5 * math.exp(-(u - 10.0) / 40.0)
    return a_m, b_m, a_h, b_h, a_n, b_n


def p_inf(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-(v + 35.0) / 10.0))


def tau_p(cell: PaperCell, v: float) -> float:
    return cell.tau_max / (3.3 * math.exp((v + 35.0) / 20.0) + math.exp(-(v + 35.0) / 20.0))


def ionic_density(cell: PaperCell, v: float, m: float, h: float, n: float, p: float) -> float:
    """Total ionic current density, µA/cm² (outward positive)."""
    return (cell.g_leak * (v - cell.e_leak) + cell.g_na * m ** 3 * h * (v - E_NA)
            + cell.g_kd * n ** 4 * (v - E_K) + cell.g_m * p * (v - E_K))


def derivatives(cell: PaperCell, y: np.ndarray, i_pa: float) -> np.ndarray:
    """d(V, m, h, n, p)/dt per ms under ``i_pa`` pA."""
    v, m, h, n, p = (float(x) for x in y)
    a_m, b_m, a_h, b_h, a_n, b_n = rates(cell, v)
    dv = (cell.density(i_pa) - ionic_density(cell, v, m, h, n, p)) / C_M
    return np.array([dv, a_m * (1 - m) - b_m * m, a_h * (1 - h) - b_h * h,
                     a_n * (1 - n) - b_n * n, (p_inf(v) - p) / tau_p(cell, v)])


def gates_at_rest(cell: PaperCell, v: float) -> tuple[float, float, float, float]:
    a_m, b_m, a_h, b_h, a_n, b_n = rates(cell, v)
    return a_m / (a_m + b_m), a_h / (a_h + b_h), a_n / (a_n + b_n), p_inf(v)


def steady_state_pa(cell: PaperCell, v: float) -> float:
    """Current (pA) that holds the cell at ``v`` mV with every gate at steady state."""
    return ionic_density(cell, v, *gates_at_rest(cell, v)) * cell.area_cm2 * 1e6


def resting_state(cell: PaperCell, i_hold_pa: float = 0.0) -> np.ndarray:
    """(V, m, h, n, p) at rest under a holding current (the root below the saddle-node)."""
    v = brentq(lambda x: steady_state_pa(cell, x) - i_hold_pa, -120.0, cell.v_t, xtol=1e-13)
    return np.array([v, *gates_at_rest(cell, v)])


def saddle_node_pa(cell: PaperCell) -> float:
    """Largest current with a resting state: the first local maximum of the steady-state I–V
    curve above -90 mV (searched on a 0.01 mV grid up to -30 mV, then refined)."""
    grid = np.arange(-90.0, -30.0, 0.01)
    i = np.array([steady_state_pa(cell, v) for v in grid])
    falling = np.flatnonzero(np.diff(i) < 0)
    assert falling.size, "the steady-state I-V curve has no local maximum below -30 mV"
    k = int(falling[0])
    res = minimize_scalar(lambda v: -steady_state_pa(cell, v), bounds=(grid[k - 5], grid[k + 5]),
                          method="bounded", options={"xatol": 1e-10})
    return float(-res.fun)


@dataclass(frozen=True)
class Run:
    """Voltage at the sample times (mV) and spike times (s from the first sample)."""

    v: np.ndarray
    spike_times: np.ndarray


def simulate(cell: PaperCell, i_pa: np.ndarray, sampling_rate: float, *,
             y0: np.ndarray | None = None, tol: float = 1e-10) -> Run:
    """Integrate under a piecewise-constant command ``i_pa`` (pA, one value per sample, held
    over the sample interval) from rest at ``i_pa[0]`` (or ``y0``)."""
    i_pa = np.asarray(i_pa, dtype=float)
    dt_ms = 1e3 / sampling_rate
    y = resting_state(cell, float(i_pa[0])) if y0 is None else np.asarray(y0, dtype=float)
    edges = np.concatenate([[0], np.flatnonzero(np.diff(i_pa)) + 1, [i_pa.size]])
    v_out = np.empty(i_pa.size)
    spikes: list[float] = []

    def crossing(_t: float, yy: np.ndarray) -> float:
        return yy[0]

    crossing.direction = 1.0  # type: ignore[attr-defined]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        amp = float(i_pa[a])
        sol = solve_ivp(lambda _t, yy, amp=amp: derivatives(cell, yy, amp), (a * dt_ms, b * dt_ms),
                        y, method="LSODA", t_eval=np.arange(a, b + 1) * dt_ms, events=crossing,
                        rtol=tol, atol=tol, max_step=0.05)
        assert sol.success, sol.message
        v_out[a:b] = sol.y[0][:-1]
        spikes.extend(sol.t_events[0])
        y = sol.y[:, -1]
    return Run(v_out, np.asarray(spikes) * 1e-3)
