"""Regression comparison of ``glifx fit`` result folders against reference (expected) ones.

A pipeline team freezes the result folder of a reference cell once a person has checked it, reruns
glifx (or their pipeline) whenever something changes, and compares: :func:`compare_results` lists
every compared quantity with whether it moved beyond its tolerance; ``glifx compare`` prints the
ones that did and exits 0/1, :func:`glifx.testing.assert_results_match` raises an
``AssertionError`` listing them.  This module reads back what :mod:`glifx.report.outputs` writes;
its public names are also :mod:`glifx.testing`'s (``glifx.testing.compare``), the face tests use.

What is compared, per cell (``where`` is ``cell``, ``sweep <n>`` or ``GLIF<n>``):

==============  ==============================================================  ===========
class           quantities                                                      default
==============  ==============================================================  ===========
``verdict``     per-sweep QC ``qc.passed``, ``qc.status``, ``qc.reasons``           exact
                (``qc.csv``); the cell's ``qc.cell_passed``/``qc.cell_reasons``
                (``qc.json``); which sweeps had which role (``sweeps.train``, ...);
                which levels were fitted (``GLIF<n>.status``: fitted/failed/absent);
                which files exist (``files.<name>``)
``count``       per-sweep ``spike_count`` (``spikes.csv``, else
                ``sweep_features.csv``); the length of a list that changed length  exact
``text``        any other non-numeric value (stimulus names, model method names,     exact
                a level's ``optimiser`` and ``reason``, notes)
``feature``     numbers of ``sweep_features.csv`` (``features.<column>`` per sweep)  rel 0.1 %
                and ``cell_features.json`` (``features.<section>.<key>``)
``parameter``   fitted parameters: ``GLIF<n>.<name>`` (``fit_summary.json``,         rel 0.1 %
                effective values) and ``GLIF<n>.config.<key>`` (every number of
                the neuron config); the cell's ``el_reference``
``ev``          ``GLIF<n>.train_ev``, ``GLIF<n>.test_ev`` (explained-variance        abs 0.001
                ratios)
==============  ==============================================================  ===========

A change is within tolerance when ``|actual - expected| <= max(abs, rel * |expected|)``; a value
missing on one side (or NaN against a number) never is.  Not compared: time stamps, wall times,
the glifx version, the recording's path, the preprocessing intermediates and ``report.html``.
A cohort folder (cell folders side by side, each with its ``fit_summary.json``) is compared cell by
cell; a cell present on one side only is a difference.

Tolerances are overridden by a mapping (or a JSON / YAML file holding one) from name patterns to
tolerances, e.g. ``{"GLIF*.th_inf": {"rel": 0.05}, "*.test_ev": {"abs": 0.02},
"features.*.notes": "ignore", "feature": {"rel": 0.01}}``: a key that is a class name changes that
class's default; any other key is an :mod:`fnmatch` pattern matched against the quantity
(``th_inf``), ``<where>.<quantity>`` (``GLIF3.th_inf``, ``sweep 12.qc.passed``) and
``<cell>/<where>.<quantity>`` (``rs_cell/GLIF3.th_inf``); the first matching pattern wins.  A value
is ``{"rel": r}``, ``{"abs": a}``, both, ``"exact"`` or ``"ignore"`` (not compared).
"""

from __future__ import annotations

import fnmatch
import html
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from glifx.errors import ConfigError, FileFormatError

#: The file whose presence makes a folder a cell result folder.
SUMMARY_FILE = "fit_summary.json"
#: The other files compared (each optional: its absence on both sides is not a difference).
COMPARED_FILES = ("qc.csv", "qc.json", "sweep_features.csv", "spikes.csv", "cell_features.json")
#: Classes of quantities, each with its default tolerance.
CLASSES = ("verdict", "count", "text", "feature", "parameter", "ev")
#: Columns of :func:`compare_results`' table.
COLUMNS = ("cell", "where", "quantity", "kind", "expected", "actual", "difference",
           "relative_difference", "tolerance", "equal", "within_tolerance")
#: Keys of ``cell_features.json`` that describe the run, not the cell.
_CELL_FEATURE_SKIP = ("cell_id", "source")
_MISSING = object()


