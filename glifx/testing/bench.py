"""Validation bench: ground-truth cells from Allen GLIF configs (and conductance-based cells),
fitted, compared with their truth, summarised against the fitting issue's acceptance criteria.

One command::

    python -m glifx.testing.bench --configs ../shared/data/allen_glif --out bench/ \\
        --half check --noise 0.1,0.3 --rate 200000 --workers 2

Cells
-----
A **GLIF cell** is one config folder (``<specimen>_<cre>/`` holding
``*_GLIF{1..5}_neuron_config.json``) with one level as the truth (:func:`truth_level`: levels
cycle 1→5 over the folders of a half, so every level is a truth), recorded by
:func:`glifx.testing.validation.ground_truth_cell` through the Allen protocol set
(:func:`glifx.protocols.protocol_set`, scaled to the truth's noise-free rheobase and 3 ms
threshold) under the :class:`Conditions`: intrinsic Ornstein–Uhlenbeck current noise of std
``noise × rheobase`` and time constant ``tau_ms`` (in every sweep, at rest too), white and 1/f
recording noise, a slow linear baseline drift, the sampling rate; the simulator's spike cuts are
filled with a drawn spike waveform (:class:`glifx.synth.GlifNeuron`).  A **conductance cell** is
a Pospischil RS or FS neuron (:mod:`glifx.synth`) under the same conditions (no parameter truth:
only its explained variance, collapse and hierarchy count).

Development and check halves
----------------------------
Fixed before any result was looked at (:func:`split_configs`): the config folders that hold all
five levels, from every ``--configs`` directory, sorted by specimen id (the number before the
first ``_``; ties by name); even positions (0, 2, ...) are the **development** half, odd
positions the **check** half.  Tune on ``--half dev``, report ``--half check``.

Outputs (``--out``)
-------------------
``cells.csv``
    One row per cell (:data:`CELL_COLUMNS`): the conditions, the fit's status, parameter errors
    of the fitted model at the truth's level (relative, or in mV / ms where stated), train and
    test explained-variance ratio per level, the truth model's own test EV, each level's test EV
    relative to it, ``collapse`` and ``hierarchy_ok``, and the 95 % intervals of the fitted
    parameters against the truth (``ci_pairs``, ``ci_covered``, ``ci_missed``; ``ci_detail``: each
    pair's value, standard error, interval and truth as JSON, :func:`interval_pairs`).
``summary.json``, ``summary.md``
    Per noise level (:func:`summarize`): cells, failures, the fraction meeting each acceptance
    criterion, medians of the errors.

The fit is :func:`glifx.fitting.fit_cell` on every sweep (no QC: the bench measures the fitter;
the noisy cells fail Allen's baseline-noise QC as noisy real cells do).  Cells run in parallel
on a dask ``LocalCluster`` (``--workers``), one process per worker.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from glifx.errors import ConfigError, GlifxError

LEVELS = (1, 2, 3, 4, 5)
#: Conductance-based neurons of the bench (:mod:`glifx.synth` factories).
CONDUCTANCE_CELLS = ("pospischil_rs", "pospischil_fs")
#: Acceptance thresholds of the fitting issue.
R_C_TOLERANCE = 0.05
TH_INF_TOLERANCE_MV = 1.0
TEST_EV_FRACTION = 0.95
COLLAPSE_FRACTION = 0.8
HIERARCHY_SLACK = 0.02
REQUIRED_SHARE = 0.9

_CONFIG = re.compile(r"_GLIF([1-5])_neuron_config\.json$")


# --------------------------------------------------------------------------- cells
@dataclass(frozen=True)
class Conditions:
    """Recording conditions of a bench cell.

    Attributes
    ----------
    noise
        Intrinsic OU current noise std as a fraction of the noise-free long-square rheobase
        (0–0.3 in the issue).
    tau_ms
        Its correlation time, ms (2–10).
    rate_hz
        Sampling rate, Hz (50, 100 or 200 kHz).
    white_noise_mv, pink_noise_mv
        Recording noise: white and 1/f (0.1 Hz – Nyquist) voltage noise std, mV.
    drift_mv_per_s
        Slow linear baseline drift of the recorded voltage, mV/s.
    noise_repeats
        Repeats of Noise 1 and of Noise 2.
    """

    noise: float = 0.1
    tau_ms: float = 5.0
    rate_hz: float = 50e3
    white_noise_mv: float = 0.1
    pink_noise_mv: float = 0.1
    drift_mv_per_s: float = 0.0
    noise_repeats: int = 3


@dataclass(frozen=True)
class BenchCell:
    """One ground-truth cell: a config folder and truth level (or a conductance neuron), the
    conditions and a seed."""

    name: str
    kind: str  # "glif" or "conductance"
    source: str  # config folder, or conductance factory name
    truth_level: int | None
    conditions: Conditions
    seed: int

    @property
    def cell_id(self) -> str:
        c = self.conditions
        what = f"GLIF{self.truth_level}" if self.kind == "glif" else "cb"
        return (f"{self.name}_{what}_n{c.noise:g}_t{c.tau_ms:g}_r{c.rate_hz / 1e3:g}k"
                f"_s{self.seed}")


def config_folders(dirs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Folders under ``dirs`` (each a folder of config folders, or a parent of such, e.g.
    ``allen_glif/`` with ``configs/`` and ``more_configs/``) that hold all five levels."""
    found = []
    for d in dirs:
        root = Path(d)
        if not root.is_dir():
            raise ConfigError(f"bench: configs directory {root} does not exist")
        for cfg in root.rglob("*_GLIF5_neuron_config.json"):
            folder = cfg.parent
            levels = {int(m[1]) for p in folder.iterdir() if (m := _CONFIG.search(p.name))}
            if levels >= set(LEVELS):
                found.append(folder)
    return sorted(set(found), key=_specimen_key)


