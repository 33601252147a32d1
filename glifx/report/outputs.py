"""Write everything ``glifx fit`` produces for one cell, atomically as a whole.

:func:`write_fit_outputs` fills ``<out_dir>/<cell_id>/`` with

=============================  ==================================================================
``qc.csv``, ``qc.json``        sweep QC table and everything QC knows (:meth:`QCResult.write`)
``spikes.csv``                 one row per spike (ipfx columns; :meth:`CellFeatures.write`)
``sweep_features.csv``         one row per analysed sweep
``cell_features.json``         the cell record (Long/Short Square, Ramp, Noise summaries)
``GLIF{n}_neuron_config.json`` each fitted level, Allen format (AllenSDK ``GlifNeuron.from_dict``,
                               ``glifx.GlifModel.from_allen_config``), SI units
``fit_summary.json``           per level: parameters, train / test EV, wall time, reason; cell id,
                               source (and the SHA-256 of its bytes), El_reference, sweeps per
                               role, method, glifx version
``report.html``                the self-contained report (:func:`glifx.report.write_report`)
``columns.json``               name, unit and meaning of every column / key of the files above
=============================  ==================================================================

Atomicity: everything is written into a fresh hidden directory inside ``out_dir`` (same file
system), which is renamed to ``<cell_id>`` only when complete (:func:`glifx._files.staged_dir`).
An existing ``<cell_id>`` directory is moved aside just before that rename and deleted after it
(restored if the rename fails).  On any error, Ctrl-C or SIGTERM the hidden directory is removed:
no half-written result is left.  What a killed run (SIGKILL) leaves is removed by
:func:`clean_stale_outputs` at the start of the next run into the same ``out_dir``;
:func:`prepare_output_dir` does that and checks the folder is writable, before any work.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glifx._files import (
    check_writable_dir,
    clean_stale_outputs,
    jsonable,
    staged_dir,
    write_columns,
    write_json_atomic,
)
from glifx.errors import ConfigError
from glifx.report.checks import MEMBRANE_AGREEMENT, membrane_cross_check
from glifx.report.data import (
    PUBLISHED_TEST_EV_MEDIANS,
    REPORT_NAME,
    CellReport,
    parameters_from_allen_config,
)

if TYPE_CHECKING:  # pragma: no cover
    from glifx.features import CellFeatures
    from glifx.fitting import FitData, FitResult
    from glifx.qc import QCResult
    from glifx.report.from_fit import RecordedViews
    from glifx.sweep import Cell

#: Name of the machine-readable summary.
SUMMARY_NAME = "fit_summary.json"
#: Keys AllenSDK's ``GlifNeuron.from_dict`` reads without a default (plus the optional
#: ``coeffs``), and the ones the published configs carry besides.
ALLEN_CONFIG_KEYS = (
    "El_reference", "C", "asc_amp_array", "init_threshold", "threshold_reset_method", "th_inf",
    "spike_cut_length", "init_AScurrents", "init_voltage", "threshold_dynamics_method",
    "voltage_reset_method", "extrapolation_method_name", "dt", "voltage_dynamics_method", "El",
    "asc_tau_array", "R_input", "AScurrent_dynamics_method", "AScurrent_reset_method",
    "dt_multiplier", "th_adapt", "coeffs", "type",
)
#: Top-level keys of ``fit_summary.json``.
SUMMARY_KEYS = (
    "cell_id", "source", "source_sha256", "glifx_version", "created", "method", "el_reference",
    "sweeps", "wall_time_s", "qc", "levels", "preprocessing", "membrane_cross_check", "units",
)
#: Keys of each entry of ``fit_summary.json["levels"]`` (keyed ``"GLIF1"`` … ``"GLIF5"``).
LEVEL_KEYS = (
    "level", "status", "reason", "train_ev", "test_ev", "train_ev_initial", "wall_time_s",
    "published_median_test_ev", "neuron_config", "spike_cut_s", "parameters", "optimization",
    "selection", "flags", "uncertainty", "protocol_check", "kept_from", "own_train_ev",
    "own_test_ev",
)


#: ``fit_summary.json`` and the neuron configs, documented as ``(key, unit, meaning)`` in
#: ``columns.json`` (keys of nested entries joined by ``.``; ``<n>`` = 1–5).
FIT_FILES: dict[str, list[tuple[str, str, str]]] = {
    SUMMARY_NAME: [
        ("cell_id", "", "the cell's id"),
        ("source", "", "the file the cell was read from"),
        ("source_sha256", "", "SHA-256 of the source file's bytes (a cohort rerun keeps a folder "
                              "only for the same bytes)"),
        ("glifx_version", "", "glifx version that wrote the file"),
        ("created", "", "UTC time of writing, ISO 8601"),
        ("method", "", "fit_cell method: select, ev or reference"),
        ("el_reference", "V", "resting potential the models are relative to"),
        ("sweeps", "", "sweep numbers per role (train, test, short_square, triple, long_square) "
                       "and excluded (number -> reason)"),
        ("wall_time_s", "s", "time spent fitting (all levels, preprocessing included)"),
        ("qc", "", "cell_passed, cell_reasons, passed_sweeps, failed_sweeps, criteria"),
        ("levels.GLIF<n>.level", "", "GLIF level"),
        ("levels.GLIF<n>.status", "", "fitted or failed"),
        ("levels.GLIF<n>.reason", "", "why the level failed, or a caveat"),
        ("levels.GLIF<n>.train_ev", "", "explained-variance ratio on the training sweeps (Noise 1)"),
        ("levels.GLIF<n>.test_ev", "", "explained-variance ratio on the test sweeps (Noise 2)"),
        ("levels.GLIF<n>.train_ev_initial", "", "training EV ratio before optimisation"),
        ("levels.GLIF<n>.kept_from", "", "the simpler level whose model this level kept (its "
                                         "own optimum explained the training data less; the "
                                         "components it adds switched off), else null"),
        ("levels.GLIF<n>.own_train_ev", "", "with kept_from: training EV of the level's own "
                                            "optimum, which gave way"),
        ("levels.GLIF<n>.own_test_ev", "", "with kept_from: test EV of the level's own optimum"),
        ("levels.GLIF<n>.wall_time_s", "s", "time spent on this level"),
        ("levels.GLIF<n>.published_median_test_ev", "", "median test EV of Teeter et al. 2018"),
        ("levels.GLIF<n>.neuron_config", "", "file name of the level's Allen neuron config"),
        ("levels.GLIF<n>.spike_cut_s", "s", "fitted spike cut"),
        ("levels.GLIF<n>.parameters.<name>.value", "", "effective parameter value (unit beside)"),
        ("levels.GLIF<n>.parameters.<name>.unit", "", "its SI unit, steps or empty"),
        ("levels.GLIF<n>.optimization", "", "method, multipliers (dimensionless) and their bounds, "
                                            "at_bounds, count_matched, objective, n_evaluations"),
        ("levels.GLIF<n>.selection", "", "choice (ev or reference), scores and fold_scores "
                                         "(held-out training EV ratios)"),
        ("levels.GLIF<n>.flags", "", "fitted parameters worth distrusting: parameter, value "
                                     "(SI), rule and message each (at a search bound, a "
                                     "forbidden sign or relation)"),
        ("levels.GLIF<n>.uncertainty", "", "per parameter: value, stderr (statistical), "
                                           "model_error (the calibrated allowance for estimation "
                                           "bias, same unit; on log(value) for log-scale rates), "
                                           "shift (for a parameter an optimised multiplier "
                                           "without half refits scaled: its move from the "
                                           "estimate, added to the half-width; else 0), "
                                           "ci95 [lo, hi], dof and source (SI; multipliers "
                                           "dimensionless)"),
        ("levels.GLIF<n>.protocol_check", "", "the model on the Long and Short Squares: fi_error "
                                              "(sum of |model - cell rate| / sum of the cell's "
                                              "rates), passes (fi_error within the guard's "
                                              "limit), max_rate_hz (Hz), short_square_agreement "
                                              "(share of pulses where both spike or neither), "
                                              "n_long_square, n_short_square"),
        ("preprocessing", "", "preprocessing estimates (SI) or why each failed"),
        ("membrane_cross_check", "", "the fit's R (MΩ) and τ (ms) against the Long Square "
                                     "responses, their relative differences and which disagree "
                                     "(null when either is missing)"),
        ("units", "", "units of the keys above, in words"),
        ("parameters: El_reference", "V", "resting potential"),
        ("parameters: R_input", "Ω", "input resistance"),
        ("parameters: C", "F", "capacitance"),
        ("parameters: tau_m", "s", "membrane time constant R_input * C"),
        ("parameters: th_inf", "V", "instantaneous threshold, relative to rest"),
        ("parameters: spike_cut_length", "steps", "samples of dt the voltage is held after a spike"),
        ("parameters: dt", "s", "time step"),
        ("parameters: a_r", "", "voltage reset slope (GLIF2, 4, 5)"),
        ("parameters: b_r", "V", "voltage reset intercept (GLIF2, 4, 5)"),
        ("parameters: a_spike", "V", "spike-induced threshold jump (GLIF2, 4, 5)"),
        ("parameters: b_spike", "1/s", "its decay rate"),
        ("parameters: a_voltage", "1/s", "voltage-dependent threshold coupling (GLIF5)"),
        ("parameters: b_voltage", "1/s", "its decay rate (GLIF5)"),
        ("parameters: asc_amp_<j>", "A", "after-spike current j amplitude (GLIF3–5)"),
        ("parameters: asc_k_<j>", "1/s", "its decay rate"),
        ("parameters: asc_r_<j>", "", "its reset factor"),
    ],
    "GLIF<n>_neuron_config.json": [
        ("(all keys)", "SI", "Allen Cell Types neuron_config (AllenSDK GlifNeuron.from_dict); "
                             "spike_cut_length in steps of dt; glifx_* keys are glifx's additions"),
    ],
    REPORT_NAME: [("(page)", "", "the self-contained HTML report")],
}


def output_columns() -> dict[str, list[tuple[str, str, str]]]:
    """``(name, unit, meaning)`` of every column or key of every file of an output folder, by
    file name (what ``columns.json`` holds after :func:`write_fit_outputs`)."""
    from glifx.features.columns import FEATURE_FILES
    from glifx.qc.columns import QC_FILES

    return {**QC_FILES, **FEATURE_FILES, **FIT_FILES}


def columns_markdown() -> str:
    """The README's output tables: one Markdown table per file."""
    parts = []
    for name, rows in output_columns().items():
        parts.append(f"**`{name}`**\n\n| column | unit | meaning |\n|---|---|---|")
        parts.extend(f"| `{c}` | {u} | {m} |" for c, u, m in rows)
        parts.append("")
    return "\n".join(parts)