@dataclass(frozen=True)
class Tolerance:
    """How far a compared number may move: ``|actual - expected| <= max(abs, rel * |expected|)``.

    ``Tolerance()`` is exact; ``ignore=True`` leaves the quantity out of the comparison.  Text and
    verdicts are always compared exactly (unless ignored).
    """

    rel: float = 0.0
    abs: float = 0.0
    ignore: bool = False

    def __post_init__(self) -> None:
        for name in ("rel", "abs"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
                raise ConfigError(f"tolerance {name} must be a number >= 0, got {value!r}")

    def allows(self, expected: float, actual: float) -> bool:
        """Whether ``actual`` is within this tolerance of ``expected`` (finite numbers)."""
        return abs(actual - expected) <= max(self.abs, self.rel * abs(expected))

    def __str__(self) -> str:
        if self.ignore:
            return "ignored"
        parts = []
        if self.rel:
            parts.append(f"rel {_format_percent(self.rel)}")
        if self.abs:
            parts.append(f"abs {self.abs:g}")
        return " or ".join(parts) or "exact"


#: Default tolerance of each class (see the module docstring).
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "verdict": Tolerance(),
    "count": Tolerance(),
    "text": Tolerance(),
    "feature": Tolerance(rel=1e-3),
    "parameter": Tolerance(rel=1e-3),
    "ev": Tolerance(abs=1e-3),
}


def _format_percent(x: float) -> str:
    return f"{x * 100:g} %"


def _parse_tolerance(key: str, value: Any, source: str) -> Tolerance:
    if isinstance(value, Tolerance):
        return value
    if value == "exact":
        return Tolerance()
    if value == "ignore":
        return Tolerance(ignore=True)
    if isinstance(value, Mapping) and value and set(value) <= {"rel", "abs"}:
        try:
            return Tolerance(rel=value.get("rel", 0.0), abs=value.get("abs", 0.0))
        except ConfigError as exc:
            raise ConfigError(f"{source}: {key!r}: {exc}") from None
    raise ConfigError(f"{source}: {key!r}: expected {{rel: r}}, {{abs: a}}, both, \"exact\" or "
                      f"\"ignore\", got {value!r}")


@dataclass(frozen=True)
class Tolerances:
    """Class defaults plus name patterns (first match wins); see the module docstring."""

    classes: Mapping[str, Tolerance] = field(default_factory=lambda: dict(DEFAULT_TOLERANCES))
    patterns: tuple[tuple[str, Tolerance], ...] = ()

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], source: str = "tolerances") -> Tolerances:
        """Build from ``{class or pattern: tolerance}`` (``source`` names it in error messages)."""
        if not isinstance(mapping, Mapping):
            raise ConfigError(f"{source}: expected a mapping of name patterns to tolerances, "
                              f"got {type(mapping).__name__}")
        classes = dict(DEFAULT_TOLERANCES)
        patterns = []
        for key, value in mapping.items():
            if not isinstance(key, str) or not key:
                raise ConfigError(f"{source}: a tolerance key must be a non-empty string, got {key!r}")
            tol = _parse_tolerance(key, value, source)
            if key in classes:
                classes[key] = tol
            else:
                patterns.append((key, tol))
        return cls(classes, tuple(patterns))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Tolerances:
        """Read a JSON or YAML (``.yaml`` / ``.yml``) tolerances file.

        Raises
        ------
        FileFormatError
            When the file is missing or does not parse.
        ConfigError
            When an entry is not a tolerance.
        """
        data = read_json_or_yaml(path, "tolerances file")
        return cls.from_mapping(data if data is not None else {}, source=str(path))

    def resolve(self, cell: str, where: str, quantity: str, kind: str) -> Tolerance:
        """The tolerance of one quantity: the first matching pattern, else its class default."""
        names = (quantity, f"{where}.{quantity}", f"{cell}/{where}.{quantity}")
        for pattern, tol in self.patterns:
            if any(fnmatch.fnmatchcase(name, pattern) for name in names):
                return tol
        return self.classes[kind]


def as_tolerances(tolerances: Tolerances | Mapping[str, Any] | str | os.PathLike[str] | None
                  ) -> Tolerances:
    """``None`` (defaults), a mapping, a :class:`Tolerances` or a JSON/YAML file path."""
    if tolerances is None:
        return Tolerances()
    if isinstance(tolerances, Tolerances):
        return tolerances
    if isinstance(tolerances, Mapping):
        return Tolerances.from_mapping(tolerances)
    return Tolerances.load(tolerances)