def _specimen_key(folder: Path) -> tuple[int, str]:
    head = folder.name.split("_")[0]
    return (int(head) if head.isdigit() else sys.maxsize, folder.name)


def split_configs(folders: Sequence[Path]) -> dict[str, list[Path]]:
    """The fixed development / check split: sorted by specimen id, even positions are ``"dev"``,
    odd positions ``"check"``."""
    ordered = sorted(folders, key=_specimen_key)
    return {"dev": ordered[0::2], "check": ordered[1::2]}


def truth_level(position: int) -> int:
    """Truth level of the config at ``position`` within its half: 1, 2, 3, 4, 5, 1, ..."""
    return LEVELS[position % len(LEVELS)]


def load_config(folder: str | os.PathLike[str], level: int) -> dict[str, Any]:
    """The ``GLIF{level}`` neuron config of a config folder."""
    paths = sorted(Path(folder).glob(f"*_GLIF{level}_neuron_config.json"))
    if not paths:
        raise ConfigError(f"bench: no GLIF{level} config in {folder}")
    return json.loads(paths[0].read_text())


def bench_cells(
    folders: Sequence[Path],
    conditions: Sequence[Conditions],
    *,
    truth_levels: Sequence[int] | None = None,
    conductance_seeds: Sequence[int] = (),
    seed: int = 0,
) -> list[BenchCell]:
    """The conductance cells, then every (config, condition) cell.

    Parameters
    ----------
    folders
        Config folders, in the order of their half (:func:`split_configs`).
    conditions
        Recording conditions; each config is recorded under each.
    truth_levels
        Levels to use as truth for every config; default ``None``: one per config,
        :func:`truth_level` of its position.
    conductance_seeds
        One RS and one FS conductance cell per seed and condition.
    seed
        Added to each cell's seed (its position in the list).
    """
    cells: list[BenchCell] = []
    # conductance cells first: a run stopped early still has them
    for s in conductance_seeds:
        for name in CONDUCTANCE_CELLS:
            for cond in conditions:
                cells.append(BenchCell(f"{name.replace('pospischil_', '')}{s}", "conductance",
                                       name, None, cond, seed + len(cells)))
    for k, folder in enumerate(folders):
        levels = truth_levels or (truth_level(k),)
        for level in levels:
            for cond in conditions:
                cells.append(BenchCell(folder.name.split("_")[0], "glif", str(folder), level,
                                       cond, seed + len(cells)))
    return cells


def record(cell: BenchCell) -> tuple[Any, Any]:
    """The recorded :class:`glifx.Cell` of a bench cell and its truth model (``None`` for a
    conductance cell)."""
    from glifx import synth
    from glifx.testing.validation import ground_truth_cell

    c = cell.conditions
    rec = synth.RecordingModel(white_noise_mv=c.white_noise_mv, pink_noise_mv=c.pink_noise_mv,
                               drift_mv_per_s=c.drift_mv_per_s)
    if cell.kind == "glif":
        return ground_truth_cell(load_config(cell.source, cell.truth_level),
                                 sampling_rate=c.rate_hz, noise_repeats=c.noise_repeats,
                                 noise_sigma_rheobase=c.noise, noise_tau_ms=c.tau_ms,
                                 recording=rec, seed=cell.seed, cell_id=cell.cell_id)
    neuron = getattr(synth, cell.source)()
    rheo = synth.rheobase(neuron, duration=1.0, sampling_rate=c.rate_hz)
    neuron = neuron.with_noise(c.noise * rheo, c.tau_ms, 0.0)
    recorded, _ = synth.synthetic_experiment(neuron, c.rate_hz, recording=rec, seed=cell.seed,
                                             cell_id=cell.cell_id, noise_repeats=c.noise_repeats)
    return recorded, None