def config_name(level: int) -> str:
    """File name of a level's neuron config: ``GLIF{level}_neuron_config.json``."""
    return f"GLIF{int(level)}_neuron_config.json"


def safe_cell_dirname(cell_id: str) -> str:
    """A file-system-safe directory name for a cell id (path separators and control characters
    become ``_``; ``""``, ``.`` and ``..`` are refused)."""
    name = re.sub(r"[\x00-\x1f/\\:]", "_", str(cell_id)).strip()
    if name in ("", ".", "..") or name.startswith("."):
        raise ConfigError(f"cell id {cell_id!r} cannot name an output directory")
    return name


def allen_config(model: Any) -> dict[str, Any]:
    """The model's Allen ``neuron_config`` with its spike cut checked against its ``dt``.

    ``spike_cut_length`` is in steps of the config ``dt`` (the data's sample interval, at which the
    model was fitted and scored), so ``spike_cut_length * dt`` must equal the fitted cut in seconds
    (kept as ``glifx_spike_cut_s``) to within half a step.

    Raises
    ------
    ConfigError
        When a key AllenSDK needs is missing or the cut is inconsistent.
    """
    cfg = model.to_allen_config()
    missing = [k for k in ALLEN_CONFIG_KEYS if k not in cfg]
    if missing:
        raise ConfigError(f"GLIF{model.level} neuron config lacks {', '.join(missing)}")
    cut_s = getattr(model, "spike_cut_s", None)
    if cut_s is not None and abs(cfg["spike_cut_length"] * cfg["dt"] - cut_s) > 0.5 * cfg["dt"] + 1e-15:
        raise ConfigError(f"GLIF{model.level}: spike_cut_length {cfg['spike_cut_length']} steps of "
                          f"dt {cfg['dt']} s does not match the fitted cut {cut_s} s")
    return cfg


