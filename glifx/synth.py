"""Synthetic experiments: a neuron model + a protocol set + a recording model → :class:`glifx.Cell`.

Neuron models
-------------
:class:`ConductanceModel` is the single-compartment model of Pospischil et al. (2008, Biol. Cybern.
99:427–441, "Minimal Hodgkin–Huxley type models for different classes of cortical and thalamic
neurons"): leak, transient Na⁺ (m³h), delayed-rectifier K⁺ (n⁴) and the slow non-inactivating
M-type K⁺ current (p), Traub–Miles kinetics shifted by ``V_T``, a cylinder with L = d.  Two
parameter sets of the paper are provided: :func:`pospischil_rs` (regular spiking, adapting through
I_M) and :func:`pospischil_fs` (fast spiking).  An optional spike-triggered after-hyperpolarisation
(AHP) K⁺ conductance — the Ca²⁺-activated sAHP/mAHP, not in the paper — jumps by ``ahp_dg_ns`` at
each spike (upward crossing of 0 mV) and decays with ``ahp_tau_ms``: it adapts firing without
changing the subthreshold resistance (what GLIF's after-spike currents model); off by default.
The equations are integrated by the compiled RK4 kernel of :mod:`glifx._synth_kernels` (fixed
step, default ≤ 10 µs; scheme documented there) and checked against :func:`simulate_reference`
(``scipy.integrate.solve_ivp``; the AHP against an event-driven solve_ivp in the tests).

Intrinsic noise stands for channel and synaptic background noise, so that repeats of the same
stimulus differ as in a real cell: an Ornstein–Uhlenbeck current (std ``noise_sigma_pa``) and an
Ornstein–Uhlenbeck fluctuation of a shunting conductance (std ``noise_sigma_ns``, reversal
``noise_e_rev``, default the leak reversal), both with time constant ``noise_tau_ms``.  The
conductance noise is proportional to the distance from its reversal potential, so it is small at
rest and grows with depolarisation, as channel noise does: a cell can be quiet at rest (passing the
Allen baseline-noise QC) yet jitter its spikes.  Ungated it grows on hyperpolarisation too (and a
zero-mean conductance as large as the leak can make the total negative there); a Boltzmann gate
(``noise_v_half``, ``noise_k_mv``) confines it to potentials above ``noise_v_half``, as the channel
noise of depolarisation-activated channels is, so that hyperpolarising steps stay quiet.  It is
seeded: the same seed gives the same sweep.

Validation (``tests/test_synth.py`` against ``tests/pospischil_paper.py``, the paper's equations
and parameters typed again in the paper's units and integrated by ``solve_ivp``, sharing no code
with this module): the kernel's derivatives equal the paper's; every spike time over 2 s agrees
within 1 µs (measured: 0.1 µs at the 10 µs step); for the RS model the onset of sustained firing
lies within 10 % of the saddle-node current of its steady-state I–V curve
(:func:`steady_state_rheobase`, 74.3 pA), the 1 s spike counts at 100 and 300 pA are the oracle's
(9 and 48: 0.195 Hz/pA), and the 1 s long-square rheobase lies in (55.0, 55.1] pA (lower than the
sustained one because the slow M-current has not yet activated).  :func:`simulate_reference`
remains as a convenience; it is not the tests' oracle.

:class:`GlifNeuron` wraps a :class:`glifx.glif.GlifModel` (intrinsic noise through the same OU
current added to the stimulus) for experiments whose ground truth is a GLIF model.

Recording model
---------------
:class:`RecordingModel` adds what the amplifier and the rig add: white and 1/f voltage noise and,
for QC tests, artifacts (baseline drift, a bias current, a recording that stops early, NaN
samples).

Units: as everywhere outside ``glifx.glif``: s, mV, pA, Hz.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
from scipy import optimize

from glifx import _synth_kernels as _k
from glifx.errors import ConfigError
from glifx.protocols import Waveform, protocol_set
from glifx.sweep import Cell, Sweep

__all__ = [
    "CBResult",
    "ConductanceModel",
    "ExperimentPlan",
    "GlifNeuron",
    "Neuron",
    "RecordingModel",
    "firing_rate",
    "pospischil_fs",
    "pospischil_rs",
    "rheobase",
    "simulate_conductance",
    "simulate_reference",
    "spike_trains",
    "steady_state_current",
    "steady_state_rheobase",
    "synthetic_cell",
    "synthetic_experiment",
]

#: Largest RK4 step used by default, s.
MAX_DT = 10e-6
#: Spike detection level of the conductance models, mV.
V_SPIKE = 0.0


class Neuron(Protocol):
    """Anything that turns a command (pA at a rate) into a membrane potential (mV)."""

    def simulate(self, i_pa: np.ndarray, sampling_rate: float, rng: np.random.Generator) -> np.ndarray:
        """Membrane potential (mV, one value per sample) under ``i_pa`` (pA) sampled at
        ``sampling_rate`` Hz; ``rng`` drives the neuron's intrinsic noise."""
        ...