# --------------------------------------------------------------------------- comparison
def effective(model: Any) -> dict[str, float]:
    """The parameters a GLIF model simulates with (coefficients applied), SI: ``R`` Ω, ``C`` F,
    ``El`` V (absolute rest), ``th_inf`` V, ``cut`` s, reset ``a`` and ``b`` (V), ASC ``amp1``,
    ``amp2`` (A) and ``tau1``, ``tau2`` (s, sorted by time constant), ``a_spike`` V, ``b_spike``,
    ``a_voltage``, ``b_voltage`` 1/s (NaN where the level has none)."""
    nan = float("nan")
    out = {"R": model.R_input / model.coeff_G, "C": model.C * model.coeff_C,
           "El": float(model.El_reference), "th_inf": model.th_inf * model.coeff_th_inf,
           "cut": float(model.spike_cut_s) if model.spike_cut_s is not None else nan,
           "a": nan, "b": nan, "amp1": nan, "amp2": nan, "tau1": nan, "tau2": nan,
           "a_spike": nan, "b_spike": nan, "a_voltage": nan, "b_voltage": nan}
    if model.a is not None:
        out["a"], out["b"] = model.a * model.coeff_a, model.b * model.coeff_b
    if model.level in (3, 4, 5) and model.asc_tau_array is not None:
        pairs = sorted(zip(model.asc_tau_array,
                           np.multiply(model.asc_amp_array, model.coeff_asc_amp), strict=True))
        (out["tau1"], out["amp1"]), (out["tau2"], out["amp2"]) = pairs
    for name in ("a_spike", "b_spike", "a_voltage", "b_voltage"):
        if getattr(model, name) is not None and model.level in (2, 4, 5):
            out[name] = float(getattr(model, name))
    return out


def _rel(x: float, truth: float) -> float:
    return x / truth - 1.0 if truth else float("nan")


def parameter_errors(fitted: Any, truth: Any) -> dict[str, float]:
    """Errors of a fitted model against its truth (same level): ``*_rel_error`` relative
    (dimensionless), ``El_error_mV``, ``th_inf_error_mV``, ``reset_b_error_mV``,
    ``a_spike_error_mV`` in mV, ``cut_error_ms`` in ms, ``reset_a_error`` absolute."""
    f, t = effective(fitted), effective(truth)
    return {
        "R_rel_error": _rel(f["R"], t["R"]), "C_rel_error": _rel(f["C"], t["C"]),
        "El_error_mV": (f["El"] - t["El"]) * 1e3, "th_inf_error_mV": (f["th_inf"] - t["th_inf"]) * 1e3,
        "cut_error_ms": (f["cut"] - t["cut"]) * 1e3, "reset_a_error": f["a"] - t["a"],
        "reset_b_error_mV": (f["b"] - t["b"]) * 1e3,
        "asc_amp1_rel_error": _rel(f["amp1"], t["amp1"]),
        "asc_amp2_rel_error": _rel(f["amp2"], t["amp2"]),
        "asc_tau1_rel_error": _rel(f["tau1"], t["tau1"]),
        "asc_tau2_rel_error": _rel(f["tau2"], t["tau2"]),
        "a_spike_error_mV": (f["a_spike"] - t["a_spike"]) * 1e3,
        "b_spike_rel_error": _rel(f["b_spike"], t["b_spike"]),
        "a_voltage_rel_error": _rel(f["a_voltage"], t["a_voltage"]),
        "b_voltage_rel_error": _rel(f["b_voltage"], t["b_voltage"]),
    }


#: Error columns of ``cells.csv`` (:func:`parameter_errors`).
ERROR_COLUMNS = (
    "R_rel_error", "C_rel_error", "El_error_mV", "th_inf_error_mV", "cut_error_ms",
    "reset_a_error", "reset_b_error_mV", "asc_amp1_rel_error", "asc_amp2_rel_error",
    "asc_tau1_rel_error", "asc_tau2_rel_error", "a_spike_error_mV", "b_spike_rel_error",
    "a_voltage_rel_error", "b_voltage_rel_error")

#: Columns of ``cells.csv``.
CELL_COLUMNS = (
    "cell_id", "kind", "source", "truth_level", "noise", "noise_sigma_pa", "tau_ms", "rate_hz",
    "white_noise_mv", "pink_noise_mv", "drift_mv_per_s", "seed", "status", "error",
    "wall_time_s", *ERROR_COLUMNS, "truth_test_ev",
    *(f"train_ev_GLIF{lv}" for lv in LEVELS), *(f"test_ev_GLIF{lv}" for lv in LEVELS),
    *(f"test_ev_ratio_GLIF{lv}" for lv in LEVELS), *(f"reason_GLIF{lv}" for lv in LEVELS),
    *(f"flags_GLIF{lv}" for lv in LEVELS), "collapse", "hierarchy_ok",
    "ci_pairs", "ci_covered", "ci_missed", "ci_detail",
    *(f"kept_from_GLIF{lv}" for lv in LEVELS), *(f"own_test_ev_GLIF{lv}" for lv in LEVELS),
)


def own_optima(table: Any) -> Any:
    """``cells.csv`` as the levels' own optima would have given it, before a level kept the
    model of a simpler level it contains (:attr:`glifx.fitting.LevelFit.kept_from`): the test
    EVs, their ratios to the truth's, ``collapse`` and ``hierarchy_ok`` (the parameter errors
    and intervals are not recomputed: the own optimum's model is not kept).

    Parameters
    ----------
    table
        A ``cells.csv`` DataFrame (:data:`CELL_COLUMNS`).
    """
    out = table.copy()
    for lv in LEVELS:
        kept = out[f"kept_from_GLIF{lv}"].notna()
        out.loc[kept, f"test_ev_GLIF{lv}"] = out.loc[kept, f"own_test_ev_GLIF{lv}"]
        out[f"test_ev_ratio_GLIF{lv}"] = out[f"test_ev_GLIF{lv}"] / out["truth_test_ev"].where(
            out["truth_test_ev"] > 0)
    for k, row in out.iterrows():
        if row["status"] == "ok":
            test_ev = {lv: float(row[f"test_ev_GLIF{lv}"]) for lv in LEVELS}
            out.loc[k, "collapse"] = collapsed(test_ev)
            out.loc[k, "hierarchy_ok"] = hierarchy_ok(test_ev)
    return out