def file_sha256(path: str | os.PathLike[str]) -> str | None:
    """SHA-256 (hex) of a file's bytes, or ``None`` when ``path`` is not a readable file."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


#: ``source_sha256`` default of :func:`fit_summary` and :func:`write_fit_outputs`: read the file.
FROM_FILE = "from file"


def fit_summary(cell: Cell, qc: QCResult | None, fit: FitResult,
                features: CellFeatures | None = None, *,
                source_sha256: str | None = FROM_FILE) -> dict[str, Any]:
    """The content of ``fit_summary.json`` (JSON-ready; NaN written as ``null``).

    ``source_sha256`` is the SHA-256 of the source file when already known (e.g. computed while
    the cell was being fitted), by default :func:`file_sha256` of ``cell.source``.

    Returns
    -------
    dict
        Keys :data:`SUMMARY_KEYS`.  ``levels`` maps ``"GLIF<n>"`` to a dict with keys
        :data:`LEVEL_KEYS`: ``status`` (``"fitted"`` / ``"failed"``), ``reason`` (or ``None``),
        ``train_ev`` / ``test_ev`` / ``train_ev_initial`` (explained-variance ratios, Noise 1 /
        Noise 2), ``wall_time_s`` (s), ``published_median_test_ev`` (Teeter et al. 2018),
        ``neuron_config`` (file name or ``None``), ``spike_cut_s`` (s) and ``parameters``
        (``{name: {"value": v, "unit": u}}``, SI, effective values with the coefficients applied),
        ``optimization`` (``None`` unless fitted: ``method``, ``multipliers`` found — dimensionless
        factors of the preprocessing estimates —, their ``bounds`` ``[lo, hi]``, ``at_bounds``
        (names of those that ended at a bound), ``count_matched`` (false when no θ∞ multiplier in
        its interval gives the training spike count; ``reason`` says so in either case),
        ``objective`` (training EV ratio, or the log-likelihood for ``"reference"``) and
        ``n_evaluations``), ``selection`` (``None`` unless the optimiser was chosen by
        cross-validation, method ``"select"``: ``choice`` — ``"ev"`` or ``"reference"`` —,
        ``scores`` — candidate → EV ratio on the held-out halves of the training set, mean of the
        two folds — and ``fold_scores`` — candidate → the two), ``flags`` (fitted parameters
        worth distrusting, :func:`glifx.fitting.flags.parameter_flags`: a list of
        ``{"parameter", "value", "rule", "message"}``, value in SI; empty when none),
        ``uncertainty`` (parameter name → ``{"value", "stderr", "model_error", "ci95": [lo, hi],
        "dof", "source", "log_stderr"}``, SI; :mod:`glifx.fitting.uncertainty`;
        ``"multiplier <name>"`` entries are the optimised multipliers), ``protocol_check``
        (the model on the Long and Short Square sweeps,
        :class:`glifx.fitting.protocol_checks.ProtocolCheck` as a dict; ``None`` when not
        fitted).
        ``source_sha256`` is the SHA-256 (hex) of the source file's bytes (``None`` when the cell
        was not read from a file); the cohort runner uses it to tell a finished cell from a
        changed one.  ``el_reference`` is in V, ``sweeps`` lists the sweep numbers per role
        (``train``, ``test``, ``short_square``, ``triple``, ``long_square``) and ``excluded``
        (number → reason).
        ``membrane_cross_check``: :func:`membrane_cross_check` with ``features`` (else ``None``).
    """
    from glifx import __version__

    levels: dict[str, Any] = {}
    for lf in fit.levels.values():
        entry: dict[str, Any] = {
            "level": lf.level,
            "status": "fitted" if lf.ok else "failed",
            "reason": lf.reason,
            "train_ev": lf.train_ev,
            "test_ev": lf.test_ev,
            "train_ev_initial": lf.train_ev_initial,
            "wall_time_s": lf.wall_time,
            "published_median_test_ev": PUBLISHED_TEST_EV_MEDIANS.get(lf.level),
            "neuron_config": None,
            "spike_cut_s": None,
            "parameters": {},
            "optimization": None,
            "selection": None,
            "flags": [f.as_dict() for f in lf.flags],
            "uncertainty": {name: u.as_dict() for name, u in lf.uncertainty.items()},
            "protocol_check": (lf.protocol_check.as_dict() if lf.protocol_check is not None
                               else None),
            "kept_from": lf.kept_from,
            "own_train_ev": lf.own_train_ev,
            "own_test_ev": lf.own_test_ev,
        }
        opt = lf.optimization
        if lf.ok and opt is not None:
            entry["optimization"] = {
                "method": opt.method, "multipliers": dict(opt.multipliers),
                "bounds": {k: list(v) for k, v in opt.bounds.items()},
                "at_bounds": sorted(opt.at_bounds), "count_matched": opt.count_matched,
                "objective": opt.objective,
                "n_evaluations": opt.n_evaluations}
        if lf.ok and lf.selection is not None:
            entry["selection"] = {"choice": lf.selection.choice, "scores": dict(lf.selection.scores),
                                  "fold_scores": {k: list(v) for k, v in
                                                  lf.selection.fold_scores.items()}}
        if lf.ok:
            params = parameters_from_allen_config(lf.model.to_allen_config())
            entry["neuron_config"] = config_name(lf.level)
            entry["spike_cut_s"] = getattr(lf.model, "spike_cut_s", None)
            entry["parameters"] = {k: {"value": v, "unit": u} for k, (v, u) in params.items()}
        levels[f"GLIF{lf.level}"] = entry
    qc_part = None
    if qc is not None:
        qc_part = {"cell_passed": qc.cell_passed, "cell_reasons": list(qc.cell_reasons),
                   "passed_sweeps": list(qc.passed_sweeps), "failed_sweeps": qc.failed_sweeps,
                   "criteria": qc.criteria.name if hasattr(qc.criteria, "name") else None}
    return jsonable({
        "cell_id": cell.cell_id,
        "source": cell.source,
        "source_sha256": (source_sha256 if source_sha256 != FROM_FILE
                          else file_sha256(cell.source) if cell.source else None),
        "glifx_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "method": fit.method,
        "el_reference": fit.el_reference,
        "sweeps": fit.sweeps,
        "wall_time_s": fit.wall_time,
        "qc": qc_part,
        "levels": levels,
        "preprocessing": fit.preprocessing.as_dict(),
        "membrane_cross_check": membrane_cross_check(fit, features),
        "units": {"el_reference": "V", "wall_time_s": "s", "ev": "explained-variance ratio",
                  "parameters": "SI (V, Ω, F, s, A, 1/s) or steps",
                  "neuron_config": "Allen neuron_config, SI; spike_cut_length in steps of dt",
                  "optimization": "multipliers of the preprocessing estimates (dimensionless); "
                                  "objective: training EV ratio (ev) or log-likelihood (reference)"},
    })


def write_fit_outputs(
    out_dir: str | os.PathLike[str],
    cell: Cell,
    qc: QCResult,
    features: CellFeatures,
    fit: FitResult,
    *,
    report: CellReport | None = None,
    data: FitData | None = None,
    with_report: bool = True,
    folder: str | None = None,
    recorded: RecordedViews | None = None,
    source_sha256: str | None = FROM_FILE,
) -> Path:
    """Write the results of one cell into ``out_dir/<cell_id>/``, all or nothing.

    Parameters
    ----------
    out_dir
        Parent directory (created if needed).
    cell, qc, features, fit
        The pipeline's results for one cell.
    report
        The report to render; default :func:`glifx.report.from_fit.build_cell_report` of the
        results (``data`` is passed on to it).
    data
        The SI sweeps of the fit (``FitResult.data``) for the report; default
        the ones the fit kept (``fit.data``), so nothing is prepared twice.
    with_report
        Write ``report.html`` (False: everything else only, e.g. for a regression run that
        compares the results and has no use for the page).
    folder
        Name of the cell's folder instead of its cell id (the cohort runner's way to keep two
        files with one cell id apart); the files inside are the same.
    recorded
        The report's sections drawn from the recording (example traces, first spike), when
        already made (:func:`glifx.report.from_fit.recorded_views`); default: made from ``cell``.
    source_sha256
        ``fit_summary.json``'s ``source_sha256`` when already known (:func:`fit_summary`).

    Returns
    -------
    pathlib.Path
        The cell's directory.

    Raises
    ------
    ConfigError
        When the cell id cannot name a directory or a fitted model's config is inconsistent.
    OutputError
        When the directory cannot be written; nothing is left behind.

    Examples
    --------
    >>> cell = glifx.load_cell("data_samples/rs_cell.nwb")          # doctest: +SKIP
    >>> qc = glifx.run_qc(cell)                                      # doctest: +SKIP
    >>> feats = glifx.extract_features(cell, qc=qc)                  # doctest: +SKIP
    >>> fit = glifx.fit_cell(cell, qc=qc)                            # doctest: +SKIP
    >>> write_fit_outputs("results", cell, qc, feats, fit)           # doctest: +SKIP
    PosixPath('results/rs_cell')
    """
    parent = Path(out_dir)
    target = parent / safe_cell_dirname(cell.cell_id if folder is None else folder)
    # render everything that can fail on content before touching the disk
    configs = {lf.level: allen_config(lf.model) for lf in fit.levels.values() if lf.ok}
    summary = fit_summary(cell, qc, fit, features, source_sha256=source_sha256)
    if report is None and with_report:
        from glifx.report.from_fit import build_cell_report

        report = build_cell_report(cell, qc, features, fit,
                                   data=data if data is not None else getattr(fit, "data", None),
                                   recorded=recorded)

    with staged_dir(target) as tmp:
        qc.write(tmp, atomic=False)
        features.write(tmp, atomic=False)
        for level, cfg in configs.items():
            write_json_atomic(tmp / config_name(level), cfg)
        write_json_atomic(tmp / SUMMARY_NAME, summary)
        write_columns(tmp, FIT_FILES)
        if with_report:
            write_report(report, tmp / REPORT_NAME)
    return target


def write_report(report: CellReport, path: str | os.PathLike[str]) -> Path:
    """:func:`glifx.report.render.write_report`, imported when first called: matplotlib is
    loaded only to draw a report, not by every command that writes an output folder."""
    from glifx.report.render import write_report as write

    return write(report, path)


def prepare_output_dir(out_dir: str | os.PathLike[str]) -> None:
    """Make ``out_dir`` ready for a run, before any work: raise
    :class:`~glifx.errors.OutputError` if it cannot be written, and remove what killed runs
    left in it and beside it (:func:`clean_stale_outputs` of ``out_dir`` and of its parent,
    where a folder swap stages).  Creates nothing."""
    check_writable_dir(out_dir)
    for folder in (Path(out_dir), Path(out_dir).absolute().parent):
        clean_stale_outputs(folder)


__all__ = [
    "ALLEN_CONFIG_KEYS",
    "clean_stale_outputs",
    "prepare_output_dir",
    "LEVEL_KEYS",
    "MEMBRANE_AGREEMENT",
    "SUMMARY_KEYS",
    "SUMMARY_NAME",
    "allen_config",
    "config_name",
    "file_sha256",
    "fit_summary",
    "membrane_cross_check",
    "safe_cell_dirname",
    "write_fit_outputs",
]