# ------------------------------------------------------------------------------ result folders
@dataclass
class CellOutputs:
    """The comparable content of one cell's result folder (``glifx fit`` writes it).

    Attributes
    ----------
    cell_id
        From ``fit_summary.json`` (else the folder name).
    summary
        ``fit_summary.json`` as loaded.
    configs
        Level -> neuron config (``GLIF<n>_neuron_config.json``).
    tables
        ``qc.csv``, ``sweep_features.csv``, ``spikes.csv`` as DataFrames, by file name (absent
        files are missing).
    documents
        ``qc.json``, ``cell_features.json`` as loaded, by file name.
    path
        The folder, or ``None`` when built in memory (:meth:`from_models`).
    """

    cell_id: str
    summary: dict[str, Any]
    configs: dict[int, dict[str, Any]] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    documents: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def files(self) -> set[str]:
        """Names of the compared files this result has."""
        return ({SUMMARY_FILE} | set(self.tables) | set(self.documents)
                | {_config_name(level) for level in self.configs})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CellOutputs:
        """Read a cell result folder.

        Raises
        ------
        FileFormatError
            When ``fit_summary.json`` is missing or any compared file does not parse.
        """
        folder = Path(path)
        summary = _read_json(folder / SUMMARY_FILE)
        if not isinstance(summary, dict) or not isinstance(summary.get("levels"), dict):
            raise FileFormatError(folder / SUMMARY_FILE, "not a glifx fit summary (no 'levels')")
        out = cls(str(summary.get("cell_id") or folder.name), summary, path=folder)
        for name in COMPARED_FILES:
            file = folder / name
            if not file.is_file():
                continue
            if name.endswith(".csv"):
                out.tables[name] = _read_csv(file)
            else:
                out.documents[name] = _read_json(file)
        for file in sorted(folder.glob("GLIF*_neuron_config.json")):
            level = file.name[4:-len("_neuron_config.json")]
            if level.isdigit():
                config = _read_json(file)
                if not isinstance(config, dict):
                    raise FileFormatError(file, "not a neuron config (expected a JSON object)")
                out.configs[int(level)] = config
        return out

    @classmethod
    def from_models(cls, models: Mapping[int, Any] | Iterable[Any], cell_id: str = "model"
                    ) -> CellOutputs:
        """The parameters part of a result, built from GLIF models (no QC, features or EV): for
        comparing fitted models with the ones that generated a ground-truth cell.

        Parameters
        ----------
        models
            :class:`glifx.glif.GlifModel` objects (level -> model, or an iterable keyed by each
            model's ``level``).
        cell_id
            Name of the cell in the comparison.
        """
        from glifx._files import jsonable
        from glifx.report.data import parameters_from_allen_config

        items = models.items() if isinstance(models, Mapping) else ((m.level, m) for m in models)
        configs: dict[int, dict[str, Any]] = {}
        levels: dict[str, Any] = {}
        for level, model in items:
            config = json.loads(json.dumps(jsonable(model.to_allen_config())))
            configs[int(level)] = config
            params = parameters_from_allen_config(config)
            levels[f"GLIF{int(level)}"] = {
                "level": int(level), "status": "fitted", "reason": None,
                "parameters": {k: {"value": v, "unit": u} for k, (v, u) in params.items()}}
        summary = json.loads(json.dumps(jsonable({"cell_id": cell_id, "levels": levels})))
        return cls(cell_id, summary, configs)