def _truth_values(fitted: Any, truth: Any) -> dict[str, float]:
    """Truth value of each parameter name :attr:`glifx.fitting.LevelFit.uncertainty` uses
    (after-spike currents matched by the rank of their time constants)."""
    t = effective(truth)
    out = {"R_input": t["R"], "C": t["C"], "th_inf": t["th_inf"], "a": t["a"], "b": t["b"],
           "a_spike": t["a_spike"], "b_spike": t["b_spike"], "a_voltage": t["a_voltage"],
           "b_voltage": t["b_voltage"]}
    if fitted.asc_tau_array is not None and math.isfinite(t["tau1"]):
        ranks = np.argsort(np.argsort(fitted.asc_tau_array))
        for j, rank in enumerate(ranks):
            out[f"asc_amp_array[{j}]"] = t["amp1"] if rank == 0 else t["amp2"]
    return out


def interval_pairs(level_fit: Any, truth: Any) -> dict[str, dict[str, Any]]:
    """The level's parameters whose 95 % interval can be checked against the truth: name ->
    ``{"truth", "covered", **Uncertainty.as_dict()}`` (SI), the ``ci_detail`` column of
    ``cells.csv`` (as JSON) from which the intervals' calibration is measured."""
    truths = _truth_values(level_fit.model, truth)
    out = {}
    for name, u in level_fit.uncertainty.items():
        lo, hi = u.interval
        value = truths.get(name, float("nan"))
        if math.isfinite(lo) and math.isfinite(value):
            out[name] = {"truth": value, "covered": bool(lo <= value <= hi), **u.as_dict()}
    return out


def _needed_model_error(pair: Mapping[str, Any], kind: str) -> float:
    """The smallest model error of ``kind`` (:data:`glifx.fitting.uncertainty.MODEL_ERROR`)
    whose interval around ``pair["value"]`` contains ``pair["truth"]``: the interval of
    :class:`~glifx.fitting.uncertainty.Uncertainty` solved for its model error."""
    from scipy import stats

    from glifx.fitting.uncertainty import LEVEL, Uncertainty

    u = Uncertainty(float(pair["value"]), float(pair["stderr"]), float(pair["dof"]), "",
                    pair.get("log_stderr"))
    truth = float(pair["truth"])
    t = float(stats.t.ppf(0.5 + LEVEL / 2, u.dof))
    if u.log_stderr is not None:  # the interval is on log(value)
        if u.value <= 0 or truth <= 0:
            return math.inf
        miss, spread = abs(math.log(truth / u.value)), t * float(u.log_stderr)
    else:  # the shift is part of the half-width, whatever the model error
        miss = max(abs(truth - u.value) - float(pair.get("shift") or 0.0), 0.0)
        spread = t * u.stderr
    unit = u.with_model_error(kind, 1.0).model_error  # the error a size of 1 gives
    needed = math.sqrt(max(miss * miss - spread * spread, 0.0)) / float(stats.norm.ppf(0.5 + LEVEL / 2))
    return needed / unit if unit else (0.0 if needed == 0.0 else math.inf)


def interval_calibration(table: Any, coverage: float = 0.95) -> Any:
    """Per parameter class of :data:`glifx.fitting.uncertainty.MODEL_ERROR`, from the
    ``ci_detail`` column of a ``cells.csv`` table: ``pairs``, ``covered`` (share of the
    recorded intervals that contain the truth), ``statistical`` (share covered by the
    statistical spread alone), ``kind``, ``needed`` (the smallest model error of that kind that
    covers ``coverage`` of the pairs: the calibration), ``current`` (the size in use) and
    ``with_current`` (share covered with it); one row per class, plus ``all``."""
    import pandas as pd

    from glifx.fitting.uncertainty import MODEL_ERROR, model_error_class

    if "ci_detail" not in table.columns:
        raise ConfigError("bench: the table has no ci_detail column (written before the "
                          "intervals' calibration could be measured): rerun its cells")
    per: dict[str, list[float]] = {}
    recorded: dict[str, list[bool]] = {}
    for text in table.loc[table["status"] == "ok", "ci_detail"].dropna():
        for name, pair in json.loads(text).items():
            key = model_error_class(name)
            kind = MODEL_ERROR.get(key, ("absolute", 0.0))[0]
            per.setdefault(key, []).append(_needed_model_error(pair, kind))
            recorded.setdefault(key, []).append(bool(pair["covered"]))
    if not per:
        raise ConfigError("bench: no interval could be checked against a truth in the table")
    rows = []
    for key, needed in per.items():
        kind, size = MODEL_ERROR.get(key, ("absolute", 0.0))
        x = np.sort(np.asarray(needed))
        rows.append({"parameter": key, "pairs": x.size, "covered": float(np.mean(recorded[key])),
                     "statistical": float(np.mean(x == 0.0)), "kind": kind,
                     "needed": float(x[max(math.ceil(coverage * x.size) - 1, 0)]),
                     "current": size, "with_current": float(np.mean(x <= size * (1 + 1e-9)))})
    out = pd.DataFrame(rows).set_index("parameter")
    n = out["pairs"].sum()
    out.loc["all"] = {"pairs": n, "kind": "",
                      **{c: float((out[c] * out["pairs"]).sum() / n) if n else math.nan
                         for c in ("covered", "statistical", "with_current")}}
    return out


