"""NEST ``glif_psc`` / ``glif_cond`` parameter sets from a :class:`~glifx.glif.GlifModel`.

Conversion (GlifModel, SI, relative to rest -> NEST, absolute mV / pA / pF / nS / ms)
----------------------------------------------------------------------------------------
``V_rest`` below is ``El_reference`` (the absolute resting potential, V).  Every coefficient
(``coeffs`` of the Allen config) is folded into the value it multiplies.

====================================  =====================================================
NEST parameter                        from the GlifModel
====================================  =====================================================
``E_L`` (mV)                          ``1e3 * (El_reference + El)``
``V_m`` (mV, initial)                 ``1e3 * (El_reference + init_voltage)``
``V_th`` (mV)                         ``1e3 * (El_reference + coeff_th_inf * th_inf)``
``V_reset`` (mV, GLIF1/3)             ``1e3 * El_reference`` (the ``zero`` reset)
``g`` (psc) / ``g_m`` (cond) (nS)     ``1e9 * coeff_G / R_input``
``C_m`` (pF)                          ``1e12 * coeff_C * C``
``t_ref`` (ms)                        the spike cut as a duration: ``1e3 * spike_cut_s``, or
                                      ``1e3 * spike_cut_length * dt`` (config ``dt``) when the
                                      cut is kept in steps
``th_spike_add`` (mV)                 ``1e3 * a_spike``
``th_spike_decay`` (1/ms)             ``1e-3 * b_spike``
``voltage_reset_fraction`` (1)        ``a``
``voltage_reset_add`` (mV)            ``1e3 * (b + (a - 1) * El)`` (``1e3 * b`` when El = 0)
``th_voltage_index`` (1/ms)           ``1e-3 * coeff_a * a_voltage``
``th_voltage_decay`` (1/ms)           ``1e-3 * coeff_b * b_voltage``
``asc_amps`` (pA)                     ``1e12 * coeff_asc_amp * asc_amp_array``
``asc_decay`` (1/ms)                  ``1e-3 / asc_tau_array``
``asc_init`` (pA)                     ``1e12 * init_AScurrents``
``asc_r`` (1)                         ``asc_r``
``spike_dependent_threshold``         level 2, 4, 5 (NEST ties the ``v_before`` reset to it)
``after_spike_currents``              level 3, 4, 5
``adapting_threshold``                level 5
``tau_syn`` (ms), ``E_rev`` (mV)      the synapse arguments (not part of a GLIF fit)
====================================  =====================================================

What NEST computes differently (the export cannot change it)
------------------------------------------------------------
glifx (and the AllenSDK) integrate the membrane by forward Euler with the after-spike currents
of the start of the step; NEST's ``glif_psc`` integrates it exactly for a current held over the
step and uses the exact mean of each after-spike current over the step; ``glif_cond`` integrates
it with an adaptive Runge-Kutta-Fehlberg 4(5) solver and the after-spike current of the previous
step.  NEST's ``v_before`` reset takes the voltage at the start of the spiking step
(``a * V(t) + b``) where the Allen reference takes the voltage that crossed the threshold
(``a * V(t+1) + b``).  NEST holds the injected current of step ``k`` one step late (a current
generator's sample reaches the neuron after the connection delay and is applied from the next
step, so a sample has to be scheduled two steps early (:func:`step_current`); so aligned, a
crossing is stamped at the same time by both).  The figures measured on
the published Allen configs are in the README ("Export to NEST and BMTK").

A reset slope NEST cannot take (``reset="clip"``)
-------------------------------------------------
NEST's ``voltage_reset_fraction`` must lie in [0, 1]; Allen fits do not respect that (the published
configs range over ``a`` = -0.09 ... 1.28, glifx's fits of its sample cells give -0.40 and -0.34).
By default such a model is refused.  ``reset="clip"`` is an explicit approximation: the slope is
projected into [0, 1], ``a' = min(max(a, 0), 1)``, and the intercept moved so that the reset of a
spike from the model's instantaneous threshold is unchanged,
``b' = b + (a - a') * coeff_th_inf * th_inf``; resets from other voltages move by
``(a - a') * (V - theta_inf)``.  :func:`clip_reset` gives the approximated :class:`GlifModel` (to
simulate what NEST runs in glifx), and the exported :class:`NestNeuron` lists the change in
``notes``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from glifx.errors import ConfigError
from glifx.glif import GlifModel

#: NEST's own defaults for the synapse ports (ms, mV), used when no synapse argument is given.
DEFAULT_TAU_SYN_S: dict[str, tuple[float, ...]] = {"psc": (2e-3,), "cond": (0.2e-3, 2e-3)}
DEFAULT_E_REV_V: tuple[float, ...] = (0.0, -0.085)

NEST_MODELS = {"psc": "glif_psc", "cond": "glif_cond"}


@dataclass(frozen=True)
class NestNeuron:
    """A NEST neuron model name and its parameter dict (NEST units).

    Create it in NEST with ``nest.Create(neuron.model, params=neuron.params)``.

    Attributes
    ----------
    model
        ``"glif_psc"`` or ``"glif_cond"``.
    params
        Parameter dict in NEST's names and units (mV, pA, pF, nS, ms, 1/ms); JSON-serialisable.
    level
        The GLIF level (1-5) of the exported model.
    notes
        What the export approximated (one sentence each, e.g. a clipped reset slope); empty for
        an exact export.
    """

    model: str
    params: dict[str, Any] = field(default_factory=dict)
    level: int = 1
    notes: tuple[str, ...] = ()


def _positive_seconds(name: str, values: Sequence[float] | float) -> tuple[float, ...]:
    seq = (values,) if isinstance(values, int | float) else tuple(values)
    if not seq:
        raise ConfigError(f"{name}: expected at least one value")
    out = []
    for v in seq:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
            raise ConfigError(f"{name}: expected time constants > 0 s, got {values!r}")
        out.append(float(v))
    return tuple(out)


def _finite_volts(name: str, values: Sequence[float] | float) -> tuple[float, ...]:
    seq = (values,) if isinstance(values, int | float) else tuple(values)
    out = []
    for v in seq:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ConfigError(f"{name}: expected potentials in volts, got {values!r}")
        out.append(float(v))
    return tuple(out)


def spike_cut_seconds(model: GlifModel) -> float:
    """The spike cut of ``model`` as a duration (s): ``spike_cut_s``, else ``spike_cut_length * dt``.

    A published config keeps its cut in steps; exported, it lasts that many steps of the config's
    own ``dt`` (as BMTK's converter of Allen configs does), i.e. the cut glifx simulates at the
    config ``dt``.
    """
    if model.spike_cut_s is not None:
        return float(model.spike_cut_s)
    return float(model.spike_cut_length * model.dt)


#: How :func:`to_nest` treats a reset slope outside NEST's [0, 1] (module doc).
RESET_MODES = ("exact", "clip")


def clip_reset(model: GlifModel) -> tuple[GlifModel, str | None]:
    """``model`` with its ``v_before`` reset slope projected into NEST's [0, 1].

    The slope becomes ``a' = min(max(a, 0), 1)`` and the intercept ``b' = b + (a - a') * theta``
    with ``theta = coeff_th_inf * th_inf`` (V, relative to rest), so a spike fired from the
    instantaneous threshold resets to the same voltage; a reset from ``V`` moves by
    ``(a - a') * (V - theta)`` (V).

    Parameters
    ----------
    model
        Any GLIF model; one without a ``v_before`` reset, or with ``a`` in [0, 1], is returned
        unchanged.

    Returns
    -------
    tuple
        The (possibly) changed model and a one-sentence note of the change, or ``None`` when
        nothing changed.
    """
    a, b = model.a, model.b
    if a is None or b is None or 0.0 <= a <= 1.0:
        return model, None
    theta = model.coeff_th_inf * model.th_inf
    clipped = min(max(float(a), 0.0), 1.0)
    shifted = float(b) + (float(a) - clipped) * theta
    note = (f"reset slope a clipped from {a:.4g} to {clipped:g} and intercept b moved from "
            f"{1e3 * b:.4g} to {1e3 * shifted:.4g} mV (the reset from theta_inf "
            f"{1e3 * theta:.4g} mV above rest is unchanged, {1e3 * (clipped * theta + shifted):.4g} mV)")
    return replace(model, a=clipped, b=shifted), note


def to_nest(
    model: GlifModel,
    *,
    synapses: Literal["psc", "cond"] = "psc",
    tau_syn: Sequence[float] | float | None = None,
    E_rev: Sequence[float] | float | None = None,
    reset: Literal["exact", "clip"] = "exact",
) -> NestNeuron:
    """NEST parameters of ``model`` for ``glif_psc`` (current synapses) or ``glif_cond``.

    Parameters
    ----------
    model
        A GLIF1-5 model (a non-standard combination of methods has no NEST counterpart).
    synapses
        ``"psc"`` (alpha-shaped current synapses, ``glif_psc``) or ``"cond"`` (alpha-shaped
        conductance synapses, ``glif_cond``).
    tau_syn
        Synaptic time constants (s, one per receptor port); default NEST's: 2 ms (psc),
        0.2 and 2 ms (cond).
    E_rev
        Reversal potentials (V, absolute, one per port; ``cond`` only); default 0 and -85 mV.
    reset
        ``"exact"`` (default): a ``v_before`` reset slope ``a`` outside [0, 1] is an error.
        ``"clip"``: approximate it by :func:`clip_reset` (the reset from theta_inf is kept) and
        say so in ``notes``.

    Returns
    -------
    NestNeuron
        ``model`` name, ``params`` in NEST units (see the module docstring for each formula) and
        ``notes`` on any approximation.

    Raises
    ------
    glifx.ConfigError
        A model NEST cannot represent (custom method combination, zero spike cut, reset
        fraction or ASC ``r`` outside [0, 1], reset not below threshold, ...), or bad synapse
        arguments.

    Examples
    --------
    >>> neuron = to_nest(GlifModel.from_allen_config(config))        # doctest: +SKIP
    >>> nest.Create(neuron.model, params=neuron.params)                # doctest: +SKIP
    """
    if not isinstance(model, GlifModel):
        raise ConfigError(f"model: expected a GlifModel, got {type(model).__name__}")
    if synapses not in NEST_MODELS:
        raise ConfigError(f"synapses: expected 'psc' or 'cond', got {synapses!r}")
    if reset not in RESET_MODES:
        raise ConfigError(f"reset: expected 'exact' or 'clip', got {reset!r}")
    level = model.standard_level
    if level is None:
        methods = ", ".join(f"{k}={v!r}" for k, v in model.methods.items())
        raise ConfigError(
            f"NEST's glif models cover the five standard levels only; this model's methods "
            f"({methods}) are no GLIF level"
        )
    if model.methods["voltage_dynamics_method"] != "linear_forward_euler":
        raise ConfigError("voltage_dynamics_method: NEST exports need 'linear_forward_euler'")

    taus = _positive_seconds("tau_syn", DEFAULT_TAU_SYN_S[synapses] if tau_syn is None else tau_syn)
    if synapses == "psc" and E_rev is not None:
        raise ConfigError("E_rev: only conductance synapses (synapses='cond') have reversal potentials")
    if synapses == "cond":
        revs = _finite_volts("E_rev", DEFAULT_E_REV_V if E_rev is None else E_rev)
        if tau_syn is not None and E_rev is None and len(taus) != len(revs):
            raise ConfigError(f"E_rev: give one reversal potential per tau_syn ({len(taus)})")
        if len(revs) != len(taus):
            raise ConfigError(
                f"tau_syn and E_rev: one reversal potential per port, got {len(taus)} and {len(revs)}"
            )

    rest = model.El_reference
    el = model.El
    th_inf = model.coeff_th_inf * model.th_inf
    t_ref_s = spike_cut_seconds(model)
    if not t_ref_s > 0:
        raise ConfigError(
            "spike cut: NEST needs a refractory time t_ref > 0; this model's cut is 0 s"
        )
    if not th_inf - el > 0:
        raise ConfigError(
            f"th_inf: NEST needs the threshold above the leak reversal, got th_inf' = {th_inf!r} V "
            f"and El = {el!r} V (relative to rest)"
        )

    p: dict[str, Any] = {
        "V_m": 1e3 * (rest + model.init_voltage),
        "E_L": 1e3 * (rest + el),
        "V_th": 1e3 * (rest + th_inf),
        "V_reset": 1e3 * rest,
        ("g" if synapses == "psc" else "g_m"): 1e9 * model.coeff_G / model.R_input,
        "C_m": 1e12 * model.coeff_C * model.C,
        "t_ref": 1e3 * t_ref_s,
    }
    theta_spike = level in (2, 4, 5)
    asc = level in (3, 4, 5)
    theta_voltage = level == 5
    notes: list[str] = []
    if theta_spike:
        if reset == "clip":
            model, note = clip_reset(model)
            notes += [note] if note else []
        a, b = float(model.a), float(model.b)  # type: ignore[arg-type]
        if not 0.0 <= a <= 1.0:
            raise ConfigError(f"a: NEST needs the voltage reset fraction in [0, 1], got {a!r} "
                              f"(reset='clip' exports an approximation)")
        if not model.b_spike > 0:  # type: ignore[operator]
            raise ConfigError(f"b_spike: NEST needs a decay rate > 0, got {model.b_spike!r}")
        p["th_spike_add"] = 1e3 * model.a_spike  # type: ignore[operator]
        p["th_spike_decay"] = 1e-3 * model.b_spike  # type: ignore[operator]
        p["voltage_reset_fraction"] = a
        p["voltage_reset_add"] = 1e3 * (b + (a - 1.0) * el)
    if theta_voltage:
        p["th_voltage_index"] = 1e-3 * model.coeff_a * model.a_voltage  # type: ignore[operator]
        p["th_voltage_decay"] = 1e-3 * model.coeff_b * model.b_voltage  # type: ignore[operator]
    if asc:
        amps, taus_asc = model.asc_amp_array, model.asc_tau_array
        if amps is None or taus_asc is None:
            raise ConfigError("asc_amp_array / asc_tau_array: needed by the after-spike currents")
        for r in model.asc_r:
            if not 0.0 <= r <= 1.0:
                raise ConfigError(f"asc_r: NEST needs fractions in [0, 1], got {model.asc_r!r}")
        if not all(t > 0 for t in taus_asc):
            raise ConfigError(f"asc_tau_array: must be > 0 s, got {taus_asc!r}")
        p["asc_init"] = [1e12 * x for x in model.init_AScurrents]
        p["asc_decay"] = [1e-3 / t for t in taus_asc]
        p["asc_amps"] = [1e12 * c * x for c, x in zip(model.coeff_asc_amp, amps, strict=True)]
        p["asc_r"] = [float(r) for r in model.asc_r]
    p["tau_syn"] = [1e3 * t for t in taus]
    if synapses == "cond":
        p["E_rev"] = [1e3 * v for v in revs]
    p["spike_dependent_threshold"] = theta_spike
    p["after_spike_currents"] = asc
    p["adapting_threshold"] = theta_voltage
    return NestNeuron(model=NEST_MODELS[synapses], params=p, level=level, notes=tuple(notes))


def step_current(stimulus_A: Any, resolution_ms: float) -> dict[str, list[float]]:
    """``step_current_generator`` parameters that make NEST apply sample ``k`` of ``stimulus_A``
    (A, one sample per step of ``resolution_ms``) in the same step as glifx does.

    Connect the generator to the neuron with ``delay = resolution_ms``.  A generator's value set at
    time ``t`` reaches the neuron one delay later and a GLIF neuron applies a current from the step
    after the one that received it, so sample ``k`` is scheduled at ``(k - 2) h``; then NEST's
    spike times equal glifx's ``spike_steps * dt`` for the same crossing (measured: a subthreshold
    pulse gives the same trace up to the integration scheme, README).  NEST can change a current
    only at ``t > 0``: samples 0, 1 and 2 are not delivered (NEST holds 0 A there), so start the
    stimulus with three zero samples to drive both simulators alike.

    Returns
    -------
    dict
        ``{"amplitude_times": [...] (ms), "amplitude_values": [...] (pA)}``.
    """
    import numpy as np

    stim = np.asarray(stimulus_A, dtype=np.float64)
    if stim.ndim != 1 or stim.size == 0:
        raise ConfigError(f"stimulus_A: expected a non-empty 1-D array, got shape {stim.shape}")
    if not np.all(np.isfinite(stim)):
        raise ConfigError("stimulus_A: contains NaN or inf")
    if not (isinstance(resolution_ms, int | float) and resolution_ms > 0):
        raise ConfigError(f"resolution_ms: expected a step > 0 ms, got {resolution_ms!r}")
    k = np.arange(3, stim.size)
    return {
        "amplitude_times": ((k - 2) * float(resolution_ms)).tolist(),
        "amplitude_values": (stim[3:] * 1e12).tolist(),
    }


@dataclass(frozen=True)
class NestRun:
    """Spikes of one NEST run (:func:`simulate_nest`).

    Attributes
    ----------
    spike_times
        Spike times (s) in glifx's convention (the crossing step ``k`` at ``k * dt``).
    voltage
        V_m (V, relative to ``El_reference``), shape (n_steps,), sample ``k`` aligned with glifx's
        ``voltage[k]`` (NEST holds the reset value through its refractory time where glifx has
        NaN), or ``None``.
    """

    spike_times: Any
    voltage: Any = None


def simulate_nest(
    neuron: NestNeuron, stimulus_A: Any, dt: float, *, record_voltage: bool = False
) -> NestRun:
    """Run ``neuron`` in NEST (resolution ``dt``) on ``stimulus_A`` (A, one sample per step).

    A check of an export, not a simulator of glifx: it resets NEST's kernel, creates one neuron,
    drives it through :func:`step_current` and returns its spikes on glifx's time grid.  Needs the
    ``nest`` Python package (``pip install nest-simulator``).
    """
    import numpy as np

    try:
        import nest  # noqa: PLC0415 - optional, heavy
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(f"NEST is not installed (pip install nest-simulator): {exc}") from None
    h = float(dt) * 1e3
    stim = np.asarray(stimulus_A, dtype=np.float64)
    nest.ResetKernel()
    nest.resolution = h
    nest.local_num_threads = 1
    cell = nest.Create(neuron.model, params=neuron.params)
    gen = nest.Create("step_current_generator", params=step_current(stim, h))
    nest.Connect(gen, cell, syn_spec={"delay": h})
    rec = nest.Create("spike_recorder")
    nest.Connect(cell, rec)
    meter = None
    if record_voltage:
        meter = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": h})
        nest.Connect(meter, cell)
    nest.Simulate(stim.size * h)
    # with step_current's alignment NEST stamps the crossing of sample k at k h, as glifx does
    spike_times = np.round(np.asarray(rec.get("events")["times"], dtype=np.float64) / h) * float(dt)
    voltage = None
    if meter is not None:
        ev = meter.get("events")
        idx = np.round(np.asarray(ev["times"]) / h).astype(np.int64)
        voltage = np.full(stim.size, np.nan)
        ok = (idx >= 0) & (idx < stim.size)
        voltage[idx[ok]] = (np.asarray(ev["V_m"])[ok] - neuron.params["V_reset"]) * 1e-3
    return NestRun(spike_times=spike_times, voltage=voltage)


__all__ = [
    "DEFAULT_E_REV_V",
    "DEFAULT_TAU_SYN_S",
    "NEST_MODELS",
    "NestNeuron",
    "NestRun",
    "RESET_MODES",
    "clip_reset",
    "simulate_nest",
    "step_current",
    "spike_cut_seconds",
    "to_nest",
]