# ============================================================================ conductance models
@dataclass(frozen=True)
class ConductanceModel:
    """A Pospischil et al. (2008) point neuron (Na, Kd, M, leak), with intrinsic noise.

    Densities are per membrane area, as in the paper; the cell is a cylinder of length = diameter
    ``diameter_um`` (area π d²).

    Attributes
    ----------
    name
        Label.
    diameter_um
        µm.
    cm_uf_cm2
        Specific capacitance, µF/cm².
    g_leak, g_na, g_kd, g_m
        Maximal conductance densities, S/cm².
    e_leak, e_na, e_k
        Reversal potentials, mV.
    v_t
        Threshold shift of the Traub–Miles kinetics, mV.
    tau_max_ms
        Maximal time constant of the M-current gate, ms.
    noise_sigma_pa
        Std of the intrinsic Ornstein–Uhlenbeck noise current, pA.
    noise_sigma_ns, noise_e_rev
        Std of the intrinsic Ornstein–Uhlenbeck conductance fluctuation (zero mean), nS, and its
        reversal potential, mV (``None``: ``e_leak``).
    noise_tau_ms
        Correlation time of both noise processes, ms.
    noise_v_half, noise_k_mv
        Voltage gate of the conductance fluctuation: it is scaled by the Boltzmann curve
        ``1 / (1 + exp(-(V - noise_v_half) / noise_k_mv))`` (mV, mV), so that it stands for the
        channel noise of depolarisation-activated channels: full above ``noise_v_half``, absent a
        few ``noise_k_mv`` below it (e.g. on hyperpolarising steps); ``noise_v_half=None``
        (default): ungated.
    ahp_dg_ns, ahp_tau_ms
        Spike-triggered AHP K⁺ conductance (reversal ``e_k``): increment at each spike (upward
        crossing of 0 mV), nS, and decay time constant, ms; ``ahp_dg_ns=0`` (default): no AHP.
        It is 0 at rest (the resting state and the steady-state analysis ignore it).
    """

    name: str
    diameter_um: float
    g_leak: float
    e_leak: float
    g_na: float
    g_kd: float
    g_m: float
    tau_max_ms: float
    v_t: float
    e_na: float = 50.0
    e_k: float = -90.0
    cm_uf_cm2: float = 1.0
    noise_sigma_pa: float = 0.0
    noise_tau_ms: float = 5.0
    noise_sigma_ns: float = 0.0
    noise_e_rev: float | None = None
    noise_v_half: float | None = None
    noise_k_mv: float = 4.0
    ahp_dg_ns: float = 0.0
    ahp_tau_ms: float = 100.0

    def __post_init__(self) -> None:
        if self.noise_v_half is not None and not np.isfinite(self.noise_v_half):
            raise ConfigError(f"ConductanceModel.noise_v_half: must be a number of mV or None, "
                              f"got {self.noise_v_half!r}")
        for name in ("diameter_um", "cm_uf_cm2", "g_leak", "tau_max_ms", "noise_tau_ms",
                     "noise_k_mv", "ahp_tau_ms"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ConfigError(f"ConductanceModel.{name}: must be a positive number, got {value!r}")
        for name in ("g_na", "g_kd", "g_m", "noise_sigma_pa", "noise_sigma_ns", "ahp_dg_ns"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ConfigError(f"ConductanceModel.{name}: must be a number >= 0, got {value!r}")

    @property
    def area_cm2(self) -> float:
        """Membrane area, cm² (π d², cylinder with L = d)."""
        return float(np.pi * (self.diameter_um * 1e-4) ** 2)

    @property
    def capacitance_pf(self) -> float:
        return self.cm_uf_cm2 * self.area_cm2 * 1e6

    @property
    def input_resistance_mohm(self) -> float:
        """Leak-only input resistance, MΩ."""
        return 1e3 / (self.g_leak * self.area_cm2 * 1e9)

    def params(self) -> np.ndarray:
        """Kernel parameter vector (pF, nS, mV, ms; layout in :mod:`glifx._synth_kernels`)."""
        a = self.area_cm2 * 1e9  # S/cm² → nS
        par = np.empty(_k.N_PARAMS)
        par[_k.P_C] = self.capacitance_pf
        par[_k.P_GL], par[_k.P_EL] = self.g_leak * a, self.e_leak
        par[_k.P_GNA], par[_k.P_ENA] = self.g_na * a, self.e_na
        par[_k.P_GKD], par[_k.P_EK] = self.g_kd * a, self.e_k
        par[_k.P_GM], par[_k.P_TAUMAX] = self.g_m * a, self.tau_max_ms
        par[_k.P_VT] = self.v_t
        par[_k.P_DGAHP], par[_k.P_TAUAHP] = self.ahp_dg_ns, self.ahp_tau_ms
        return par

    def with_noise(
        self, sigma_pa: float, tau_ms: float | None = None, sigma_ns: float | None = None
    ) -> ConductanceModel:
        """A copy with other intrinsic noise levels (current pA, time constant ms, conductance nS).

        ``sigma_ns=None`` keeps the conductance noise if ``sigma_pa`` is positive and drops it when
        ``sigma_pa`` is 0 (so ``with_noise(0)`` is noise-free).
        """
        if sigma_ns is None:
            sigma_ns = self.noise_sigma_ns if sigma_pa > 0 else 0.0
        return replace(self, noise_sigma_pa=float(sigma_pa), noise_sigma_ns=float(sigma_ns),
                       noise_tau_ms=self.noise_tau_ms if tau_ms is None else float(tau_ms))

    @property
    def has_noise(self) -> bool:
        return self.noise_sigma_pa > 0 or self.noise_sigma_ns > 0

    def gates_inf(self, v: float | np.ndarray) -> tuple[Any, Any, Any, Any]:
        """Steady-state gates (m, h, n, p) at ``v`` mV."""
        v = np.asarray(v, dtype=float)
        a_m, b_m, a_h, b_h, a_n, b_n = _ref_rates(v, self.v_t)
        p_inf = 1.0 / (1.0 + np.exp(-(v + 35.0) / 10.0))
        return a_m / (a_m + b_m), a_h / (a_h + b_h), a_n / (a_n + b_n), p_inf

    def resting_state(self, i_hold_pa: float = 0.0) -> np.ndarray:
        """The steady state ``(V, m, h, n, p)`` under a constant current (the one near ``e_leak``)."""
        lo, hi = min(self.e_k, self.e_leak) - 300.0, self.v_t + 5.0
        f = lambda x: float(steady_state_current(self, x)) - i_hold_pa  # noqa: E731
        if not (f(lo) < 0 < f(hi)):
            raise ConfigError(
                f"{self.name}: no resting state below {hi:g} mV under a holding current of "
                f"{i_hold_pa:g} pA (the cell fires tonically or the current is extreme)"
            )
        v = optimize.brentq(f, lo, hi, xtol=1e-12)
        return np.array([v, *[float(g) for g in self.gates_inf(v)]])

    # the Neuron protocol
    def simulate(self, i_pa: np.ndarray, sampling_rate: float, rng: np.random.Generator) -> np.ndarray:
        """Membrane potential (mV) for a command ``i_pa`` (pA) sampled at ``sampling_rate`` Hz."""
        return simulate_conductance(self, i_pa, sampling_rate, rng=rng).v


def pospischil_rs(noise_sigma_pa: float = 0.0, noise_sigma_ns: float = 0.0) -> ConductanceModel:
    """Regular-spiking pyramidal cell of Pospischil et al. (2008): the paper's RS parameter set.

    d = L = 61.4 µm, g_leak = 2.05e-5 S/cm², E_leak = −70.3 mV, g_Na = 56 mS/cm², g_Kd = 6 mS/cm²,
    g_M = 0.075 mS/cm², τ_max = 608 ms, V_T = −56.2 mV, E_Na = 50 mV, E_K = −90 mV, C = 1 µF/cm².
    """
    return ConductanceModel("pospischil_rs", 61.4, 2.05e-5, -70.3, 0.056, 0.006, 7.5e-5, 608.0,
                            -56.2, noise_sigma_pa=noise_sigma_pa, noise_sigma_ns=noise_sigma_ns)


def pospischil_fs(noise_sigma_pa: float = 0.0, noise_sigma_ns: float = 0.0) -> ConductanceModel:
    """Fast-spiking interneuron of Pospischil et al. (2008): the paper's FS parameter set.

    d = L = 56.9 µm, g_leak = 3.8e-5 S/cm², E_leak = −70.4 mV, g_Na = 58 mS/cm², g_Kd = 3.9 mS/cm²,
    g_M = 0.0787 mS/cm², τ_max = 502 ms, V_T = −57.9 mV, E_Na = 50 mV, E_K = −90 mV, C = 1 µF/cm².
    """
    return ConductanceModel("pospischil_fs", 56.9, 3.8e-5, -70.4, 0.058, 0.0039, 7.87e-5, 502.0,
                            -57.9, noise_sigma_pa=noise_sigma_pa, noise_sigma_ns=noise_sigma_ns)


@dataclass(frozen=True)
class CBResult:
    """Output of :func:`simulate_conductance` / :func:`simulate_reference`.

    Attributes
    ----------
    v
        Membrane potential at the sample times, mV.
    spike_times
        Upward crossings of 0 mV, s from the first sample.
    final_state
        ``(V, m, h, n, p)`` at the end.
    """

    v: np.ndarray
    spike_times: np.ndarray
    final_state: np.ndarray


def _substeps(sampling_rate: float, max_dt: float) -> int:
    if not sampling_rate > 0:
        raise ConfigError(f"sampling_rate must be positive, got {sampling_rate}")
    return max(1, int(np.ceil(1.0 / (sampling_rate * max_dt) - 1e-9)))


def simulate_conductance(
    model: ConductanceModel,
    i_pa: np.ndarray,
    sampling_rate: float,
    *,
    rng: np.random.Generator | int | None = None,
    noise: bool = True,
    y0: np.ndarray | None = None,
    max_dt: float = MAX_DT,
) -> CBResult:
    """Simulate ``model`` under the command ``i_pa`` with the compiled RK4 kernel.

    Parameters
    ----------
    model
        The neuron.
    i_pa
        Injected current, pA, one value per sample, held over the sample interval.
    sampling_rate
        Hz of ``i_pa`` and of the returned voltage.
    rng
        Generator or seed of the intrinsic noise (``None``: fresh entropy).
    noise
        ``False`` switches the intrinsic noise off (deterministic run).
    y0
        Initial state ``(V mV, m, h, n, p)``; default the resting state at ``i_pa[0]``.  The AHP
        conductance (if any) starts at 0 nS in either case.
    max_dt
        Largest integration step, s; the step is ``1 / (sampling_rate * k)`` for the smallest
        integer ``k`` that keeps it ≤ ``max_dt``.

    Returns
    -------
    CBResult
    """
    i_arr = np.ascontiguousarray(i_pa, dtype=np.float64)
    if i_arr.ndim != 1 or not np.all(np.isfinite(i_arr)):
        raise ConfigError("simulate_conductance: i_pa must be a finite 1-D array")
    sub = _substeps(sampling_rate, max_dt)
    dt_ms = 1e3 / (sampling_rate * sub)
    state = model.resting_state(float(i_arr[0]) if i_arr.size else 0.0) if y0 is None else y0
    state = np.ascontiguousarray(state, dtype=np.float64)
    xi_i = xi_g = np.empty(0)
    if noise and model.has_noise:
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        if model.noise_sigma_pa > 0:
            xi_i = gen.standard_normal(i_arr.size * sub + 1)
        if model.noise_sigma_ns > 0:
            xi_g = gen.standard_normal(i_arr.size * sub + 1)
    e_noise = model.e_leak if model.noise_e_rev is None else float(model.noise_e_rev)
    max_spikes = int(i_arr.size / sampling_rate * 1000) + 16  # < 1 kHz
    try:
        v, spikes, n_sp, y = _k.simulate_cb(
            model.params(), state, i_arr, sub, dt_ms, xi_i, float(model.noise_sigma_pa),
            xi_g, float(model.noise_sigma_ns), e_noise, float(model.noise_tau_ms), V_SPIKE,
            max_spikes, np.nan if model.noise_v_half is None else float(model.noise_v_half),
            float(model.noise_k_mv),
        )
        diverged = not np.all(np.isfinite(v))
    except ZeroDivisionError:  # a rate's denominator overflowed: V had run away
        diverged = True
    if diverged:
        # the noise conductance is a zero-mean fluctuation: when it is large against the leak
        # (small cell) it can make the total conductance negative where the K channels are shut
        # (hyperpolarised), and V then runs away
        leak_ns = model.g_leak * model.area_cm2 * 1e9
        cause = (f"conductance noise σ = {model.noise_sigma_ns:g} nS against a leak of "
                 f"{leak_ns:.3g} nS — lower noise_sigma_ns or the current"
                 if noise and model.noise_sigma_ns > 0 else "lower the current")
        raise ConfigError(
            f"{model.name}: the simulation diverged (V left every physiological range) under "
            f"{i_arr.min():g}..{i_arr.max():g} pA; {cause}")
    return CBResult(v, spikes[:min(n_sp, max_spikes)] * 1e-3, y)


# ---------------------------------------------------------------- slow reference (solve_ivp)
def _ref_rates(v: Any, v_t: float) -> tuple[Any, ...]:
    """Traub–Miles rates (1/ms) written out from the paper's equations (numpy, no shared code)."""
    u = np.asarray(v, dtype=float) - v_t
    with np.errstate(divide="ignore", invalid="ignore"):
        a_m = -0.32 * (u - 13.0) / (np.exp(-(u - 13.0) / 4.0) - 1.0)
        b_m = 0.28 * (u - 40.0) / (np.exp((u - 40.0) / 5.0) - 1.0)
        a_n = -0.032 * (u - 15.0) / (np.exp(-(u - 15.0) / 5.0) - 1.0)
    # removable singularities: the limits are 0.32·4, 0.28·5, 0.032·5
    a_m = np.where(np.abs(u - 13.0) < 1e-7, 1.28, a_m)
    b_m = np.where(np.abs(u - 40.0) < 1e-7, 1.4, b_m)
    a_n = np.where(np.abs(u - 15.0) < 1e-7, 0.16, a_n)
    a_h = 0.128 * np.exp(-(u - 17.0) / 18.0)
    b_h = 4.0 / (1.0 + np.exp(-(u - 40.0) / 5.0))
    b_n = 0.5 * np.exp(-(u - 10.0) / 40.0)
    return a_m, b_m, a_h, b_h, a_n, b_n


def _ref_rhs(model: ConductanceModel, i_inj: float):
    """dy/dt (per ms) as a plain function for solve_ivp."""
    a = model.area_cm2 * 1e9
    c = model.capacitance_pf
    gl, gna, gkd, gm = model.g_leak * a, model.g_na * a, model.g_kd * a, model.g_m * a

    def rhs(_t: float, y: np.ndarray) -> np.ndarray:
        v, m, h, n, p = y
        a_m, b_m, a_h, b_h, a_n, b_n = (float(r) for r in _ref_rates(v, model.v_t))
        p_inf = 1.0 / (1.0 + np.exp(-(v + 35.0) / 10.0))
        tau_p = model.tau_max_ms / (3.3 * np.exp((v + 35.0) / 20.0) + np.exp(-(v + 35.0) / 20.0))
        i_ion = (gl * (v - model.e_leak) + gna * m**3 * h * (v - model.e_na)
                 + gkd * n**4 * (v - model.e_k) + gm * p * (v - model.e_k))
        return np.array([(i_inj - i_ion) / c, a_m * (1 - m) - b_m * m, a_h * (1 - h) - b_h * h,
                         a_n * (1 - n) - b_n * n, (p_inf - p) / tau_p])

    return rhs


def simulate_reference(
    model: ConductanceModel,
    i_pa: np.ndarray,
    sampling_rate: float,
    *,
    y0: np.ndarray | None = None,
    rtol: float = 1e-9,
    atol: float = 1e-9,
    method: str = "LSODA",
) -> CBResult:
    """Slow reference: ``scipy.integrate.solve_ivp`` on each constant piece of the command.

    No intrinsic noise and no AHP (``ahp_dg_ns`` must be 0).  Spike times are solve_ivp events
    (upward crossings of 0 mV, located to the solver's precision).  Intended for tests on
    step-like commands with few pieces.

    Parameters
    ----------
    model, i_pa, sampling_rate, y0
        As for :func:`simulate_conductance`.
    rtol, atol, method
        Passed to ``solve_ivp`` (times in ms).
    """
    from scipy.integrate import solve_ivp

    if model.ahp_dg_ns > 0:
        raise ConfigError(f"simulate_reference: {model.name} has an AHP (ahp_dg_ns > 0), which "
                          "this reference does not model")
    i_arr = np.asarray(i_pa, dtype=np.float64)
    dt_ms = 1e3 / sampling_rate
    y = model.resting_state(float(i_arr[0])) if y0 is None else np.asarray(y0, dtype=float)
    edges = np.concatenate([[0], np.flatnonzero(np.diff(i_arr)) + 1, [i_arr.size]])
    v_out = np.empty(i_arr.size)
    spikes: list[float] = []

    def event(_t: float, yy: np.ndarray) -> float:
        return yy[0] - V_SPIKE

    event.direction = 1.0  # type: ignore[attr-defined]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        t_eval = np.arange(a, b + 1) * dt_ms
        sol = solve_ivp(_ref_rhs(model, float(i_arr[a])), (a * dt_ms, b * dt_ms), y, method=method,
                        t_eval=t_eval, events=event, rtol=rtol, atol=atol, max_step=0.05)
        if not sol.success:
            raise RuntimeError(f"solve_ivp failed: {sol.message}")
        v_out[a:b] = sol.y[0][:-1]
        spikes.extend(sol.t_events[0].tolist())
        y = sol.y[:, -1]
    return CBResult(v_out, np.asarray(spikes) * 1e-3, y)


# ---------------------------------------------------------------- steady-state analysis
def steady_state_current(model: ConductanceModel, v: float | np.ndarray) -> Any:
    """Current (pA) that holds the model at ``v`` mV with every gate at steady state."""
    v = np.asarray(v, dtype=float)
    m, h, n, p = model.gates_inf(v)
    a = model.area_cm2 * 1e9
    return (model.g_leak * a * (v - model.e_leak) + model.g_na * a * m**3 * h * (v - model.e_na)
            + model.g_kd * a * n**4 * (v - model.e_k) + model.g_m * a * p * (v - model.e_k))


def steady_state_rheobase(
    model: ConductanceModel, v_range: tuple[float, float] = (-80.0, -40.0)
) -> float:
    """Current (pA) at which the resting state disappears: the local maximum of the steady-state
    I–V curve :func:`steady_state_current` (saddle-node of the full model, all gates at steady
    state, M-current included).  Sustained (adapted) firing starts near this current.

    Raises
    ------
    ConfigError
        If the steady-state I–V curve is monotonic in ``v_range`` (no saddle-node there).
    """
    v = np.linspace(*v_range, 4001)
    i = steady_state_current(model, v)
    down = np.flatnonzero(np.diff(i) < 0)
    if down.size == 0:
        raise ConfigError(f"{model.name}: steady-state I-V curve is monotonic in {v_range} mV")
    k = int(down[0])
    res = optimize.minimize_scalar(lambda x: -float(steady_state_current(model, x)),
                                   bounds=(v[max(k - 2, 0)], v[k + 2]), method="bounded",
                                   options={"xatol": 1e-9})
    return float(-res.fun)


def firing_rate(
    model: ConductanceModel,
    amplitude_pa: float,
    *,
    duration: float = 1.0,
    sampling_rate: float = 50e3,
    window: tuple[float, float] | None = None,
) -> float:
    """Noise-free firing rate (Hz) under a step of ``amplitude_pa`` pA from rest.

    ``window`` (s, relative to the step onset) restricts the count; default the whole step.
    """
    i = np.full(int(round(duration * sampling_rate)), float(amplitude_pa))
    st = simulate_conductance(model, i, sampling_rate, noise=False,
                              y0=model.resting_state(0.0)).spike_times
    t0, t1 = (0.0, duration) if window is None else window
    return float(np.count_nonzero((st >= t0) & (st < t1)) / (t1 - t0))


def rheobase(
    model: Neuron,
    *,
    duration: float = 1.0,
    width: float | None = None,
    sampling_rate: float = 50e3,
    lo: float = 0.0,
    hi: float = 2000.0,
    tol: float = 0.01,
) -> float:
    """Smallest current (pA, to ``tol``) of a step that evokes ≥ 1 spike from rest, noise off.

    Parameters
    ----------
    model
        The neuron: a :class:`ConductanceModel` (spikes: upward crossings of 0 mV found by the
        kernel), a :class:`GlifNeuron` (its spikes) or any :class:`Neuron` (upward crossings of
        0 mV of its voltage); its intrinsic noise is switched off.
    duration
        Simulated time after the step onset, s.
    width
        Step width, s (default ``duration``: a long square); e.g. 0.003 for a short square.
    sampling_rate
        Hz of the simulation grid.
    lo, hi
        Bracket, pA.
    tol
        pA.
    """
    width = duration if width is None else width
    n, nw = int(round(duration * sampling_rate)), int(round(width * sampling_rate))
    quiet = _noise_free(model)
    if isinstance(quiet, ConductanceModel):
        rest = quiet.resting_state(0.0)

        def count(i: np.ndarray) -> int:
            return simulate_conductance(quiet, i, sampling_rate, noise=False, y0=rest).spike_times.size
    else:
        rng = np.random.default_rng(0)

        def count(i: np.ndarray) -> int:
            v = np.nan_to_num(quiet.simulate(i, sampling_rate, rng), nan=-1e3)
            return int(np.count_nonzero((v[:-1] < V_SPIKE) & (v[1:] >= V_SPIKE)))

    def spikes(amp: float) -> bool:
        i = np.zeros(n)
        i[:nw] = amp
        return count(i) > 0

    name = getattr(model, "name", type(model).__name__)
    if spikes(lo) or not spikes(hi):
        raise ConfigError(f"rheobase of {name} not bracketed by [{lo}, {hi}] pA")
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if spikes(mid) else (mid, hi)
    return hi


def _noise_free(neuron: Any) -> Any:
    """A copy of ``neuron`` without intrinsic noise (the neuron itself if it has no such field)."""
    if isinstance(neuron, ConductanceModel):
        return neuron.with_noise(0.0)
    if hasattr(neuron, "noise_sigma_pa"):
        try:
            return replace(neuron, noise_sigma_pa=0.0)
        except TypeError:
            return neuron
    return neuron


# ============================================================================ GLIF neurons
@dataclass(frozen=True)
class GlifNeuron:
    """A :class:`glifx.glif.GlifModel` as the neuron of a synthetic experiment.

    The model's own voltage (relative to rest, SI) becomes mV around ``model.El_reference``; the
    samples inside spike cuts (NaN in the simulator output) are filled with a stereotyped spike
    (a jump to ``spike_peak_mv`` decaying linearly to the reset value) so that feature extraction
    sees spikes.  Intrinsic noise is an Ornstein–Uhlenbeck current (``noise_sigma_pa``,
    ``noise_tau_ms``) added to the command before simulation.

    Attributes
    ----------
    model
        The GLIF model (``glifx.glif.GlifModel``).
    noise_sigma_pa, noise_tau_ms
        Intrinsic noise.
    spike_peak_mv
        Peak of the drawn spikes, mV (absolute).
    """

    model: Any
    noise_sigma_pa: float = 0.0
    noise_tau_ms: float = 5.0
    spike_peak_mv: float = 30.0

    @property
    def name(self) -> str:
        level = getattr(self.model, "level", None)
        return f"glif{level}" if level is not None else "glif"

    def simulate(self, i_pa: np.ndarray, sampling_rate: float, rng: np.random.Generator) -> np.ndarray:
        """Membrane potential (mV) for ``i_pa`` (pA) at ``sampling_rate`` Hz (one step per sample)."""
        from glifx.glif import OUNoise
        from glifx.glif import simulate as glif_simulate

        noise = (OUNoise(tau_s=self.noise_tau_ms * 1e-3, sigma_A=self.noise_sigma_pa * 1e-12)
                 if self.noise_sigma_pa > 0 else None)
        seed = int(rng.integers(2**63 - 1))
        out = glif_simulate(self.model, np.asarray(i_pa, dtype=float) * 1e-12, 1.0 / sampling_rate,
                            record=("voltage",), noise=noise, seed=seed)
        v = (np.asarray(out.voltage, dtype=float) + float(self.model.El_reference)) * 1e3
        if out.truncated:  # a bad reset stopped the model: hold the last value (the cell "stops")
            last = np.flatnonzero(np.isfinite(v))
            v[(last[-1] + 1 if last.size else 0):] = float(self.model.El_reference) * 1e3
        return _draw_spikes(v, self.spike_peak_mv)


def _draw_spikes(v: np.ndarray, peak: float) -> np.ndarray:
    """Fill NaN runs (spike cuts) with a linear fall from ``peak`` to the next finite value."""
    v = v.copy()
    bad = ~np.isfinite(v)
    if not bad.any():
        return v
    edges = np.flatnonzero(np.diff(np.concatenate([[0], bad.view(np.int8), [0]])))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        end = v[b] if b < v.size else v[a - 1] if a > 0 else peak
        v[a:b] = np.linspace(peak, end, b - a + 1)[:-1]
    return v


# ============================================================================ recording model
@dataclass(frozen=True)
class RecordingModel:
    """What the rig adds to the true membrane potential and command.

    Attributes
    ----------
    white_noise_mv
        Std of additive white voltage noise, mV (per sample).
    pink_noise_mv
        Std of additive 1/f voltage noise (0.1 Hz up to the Nyquist frequency), mV.
    drift_mv_per_s
        Linear baseline drift of the recorded voltage, mV/s (artifact).
    bias_current_pa
        Constant holding current added to the command (and recorded in ``i``), pA (artifact).
    stop_at_s
        Recording stops at this time: later samples of ``v`` and ``i`` are NaN (artifact).
    nan_fraction
        Fraction of voltage samples replaced by NaN at random (artifact).
    adc_step_mv, adc_step_pa
        Digitiser resolution: the recorded ``v`` (mV) and ``i`` (pA) are rounded to multiples of
        these steps (``None``: no quantisation).  Powers of two keep the values exact in float32
        and make the files compress well.
    float32
        Round the recorded ``v`` and ``i`` to float32 values, as acquisition systems store them
        (NWB files of real rigs are float32; the writer then stores them compactly).
    """

    white_noise_mv: float = 0.1
    pink_noise_mv: float = 0.1
    drift_mv_per_s: float = 0.0
    bias_current_pa: float = 0.0
    stop_at_s: float | None = None
    nan_fraction: float = 0.0
    adc_step_mv: float | None = None
    adc_step_pa: float | None = None
    float32: bool = True

    def __post_init__(self) -> None:
        for name in ("white_noise_mv", "pink_noise_mv"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ConfigError(f"RecordingModel.{name}: must be a number >= 0 mV, got {value!r}")
        if not 0 <= self.nan_fraction < 1:
            raise ConfigError(
                f"RecordingModel.nan_fraction: must be in [0, 1), got {self.nan_fraction!r}"
            )
        for name in ("adc_step_mv", "adc_step_pa", "stop_at_s"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value > 0):
                raise ConfigError(f"RecordingModel.{name}: must be positive or None, got {value!r}")
        for name in ("drift_mv_per_s", "bias_current_pa"):
            if not np.isfinite(getattr(self, name)):
                raise ConfigError(f"RecordingModel.{name}: must be finite")

    def command(self, i_pa: np.ndarray) -> np.ndarray:
        """The current the cell receives (and that is recorded), pA."""
        return np.asarray(i_pa, dtype=float) + self.bias_current_pa

    def record(
        self, v_mv: np.ndarray, i_pa: np.ndarray, sampling_rate: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Recorded ``(v mV, i pA)`` from the true potential and the delivered current."""
        v = np.array(v_mv, dtype=float)
        i = np.array(i_pa, dtype=float)
        n = v.size
        if self.white_noise_mv > 0:
            v += self.white_noise_mv * rng.standard_normal(n)
        if self.pink_noise_mv > 0:
            v += self.pink_noise_mv * _pink(n, sampling_rate, rng)
        if self.drift_mv_per_s:
            v += self.drift_mv_per_s * np.arange(n) / sampling_rate
        if self.nan_fraction > 0:
            v[rng.random(n) < self.nan_fraction] = np.nan
        if self.stop_at_s is not None:
            k = max(2, int(round(self.stop_at_s * sampling_rate)))
            v[k:] = np.nan
            i[k:] = np.nan
        if self.adc_step_mv:
            v = np.round(v / self.adc_step_mv) * self.adc_step_mv
        if self.adc_step_pa:
            i = np.round(i / self.adc_step_pa) * self.adc_step_pa
        if self.float32:
            v = v.astype(np.float32).astype(np.float64)
            i = i.astype(np.float32).astype(np.float64)
        return v, i


def _pink(n: int, rate: float, rng: np.random.Generator, f_min: float = 0.1) -> np.ndarray:
    """Unit-std 1/f noise of ``n`` samples (random phases and Rayleigh amplitudes)."""
    if n < 4:
        return np.zeros(n)
    f = np.fft.rfftfreq(n, 1.0 / rate)
    spec = (rng.standard_normal(f.size) + 1j * rng.standard_normal(f.size))
    with np.errstate(divide="ignore"):
        spec *= np.where(f >= f_min, 1.0 / np.sqrt(np.maximum(f, f_min)), 0.0)
    x = np.fft.irfft(spec, n)
    s = x.std()
    return x / s if s > 0 else x


# ============================================================================ experiments
def synthetic_cell(
    neuron: Neuron,
    waveforms: Iterable[Waveform],
    *,
    recording: RecordingModel | None = None,
    seed: int = 0,
    cell_id: str = "synthetic",
    first_sweep_number: int = 1,
    metadata: dict[str, Any] | None = None,
) -> Cell:
    """Run ``neuron`` through ``waveforms`` and record each sweep; returns a seeded :class:`Cell`.

    Each sweep gets its own random stream (``numpy.random.SeedSequence(seed).spawn``), so a sweep
    is reproducible from ``seed`` and its position, and repeats of one stimulus differ by the
    neuron's intrinsic noise and the recording noise only.  Sweeps carry the waveform's stimulus
    name, code and amplitude, ``name_source="file"`` and ``test_pulse=True`` when the waveform has
    a test pulse.

    Parameters
    ----------
    neuron
        A :class:`ConductanceModel`, a :class:`GlifNeuron` or anything with the same ``simulate``.
    waveforms
        The protocol (e.g. :func:`glifx.protocols.protocol_set`).
    recording
        Default: :class:`RecordingModel` () (0.1 mV white + 0.1 mV 1/f noise, no artifacts).
    seed
        Master seed.
    cell_id, metadata
        Passed to the cell.
    first_sweep_number
        Number of the first sweep.
    """
    recording = RecordingModel() if recording is None else recording
    waves = list(waveforms)
    streams = np.random.SeedSequence(seed).spawn(len(waves))
    sweeps = []
    for k, (w, ss) in enumerate(zip(waves, streams, strict=True)):
        rng = np.random.default_rng(ss)
        i_cell = recording.command(w.i)
        v_true = neuron.simulate(i_cell, w.sampling_rate, rng)
        v, i = recording.record(v_true, i_cell, w.sampling_rate, rng)
        sweeps.append(Sweep(
            v, i, sampling_rate=w.sampling_rate, sweep_number=first_sweep_number + k,
            stimulus_name=w.name, stimulus_code=w.code, stimulus_amplitude=w.amplitude,
            name_source="file", test_pulse=("test" in w.epochs),
            metadata={"epochs": dict(w.epochs), **dict(w.params)},
        ))
    meta = {"synthetic": True, "seed": seed, "neuron": getattr(neuron, "name", type(neuron).__name__)}
    meta.update(metadata or {})
    return Cell.from_sweeps(sweeps, cell_id=cell_id, metadata=meta)


@dataclass
class ExperimentPlan:
    """The thresholds a synthetic experiment was scaled by (pA), noise-free."""

    rheobase_pa: float
    short_square_threshold_pa: float
    extra: dict[str, Any] = field(default_factory=dict)


def synthetic_experiment(
    neuron: Neuron,
    sampling_rate: float = 20e3,
    *,
    recording: RecordingModel | None = None,
    seed: int = 0,
    cell_id: str | None = None,
    noise_repeats: int = 2,
    protocol_kwargs: dict[str, Any] | None = None,
) -> tuple[Cell, ExperimentPlan]:
    """The full protocol set on a neuron, scaled to the neuron's own thresholds.

    The long-square rheobase (1 s step; rounded up to 0.1 pA) and the short-square threshold
    (3 ms pulse; rounded up to 1 pA) are found by bisection on the noise-free neuron
    (:func:`rheobase`, at ``sampling_rate``).  The Long Squares run from −110 pA upward in 20 pA
    steps to rheobase + 100 pA (unless ``protocol_kwargs`` says otherwise); the Noise epochs scale
    the rheobase; the Short Squares bracket the short-square threshold.

    Parameters
    ----------
    neuron
        A :class:`ConductanceModel`, a :class:`GlifNeuron` or any :class:`Neuron`.
    sampling_rate
        Hz.
    recording
        The recording model (default :class:`RecordingModel` ()).
    seed
        Master seed (intrinsic and recording noise).
    cell_id
        Default: the neuron's ``name`` or ``"synthetic"``.
    noise_repeats
        Repeats of each of Noise 1 and Noise 2.
    protocol_kwargs
        Extra arguments of :func:`glifx.protocols.protocol_set`.

    Returns
    -------
    (Cell, ExperimentPlan)
    """
    # rounded up as an experimenter would note them: rheobase to 0.1 pA, pulse threshold to 1 pA
    rheo = float(np.ceil(rheobase(neuron, duration=1.0, sampling_rate=sampling_rate) * 10.0) / 10.0)
    ss_thr = float(np.ceil(rheobase(neuron, duration=0.1, width=0.003, hi=20000.0,
                                    sampling_rate=sampling_rate)))
    kw: dict[str, Any] = {"short_square_threshold_pa": ss_thr, "noise_repeats": noise_repeats}
    kw.update(protocol_kwargs or {})
    waves = protocol_set(rheo, sampling_rate, **kw)
    cell = synthetic_cell(neuron, waves, recording=recording, seed=seed,
                          cell_id=cell_id or getattr(neuron, "name", "synthetic"),
                          metadata={"rheobase_pa": rheo, "short_square_threshold_pa": ss_thr})
    return cell, ExperimentPlan(rheo, ss_thr)


def spike_trains(
    cell: Cell, stimulus_name: str, *, threshold_mv: float = 0.0
) -> list[np.ndarray]:
    """Binary spike trains (upward crossings of ``threshold_mv``) of the sweeps ``stimulus_name``."""
    out = []
    for sw in cell.select(stimulus_name):
        v = np.nan_to_num(np.asarray(sw.v), nan=-100.0)
        up = np.flatnonzero((v[:-1] < threshold_mv) & (v[1:] >= threshold_mv)) + 1
        b = np.zeros(v.size)
        b[up] = 1.0
        out.append(b)
    return out
