"""GLIF1-5 parameters (:class:`GlifModel`) and Allen Institute ``neuron_config`` I/O.

Everything is SI (V, A, Ohm, F, s, 1/s); voltages and thresholds are relative to rest (``El`` = 0,
the absolute resting potential is ``El_reference``).  The model semantics are GLIF_SPEC.md.

Spike-cut policy
----------------
Published Allen configs store ``spike_cut_length`` as an integer number of *simulation steps*; the
Allen Cell Types Database (and the paper) applied that count at whatever ``dt`` was simulated
(5e-6 s), although it was estimated at the config ``dt`` (5e-5 s).  :class:`GlifModel` makes the
choice explicit:

* ``spike_cut_s is None`` (default, every config read by :meth:`GlifModel.from_allen_config`):
  **reference-compatible** -- the cut lasts ``spike_cut_length`` steps of the simulated ``dt``.
  This reproduces the published spike trains exactly.
* ``spike_cut_s`` set (seconds): the cut is a physical duration, converted to
  ``round(spike_cut_s / dt)`` steps for the simulated ``dt``.  Use it for models fitted by glifx;
  fit and evaluate with the same model.  ``from_allen_config(cfg, spike_cut_policy="seconds")``
  reads a published config this way (``spike_cut_s = spike_cut_length * cfg["dt"]``).

:meth:`GlifModel.cut_steps` gives the step count used for a given ``dt``.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from os import PathLike
from typing import Any, Literal

import numpy as np

from glifx.errors import ConfigError, FileFormatError

#: Method names glifx accepts in each method block (every name used in published configs).
METHOD_NAMES: dict[str, tuple[str, ...]] = {
    "voltage_dynamics_method": ("linear_forward_euler",),
    "voltage_reset_method": ("zero", "v_before"),
    "threshold_dynamics_method": ("inf", "spike_component", "three_components_exact"),
    "threshold_reset_method": ("inf", "three_components"),
    "AScurrent_dynamics_method": ("none", "exp"),
    "AScurrent_reset_method": ("none", "sum"),
}

#: Model field holding each method block's name.
_METHOD_FIELDS = {
    "voltage_dynamics_method": "voltage_dynamics_method",
    "voltage_reset_method": "voltage_reset_method",
    "threshold_dynamics_method": "threshold_dynamics_method",
    "threshold_reset_method": "threshold_reset_method",
    "AScurrent_dynamics_method": "asc_dynamics_method",
    "AScurrent_reset_method": "asc_reset_method",
}

#: The five standard levels: (voltage reset, threshold dynamics, threshold reset, ASC dyn, ASC reset).
LEVEL_METHODS: dict[int, tuple[str, str, str, str, str]] = {
    1: ("zero", "inf", "inf", "none", "none"),
    2: ("v_before", "spike_component", "three_components", "none", "none"),
    3: ("zero", "inf", "inf", "exp", "sum"),
    4: ("v_before", "spike_component", "three_components", "exp", "sum"),
    5: ("v_before", "three_components_exact", "three_components", "exp", "sum"),
}
#: The standard levels whose models are also models of each level: a richer level with the
#: components it adds switched off (voltage reset slope and offset 0, as the zero reset; no
#: threshold jump; no voltage coupling; no after-spike current) fires the same spike trains
#: (:meth:`GlifModel.as_level`).
CONTAINED_LEVELS: dict[int, tuple[int, ...]] = {1: (), 2: (1,), 3: (1,), 4: (1, 2, 3),
                                                 5: (1, 2, 3, 4)}
_LEVEL_FIELDS = (
    "voltage_reset_method",
    "threshold_dynamics_method",
    "threshold_reset_method",
    "asc_dynamics_method",
    "asc_reset_method",
)

#: Parameters of each method block, in the order written by :meth:`GlifModel.to_allen_config`
#: (config name -> model field).
_METHOD_PARAMS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("voltage_reset_method", "v_before"): (("a", "a"), ("b", "b")),
    ("threshold_dynamics_method", "spike_component"): (
        ("a_spike", "a_spike"),
        ("b_spike", "b_spike"),
        ("a_voltage", "a_voltage"),
        ("b_voltage", "b_voltage"),
    ),
    ("threshold_dynamics_method", "three_components_exact"): (
        ("a_spike", "a_spike"),
        ("b_spike", "b_spike"),
        ("a_voltage", "a_voltage"),
        ("b_voltage", "b_voltage"),
    ),
    ("threshold_reset_method", "three_components"): (("a_spike", "a_spike"), ("b_spike", "b_spike")),
    ("AScurrent_reset_method", "sum"): (("r", "asc_r"),),
}

#: Top-level config keys read into dedicated fields (everything else goes to ``extra``).
_KNOWN_KEYS = {
    "El_reference",
    "El",
    "R_input",
    "C",
    "th_inf",
    "dt",
    "spike_cut_length",
    "asc_amp_array",
    "asc_tau_array",
    "coeffs",
    "init_voltage",
    "init_threshold",
    "init_AScurrents",
    "dt_multiplier",
    "extrapolation_method_name",
    "th_adapt",
    "type",
    "glifx_spike_cut_s",
    *METHOD_NAMES,
}
_COEFF_KEYS = {"th_inf": "coeff_th_inf", "C": "coeff_C", "G": "coeff_G", "a": "coeff_a", "b": "coeff_b"}

Pair = tuple[float, float]


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _pair(name: str, value: Any) -> Pair | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
        raise ConfigError(f"{name}: expected 2 numbers, got {value!r}")
    items = list(value)
    if len(items) != 2 or not all(_is_real(v) for v in items):
        raise ConfigError(f"{name}: expected 2 numbers, got {value!r}")
    return (items[0].item() if isinstance(items[0], np.generic) else items[0],
            items[1].item() if isinstance(items[1], np.generic) else items[1])


@dataclass(frozen=True, kw_only=True)
class GlifModel:
    """Parameters of one GLIF neuron (levels 1-5 or any combination of published methods).

    Construct it directly (keyword arguments), from a published Allen config with
    :meth:`from_allen_config`, and vary it with ``dataclasses.replace(model, th_inf=...)``; every
    instance is validated on construction (:class:`glifx.ConfigError` naming the field).  All values
    are SI; voltages and thresholds are relative to rest.

    Attributes
    ----------
    level
        1 (LIF), 2 (LIF-R), 3 (LIF-ASC), 4 (LIF-R-ASC) or 5 (LIF-R-ASC-A); selects the method of
        every block left ``None`` below.  ``None`` for a non-standard combination (then every
        method must be given).
    R_input
        Input resistance (Ohm), > 0.  The conductance is ``G = coeff_G / R_input`` (S).
    C
        Membrane capacitance (F), > 0.
    th_inf
        Instantaneous threshold above rest (V); the simulator uses ``coeff_th_inf * th_inf``.
    El_reference
        Absolute resting potential (V); metadata only (traces are relative to rest).
    El
        Reversal potential of the leak relative to rest (V); 0 in every published config.
    spike_cut_length
        Spike cut as a number of simulation steps (reference-compatible policy, see module doc).
    spike_cut_s
        Spike cut in seconds (s); when set it replaces ``spike_cut_length`` and is converted to
        ``round(spike_cut_s / dt)`` steps for the simulated ``dt``.  ``None``: use the step count.
    dt
        Time step the parameters were estimated at (s; 5e-5 in published configs).  Not the
        simulation step (that is an argument of :func:`glifx.glif.simulate`); used only to convert
        ``spike_cut_s`` into ``spike_cut_length`` when writing a config.
    asc_amp_array
        After-spike current amplitudes A_j (A), added at each reset (``sum``), times
        ``coeff_asc_amp``.  Negative values hyperpolarise.
    asc_tau_array
        After-spike current time constants tau_j (s), > 0; decay rates k_j = 1/tau_j (1/s).
    asc_r
        Fraction r_j (1) of each after-spike current kept at a reset (``sum`` reset; 1.0 published).
    a, b
        Voltage reset ``v_before``: V_reset = a * V(t) + b; ``a`` (1), ``b`` (V).
    a_spike, b_spike
        Spike-induced threshold component: jump ``a_spike`` (V) at each reset, decay rate
        ``b_spike`` (1/s).
    a_voltage, b_voltage
        Voltage-induced threshold component (``three_components_exact``): coupling ``a_voltage``
        (1/s) and decay rate ``b_voltage`` (1/s, > 0), times ``coeff_a`` / ``coeff_b``.
    coeff_th_inf, coeff_C, coeff_G, coeff_a, coeff_b, coeff_asc_amp
        Run-time multipliers (1) of th_inf, C, G = 1/R, a_voltage, b_voltage and the ASC amplitudes
        (the config's ``coeffs``).
    voltage_dynamics_method, voltage_reset_method, threshold_dynamics_method,
    threshold_reset_method, asc_dynamics_method, asc_reset_method
        Method names (see :data:`METHOD_NAMES`); ``None`` means "as ``level`` says".
    init_voltage, init_AScurrents
        Initial membrane potential (V, relative to rest) and after-spike currents (A).
    init_threshold
        The config's ``init_threshold`` (V); kept for round-trips, not used by the simulator
        (threshold components start at 0).  ``None`` writes ``th_inf``.
    dt_multiplier, extrapolation_method_name, th_adapt, config_type
        Other keys of Allen configs, kept for round-trips (unused by the simulator).
    extra
        Unrecognised top-level config keys, as ``((key, value), ...)``, written back unchanged.
    """

    level: int | None = None
    R_input: float
    C: float
    th_inf: float
    El_reference: float = 0.0
    El: float = 0.0
    spike_cut_length: int = 0
    spike_cut_s: float | None = None
    dt: float = 5e-5
    asc_amp_array: Pair | None = None
    asc_tau_array: Pair | None = None
    asc_r: Pair = (1.0, 1.0)
    a: float | None = None
    b: float | None = None
    a_spike: float | None = None
    b_spike: float | None = None
    a_voltage: float | None = None
    b_voltage: float | None = None
    coeff_th_inf: float = 1.0
    coeff_C: float = 1.0
    coeff_G: float = 1.0
    coeff_a: float = 1.0
    coeff_b: float = 1.0
    coeff_asc_amp: Pair = (1.0, 1.0)
    voltage_dynamics_method: str = "linear_forward_euler"
    voltage_reset_method: str | None = None
    threshold_dynamics_method: str | None = None
    threshold_reset_method: str | None = None
    asc_dynamics_method: str | None = None
    asc_reset_method: str | None = None
    init_voltage: float = 0.0
    init_threshold: float | None = None
    init_AScurrents: Pair = (0.0, 0.0)
    dt_multiplier: int | None = 10
    extrapolation_method_name: str | None = "endpoints"
    th_adapt: Any = None
    config_type: str | None = "GLIF"
    extra: tuple[tuple[str, Any], ...] = field(default=(), compare=True)

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        for f in fields(self):  # numpy scalars -> Python numbers (JSON-serialisable configs)
            value = getattr(self, f.name)
            if isinstance(value, np.generic):
                object.__setattr__(self, f.name, value.item())
        for name in ("asc_amp_array", "asc_tau_array", "asc_r", "coeff_asc_amp", "init_AScurrents"):
            value = getattr(self, name)
            if value is None and name not in ("asc_amp_array", "asc_tau_array"):
                raise ConfigError(f"{name}: expected 2 numbers, got None")
            object.__setattr__(self, name, _pair(name, value))
        if isinstance(self.extra, Mapping):
            object.__setattr__(self, "extra", tuple(self.extra.items()))
        else:
            object.__setattr__(self, "extra", tuple(tuple(kv) for kv in self.extra))

        if self.level is not None and (
            not isinstance(self.level, numbers.Integral) or isinstance(self.level, bool)
            or self.level not in LEVEL_METHODS
        ):
            raise ConfigError(f"level: expected 1, 2, 3, 4, 5 or None, got {self.level!r}")
        for config_key, attr in _METHOD_FIELDS.items():
            name = getattr(self, attr)
            if name is None:
                if self.level is None:
                    raise ConfigError(f"{attr}: missing (give level=1..5 or every method name)")
                continue
            if name not in METHOD_NAMES[config_key]:
                known = ", ".join(METHOD_NAMES[config_key])
                raise ConfigError(f"{config_key}: unknown method {name!r} (known: {known})")
            if self.level is not None and attr in _LEVEL_FIELDS:
                expected = LEVEL_METHODS[self.level][_LEVEL_FIELDS.index(attr)]
                if name != expected:
                    raise ConfigError(
                        f"{attr}: level {self.level} uses {expected!r}, got {name!r} "
                        "(set level=None for a non-standard combination)"
                    )

        self._check_number("R_input", positive=True)
        self._check_number("C", positive=True)
        self._check_number("th_inf")
        self._check_number("El_reference")
        self._check_number("El")
        self._check_number("dt", positive=True)
        self._check_number("init_voltage")
        for name in ("coeff_th_inf", "coeff_a", "coeff_b"):
            self._check_number(name)
        self._check_number("coeff_C", positive=True)
        self._check_number("coeff_G", positive=True)
        for name in ("coeff_asc_amp", "asc_r", "init_AScurrents"):
            for v in getattr(self, name):
                if not math.isfinite(v):
                    raise ConfigError(f"{name}: must be finite, got {getattr(self, name)!r}")

        n = self.spike_cut_length
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 0:
            raise ConfigError(f"spike_cut_length: expected an integer number of steps >= 0, got {n!r}")
        if self.spike_cut_s is not None:
            self._check_number("spike_cut_s", nonnegative=True)

        methods = self.methods
        if methods["voltage_reset_method"] == "v_before":
            self._check_number("a", required="voltage_reset_method 'v_before'")
            self._check_number("b", required="voltage_reset_method 'v_before'")
        th_dyn = methods["threshold_dynamics_method"]
        if th_dyn in ("spike_component", "three_components_exact"):
            why = f"threshold_dynamics_method {th_dyn!r}"
            self._check_number("b_spike", required=why, nonnegative=True)
            self._check_number("a_spike", required=why)
            if th_dyn == "spike_component":
                for name in ("a_voltage", "b_voltage"):
                    if getattr(self, name) is not None:
                        self._check_number(name)
        if th_dyn == "three_components_exact":
            why = "threshold_dynamics_method 'three_components_exact'"
            self._check_number("a_voltage", required=why)
            self._check_number("b_voltage", required=why, positive=True)
            b_v = self.coeff_b * self.b_voltage
            if b_v <= 0:
                raise ConfigError(f"coeff_b * b_voltage: must be > 0, got {b_v!r}")
            if b_v == self.coeff_G / self.R_input / (self.coeff_C * self.C):
                raise ConfigError(
                    "b_voltage: equals the membrane rate G/C; three_components_exact is singular"
                )
        if methods["threshold_reset_method"] == "three_components":
            self._check_number("a_spike", required="threshold_reset_method 'three_components'")
            self._check_number(
                "b_spike", required="threshold_reset_method 'three_components'", nonnegative=True
            )
        if methods["AScurrent_dynamics_method"] == "exp" or methods["AScurrent_reset_method"] == "sum":
            if self.asc_tau_array is None:
                raise ConfigError("asc_tau_array: missing (needed by the after-spike current methods)")
            if not all(math.isfinite(t) and t > 0 for t in self.asc_tau_array):
                raise ConfigError(
                    f"asc_tau_array: time constants must be > 0 s, got {self.asc_tau_array!r}"
                )
        if methods["AScurrent_reset_method"] == "sum":
            if self.asc_amp_array is None:
                raise ConfigError("asc_amp_array: missing (needed by AScurrent_reset_method 'sum')")
            if not all(math.isfinite(v) for v in self.asc_amp_array):
                raise ConfigError(f"asc_amp_array: must be finite, got {self.asc_amp_array!r}")

    def _check_number(
        self,
        name: str,
        *,
        positive: bool = False,
        nonnegative: bool = False,
        required: str | None = None,
    ) -> None:
        value = getattr(self, name)
        if value is None:
            why = f" (needed by {required})" if required else ""
            raise ConfigError(f"{name}: missing{why}")
        if not _is_real(value) or not math.isfinite(value):
            raise ConfigError(f"{name}: expected a finite number, got {value!r}")
        if positive and not value > 0:
            raise ConfigError(f"{name}: must be > 0, got {value!r}")
        if nonnegative and not value >= 0:
            raise ConfigError(f"{name}: must be >= 0, got {value!r}")

    # ------------------------------------------------------------------ derived values
    @property
    def methods(self) -> dict[str, str]:
        """Effective method name of each block, keyed by the Allen config key."""
        cached = self.__dict__.get("_methods")
        if cached is None:
            cached = {}
            for config_key, attr in _METHOD_FIELDS.items():
                name = getattr(self, attr)
                if name is None:
                    name = LEVEL_METHODS[self.level][_LEVEL_FIELDS.index(attr)]  # type: ignore[index]
                cached[config_key] = name
            self.__dict__["_methods"] = cached  # derived from frozen fields: safe to memoise
        return dict(cached)

    @property
    def standard_level(self) -> int | None:
        """The GLIF level (1-5) whose methods this model uses, or ``None`` if non-standard."""
        if "_standard_level" in self.__dict__:
            return self.__dict__["_standard_level"]
        m = self.methods
        key = tuple(m[k] for k in (
            "voltage_reset_method", "threshold_dynamics_method", "threshold_reset_method",
            "AScurrent_dynamics_method", "AScurrent_reset_method",
        ))
        level = next((lv for lv, names in LEVEL_METHODS.items() if names == key), None)
        self.__dict__["_standard_level"] = level
        return level

    @property
    def spike_cut_policy(self) -> Literal["steps", "seconds"]:
        """``"steps"`` (reference-compatible, uses ``spike_cut_length``) or ``"seconds"``."""
        return "steps" if self.spike_cut_s is None else "seconds"

    def cut_steps(self, dt: float) -> int:
        """Number of steps the spike cut lasts when simulating at ``dt`` (s)."""
        if self.spike_cut_s is None:
            return int(self.spike_cut_length)
        return int(round(self.spike_cut_s / dt))

    def with_cut_in_seconds(self, spike_cut_s: float | None = None) -> GlifModel:
        """A copy whose cut is fixed in seconds (default ``spike_cut_length * self.dt``)."""
        if spike_cut_s is None:
            spike_cut_s = self.spike_cut_length * self.dt
        return replace(self, spike_cut_s=float(spike_cut_s))

    def kernel_arrays(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """Packed float64 parameters and int64 flags for :mod:`glifx.glif._kernels` at ``dt`` (s)."""
        p, f = self._kernel_arrays(dt)
        return p.copy(), f.copy()

    def _kernel_arrays(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`kernel_arrays`, memoised per ``dt`` (the arrays are shared: do not modify)."""
        cache = self.__dict__.setdefault("_kernel_cache", {})
        hit = cache.get(dt)
        if hit is None:
            if len(cache) > 8:
                cache.clear()
            hit = cache[dt] = self._pack(dt)
        return hit

    def _pack(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        from glifx.glif import _kernels as K

        m = self.methods
        n = self.cut_steps(dt)
        c = self.coeff_C * self.C
        g = self.coeff_G / self.R_input
        p = np.zeros(K.N_PARAMS, dtype=np.float64)
        p[K.P_DT_OVER_C] = dt / c
        p[K.P_G] = g
        p[K.P_EL] = self.El
        p[K.P_TH_INF] = self.coeff_th_inf * self.th_inf
        p[K.P_A_RESET] = self.a if self.a is not None else 0.0
        p[K.P_B_RESET] = self.b if self.b is not None else 0.0
        p[K.P_A_SPIKE] = self.a_spike if self.a_spike is not None else 0.0
        if self.b_spike is not None:
            p[K.P_SPIKE_DECAY] = math.exp(-self.b_spike * dt)
            p[K.P_SPIKE_DECAY_CUT] = math.exp(-self.b_spike * n * dt)
        if m["threshold_dynamics_method"] == "three_components_exact":
            a_v = self.coeff_a * self.a_voltage  # type: ignore[operator]
            b_v = self.coeff_b * self.b_voltage  # type: ignore[operator]
            p[K.P_PHI] = a_v / (b_v - g / c)
            p[K.P_LEAK_DECAY] = math.exp(-g * dt / c)
            p[K.P_BV_DECAY] = math.exp(-b_v * dt)
            p[K.P_AV_OVER_BV] = a_v / b_v
        if self.asc_amp_array is not None:
            p[K.P_ASC_AMP_1] = self.coeff_asc_amp[0] * self.asc_amp_array[0]
            p[K.P_ASC_AMP_2] = self.coeff_asc_amp[1] * self.asc_amp_array[1]
        if self.asc_tau_array is not None:
            k1, k2 = 1.0 / self.asc_tau_array[0], 1.0 / self.asc_tau_array[1]
            p[K.P_ASC_DECAY_1] = math.exp(-k1 * dt)
            p[K.P_ASC_DECAY_2] = math.exp(-k2 * dt)
            p[K.P_ASC_KEEP_CUT_1] = self.asc_r[0] * math.exp(-k1 * n * dt)
            p[K.P_ASC_KEEP_CUT_2] = self.asc_r[1] * math.exp(-k2 * n * dt)
        p[K.P_V_INIT] = self.init_voltage
        p[K.P_ASC_INIT_1] = self.init_AScurrents[0]
        p[K.P_ASC_INIT_2] = self.init_AScurrents[1]
        f = np.array(
            [
                METHOD_NAMES["voltage_reset_method"].index(m["voltage_reset_method"]),
                METHOD_NAMES["threshold_dynamics_method"].index(m["threshold_dynamics_method"]),
                METHOD_NAMES["threshold_reset_method"].index(m["threshold_reset_method"]),
                METHOD_NAMES["AScurrent_dynamics_method"].index(m["AScurrent_dynamics_method"]),
                METHOD_NAMES["AScurrent_reset_method"].index(m["AScurrent_reset_method"]),
                n,
            ],
            dtype=np.int64,
        )
        return p, f

    def as_level(self, level: int, rates_from: GlifModel) -> GlifModel:
        """This model as a model of ``level``, a level that contains its own
        (:data:`CONTAINED_LEVELS`): the same spike trains, with every component ``level`` adds
        switched off.

        The added voltage reset is ``V ← 0·V + 0`` (the zero reset), the added threshold
        components have no jump (``a_spike = 0``) and no voltage coupling (``a_voltage = 0``),
        the added after-spike currents have zero amplitudes.  The decay rates of the switched-off
        components (``b_spike``, ``b_voltage`` and its multiplier, the after-spike time constants
        and reset fractions), which then act on nothing, are those of ``rates_from``, a model
        of ``level``, so that the result is one its optimiser could have reached.

        Parameters
        ----------
        level
            The richer standard level, 2–5.
        rates_from
            A model of ``level`` (e.g. its own fit).

        Raises
        ------
        ConfigError
            When this model is not of a standard level that ``level`` contains, or
            ``rates_from`` is not of ``level``.
        """
        own = self.standard_level
        if own is None or level not in CONTAINED_LEVELS or own not in CONTAINED_LEVELS[level]:
            raise ConfigError(f"level: GLIF{level} does not contain this model's level "
                              f"({own if own is not None else 'non-standard'})")
        if rates_from.standard_level != level:
            raise ConfigError(f"rates_from: expected a GLIF{level} model, got level "
                              f"{rates_from.standard_level}")
        mine, theirs = self.methods, rates_from.methods
        kw: dict[str, Any] = {name: None for name in _LEVEL_FIELDS}
        kw["level"] = level
        if mine["voltage_reset_method"] == "zero" and theirs["voltage_reset_method"] == "v_before":
            kw.update(a=0.0, b=0.0)
        if mine["threshold_reset_method"] == "inf" \
                and theirs["threshold_reset_method"] == "three_components":
            kw.update(a_spike=0.0, b_spike=rates_from.b_spike)
        if mine["threshold_dynamics_method"] != "three_components_exact" \
                and theirs["threshold_dynamics_method"] == "three_components_exact":
            kw.update(a_voltage=0.0, b_voltage=rates_from.b_voltage,
                      coeff_a=rates_from.coeff_a, coeff_b=rates_from.coeff_b)
        if mine["AScurrent_dynamics_method"] == "none" \
                and theirs["AScurrent_dynamics_method"] == "exp":
            kw.update(asc_amp_array=(0.0, 0.0), asc_tau_array=rates_from.asc_tau_array,
                      asc_r=rates_from.asc_r, coeff_asc_amp=rates_from.coeff_asc_amp,
                      init_AScurrents=(0.0, 0.0))
        return replace(self, **kw)

    # ------------------------------------------------------------------ Allen config I/O
    @classmethod
    def from_allen_config(
        cls, config: Mapping[str, Any], *, spike_cut_policy: Literal["steps", "seconds"] = "steps"
    ) -> GlifModel:
        """Read an Allen ``neuron_config`` dict (as published, or as AllenSDK writes it).

        Parameters
        ----------
        config
            The parsed JSON.  Method names must be among :data:`METHOD_NAMES`; others raise
            :class:`glifx.ConfigError` naming the block and the method.
        spike_cut_policy
            ``"steps"`` (default, reference-compatible: ``spike_cut_length`` steps at any simulated
            dt) or ``"seconds"`` (``spike_cut_s = spike_cut_length * config["dt"]``).

        Returns
        -------
        GlifModel
            ``level`` is set when the methods are those of a standard level, else ``None`` with
            every method given.  ``to_allen_config()`` returns a dict equal to ``config``.
        """
        if not isinstance(config, Mapping):
            raise ConfigError(f"neuron config: expected a JSON object, got {type(config).__name__}")
        if spike_cut_policy not in ("steps", "seconds"):
            raise ConfigError(
                f"spike_cut_policy: expected 'steps' or 'seconds', got {spike_cut_policy!r}"
            )
        for key in ("R_input", "C", "th_inf", "spike_cut_length", *METHOD_NAMES):
            if key not in config:
                raise ConfigError(f"neuron config: missing {key!r}")
        kw: dict[str, Any] = {}
        names: dict[str, str] = {}
        for config_key, attr in _METHOD_FIELDS.items():
            block = config[config_key]
            if not isinstance(block, Mapping) or "name" not in block:
                raise ConfigError(
                    f"{config_key}: expected {{'name': ..., 'params': {{...}}}}, got {block!r}"
                )
            name = block["name"]
            if name not in METHOD_NAMES[config_key]:
                known = ", ".join(METHOD_NAMES[config_key])
                raise ConfigError(f"{config_key}: unknown method {name!r} (known: {known})")
            names[attr] = name
            params = block.get("params") or {}
            if not isinstance(params, Mapping):
                raise ConfigError(f"{config_key}.params: expected an object, got {params!r}")
            expected = dict(_METHOD_PARAMS.get((config_key, name), ()))
            for pkey, value in params.items():
                if pkey not in expected:
                    raise ConfigError(f"{config_key} {name!r}: unexpected parameter {pkey!r}")
                fname = expected[pkey]
                if fname in kw and kw[fname] != value:
                    raise ConfigError(
                        f"{config_key}.params.{pkey} = {value!r} differs from the value "
                        f"{kw[fname]!r} given in another method block"
                    )
                kw[fname] = value
            missing = [k for k in expected if k not in params]
            if missing:
                raise ConfigError(f"{config_key} {name!r}: missing parameter(s) {', '.join(missing)}")
        chosen = tuple(names[f] for f in _LEVEL_FIELDS)
        level = next((lv for lv, ms in LEVEL_METHODS.items() if ms == chosen), None)
        if level is None:
            kw.update(names)
        elif names["voltage_dynamics_method"] != "linear_forward_euler":
            kw["voltage_dynamics_method"] = names["voltage_dynamics_method"]
        coeffs = config.get("coeffs", {})
        if not isinstance(coeffs, Mapping):
            raise ConfigError(f"coeffs: expected an object, got {coeffs!r}")
        for ckey, value in coeffs.items():
            if ckey == "asc_amp_array":
                kw["coeff_asc_amp"] = value
            elif ckey in _COEFF_KEYS:
                kw[_COEFF_KEYS[ckey]] = value
            else:
                raise ConfigError(f"coeffs: unknown coefficient {ckey!r}")
        simple = (
            "El_reference", "El", "R_input", "C", "th_inf", "dt", "spike_cut_length", "asc_amp_array",
            "asc_tau_array", "init_voltage", "init_threshold", "init_AScurrents", "dt_multiplier",
            "extrapolation_method_name", "th_adapt",
        )
        for key in simple:
            if key in config:
                kw[key] = config[key]
        if "type" in config:
            kw["config_type"] = config["type"]
        if "glifx_spike_cut_s" in config:
            kw["spike_cut_s"] = config["glifx_spike_cut_s"]
        elif spike_cut_policy == "seconds":
            kw["spike_cut_s"] = config["spike_cut_length"] * config.get("dt", 5e-5)
        absent = tuple(
            k for k in ("init_threshold", "dt_multiplier", "extrapolation_method_name", "type",
                        "init_voltage", "init_AScurrents", "th_adapt", "coeffs")
            if k not in config
        )
        extra = [(k, v) for k, v in config.items() if k not in _KNOWN_KEYS]
        if absent:
            extra.append(("__glifx_absent__", absent))
        return cls(level=level, **kw, extra=tuple(extra))

    def to_allen_config(self) -> dict[str, Any]:
        """The Allen ``neuron_config`` dict of this model (for AllenSDK ``GlifNeuron.from_dict``).

        Values are written back as they were read (same numbers, same int/float types), so a
        published config round-trips unchanged.  A model with ``spike_cut_s`` writes
        ``spike_cut_length = round(spike_cut_s / dt)`` (steps of the config ``dt``) and keeps the
        seconds under the extra key ``glifx_spike_cut_s``.
        """
        m = self.methods
        extra = dict(self.extra)
        absent = set(extra.pop("__glifx_absent__", ()))
        cut = self.spike_cut_length
        if self.spike_cut_s is not None:
            cut = int(round(self.spike_cut_s / self.dt))
        out: dict[str, Any] = {
            "El_reference": self.El_reference,
            "C": self.C,
            "asc_amp_array": list(self.asc_amp_array) if self.asc_amp_array is not None else [0.0, 0.0],
            "init_threshold": self.init_threshold if self.init_threshold is not None else self.th_inf,
            "threshold_reset_method": self._block("threshold_reset_method", m),
            "th_inf": self.th_inf,
            "spike_cut_length": cut,
            "init_AScurrents": list(self.init_AScurrents),
            "init_voltage": self.init_voltage,
            "threshold_dynamics_method": self._block("threshold_dynamics_method", m),
            "voltage_reset_method": self._block("voltage_reset_method", m),
            "extrapolation_method_name": self.extrapolation_method_name,
            "dt": self.dt,
            "voltage_dynamics_method": self._block("voltage_dynamics_method", m),
            "El": self.El,
            "asc_tau_array": list(self.asc_tau_array) if self.asc_tau_array is not None else [1.0, 1.0],
            "R_input": self.R_input,
            "AScurrent_dynamics_method": self._block("AScurrent_dynamics_method", m),
            "AScurrent_reset_method": self._block("AScurrent_reset_method", m),
            "dt_multiplier": self.dt_multiplier,
            "th_adapt": self.th_adapt,
            "coeffs": {
                "a": self.coeff_a,
                "C": self.coeff_C,
                "b": self.coeff_b,
                "G": self.coeff_G,
                "th_inf": self.coeff_th_inf,
                "asc_amp_array": list(self.coeff_asc_amp),
            },
            "type": self.config_type,
        }
        if self.spike_cut_s is not None:
            out["glifx_spike_cut_s"] = self.spike_cut_s
        for key in absent:
            out.pop(key, None)
        out.update(extra)
        return out

    def _block(self, config_key: str, methods: Mapping[str, str]) -> dict[str, Any]:
        name = methods[config_key]
        params: dict[str, Any] = {}
        for pkey, fname in _METHOD_PARAMS.get((config_key, name), ()):
            value = getattr(self, fname)
            if value is None:  # a_voltage / b_voltage of spike_component (unused): write 0
                value = 0
            params[pkey] = list(value) if isinstance(value, tuple) else value
        return {"params": params, "name": name}


def load_allen_config(
    path: str | PathLike[str], *, spike_cut_policy: Literal["steps", "seconds"] = "steps"
) -> GlifModel:
    """Read a ``neuron_config.json`` file into a :class:`GlifModel`.

    Raises :class:`glifx.FileFormatError` (naming the file) if it cannot be read or parsed, and
    :class:`glifx.ConfigError` (prefixed with the file name) if its parameters are invalid.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
    except FileNotFoundError:
        raise FileFormatError(path, "no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(path, f"not a readable JSON neuron config ({exc})") from None
    try:
        return GlifModel.from_allen_config(config, spike_cut_policy=spike_cut_policy)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


__all__ = ["LEVEL_METHODS", "METHOD_NAMES", "GlifModel", "load_allen_config"]
