"""QC criteria: the limits sweeps and cells are judged by (Allen "Ephys QC Criteria v1.1" defaults).

Every limit is a field of the frozen dataclass :class:`QCCriteria`.  Change limits with
``dataclasses.replace(criteria, seal_gohm_min=2.0)``, ``QCCriteria(seal_gohm_min=2.0)``,
``QCCriteria.from_dict({...})`` or ``QCCriteria.from_file("criteria.json")`` (YAML too when PyYAML is
importable).  Unknown keys and wrong types raise :class:`glifx.ConfigError` naming the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from os import PathLike
from pathlib import Path
from typing import Any

from glifx.errors import ConfigError
from glifx.stimulus import RAMP

ALLEN_QC_CRITERIA_NAME = "Allen Ephys QC Criteria v1.1"


@dataclass(frozen=True)
class QCCriteria:
    """Limits of sweep and cell QC.  Units are in each field name (mV, pA, GΩ, MΩ, s).

    The defaults are the Allen Institute's "Ephys QC Criteria v1.1" (the values ipfx ships in
    ``ipfx/defaults/qc_criteria.json``).  A measurement beyond a limit fails; a measurement that
    cannot be made on a sweep or is missing from a file is reported as "not measured" and does not
    fail unless ``not_measured_fails`` is true.

    Attributes
    ----------
    pre_noise_rms_mv_max
        Largest RMS (about the mean) of v in the first ``noise_window_s`` of the pre-stimulus
        stability window, mV.
    post_noise_rms_mv_max
        Largest RMS of v in the last ``noise_window_s`` of the recording, mV (not on ramps).
    slow_noise_rms_mv_max
        Largest RMS of v over the ``stability_window_s`` before the stimulus, mV.
    vm_delta_mv_max
        Largest |mean v before the stimulus − mean v over the last ``stability_window_s``|, mV
        (not on ramps).
    leak_pa_min, leak_pa_max
        Accepted range of the bias (holding) current, pA.
    blowout_mv_min, blowout_mv_max
        Accepted range of the blowout voltage, mV.
    electrode_0_pa_min, electrode_0_pa_max
        Accepted range of the electrode offset current ("electrode 0"), pA.
    seal_gohm_min
        Smallest seal resistance, GΩ.
    access_resistance_mohm_min, access_resistance_mohm_max
        Accepted range of the initial access (series) resistance, MΩ.
    input_vs_access_resistance_max
        Largest ratio access resistance / input resistance.
    min_passed_sweeps
        A cell passes only if at least this many current-clamp sweeps pass.
    noise_window_s
        Length of the noise windows, s (Allen: 1.5 ms).
    stability_window_s
        Length of the stability windows before and after the stimulus, s (Allen: 0.5 s).
    require_full_windows
        If true (Allen), a sweep whose baseline before the stimulus or whose tail after it (not for
        ramps) is shorter than ``stability_window_s`` fails integrity ("experiment epoch
        incomplete").  If false, such a sweep is measured over the part of the window it has, and
        a note says so.
    not_measured_fails
        If true, every measurement that cannot be made counts as a failure (strict mode).
    excluded_stimuli
        Stimulus names (case-insensitive, exact) that are not QC'd: search and test sweeps.
    ramp_stimuli
        A sweep is a ramp when one of these strings occurs (case-insensitive) in its stimulus
        name or code; ramps skip the post-stimulus checks.
    bath_stimuli, blowout_stimuli, seal_stimuli, breakin_stimuli
        Tags (case-insensitive substrings of the stimulus code or name) of the protocol sweeps
        that cell QC measures electrode 0, blowout, seal and break-in resistances on (Allen/MIES
        codes; see :mod:`glifx.qc.cell_measure`).
    name
        A label for this set of criteria, written into qc.json.
    """

    pre_noise_rms_mv_max: float = 0.07
    post_noise_rms_mv_max: float = 0.07
    slow_noise_rms_mv_max: float = 0.5
    vm_delta_mv_max: float = 1.0
    leak_pa_min: float = -100.0
    leak_pa_max: float = 100.0
    blowout_mv_min: float = -10.0
    blowout_mv_max: float = 10.0
    electrode_0_pa_min: float = -200.0
    electrode_0_pa_max: float = 200.0
    seal_gohm_min: float = 1.0
    access_resistance_mohm_min: float = 1.0
    access_resistance_mohm_max: float = 20.0
    input_vs_access_resistance_max: float = 0.15
    min_passed_sweeps: int = 1
    noise_window_s: float = 0.0015
    stability_window_s: float = 0.5
    require_full_windows: bool = True
    not_measured_fails: bool = False
    excluded_stimuli: tuple[str, ...] = ("Test", "Search")
    ramp_stimuli: tuple[str, ...] = (RAMP,)
    bath_stimuli: tuple[str, ...] = ("EXTPINBATH",)
    blowout_stimuli: tuple[str, ...] = ("EXTPBLWOUT",)
    seal_stimuli: tuple[str, ...] = ("EXTPCllATT",)
    breakin_stimuli: tuple[str, ...] = ("EXTPBREAKN",)
    name: str = ALLEN_QC_CRITERIA_NAME

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            value = getattr(self, f.name)
            object.__setattr__(self, f.name, _coerce(f.name, value, hints[f.name]))
        for lo, hi in (
            ("leak_pa_min", "leak_pa_max"),
            ("blowout_mv_min", "blowout_mv_max"),
            ("electrode_0_pa_min", "electrode_0_pa_max"),
            ("access_resistance_mohm_min", "access_resistance_mohm_max"),
        ):
            if getattr(self, lo) > getattr(self, hi):
                raise ConfigError(
                    f"QC criteria: {lo} ({getattr(self, lo)}) is greater than {hi} ({getattr(self, hi)})"
                )
        for name in ("noise_window_s", "stability_window_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"QC criteria: {name} must be > 0 s, got {getattr(self, name)}")
        if self.noise_window_s > self.stability_window_s:
            raise ConfigError(
                f"QC criteria: noise_window_s ({self.noise_window_s} s) is longer than "
                f"stability_window_s ({self.stability_window_s} s)"
            )
        if self.min_passed_sweeps < 0:
            raise ConfigError(
                f"QC criteria: min_passed_sweeps must be >= 0, got {self.min_passed_sweeps}"
            )

    # ---------------------------------------------------------------- construction
    @classmethod
    def field_names(cls) -> list[str]:
        """Names of all criteria, in declaration order."""
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, base: QCCriteria | None = None) -> QCCriteria:
        """Criteria from a mapping of field names to values, starting from ``base`` (or defaults).

        Raises
        ------
        ConfigError
            On an unknown key (with the list of known ones) or a value of the wrong type.
        """
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"QC criteria must be a mapping of names to values, got {type(values).__name__}"
            )
        known = set(cls.field_names())
        unknown = sorted(str(k) for k in values if k not in known)
        if unknown:
            raise ConfigError(
                f"unknown QC criteria key(s): {', '.join(unknown)}; "
                f"known keys: {', '.join(cls.field_names())}"
            )
        return dataclasses.replace(base or cls(), **dict(values))

    @classmethod
    def from_file(cls, path: str | PathLike[str], *, base: QCCriteria | None = None) -> QCCriteria:
        """Criteria from a JSON file (or YAML, ``.yaml``/``.yml``, when PyYAML is importable).

        The file holds one object whose keys are field names of :class:`QCCriteria`; fields it
        does not name keep their values from ``base`` (default: the Allen v1.1 defaults).

        Raises
        ------
        ConfigError
            When the file cannot be read or parsed, or holds an unknown key or a wrong type.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: cannot read QC criteria file: {exc}") from None
        if p.suffix.lower() in (".yaml", ".yml"):
            try:
                import yaml  # type: ignore[import-untyped]
            except ImportError:
                raise ConfigError(
                    f"{p}: YAML criteria need PyYAML, which is not installed; use JSON"
                ) from None
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ConfigError(f"{p}: not valid YAML: {exc}") from None
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{p}: not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"{p}: QC criteria file must hold one object (name: value), got {type(data).__name__}"
            )
        try:
            return cls.from_dict(data, base=base)
        except ConfigError as exc:
            raise ConfigError(f"{p}: {exc}") from None

    @classmethod
    def describe(cls) -> dict[str, str]:
        """One-line description of every criterion, from the class docstring."""
        doc = (cls.__doc__ or "").expandtabs()
        lines = doc.split("Attributes")[-1].splitlines()
        out: dict[str, str] = {}
        current: list[str] = []
        for line in lines:
            stripped = line.strip()
            if set(stripped) <= {"-"}:
                continue
            indent = len(line) - len(line.lstrip())
            if indent == 4:
                current = [n.strip() for n in stripped.split(",")]
                for n in current:
                    out[n] = ""
            elif indent > 4 and current:
                for n in current:
                    out[n] = f"{out[n]} {stripped}".strip()
        return {f.name: out.get(f.name, f.name) for f in fields(cls)}

    def to_dict(self) -> dict[str, Any]:
        """All criteria as a JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def to_file(self, path: str | PathLike[str]) -> None:
        """Write the criteria as JSON (atomically)."""
        from glifx._files import write_text_atomic

        write_text_atomic(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    # ---------------------------------------------------------------- helpers
    def is_excluded(self, stimulus_name: str | None) -> bool:
        """Whether a sweep with this stimulus name is left out of QC (test/search sweeps)."""
        if stimulus_name is None:
            return False
        return stimulus_name.strip().casefold() in {s.strip().casefold() for s in self.excluded_stimuli}

    def is_ramp(self, stimulus_name: str | None, stimulus_code: str | None = None) -> bool:
        """Whether a sweep with this stimulus name or code is a ramp."""
        texts = [s.casefold() for s in (stimulus_name, stimulus_code) if s]
        return any(r.casefold() in t for r in self.ramp_stimuli for t in texts)


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against the field's type and normalise it (int → float, list → tuple)."""
    where = f"QC criteria: {name}"
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        value = float(value)
        if math.isnan(value):
            raise ConfigError(f"{where} must be a number, got NaN")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    if typing.get_origin(hint) is tuple or isinstance(hint, types.GenericAlias):
        if isinstance(value, str) or not isinstance(value, list | tuple) or not all(
            isinstance(v, str) for v in value
        ):
            raise ConfigError(f"{where} must be a list of strings, got {value!r}")
        return tuple(value)
    return value  # pragma: no cover - every field has one of the types above