def collapsed(test_ev: Mapping[int, float]) -> bool:
    """Whether any level's test EV is below :data:`COLLAPSE_FRACTION` × the best of the simpler
    fitted levels of the cell (a level that fitted Noise 1 but fails on unseen data)."""
    for level, ev in test_ev.items():
        simpler = [v for lv, v in test_ev.items() if lv < level and math.isfinite(v)]
        if simpler and math.isfinite(ev) and ev < COLLAPSE_FRACTION * max(simpler):
            return True
    return False


def hierarchy_ok(test_ev: Mapping[int, float]) -> bool:
    """GLIF(n+1) test EV ≥ GLIF(n)'s − :data:`HIERARCHY_SLACK` for n = 3, 4 (where both fit)."""
    return all(not (math.isfinite(test_ev.get(n, math.nan))
                    and math.isfinite(test_ev.get(n + 1, math.nan)))
               or test_ev[n + 1] >= test_ev[n] - HIERARCHY_SLACK for n in (3, 4))


def run_cell(cell: BenchCell, method: str = "select",
             fit_kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Record, fit and compare one bench cell: a row of ``cells.csv`` (:data:`CELL_COLUMNS`).

    A failure to record or fit (a :class:`glifx.GlifxError`) is kept in ``status`` /
    ``error``; any other exception is a bug and propagates.
    """
    from glifx.fitting import fit_cell
    from glifx.fitting.scoring import SpikeTrainData

    c = cell.conditions
    row: dict[str, Any] = dict.fromkeys(CELL_COLUMNS, float("nan"))
    row.update(cell_id=cell.cell_id, kind=cell.kind, source=Path(cell.source).name,
               truth_level=cell.truth_level, seed=cell.seed, status="ok", error="",
               **{k: v for k, v in asdict(c).items() if k in CELL_COLUMNS})
    t0 = time.perf_counter()
    try:
        recorded, truth = record(cell)
        row["noise_sigma_pa"] = recorded.metadata.get("noise_sigma_pa", float("nan"))
        fit = fit_cell(recorded, levels=LEVELS, method=method, **dict(fit_kwargs or {}))
    except GlifxError as exc:
        row.update(status="failed", error=str(exc), wall_time_s=time.perf_counter() - t0)
        return row
    row["wall_time_s"] = time.perf_counter() - t0
    test_ev = {lf.level: lf.test_ev for lf in fit}
    for lf in fit:
        row[f"train_ev_GLIF{lf.level}"], row[f"test_ev_GLIF{lf.level}"] = lf.train_ev, lf.test_ev
        row[f"reason_GLIF{lf.level}"] = lf.reason or ""
        row[f"flags_GLIF{lf.level}"] = "; ".join(f.parameter for f in lf.flags)
        if lf.kept_from is not None:
            row[f"kept_from_GLIF{lf.level}"] = lf.kept_from
            row[f"own_test_ev_GLIF{lf.level}"] = lf.own_test_ev
    if truth is not None and fit.data is not None and fit.data.test:
        truth_ev = float(SpikeTrainData.from_sweeps(fit.data.test).score(truth).ratio)
        row["truth_test_ev"] = truth_ev
        for lv, ev in test_ev.items():
            row[f"test_ev_ratio_GLIF{lv}"] = ev / truth_ev if truth_ev > 0 else float("nan")
    if truth is not None and fit[cell.truth_level].ok:
        row.update(parameter_errors(fit[cell.truth_level].model, truth))
        pairs = interval_pairs(fit[cell.truth_level], truth)
        row.update(ci_pairs=len(pairs), ci_covered=sum(p["covered"] for p in pairs.values()),
                   ci_missed="; ".join(k for k, p in pairs.items() if not p["covered"]),
                   ci_detail=json.dumps(pairs))
    elif truth is not None:
        row.update(status="failed", error=f"GLIF{cell.truth_level}: {fit[cell.truth_level].reason}")
    row["collapse"] = collapsed(test_ev)
    row["hierarchy_ok"] = hierarchy_ok(test_ev)
    return row


def membrane_errors(cell: BenchCell) -> dict[str, Any]:
    """R and C relative errors of each :data:`glifx.fitting.preprocess.MEMBRANE_METHODS` on one
    GLIF bench cell (preprocessing only, no optimisation): a row of ``membrane.csv``.

    ``R_rel_error_<method>`` is the membrane estimate's; ``R_model_rel_error_<method>`` the R
    the truth's level starts from (and keeps: the optimiser does not scale R), which for
    GLIF3–5 is the after-spike-current fit's (as ``cells.csv`` measures it)."""
    from glifx.fitting.data import prepare
    from glifx.fitting.preprocess import MEMBRANE_METHODS, preprocess

    recorded, truth = record(cell)
    data = prepare(recorded, long_square=False)
    t = effective(truth)
    row: dict[str, Any] = {"cell_id": cell.cell_id, "truth_level": cell.truth_level,
                           "noise": cell.conditions.noise}
    level = 3 if cell.truth_level in (3, 4, 5) else 1  # the R and C of the truth's level
    for method in MEMBRANE_METHODS:
        pre = preprocess(data, (level,), membrane=method)
        mem = pre.membrane
        ok = hasattr(mem, "R")
        r_model = pre.asc.R if level == 3 and pre.has("asc") else mem.R if ok else float("nan")
        row[f"R_rel_error_{method}"] = mem.R / t["R"] - 1.0 if ok else float("nan")
        row[f"C_rel_error_{method}"] = mem.C / t["C"] - 1.0 if ok else float("nan")
        row[f"R_model_rel_error_{method}"] = r_model / t["R"] - 1.0
        row[f"source_{method}"] = mem.source if ok else str(mem)
    return row


# --------------------------------------------------------------------------- summary
def _median(values: Any) -> float | None:
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else None


def _share(mask: Any) -> float:
    mask = np.asarray(mask, dtype=bool)
    return float(mask.mean()) if mask.size else float("nan")


def summarize(table: Any) -> dict[str, Any]:
    """Per noise level: the issue's acceptance figures on a ``cells.csv`` table.

    Returns
    -------
    dict
        ``"noise <x>"`` -> ``cells``, ``glif_cells``, ``failed``, ``R_C_within_5pct``
        (share of GLIF cells with |R| and |C| error ≤ 5 %), ``glif5_truths``,
        ``glif5_th_inf_within_1mV``, ``glif5_test_ev_within_95pct`` (share of GLIF cells whose
        fitted GLIF5 test EV ≥ 0.95 × the truth model's), ``collapse_free`` (share of all cells
        with no collapsed level), ``hierarchy_3_4_5`` (share with GLIF(n+1) ≥ GLIF(n) − 0.02),
        ``median_abs`` (median absolute value of each error column), ``interval_coverage``
        (share of (cell, parameter) pairs whose 95 % interval contains the truth, over
        ``interval_pairs`` pairs), ``accepted`` (every share
        ≥ 0.9 and collapse-free on every cell); plus ``"all"`` over every cell.
    """
    out: dict[str, Any] = {}
    groups = [(f"noise {x:g}", table[table["noise"] == x]) for x in sorted(table["noise"].unique())]
    for label, t in [*groups, ("all", table)]:
        ok = t[t["status"] == "ok"]
        glif = t[t["kind"] == "glif"]
        glif_ok = ok[ok["kind"] == "glif"]
        rc = (glif_ok["R_rel_error"].abs() <= R_C_TOLERANCE) & (
            glif_ok["C_rel_error"].abs() <= R_C_TOLERANCE)
        g5 = glif_ok[glif_ok["truth_level"] == 5]
        entry = {
            "cells": int(len(t)), "glif_cells": int(len(glif)),
            "failed": int((t["status"] != "ok").sum()),
            "R_C_within_5pct": _share(rc) * len(glif_ok) / max(len(glif), 1),
            "glif5_truths": int((glif["truth_level"] == 5).sum()),
            "glif5_th_inf_within_1mV": _share(g5["th_inf_error_mV"].abs() <= TH_INF_TOLERANCE_MV),
            "glif5_test_ev_within_95pct": _share(glif_ok["test_ev_ratio_GLIF5"] >= TEST_EV_FRACTION),
            "collapse_free": _share(~ok["collapse"].astype(bool)),
            "hierarchy_3_4_5": _share(ok["hierarchy_ok"].astype(bool)),
            "median_abs": {c: _median(np.abs(glif_ok[c].astype(float))) for c in ERROR_COLUMNS},
            "median_test_ev_ratio": {f"GLIF{lv}": _median(glif_ok[f"test_ev_ratio_GLIF{lv}"])
                                     for lv in LEVELS},
        }
        pairs = float(np.nansum(ok["ci_pairs"].astype(float)))
        entry["interval_coverage"] = (float(np.nansum(ok["ci_covered"].astype(float))) / pairs
                                      if pairs else float("nan"))
        entry["interval_pairs"] = int(pairs)
        shares = [entry[k] for k in ("R_C_within_5pct", "glif5_th_inf_within_1mV",
                                     "glif5_test_ev_within_95pct", "hierarchy_3_4_5")]
        entry["accepted"] = bool(all(math.isfinite(s) and s >= REQUIRED_SHARE for s in shares)
                                 and entry["collapse_free"] == 1.0 and entry["failed"] == 0)
        out[label] = entry
    return out


def summary_markdown(summary: Mapping[str, Any], command: str) -> str:
    """The summary as a Markdown table (one column per noise group) with the command that made
    it."""
    keys = ("cells", "glif_cells", "failed", "R_C_within_5pct", "glif5_truths",
            "glif5_th_inf_within_1mV", "glif5_test_ev_within_95pct", "collapse_free",
            "hierarchy_3_4_5", "interval_coverage", "interval_pairs", "accepted")
    groups = list(summary)
    lines = [f"`{command}`", "", "| | " + " | ".join(groups) + " |",
             "|---" * (len(groups) + 1) + "|"]
    for k in keys:
        vals = [summary[g][k] for g in groups]
        cells = [f"{v:.2f}" if isinstance(v, float) else str(v) for v in vals]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    for k in ("R_rel_error", "C_rel_error", "th_inf_error_mV", "El_error_mV", "cut_error_ms"):
        vals = [summary[g]["median_abs"][k] for g in groups]
        lines.append(f"| median abs {k} | " + " | ".join(
            "-" if v is None else f"{v:.3g}" for v in vals) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- running
def run_bench(cells: Sequence[BenchCell], out: str | os.PathLike[str], *, workers: int = 1,
              method: str = "select", fit_kwargs: Mapping[str, Any] | None = None,
              progress: Any = None) -> tuple[Any, dict[str, Any]]:
    """Run ``cells`` (in parallel on a dask ``LocalCluster`` when ``workers`` > 1) and write
    ``cells.csv``, ``summary.json`` and ``summary.md`` into ``out`` (each atomically).
    ``fit_kwargs`` go to :func:`glifx.fitting.fit_cell` (e.g. ``membrane``, ``half_refits``).

    Returns
    -------
    (pandas.DataFrame, dict)
        The cell table and :func:`summarize` of it.
    """
    import pandas as pd

    from glifx._files import write_json_atomic, write_text_atomic

    say = progress or (lambda _m: None)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []

    def done(row: dict[str, Any]) -> None:
        rows.append(row)
        say(f"[{len(rows)}/{len(cells)}] {row['cell_id']}: {row['status']} "
            f"({row['wall_time_s']:.0f} s) {row['error']}")
        _write_table(rows, out_dir / "cells.csv")

    if workers <= 1:
        for cell in cells:
            done(run_cell(cell, method, fit_kwargs))
    else:
        from dask.distributed import Client, LocalCluster, as_completed

        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            futures = [client.submit(run_cell, cell, method, fit_kwargs, pure=False)
                       for cell in cells]
            for fut in as_completed(futures):
                done(fut.result())
    table = pd.DataFrame(rows, columns=list(CELL_COLUMNS))
    summary = summarize(table)
    write_json_atomic(out_dir / "summary.json", summary)
    write_text_atomic(out_dir / "summary.md",
                      summary_markdown(summary, "python -m glifx.testing.bench " +
                                       " ".join(sys.argv[1:])))
    return table, summary


def _membrane_only(cells: Sequence[BenchCell], out: str) -> int:
    import pandas as pd

    from glifx._files import write_text_atomic

    Path(out).mkdir(parents=True, exist_ok=True)
    rows = []
    for cell in cells:
        rows.append(membrane_errors(cell))
        print(rows[-1], file=sys.stderr, flush=True)
        write_text_atomic(Path(out) / "membrane.csv", pd.DataFrame(rows).to_csv(index=False))
    table = pd.DataFrame(rows)
    for noise, t in table.groupby("noise"):
        parts = []
        for m in ("subthreshold", "joint"):
            r, c = t[f"R_rel_error_{m}"].abs(), t[f"C_rel_error_{m}"].abs()
            rm = t[f"R_model_rel_error_{m}"].abs()
            within = int(((r <= R_C_TOLERANCE) & (c <= R_C_TOLERANCE)).sum())
            model = int(((rm <= R_C_TOLERANCE) & (c <= R_C_TOLERANCE)).sum())
            parts.append(f"{m}: R and C within 5 % {within} (the model's R: {model}), mean abs "
                         f"R {r.mean():.3f} (model {rm.mean():.3f}), C {c.mean():.3f}")
        print(f"noise {noise:g}: {len(t)} cells; " + "; ".join(parts))
    return 0


def _markdown(frame: Any) -> str:
    """A DataFrame as a Markdown table (floats to 4 significant digits)."""
    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    head = [frame.index.name or "", *map(str, frame.columns)]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    lines += ["| " + " | ".join([str(k), *map(cell, row)]) + " |"
              for k, row in zip(frame.index, frame.itertuples(index=False), strict=True)]
    return "\n".join(lines)


def _summarize_only(table_paths: Sequence[str], out: str, own: bool = False,
                    calibration: bool = False) -> int:
    import pandas as pd

    from glifx._files import write_json_atomic, write_text_atomic

    table = pd.concat([pd.read_csv(t, keep_default_na=True) for t in table_paths],
                      ignore_index=True)
    if own:
        table = own_optima(table)
    if calibration:
        Path(out).mkdir(parents=True, exist_ok=True)
        groups = [(f"noise {x:g}", table[table["noise"] == x])
                  for x in sorted(table["noise"].unique())]
        text = "\n\n".join(f"{label}\n\n" + _markdown(interval_calibration(t))
                           for label, t in [*groups, ("all", table)])
        write_text_atomic(Path(out) / "calibration.md", text + "\n")
        print(text)
        return 0
    summary = summarize(table)
    Path(out).mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path(out) / "summary.json", summary)
    text = summary_markdown(summary, "python -m glifx.testing.bench " + " ".join(sys.argv[1:]))
    write_text_atomic(Path(out) / "summary.md", text)
    print(text)
    return 0


def _write_table(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    import pandas as pd

    from glifx._files import write_text_atomic

    write_text_atomic(path, pd.DataFrame(list(rows), columns=list(CELL_COLUMNS)).to_csv(index=False))


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"bench: expected comma-separated numbers, got {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m glifx.testing.bench``: see the module docstring."""
    p = argparse.ArgumentParser(prog="python -m glifx.testing.bench",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="+", default=None,
                   help="folders holding Allen config folders (searched recursively)")
    p.add_argument("--from-table", nargs="+", default=None, metavar="CELLS_CSV",
                   help="only summarise existing cells.csv files, together (e.g. the GLIF and "
                        "the conductance cells' runs, or a run stopped early), into --out")
    p.add_argument("--own-optima", action="store_true",
                   help="with --from-table: summarise the levels' own optima, before any level "
                        "kept a simpler level's model (test EVs, collapse, hierarchy)")
    p.add_argument("--calibration", action="store_true",
                   help="with --from-table: the intervals' model error per parameter "
                        "(calibration.md: the size that covers 95 %% of the pairs)")
    p.add_argument("--out", required=True, help="output folder (cells.csv, summary.json/.md)")
    p.add_argument("--half", choices=("dev", "check", "all"), default="dev")
    p.add_argument("--limit", type=int, default=None, help="first N configs of the half only")
    p.add_argument("--noise", default="0.1,0.3", help="OU noise std / rheobase, comma-separated")
    p.add_argument("--tau", default="5", help="OU time constant(s), ms, comma-separated")
    p.add_argument("--rate", default="50000", help="sampling rate(s), Hz, comma-separated")
    p.add_argument("--white-noise", type=float, default=0.1, help="white recording noise, mV")
    p.add_argument("--pink-noise", type=float, default=0.1, help="1/f recording noise, mV")
    p.add_argument("--drift", type=float, default=0.0, help="baseline drift, mV/s")
    p.add_argument("--truth-levels", default=None,
                   help="levels used as truth for every config (default: cycle 1-5 over configs)")
    p.add_argument("--conductance-seeds", type=int, default=2,
                   help="conductance cells: this many seeds x (RS, FS) x conditions")
    p.add_argument("--method", choices=("select", "ev", "reference"), default="select")
    p.add_argument("--membrane", choices=("subthreshold", "joint"), default="joint",
                   help="how R and C are estimated (glifx.fitting.preprocess.MEMBRANE_METHODS)")
    p.add_argument("--membrane-only", action="store_true",
                   help="no fits: R and C errors of each membrane method per GLIF cell "
                        "(membrane.csv; --truth-levels 5,1 as in the README)")
    p.add_argument("--half-refits", action="store_true",
                   help="refit every level on the Noise 1 halves (multiplier uncertainties)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.from_table is not None:
        try:
            return _summarize_only(args.from_table, args.out, own=args.own_optima,
                                   calibration=args.calibration)
        except GlifxError as exc:
            print(f"glifx bench: error: {exc}", file=sys.stderr)
            return 2
    if not args.configs:
        p.error("--configs is required (unless --from-table)")
    try:
        halves = split_configs(config_folders(args.configs))
        folders = halves["dev"] + halves["check"] if args.half == "all" else halves[args.half]
        folders = folders[: args.limit] if args.limit is not None else folders
        base = Conditions(white_noise_mv=args.white_noise, pink_noise_mv=args.pink_noise,
                          drift_mv_per_s=args.drift)
        conditions = [replace(base, noise=n, tau_ms=t, rate_hz=r) for r in _floats(args.rate)
                      for t in _floats(args.tau) for n in _floats(args.noise)]
        levels = None if args.truth_levels is None else [int(x) for x in _floats(args.truth_levels)]
        cells = bench_cells(folders, conditions, truth_levels=levels,
                            conductance_seeds=range(args.conductance_seeds), seed=args.seed)
        print(f"bench: {len(cells)} cells ({len(folders)} configs of the {args.half} half)",
              file=sys.stderr)
        if args.membrane_only:
            return _membrane_only([c for c in cells if c.kind == "glif"], args.out)
        _, summary = run_bench(cells, args.out, workers=args.workers, method=args.method,
                               fit_kwargs={"membrane": args.membrane,
                                           "half_refits": args.half_refits},
                               progress=lambda m: print(m, file=sys.stderr, flush=True))
    except GlifxError as exc:
        print(f"glifx bench: error: {exc}", file=sys.stderr)
        return 2
    print(Path(args.out, "summary.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "CELL_COLUMNS",
    "BenchCell",
    "Conditions",
    "bench_cells",
    "collapsed",
    "config_folders",
    "effective",
    "hierarchy_ok",
    "interval_calibration",
    "interval_pairs",
    "load_config",
    "own_optima",
    "parameter_errors",
    "record",
    "run_bench",
    "run_cell",
    "split_configs",
    "summarize",
    "truth_level",
]