def _config_name(level: int) -> str:
    return f"GLIF{level}_neuron_config.json"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileFormatError(path, "no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(path, f"not readable JSON ({exc})") from None


def read_json_or_yaml(path: str | os.PathLike[str], what: str = "file") -> Any:
    """The content of a JSON file, or of a YAML one (``.yaml`` / ``.yml``).

    Raises
    ------
    FileFormatError
        When the file is missing, unreadable or does not parse (one line naming it).
    """
    p = Path(path)
    if p.suffix.lower() not in (".yaml", ".yml"):
        if not p.is_file():
            raise FileFormatError(p, f"no such {what}" if not p.exists() else "not a file")
        return _read_json(p)
    import yaml

    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileFormatError(p, f"no such {what}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split())
        raise FileFormatError(p, f"not readable YAML ({reason})") from None


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise FileFormatError(path, f"not a readable CSV table ({exc})") from None
    if len(table) and ("sweep_number" not in table.columns
                       or not pd.api.types.is_integer_dtype(table["sweep_number"])):
        raise FileFormatError(path, "expected a sweep_number column of whole numbers")
    return table


def is_result_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is one cell's result folder (it holds ``fit_summary.json``)."""
    return (Path(path) / SUMMARY_FILE).is_file()


def cell_folders(path: str | os.PathLike[str]) -> dict[str, Path]:
    """The cell result folders of a result: ``{name: folder}``.

    A cell folder gives itself (named after its ``fit_summary.json`` cell id, as ``glifx fit``
    names the folder); a cohort folder gives its subfolders holding a ``fit_summary.json``
    (hidden ones, e.g. unfinished writes, aside), named by folder name.

    Raises
    ------
    FileFormatError
        When ``path`` is neither (the one line ``glifx compare`` prints before exiting 2).
    """
    folder = Path(path)
    if not folder.exists():
        raise FileFormatError(folder, "no such folder")
    if not folder.is_dir():
        raise FileFormatError(folder, "not a folder (expected a glifx result folder)")
    if is_result_folder(folder):
        from glifx.report.outputs import safe_cell_dirname

        cell_id = _read_json(folder / SUMMARY_FILE)
        name = cell_id.get("cell_id") if isinstance(cell_id, dict) else None
        try:
            return {safe_cell_dirname(name) if name else folder.name: folder}
        except ConfigError:
            return {folder.name: folder}
    cells = {p.name: p for p in sorted(folder.iterdir())
             if p.is_dir() and not p.name.startswith(".") and is_result_folder(p)}
    if not cells:
        raise FileFormatError(folder, f"not a glifx result: no {SUMMARY_FILE} in it or in any "
                                      "subfolder")
    return cells


# ---------------------------------------------------------------------------------- comparison
class _Rows:
    """Collects the compared quantities of one cell."""

    def __init__(self, cell: str, tolerances: Tolerances) -> None:
        self.cell, self.tolerances, self.rows = cell, tolerances, []

    def add(self, where: str, quantity: str, kind: str, expected: Any, actual: Any) -> None:
        expected, actual = _normalise(expected), _normalise(actual)
        if kind in ("feature", "parameter", "ev") and (isinstance(expected, str | bool)
                                                       or isinstance(actual, str | bool)):
            kind = "text"
        tol = self.tolerances.resolve(self.cell, where, quantity, kind)
        if tol.ignore:
            return
        difference = relative = math.nan
        if _is_number(expected) and _is_number(actual):
            equal = expected == actual or (math.isnan(expected) and math.isnan(actual))
            difference = actual - expected
            if expected != 0 and math.isfinite(difference):
                relative = difference / abs(expected)
            within = equal or (math.isfinite(difference) and tol.allows(expected, actual))
        else:
            equal = within = _same(expected, actual)
        self.rows.append((self.cell, where, quantity, kind, expected, actual, difference, relative,
                          str(tol), bool(equal), bool(within)))

    def sweeps(self, prefix: str, expected: pd.DataFrame, actual: pd.DataFrame
               ) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
        """The rows of two per-sweep tables paired by sweep number, as ``(where, expected row,
        actual row)``; a sweep in one table only is one ``<prefix>.sweep`` difference."""
        e, a = _by_sweep(expected), _by_sweep(actual)
        for sweep in sorted(set(e) | set(a)):
            where = f"sweep {sweep}"
            if sweep in e and sweep in a:
                yield where, e[sweep], a[sweep]
            else:
                self.add(where, f"{prefix}.sweep", "verdict", _presence(sweep in e),
                         _presence(sweep in a))

    def walk(self, where: str, path: str, kind: str, expected: Any, actual: Any) -> None:
        """Compare two JSON-like values leaf by leaf (lists of unequal length by their length)."""
        if isinstance(expected, dict) and isinstance(actual, dict):
            for key in [*expected, *(k for k in actual if k not in expected)]:
                self.walk(where, f"{path}.{key}", kind, expected.get(key, _MISSING),
                          actual.get(key, _MISSING))
        elif isinstance(expected, list) and isinstance(actual, list):
            if len(expected) != len(actual):
                self.add(where, f"{path}.length", "count", len(expected), len(actual))
            else:
                for k, (e, a) in enumerate(zip(expected, actual, strict=True)):
                    self.walk(where, f"{path}[{k}]", kind, e, a)
        else:
            self.add(where, path, kind, expected, actual)


def _presence(have: bool) -> str:
    return "present" if have else "absent"


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _normalise(x: Any) -> Any:
    """One spelling per value: missing, numpy scalars, containers as compact JSON text."""
    if x is _MISSING:
        return "(absent)"
    if x is None:
        return None
    if hasattr(x, "item") and not isinstance(x, list | dict | str):  # numpy scalar
        x = x.item()
    if isinstance(x, float) and math.isnan(x):
        return math.nan
    if isinstance(x, dict | list | tuple):
        return json.dumps(x, sort_keys=True, separators=(", ", ": "), default=str)
    return x


def _same(expected: Any, actual: Any) -> bool:
    def missing(x: Any) -> bool:
        return x is None or (isinstance(x, float) and math.isnan(x))

    if missing(expected) or missing(actual):
        return missing(expected) and missing(actual)
    return type(expected) is type(actual) and expected == actual


def _compare_cell(cell: str, expected: CellOutputs, actual: CellOutputs,
                  tolerances: Tolerances) -> list[tuple[Any, ...]]:
    rows = _Rows(cell, tolerances)
    for name in sorted(expected.files | actual.files):
        rows.add("cell", f"files.{name}", "verdict", _presence(name in expected.files),
                 _presence(name in actual.files))
    _compare_qc(rows, expected, actual)
    _compare_spike_counts(rows, expected, actual)
    _compare_sweep_features(rows, expected, actual)
    if "cell_features.json" in expected.documents and "cell_features.json" in actual.documents:
        e, a = (x.documents["cell_features.json"] for x in (expected, actual))
        if isinstance(e, dict) and isinstance(a, dict):
            e = {k: v for k, v in e.items() if k not in _CELL_FEATURE_SKIP}
            a = {k: v for k, v in a.items() if k not in _CELL_FEATURE_SKIP}
        rows.walk("cell", "features", "feature", e, a)
    _compare_fit(rows, expected, actual)
    return rows.rows


def _by_sweep(table: pd.DataFrame) -> dict[int, dict[str, Any]]:
    if table.empty:
        return {}
    return {int(r["sweep_number"]): r for r in table.to_dict("records")}


def _compare_qc(rows: _Rows, expected: CellOutputs, actual: CellOutputs) -> None:
    e_doc, a_doc = expected.documents.get("qc.json"), actual.documents.get("qc.json")
    e_cell = (e_doc or {}).get("cell") if isinstance(e_doc, dict) else None
    a_cell = (a_doc or {}).get("cell") if isinstance(a_doc, dict) else None
    if e_cell is None and a_cell is None:  # no qc.json: the summary's copy of the verdict
        e_cell = _summary_qc(expected.summary)
        a_cell = _summary_qc(actual.summary)
    if e_cell is not None or a_cell is not None:
        e_cell, a_cell = e_cell or {}, a_cell or {}
        rows.add("cell", "qc.cell_passed", "verdict", e_cell.get("passed", _MISSING),
                 a_cell.get("passed", _MISSING))
        rows.add("cell", "qc.cell_reasons", "verdict", e_cell.get("reasons", _MISSING),
                 a_cell.get("reasons", _MISSING))
    if "qc.csv" not in expected.tables or "qc.csv" not in actual.tables:
        return
    for where, e, a in rows.sweeps("qc", expected.tables["qc.csv"], actual.tables["qc.csv"]):
        for column in ("passed", "status", "reasons"):
            rows.add(where, f"qc.{column}", "verdict", _qc_value(e.get(column, _MISSING)),
                     _qc_value(a.get(column, _MISSING)))


def _summary_qc(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    qc = summary.get("qc")
    if not isinstance(qc, dict):
        return None
    return {"passed": qc.get("cell_passed"), "reasons": qc.get("cell_reasons")}


def _qc_value(x: Any) -> Any:
    """qc.csv spells no reasons as an empty cell (NaN once read) and booleans as True/False."""
    if isinstance(x, float) and math.isnan(x):
        return ""
    if isinstance(x, str) and x in ("True", "False"):
        return x == "True"
    return x


def _spike_counts(result: CellOutputs) -> dict[int, int] | None:
    spikes = result.tables.get("spikes.csv")
    sweeps = result.tables.get("sweep_features.csv")
    if spikes is None and sweeps is None:
        return None
    counts: dict[int, int] = {}
    if sweeps is not None and not sweeps.empty:
        has_count = "spike_count" in sweeps.columns
        for r in sweeps.to_dict("records"):
            counts[int(r["sweep_number"])] = int(r["spike_count"]) if (
                spikes is None and has_count and not pd.isna(r["spike_count"])) else 0
    if spikes is not None and not spikes.empty:
        for sweep, n in spikes.groupby("sweep_number").size().items():
            counts[int(sweep)] = int(n)
    return counts


def _compare_spike_counts(rows: _Rows, expected: CellOutputs, actual: CellOutputs) -> None:
    e, a = _spike_counts(expected), _spike_counts(actual)
    if e is None or a is None:
        return
    for sweep in sorted(set(e) | set(a)):
        rows.add(f"sweep {sweep}", "spike_count", "count", e.get(sweep, _MISSING),
                 a.get(sweep, _MISSING))


def _compare_sweep_features(rows: _Rows, expected: CellOutputs, actual: CellOutputs) -> None:
    name = "sweep_features.csv"
    if name not in expected.tables or name not in actual.tables:
        return
    e_table, a_table = expected.tables[name], actual.tables[name]
    columns = [c for c in [*e_table.columns, *(c for c in a_table.columns if c not in e_table.columns)]
               if c not in ("sweep_number", "spike_count")]
    for where, e, a in rows.sweeps("features", e_table, a_table):
        for column in columns:
            rows.add(where, f"features.{column}", "feature", e.get(column, _MISSING),
                     a.get(column, _MISSING))


def _level_status(result: CellOutputs, name: str) -> str:
    entry = result.summary["levels"].get(name)
    if not isinstance(entry, dict):
        return "absent"
    return str(entry.get("status", "fitted"))


def _compare_fit(rows: _Rows, expected: CellOutputs, actual: CellOutputs) -> None:
    e_sum, a_sum = expected.summary, actual.summary
    for key in ("method", "el_reference"):
        if key in e_sum or key in a_sum:
            rows.add("cell", key, "parameter" if key == "el_reference" else "text",
                     e_sum.get(key, _MISSING), a_sum.get(key, _MISSING))
    e_roles, a_roles = e_sum.get("sweeps"), a_sum.get("sweeps")
    if isinstance(e_roles, dict) or isinstance(a_roles, dict):
        e_roles, a_roles = e_roles or {}, a_roles or {}
        for role in [*e_roles, *(r for r in a_roles if r not in e_roles)]:
            rows.add("cell", f"sweeps.{role}", "verdict", e_roles.get(role, _MISSING),
                     a_roles.get(role, _MISSING))

    names = sorted(set(e_sum["levels"]) | set(a_sum["levels"]) |
                   {f"GLIF{lv}" for lv in (*expected.configs, *actual.configs)}, key=_level_key)
    for name in names:
        e_status, a_status = _level_status(expected, name), _level_status(actual, name)
        rows.add(name, "status", "verdict", e_status, a_status)
        if e_status == "absent" or a_status == "absent":
            continue
        e, a = e_sum["levels"][name], a_sum["levels"][name]
        rows.add(name, "reason", "text", e.get("reason"), a.get("reason"))
        if e_status != "fitted" or a_status != "fitted":
            continue
        for key in ("train_ev", "test_ev"):
            if key in e or key in a:
                rows.add(name, key, "ev", e.get(key, _MISSING), a.get(key, _MISSING))
        if e.get("optimization") or a.get("optimization"):
            rows.add(name, "optimiser", "text", (e.get("optimization") or {}).get("method"),
                     (a.get("optimization") or {}).get("method"))
        e_par, a_par = e.get("parameters") or {}, a.get("parameters") or {}
        for par in [*e_par, *(p for p in a_par if p not in e_par)]:
            rows.add(name, par, "parameter", _param_value(e_par.get(par, _MISSING)),
                     _param_value(a_par.get(par, _MISSING)))
        level = _level_key(name)
        if level in expected.configs and level in actual.configs:
            rows.walk(name, "config", "parameter", expected.configs[level], actual.configs[level])


def _param_value(entry: Any) -> Any:
    return entry.get("value") if isinstance(entry, dict) else entry


def _level_key(name: str) -> int:
    digits = name.removeprefix("GLIF")
    return int(digits) if digits.isdigit() else 0


def _results(x: str | os.PathLike[str] | CellOutputs | Mapping[str, CellOutputs]
             ) -> tuple[dict[str, CellOutputs | Path], bool]:
    """The cells of one side, and whether it is a single cell (not a cohort)."""
    if isinstance(x, CellOutputs):
        return {x.cell_id: x}, True
    if isinstance(x, Mapping):
        return dict(x), False
    return dict(cell_folders(x)), is_result_folder(x)


def compare_results(
    expected: str | os.PathLike[str] | CellOutputs | Mapping[str, CellOutputs],
    actual: str | os.PathLike[str] | CellOutputs | Mapping[str, CellOutputs],
    tolerances: Tolerances | Mapping[str, Any] | str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Compare a result with the expected one, quantity by quantity.

    Parameters
    ----------
    expected, actual
        A ``glifx fit`` cell result folder, a cohort folder holding many, a :class:`CellOutputs`
        or a mapping name -> :class:`CellOutputs`.  Two single cells are paired whatever their
        names; otherwise cells are paired by name (the folder name in a cohort).
    tolerances
        Overrides of :data:`DEFAULT_TOLERANCES`: a mapping or a JSON/YAML file (see the module
        docstring), or a :class:`Tolerances`.

    Returns
    -------
    pandas.DataFrame
        One row per compared quantity, columns :data:`COLUMNS`: ``cell``, ``where`` (``cell``,
        ``sweep <n>`` or ``GLIF<n>``), ``quantity``, ``kind`` (class, :data:`CLASSES`),
        ``expected``, ``actual`` (as read, units of the file: SI in configs and fit summary,
        ipfx units in features; ``"(absent)"`` when missing on that side), ``difference``
        (actual - expected, NaN unless both are numbers), ``relative_difference`` (difference /
        |expected|), ``tolerance`` (as text), ``equal`` and ``within_tolerance``.  A cell present
        on one side only is one row, quantity ``cell``, ``"present"`` against ``"absent"``.

    Raises
    ------
    FileFormatError
        When a path is not a glifx result (neither a cell nor a cohort folder) or a file in it
        does not parse.
    ConfigError
        When a tolerance is not valid.

    Examples
    --------
    >>> table = compare_results("reference/rs_cell", "results/rs_cell")        # doctest: +SKIP
    >>> table.loc[~table.within_tolerance, ["where", "quantity", "expected", "actual"]]  # doctest: +SKIP
    """
    tol = as_tolerances(tolerances)
    (e_cells, e_single), (a_cells, a_single) = _results(expected), _results(actual)
    if e_single and a_single:
        (name, e_one), (_, a_one) = next(iter(e_cells.items())), next(iter(a_cells.items()))
        pairs = [(name, e_one, a_one)]
    else:
        names = [*e_cells, *(n for n in a_cells if n not in e_cells)]
        pairs = [(n, e_cells.get(n), a_cells.get(n)) for n in names]
    rows: list[tuple[Any, ...]] = []
    for name, e, a in pairs:
        if e is None or a is None:
            cell_rows = _Rows(name, tol)
            cell_rows.add("cell", "cell", "verdict", _presence(e is not None),
                          _presence(a is not None))
            rows += cell_rows.rows
            continue
        e_out = e if isinstance(e, CellOutputs) else CellOutputs.load(e)
        a_out = a if isinstance(a, CellOutputs) else CellOutputs.load(a)
        rows += _compare_cell(name, e_out, a_out, tol)
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    for col in ("expected", "actual"):
        table[col] = table[col].astype(object)
    return table


# ------------------------------------------------------------------------------------ reporting
def _format_value(x: Any) -> str:
    if x is None:
        return "null"
    if isinstance(x, float):
        return "NaN" if math.isnan(x) else f"{x:.7g}"
    text = str(x)
    return text if len(text) <= 60 else text[:57] + "..."


def _format_change(row: Mapping[str, Any]) -> str:
    diff, rel = row["difference"], row["relative_difference"]
    if not isinstance(diff, float) or math.isnan(diff):
        return ""
    change = f"{diff:+.3g}"
    if isinstance(rel, float) and not math.isnan(rel):
        change += f" ({rel * 100:+.3g} %)"
    return change


def difference_lines(table: pd.DataFrame) -> list[str]:
    """One aligned line per quantity beyond tolerance: cell, where, quantity, ``expected``,
    ``actual``, the change (absolute, relative) and the tolerance."""
    beyond = table.loc[~table["within_tolerance"]]
    cells = [[str(r["cell"]), str(r["where"]), str(r["quantity"]),
              f"expected {_format_value(r['expected'])}", f"actual {_format_value(r['actual'])}",
              _format_change(r), f"tolerance {r['tolerance']}"]
             for r in beyond.to_dict("records")]
    if not cells:
        return []
    widths = [max(len(row[k]) for row in cells) for k in range(len(cells[0]) - 1)]
    return ["  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)),
                       row[-1]]).rstrip() for row in cells]


def summary_line(table: pd.DataFrame) -> str:
    """One line: how many quantities of how many cells were compared, how many moved."""
    n_cells = table["cell"].nunique()
    n_beyond = int((~table["within_tolerance"]).sum())
    n_within = int((table["within_tolerance"] & ~table["equal"]).sum())
    head = f"compared {len(table)} quantities of {n_cells} cell{'s' if n_cells != 1 else ''}"
    moved = f"{n_within} changed within tolerance"
    if n_beyond:
        bad_cells = table.loc[~table["within_tolerance"], "cell"].nunique()
        return (f"{head}: {n_beyond} beyond tolerance (in {bad_cells} "
                f"cell{'s' if bad_cells != 1 else ''}), {moved}")
    return f"{head}: all within tolerance ({moved})"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:90%}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.beyond td{background:#fde2e2} tr.within td{background:#fff6d6}
.ok{color:#17692b} .bad{color:#a61b1b}
"""


def _html_rows(table: pd.DataFrame, css_class: str) -> str:
    rows = []
    for r in table.to_dict("records"):
        cells = [r["cell"], r["where"], r["quantity"], r["kind"], _format_value(r["expected"]),
                 _format_value(r["actual"]), _format_change(r), r["tolerance"]]
        rows.append(f'<tr class="{css_class}">' + "".join(
            f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("cell", "where", "quantity", "class", "expected",
                                             "actual", "change", "tolerance"))
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def html_report(table: pd.DataFrame, expected: str = "", actual: str = "") -> str:
    """A self-contained HTML page of a comparison: summary, the quantities beyond tolerance,
    those changed within it, and per cell and class how many were compared."""
    beyond = table.loc[~table["within_tolerance"]]
    within = table.loc[table["within_tolerance"] & ~table["equal"]]
    status = ('<p class="bad"><b>beyond tolerance</b></p>' if len(beyond)
              else '<p class="ok"><b>all within tolerance</b></p>')
    counts = (table.assign(beyond=~table["within_tolerance"],
                           changed=table["within_tolerance"] & ~table["equal"])
              .groupby(["cell", "kind"], sort=True)
              .agg(compared=("quantity", "size"), changed_within=("changed", "sum"),
                   beyond=("beyond", "sum")).reset_index())
    count_rows = "".join(
        "<tr>" + "".join(f'<td{" class=num" if isinstance(v, int | float) else ""}>'
                         f"{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in counts.itertuples(index=False))
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>glifx compare</title>",
        f"<style>{_CSS}</style></head><body><h1>glifx compare</h1>",
        f"<p>expected: <code>{html.escape(str(expected))}</code><br>"
        f"actual: <code>{html.escape(str(actual))}</code></p>",
        status, f"<p>{html.escape(summary_line(table))}</p>",
        f"<h2>Beyond tolerance ({len(beyond)})</h2>",
        _html_rows(beyond, "beyond") if len(beyond) else "<p>none</p>",
        f"<h2>Changed within tolerance ({len(within)})</h2>",
        _html_rows(within, "within") if len(within) else "<p>none</p>",
        "<h2>Compared quantities per cell and class</h2>",
        "<table><tr><th>cell</th><th>class</th><th>compared</th><th>changed within tolerance</th>"
        f"<th>beyond tolerance</th></tr>{count_rows}</table>",
        "</body></html>\n",
    ]
    return "\n".join(parts)


def write_html_report(path: str | os.PathLike[str], table: pd.DataFrame, expected: str = "",
                      actual: str = "") -> Path:
    """Write :func:`html_report` to ``path`` atomically; returns the path."""
    from glifx._files import write_text_atomic

    write_text_atomic(path, html_report(table, expected, actual))
    return Path(path)


__all__ = [
    "CLASSES",
    "COLUMNS",
    "DEFAULT_TOLERANCES",
    "CellOutputs",
    "Tolerance",
    "Tolerances",
    "cell_folders",
    "compare_results",
    "difference_lines",
    "html_report",
    "is_result_folder",
    "read_json_or_yaml",
    "summary_line",
    "write_html_report",
]
