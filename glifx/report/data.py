"""Plain inputs of the per-cell report: what a fitting pipeline (or a user) fills in.

Nothing here depends on the rest of glifx: every field is a number, a string, a numpy array, a
dict or a pandas DataFrame, with its unit stated.  Units follow the project convention (time in s,
membrane potential in mV, current in pA, rates in Hz); model parameters carry their own unit
string, and SI values (Ω, F, A, V, s) are shown with engineering prefixes (``1.9e8 Ω`` → ``190 MΩ``).

Validation happens in ``__post_init__`` and raises :class:`glifx.errors.ConfigError` naming the
offending field, so a mistake surfaces where the report is built, not deep inside a plot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from glifx.errors import ConfigError

#: File name of the report (:func:`glifx.report.write_report` given a directory writes it there).
REPORT_NAME = "report.html"

#: Published medians of the test (Noise 2) explained-variance ratio over 645 mouse cells
#: (Teeter et al. 2018; GLIF_SPEC.md §4), by GLIF level.
PUBLISHED_TEST_EV_MEDIANS: dict[int, float] = {1: 0.702, 2: 0.677, 3: 0.724, 4: 0.759, 5: 0.776}

#: Level statuses: ``"fitted"`` (plots are drawn), ``"failed"`` (could not be fitted; ``reason``
#: is shown instead of plots), ``"skipped"`` (not attempted, e.g. missing protocol; ``reason`` shown).
LEVEL_STATUSES = ("fitted", "failed", "skipped")

#: Columns a parameter table has after normalisation (:func:`parameter_frame`).
PARAMETER_COLUMNS = ("name", "value", "unit")


def _spike_list(x: Any, what: str) -> list[np.ndarray]:
    """A sequence of spike-time arrays (s) → list of sorted 1-D float arrays; finite values only."""
    if x is None:
        return []
    if isinstance(x, np.ndarray) and x.ndim == 1 and x.dtype != object:
        raise ConfigError(f"{what}: expected a list of arrays (one per repeat), got one 1-D array; "
                          f"wrap it in a list")
    out = []
    for k, arr in enumerate(x):
        a = np.asarray(arr, dtype=np.float64).ravel()
        if not np.all(np.isfinite(a)):
            raise ConfigError(f"{what}[{k}]: spike times must be finite (s)")
        out.append(np.sort(a))
    return out


def _optional_float(x: Any, what: str) -> float | None:
    """``None`` and NaN → ``None``; numbers → float; anything else → ConfigError."""
    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: expected a number or None, got {x!r}") from None
    return None if math.isnan(f) else f


def _array_1d(x: Any, what: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: expected a numeric 1-D array") from None
    if a.ndim != 1:
        raise ConfigError(f"{what}: expected a 1-D array, got shape {a.shape}")
    return a


def parameter_frame(parameters: Mapping[str, Any] | pd.DataFrame | None) -> pd.DataFrame:
    """Normalise a level's parameters to a DataFrame with columns ``name``, ``value``, ``unit``.

    Parameters
    ----------
    parameters
        ``{name: (value, unit)}``, ``{name: value}`` (unit ``""``), a DataFrame with columns
        ``name``/``value``[/``unit``] or indexed by name with a ``value`` column, or ``None``.

    Returns
    -------
    pandas.DataFrame
        One row per parameter, in the given order; ``value`` is float (NaN when not a number).
    """
    if parameters is None:
        return pd.DataFrame({c: pd.Series(dtype=object if c != "value" else float)
                             for c in PARAMETER_COLUMNS})
    if isinstance(parameters, pd.DataFrame):
        df = parameters.copy()
        if "name" not in df.columns:
            df = df.reset_index().rename(columns={df.index.name or "index": "name"})
        if "value" not in df.columns:
            raise ConfigError("parameters: a DataFrame needs a 'value' column")
        if "unit" not in df.columns:
            df["unit"] = ""
        rows = list(zip(df["name"], df["value"], df["unit"], strict=True))
    elif isinstance(parameters, Mapping):
        rows = []
        for name, v in parameters.items():
            if isinstance(v, tuple | list) and len(v) == 2:
                rows.append((name, v[0], v[1]))
            else:
                rows.append((name, v, ""))
    else:
        raise ConfigError(f"parameters: expected a dict or DataFrame, got {type(parameters).__name__}")
    clean = []
    for name, value, unit in rows:
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = math.nan
        clean.append((str(name), value, "" if unit is None or unit != unit else str(unit)))
    return pd.DataFrame(clean, columns=list(PARAMETER_COLUMNS))


@dataclass
class FICurve:
    """An f-I curve: firing rate against step amplitude.

    Attributes
    ----------
    amplitude_pa
        Stimulus amplitudes, pA.
    rate_hz
        Firing rates at those amplitudes, Hz (same length).
    """

    amplitude_pa: np.ndarray
    rate_hz: np.ndarray

    def __post_init__(self) -> None:
        self.amplitude_pa = _array_1d(self.amplitude_pa, "FICurve.amplitude_pa")
        self.rate_hz = _array_1d(self.rate_hz, "FICurve.rate_hz")
        if self.amplitude_pa.shape != self.rate_hz.shape:
            raise ConfigError(f"FICurve: amplitude_pa has {self.amplitude_pa.size} values but rate_hz "
                              f"has {self.rate_hz.size}")
        order = np.argsort(self.amplitude_pa, kind="stable")
        self.amplitude_pa, self.rate_hz = self.amplitude_pa[order], self.rate_hz[order]


@dataclass
class VoltageOverlay:
    """The recorded voltage of one training epoch (models are overlaid on it per level).

    Attributes
    ----------
    t
        Time, s (strictly increasing).
    v_data
        Recorded membrane potential, mV (same length as ``t``).
    stimulus_pa
        Injected current, pA (same length), or ``None``.
    label
        What the epoch is, e.g. ``"Noise 1, sweep 42, epoch 2"`` (shown as the figure title).
    models
        Level -> model membrane potential on ``t``, mV (NaN in spike cuts), for overlays that
        carry their own models (test and Long Square); the training overlay's models are in
        :attr:`LevelReport.model_v`.
    """

    t: np.ndarray
    v_data: np.ndarray
    stimulus_pa: np.ndarray | None = None
    label: str = ""
    models: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.t = _array_1d(self.t, "VoltageOverlay.t")
        self.v_data = _array_1d(self.v_data, "VoltageOverlay.v_data")
        if self.v_data.shape != self.t.shape:
            raise ConfigError(f"VoltageOverlay: v_data has {self.v_data.size} samples, "
                              f"t has {self.t.size}")
        if self.stimulus_pa is not None:
            self.stimulus_pa = _array_1d(self.stimulus_pa, "VoltageOverlay.stimulus_pa")
            if self.stimulus_pa.shape != self.t.shape:
                raise ConfigError(f"VoltageOverlay: stimulus_pa has {self.stimulus_pa.size} samples, "
                                  f"t has {self.t.size}")
        if self.t.size < 2 or not np.all(np.diff(self.t) > 0):
            raise ConfigError("VoltageOverlay.t: need at least 2 strictly increasing times (s)")


@dataclass
class SpikeWaveform:
    """One action potential, for the waveform and phase-plane plots.

    Attributes
    ----------
    t_ms
        Time from the spike's threshold, ms.
    v_mv
        Membrane potential, mV.
    dvdt
        dV/dt, V/s (= mV/ms), same length.
    label
        Which spike, e.g. ``"first spike at rheobase, sweep 12 (+200 pA)"``.
    """

    t_ms: np.ndarray
    v_mv: np.ndarray
    dvdt: np.ndarray
    label: str = ""


@dataclass
class LevelReport:
    """What the report shows for one GLIF level.

    Attributes
    ----------
    level
        GLIF level (1–5; other positive integers are accepted but have no published reference).
    status
        ``"fitted"``, ``"failed"`` or ``"skipped"`` (:data:`LEVEL_STATUSES`).
    reason
        Why the level was not fitted (required unless ``status == "fitted"``); also shown as a note
        for fitted levels when given (e.g. "bad reset: simulation truncated at 12.3 s").
    parameters
        Fitted parameters: ``{name: (value, unit)}`` or a DataFrame (see :func:`parameter_frame`).
    train_ev, test_ev
        Explained-variance ratio on the training (Noise 1) and test (Noise 2) sweeps
        (dimensionless; ``None`` or NaN = not computed).
    wall_time_s
        Time spent fitting this level, s.
    test_data_spikes
        Recorded spike times of each test repeat, one array per repeat, s from sweep start.
    test_model_spikes
        Model spike times, one array per repeat (s).  A deterministic model gives one array (it is
        shown once); a stochastic one, one per simulated repeat.
    test_t_range
        ``(start, end)`` of the test sweeps, s: the time axis of the raster and PSTH.  ``None`` =
        from 0 to the last spike (+ 0.1 s).
    model_v
        Model membrane potential on :attr:`VoltageOverlay.t` of the cell's overlay, mV, NaN inside
        spike cuts; ``None`` = not overlaid.
    fi_model
        The model's f-I curve, or ``None``.
    """

    level: int
    status: str = "fitted"
    reason: str | None = None
    parameters: Mapping[str, Any] | pd.DataFrame | None = None
    train_ev: float | None = None
    test_ev: float | None = None
    wall_time_s: float | None = None
    test_data_spikes: Sequence[np.ndarray] = field(default_factory=list)
    test_model_spikes: Sequence[np.ndarray] = field(default_factory=list)
    test_t_range: tuple[float, float] | None = None
    model_v: np.ndarray | None = None
    fi_model: FICurve | None = None

    def __post_init__(self) -> None:
        lvl = self.level
        if isinstance(lvl, bool) or not isinstance(lvl, int | np.integer) or lvl < 1:
            raise ConfigError(f"LevelReport.level: expected a positive integer, got {self.level!r}")
        self.level = int(self.level)
        if self.status not in LEVEL_STATUSES:
            raise ConfigError(f"LevelReport.status: expected one of {', '.join(LEVEL_STATUSES)}, "
                              f"got {self.status!r}")
        if self.status != "fitted" and not (self.reason and str(self.reason).strip()):
            raise ConfigError(f"LevelReport (GLIF{self.level}): status {self.status!r} needs a reason")
        self.reason = None if self.reason is None else str(self.reason)
        self.train_ev = _optional_float(self.train_ev, "LevelReport.train_ev")
        self.test_ev = _optional_float(self.test_ev, "LevelReport.test_ev")
        self.wall_time_s = _optional_float(self.wall_time_s, "LevelReport.wall_time_s")
        self.test_data_spikes = _spike_list(self.test_data_spikes, "LevelReport.test_data_spikes")
        self.test_model_spikes = _spike_list(self.test_model_spikes, "LevelReport.test_model_spikes")
        if self.test_t_range is not None:
            a, b = (float(x) for x in self.test_t_range)
            if not b > a:
                raise ConfigError(f"LevelReport.test_t_range: end must be after start, got ({a}, {b})")
            self.test_t_range = (a, b)
        if self.model_v is not None:
            self.model_v = _array_1d(self.model_v, "LevelReport.model_v")
        if self.fi_model is not None and not isinstance(self.fi_model, FICurve):
            raise ConfigError("LevelReport.fi_model: expected an FICurve")

    @property
    def fitted(self) -> bool:
        """Whether the level was fitted (its plots are drawn)."""
        return self.status == "fitted"

    @property
    def name(self) -> str:
        """``"GLIF<level>"``."""
        return f"GLIF{self.level}"

    @property
    def parameter_table(self) -> pd.DataFrame:
        """The parameters as a DataFrame with columns ``name``, ``value``, ``unit``."""
        return parameter_frame(self.parameters)

    def t_range(self) -> tuple[float, float]:
        """The test time axis, s: :attr:`test_t_range` or 0 … last spike + 0.1 s."""
        if self.test_t_range is not None:
            return self.test_t_range
        ends = [a[-1] for a in (*self.test_data_spikes, *self.test_model_spikes) if a.size]
        starts = [a[0] for a in (*self.test_data_spikes, *self.test_model_spikes) if a.size]
        start = min(0.0, min(starts)) if starts else 0.0
        return (start, max(ends) + 0.1) if ends else (start, start + 1.0)


@dataclass
class CellReport:
    """Everything the per-cell report shows.

    Attributes
    ----------
    cell_id
        The cell's id (any text; it is HTML-escaped).
    source
        The file the cell came from (shown as text, never linked).
    levels
        One :class:`LevelReport` per level, in display order.
    qc_table
        Sweep QC: columns ``sweep_number``, ``stimulus_name``, ``passed`` (bool) and ``reasons``
        (list of strings or one ``"; "``-joined string); an optional ``status`` column with
        ``"excluded"`` rows is honoured (``QCResult.sweeps`` fits as is).  ``None`` = no QC section.
    qc_cell_passed
        The cell QC verdict, or ``None`` if unknown.
    qc_cell_reasons
        Why the cell failed QC.
    fi_data
        The recorded f-I curve (Long Square steps), or ``None``.
    overlay
        A training epoch's recorded voltage (each level's :attr:`LevelReport.model_v` is drawn on
        it), or ``None``.
    notes
        Free-text remarks shown under the header (warnings of the pipeline, settings used).
    qc_not_measured
        Cell QC criteria that could not be evaluated, ``"<measurement>: <why>"``.
    warnings
        Plausibility warnings (``QCResult.warnings``).
    cell_features
        ``(name, value, unit)`` rows of the cell-feature panel (Rin, τ, sag, rheobase, AP shape).
    example_traces
        One recorded sweep per protocol (``v_data`` mV, ``stimulus_pa`` pA).
    spike_waveform
        The first spike at rheobase, or ``None``.
    test_overlay, long_square_overlay
        Recorded voltage of a Noise 2 test epoch / a Long Square step with each level's model
        voltage in ``models``, or ``None``.
    fit_wall_time_s
        Time the whole fit took (preprocessing and every level), s: the clock every timing of
        the report and the CLI is read from.
    """

    cell_id: str
    source: str | None = None
    levels: Sequence[LevelReport] = field(default_factory=list)
    qc_table: pd.DataFrame | None = None
    qc_cell_passed: bool | None = None
    qc_cell_reasons: Sequence[str] = field(default_factory=list)
    fi_data: FICurve | None = None
    overlay: VoltageOverlay | None = None
    notes: Sequence[str] = field(default_factory=list)
    qc_not_measured: Sequence[str] = field(default_factory=list)
    warnings: Sequence[str] = field(default_factory=list)
    cell_features: Sequence[tuple[str, float, str]] = field(default_factory=list)
    example_traces: Sequence[VoltageOverlay] = field(default_factory=list)
    spike_waveform: SpikeWaveform | None = None
    test_overlay: VoltageOverlay | None = None
    long_square_overlay: VoltageOverlay | None = None
    fit_wall_time_s: float | None = None

    def __post_init__(self) -> None:
        self.cell_id = str(self.cell_id)
        self.source = None if self.source is None else str(self.source)
        self.levels = list(self.levels)
        for lv in self.levels:
            if not isinstance(lv, LevelReport):
                raise ConfigError(f"CellReport.levels: expected LevelReport items, "
                                  f"got {type(lv).__name__}")
        seen = [lv.level for lv in self.levels]
        if len(set(seen)) != len(seen):
            raise ConfigError(f"CellReport.levels: a level appears twice ({seen})")
        if self.qc_table is not None:
            if not isinstance(self.qc_table, pd.DataFrame):
                raise ConfigError("CellReport.qc_table: expected a pandas DataFrame")
            missing = {"sweep_number", "passed"} - set(self.qc_table.columns)
            if missing:
                raise ConfigError(f"CellReport.qc_table: missing column(s) {', '.join(sorted(missing))}")
        if self.overlay is not None:
            n = self.overlay.t.size
            for lv in self.levels:
                if lv.model_v is not None and lv.model_v.size != n:
                    raise ConfigError(f"LevelReport.model_v (GLIF{lv.level}) has {lv.model_v.size} "
                                      f"samples, the overlay's t has {n}")
        self.qc_cell_reasons = [str(r) for r in self.qc_cell_reasons]
        self.notes = [str(n) for n in self.notes]

    def level(self, level: int) -> LevelReport:
        """The :class:`LevelReport` of one level (KeyError if absent)."""
        for lv in self.levels:
            if lv.level == level:
                return lv
        raise KeyError(f"no GLIF{level} in this report")


def _num(x: Any, default: float = math.nan) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return default


def parameters_from_allen_config(config: Mapping[str, Any]) -> dict[str, tuple[float, str]]:
    """The parameters of an Allen ``neuron_config`` dict, as ``{name: (value, unit)}`` for a report.

    Values are the effective ones the simulator uses (GLIF_SPEC.md §2): the run-time ``coeffs``
    multipliers are applied (``th_inf``, ``C``, ``G`` = 1/R, ``a``, ``b``, ``asc_amp_array``).  Only
    the blocks the config's methods use are listed (reset a/b for ``v_before``, a_spike/b_spike for
    ``three_components``, a_voltage/b_voltage for ``three_components_exact``, after-spike currents
    for ``exp``).  Depends on nothing but the published config format.

    Parameters
    ----------
    config
        A neuron_config as loaded from JSON (SI units).

    Returns
    -------
    dict
        Name → (value, unit); units are SI (V, Ω, F, s, A, 1/s), ``"steps"`` or ``""``.
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"parameters_from_allen_config: expected a dict, got {type(config).__name__}")
    coeffs = config.get("coeffs") or {}

    def coeff(name: str) -> float:
        return _num(coeffs.get(name, 1.0), 1.0)

    def method(key: str) -> tuple[str, Mapping[str, Any]]:
        block = config.get(key) or {}
        return str(block.get("name", "")), block.get("params") or {}

    out: dict[str, tuple[float, str]] = {}
    out["El_reference"] = (_num(config.get("El_reference")), "V")
    r = _num(config.get("R_input")) / coeff("G")
    c = _num(config.get("C")) * coeff("C")
    out["R_input"] = (r, "Ω")
    out["C"] = (c, "F")
    out["tau_m"] = (r * c, "s")
    out["th_inf"] = (_num(config.get("th_inf")) * coeff("th_inf"), "V")
    out["spike_cut_length"] = (_num(config.get("spike_cut_length")), "steps")
    out["dt"] = (_num(config.get("dt")), "s")
    name, p = method("voltage_reset_method")
    if name == "v_before":
        out["a_r"] = (_num(p.get("a")), "")  # voltage reset slope
        out["b_r"] = (_num(p.get("b")), "V")  # voltage reset intercept
    name, p = method("threshold_reset_method")
    if name == "three_components":
        out["a_spike"] = (_num(p.get("a_spike")), "V")
        out["b_spike"] = (_num(p.get("b_spike")), "1/s")
    name, p = method("threshold_dynamics_method")
    if name == "three_components_exact":
        out["a_voltage"] = (_num(p.get("a_voltage")) * coeff("a"), "1/s")
        out["b_voltage"] = (_num(p.get("b_voltage")) * coeff("b"), "1/s")
    name, _ = method("AScurrent_dynamics_method")
    if name == "exp":
        amps = list(config.get("asc_amp_array") or [])
        taus = list(config.get("asc_tau_array") or [])
        camps = coeffs.get("asc_amp_array") or [1.0] * len(amps)
        _, rp = method("AScurrent_reset_method")
        rs = list(rp.get("r") or [])
        for j, (amp, tau) in enumerate(zip(amps, taus, strict=False)):
            cj = _num(camps[j], 1.0) if j < len(camps) else 1.0
            out[f"asc_amp_{j + 1}"] = (_num(amp) * cj, "A")
            out[f"asc_k_{j + 1}"] = (1.0 / _num(tau) if _num(tau) else math.nan, "1/s")
            if j < len(rs):
                out[f"asc_r_{j + 1}"] = (_num(rs[j]), "")
    return out
