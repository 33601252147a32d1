"""The ``glifx`` command line: thin wrappers that parse arguments, call the library and print.

Every command exits 0 on success and 2 with one line ``glifx: error: ...`` on input it cannot use
(a :class:`glifx.GlifxError`); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import click

from glifx.errors import GlifxError


def _fail(message: str) -> None:
    click.echo(f"glifx: error: {message}", err=True)
    sys.exit(2)


def handles_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a GlifxError (or a missing file) into one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GlifxError as exc:
            _fail(str(exc))
        except BrokenPipeError:  # output piped into e.g. `head`, which closed early: not an error
            sys.stderr.close()
            sys.exit(0)
        except OSError as exc:  # e.g. an unwritable output directory
            _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="glifx")
def main() -> None:
    """glifx: QC, features and GLIF fitting of whole-cell current-clamp recordings.

    \b
    Examples:
      glifx fit data_samples/rs_cell.nwb --out results/   # the main job
      glifx info data_samples/rs_cell.nwb                  # what a file holds
    """


# ------------------------------------------------------------------------------------------- qc
def _qc_criteria_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add one ``--<criterion>`` option per field of :class:`glifx.qc.QCCriteria`."""
    import dataclasses
    import re
    import typing

    from glifx.qc.criteria import QCCriteria

    hints = typing.get_type_hints(QCCriteria)
    help_texts = QCCriteria.describe()
    for f in reversed(dataclasses.fields(QCCriteria)):
        if f.name == "name":
            continue
        flag, hint = "--" + f.name.replace("_", "-"), hints[f.name]
        text = re.sub(r":\w+:`([^`]*)`", r"\1", help_texts[f.name].replace("``", ""))
        if hint is bool:
            option = click.option(f"{flag}/--no-{flag[2:]}", f.name, default=None,
                                  help=f"{text} [default: {'yes' if f.default else 'no'}]")
        elif hint in (int, float):
            option = click.option(flag, f.name, type=hint, default=None,
                                  help=f"{text} [default: {f.default:g}]")
        else:
            default = ",".join(f.default) if isinstance(f.default, tuple) else f.default
            option = click.option(flag, f.name, type=str, default=None, metavar="A,B,...",
                                  help=f"{text} Comma-separated. [default: {default}]")
        func = option(func)
    return func


@main.command()
@click.argument("file", type=click.Path(path_type=str))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Write qc.csv (sweep table) and qc.json (everything) into this directory "
                   "(created if needed); without it nothing is written.")
@click.option("--criteria", "criteria_file", type=click.Path(dir_okay=False, path_type=str),
              default=None, help="JSON (or YAML) file of criteria; options below override it.")
@_qc_criteria_options
@handles_errors
def qc(file: str, out_dir: str | None, criteria_file: str | None, **limits: Any) -> None:
    """Sweep and cell QC of FILE (Allen "Ephys QC Criteria v1.1" unless changed).

    Prints one row per sweep (n/m = not measured) with the reason of every failure, then the cell
    verdict.  Every limit can be set in a --criteria file and/or with its own option.  The exit
    code is 0 whenever QC ran, whatever the verdict; 2 on a file or criteria it cannot use.

    \b
    Example:
      glifx qc cell.nwb --out results/cell1
      glifx qc cell.abf --criteria lab_qc.json --pre-noise-rms-mv-max 0.1 --no-require-full-windows
    """
    from glifx.io import load_cell
    from glifx.qc import resolve_criteria, run_qc
    from glifx.qc.criteria import QCCriteria

    lists = {name for name, value in QCCriteria().to_dict().items() if isinstance(value, list)}
    overrides = {k: v for k, v in limits.items() if v is not None}
    for key in lists & set(overrides):
        overrides[key] = [s.strip() for s in overrides[key].split(",") if s.strip()]
    criteria = resolve_criteria(criteria_file, **overrides)
    result = run_qc(load_cell(file), criteria)
    click.echo(result.format_table())
    if out_dir is not None:
        paths = result.write(out_dir)
        click.echo(f"wrote {paths['csv']} and {paths['json']}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the sweeps as JSON.")
@handles_errors
def info(file: str, as_json: bool) -> None:
    """List the sweeps of FILE (NWB 2, Allen NWB 1 or ABF): one row per sweep.

    Columns: sweep number, stimulus name and code, amplitude (pA), duration (s), sampling rate
    (kHz), clamp mode, and where the name came from (file / inferred / unknown).  Reads no sweep
    data, except the command waveforms of files without stimulus names.

    \b
    Example:
      glifx info data_samples/rs_cell.nwb
      glifx info cell.abf --json
    """
    import json
    import math

    from glifx.io import load_cell

    cell = load_cell(file)
    rows = [
        {
            "sweep": r.sweep_number,
            "stimulus": r.stimulus_name,
            "code": r.stimulus_code,
            "amplitude_pa": r.stimulus_amplitude,
            "duration_s": r.duration,
            "rate_khz": r.sampling_rate / 1e3,
            "clamp_mode": r.clamp_mode,
            "name_source": r.name_source,
        }
        for r in cell.records
    ]
    if as_json:
        click.echo(json.dumps({"file": file, "cell_id": cell.cell_id,
                               "format": cell.metadata.get("format"), "sweeps": rows}, indent=1))
        return

    def fmt(value: Any, spec: str = "") -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        return format(value, spec)

    header = ("sweep", "stimulus", "code", "amp (pA)", "dur (s)", "rate (kHz)", "clamp", "name")
    table = [header] + [
        (fmt(r["sweep"]), fmt(r["stimulus"]), fmt(r["code"]), fmt(r["amplitude_pa"], ".4g"),
         fmt(r["duration_s"], ".4g"), fmt(r["rate_khz"], "g"), r["clamp_mode"], r["name_source"])
        for r in rows
    ]
    widths = [max(len(row[k]) for row in table) for k in range(len(header))]
    click.echo(f"{file}: {cell.metadata.get('format') or 'recording'}, cell {cell.cell_id!r}, "
               f"{len(rows)} sweeps")
    for row in table:
        padded = (text.ljust(width) for text, width in zip(row, widths, strict=True))
        click.echo("  ".join(padded).rstrip())


# ------------------------------------------------------------------------------------- simulate
@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=str))
@click.option("--stimulus", "stimulus_file", required=True,
              type=click.Path(dir_okay=False, path_type=str),
              help="1-D .npy array of injected current in amperes, one sample per step.")
@click.option("--dt", required=True, type=float, help="Simulation time step in seconds (e.g. 5e-6).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write the spike step indices (int64 .npy; times = steps * dt).")
@click.option("--trace", "trace_file", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write voltage, threshold (V, relative to rest), asc (A, N x 2) and spike_steps "
                   "as .npz (NaN during spike cuts).")
@click.option("--cut-policy", type=click.Choice(["steps", "seconds"]), default="steps",
              show_default=True,
              help="steps: spike_cut_length steps at any dt (reproduces the Allen database); "
                   "seconds: the cut lasts spike_cut_length * config dt seconds.")
@handles_errors
def simulate(config: str, stimulus_file: str, dt: float, out_file: str | None, trace_file: str | None,
             cut_policy: str) -> None:
    """Simulate the Allen GLIF neuron_config CONFIG on a current stimulus (SI units).

    Prints the spike count and times; exits 2 with one line on an unusable config or stimulus.

    \b
    Example:
      glifx simulate 579611597_GLIF5_neuron_config.json --stimulus stim_A.npy --dt 5e-6 \\
          --out spikes.npy --trace trace.npz
    """

    import numpy as np

    from glifx._files import atomic_open
    from glifx.errors import ConfigError, FileFormatError
    from glifx.glif import load_allen_config
    from glifx.glif import simulate as run

    model = load_allen_config(config, spike_cut_policy=cut_policy)  # type: ignore[arg-type]
    try:
        stimulus = np.load(stimulus_file, allow_pickle=False)
    except FileNotFoundError:
        raise FileFormatError(stimulus_file, "no such file") from None
    except (OSError, ValueError) as exc:
        raise FileFormatError(stimulus_file, f"not a readable .npy array ({exc})") from None
    if not isinstance(stimulus, np.ndarray):
        raise FileFormatError(stimulus_file, "expected one .npy array, got an archive")
    try:
        result = run(model, stimulus, dt, record=trace_file is not None)
    except ConfigError as exc:  # name the file when the stimulus is at fault
        message = f"{stimulus_file}: {exc}" if str(exc).startswith("stimulus") else str(exc)
        raise ConfigError(message) from None

    if out_file is not None:
        with atomic_open(out_file, "wb") as fh:
            np.save(fh, result.spike_steps)
    if trace_file is not None:
        with atomic_open(trace_file, "wb") as fh:
            np.savez(fh, voltage=result.voltage, threshold=result.threshold, asc=result.asc,
                     spike_steps=result.spike_steps, dt=np.float64(dt))
    duration = result.n_steps * dt
    level = f"GLIF{model.level}" if model.level else "GLIF (custom methods)"
    click.echo(f"{level}: {result.n_spikes} spikes in {duration:.6g} s "
               f"({result.n_spikes / duration if duration else 0.0:.3g} Hz), "
               f"spike cut {result.spike_cut_steps} steps")
    if result.n_spikes:
        shown = ", ".join(f"{t:.6g}" for t in result.spike_times[:10])
        more = " ..." if result.n_spikes > 10 else ""
        click.echo(f"spike times (s): {shown}{more}")
    if result.truncated:
        click.echo(f"warning: bad reset (reset state above threshold) at step {result.truncated_at}; "
                   "simulation stopped there, as the Allen reference does", err=True)
    for path in (out_file, trace_file):
        if path is not None:
            click.echo(f"wrote {path}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write spikes.csv, sweep_features.csv and cell_features.json into this folder.")
@click.option("--filter", "filter_khz", type=float, default=10.0, show_default=True,
              help="Bessel low-pass cutoff before dV/dt, kHz (0: none); clipped below Nyquist.")
@click.option("--qc/--no-qc", "use_qc", default=False, show_default=True,
              help="Analyse only the sweeps that pass glifx QC.")
@handles_errors
def features(file: str, out_dir: str | None, filter_khz: float, use_qc: bool) -> None:
    """Spike, sweep and cell features of FILE (ipfx definitions and column names).

    Prints one line per analysed sweep and the cell summary.

    \b
    Example:
      glifx features 171116sh_0018.abf --out results/171116sh_0018
    """
    import glifx
    from glifx.features import extract_features

    cell = glifx.load_cell(file)
    qc_result = glifx.run_qc(cell) if use_qc else None
    feats = extract_features(cell, qc=qc_result, filter=filter_khz or None)
    for row in feats.sweeps.itertuples(index=False):
        click.echo(f"sweep {row.sweep_number:>4}  {row.stimulus_name or '?':<14} "
                   f"spikes {row.spike_count:>4}  rate {row.avg_rate:8.3g} Hz")
    for key in ("long_square", "short_square", "ramp"):
        summary = feats.cell.get(key)
        if summary:
            shown = {k: v for k, v in summary.items()
                     if isinstance(v, int | float) and not isinstance(v, bool)
                     and k in ("rheobase_i", "fi_fit_slope", "sag", "tau", "input_resistance",
                               "v_baseline", "stimulus_amplitude", "hero_amp")}
            click.echo(f"{key}: " + ", ".join(f"{k}={v:.4g}" for k, v in shown.items()))
    for num, why in feats.cell["dropped_sweeps"].items():
        click.echo(f"dropped sweep {num}: {why}")
    if out_dir is not None:
        paths = feats.write(out_dir)
        for path in paths.values():
            click.echo(f"wrote {path}")


# ------------------------------------------------------------------------------------------ fit
def _parse_levels(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """``"1,2,5"`` → ``(1, 2, 5)``; anything but levels 1–5 is a usage error (exit 2)."""
    try:
        levels = sorted({int(x) for x in value.split(",") if x.strip()})
    except ValueError:
        raise click.BadParameter(f"expected comma-separated levels among 1-5, got {value!r}") from None
    if not levels or any(lv not in (1, 2, 3, 4, 5) for lv in levels):
        raise click.BadParameter(f"expected comma-separated levels among 1-5, got {value!r}")
    return tuple(levels)


class _StageProgress:
    """Progress of :func:`glifx.process_cell` on stderr: a numbered header when a stage starts
    (``[k/n] title ...``; the stage of a message is the last of ``stages`` whose prefix it starts
    with), its messages indented below it, and the stage's time when the next one starts;
    ``warning:`` messages unindented."""

    def __init__(self, stages: Sequence[tuple[str, str]]) -> None:
        self.stages, self.open = list(stages), -1
        self.t0 = time.perf_counter()

    def _footer(self, failed: bool = False) -> None:
        if self.open >= 0:
            click.echo("      " + ("failed" if failed else
                                   f"{time.perf_counter() - self.t0:.1f} s"), err=True)

    def __call__(self, message: str) -> None:
        if message.startswith("warning:"):
            click.echo(message, err=True)
            return
        k = max((j for j, (prefix, _) in enumerate(self.stages) if message.startswith(prefix)),
                default=max(self.open, 0))
        while self.open < k:
            self._footer()
            self.open += 1
            self.t0 = time.perf_counter()
            title = self.stages[self.open][1]
            click.echo(f"[{self.open + 1}/{len(self.stages)}] {title} ...", err=True)
        click.echo(f"      {message}", err=True)

    def close(self, failed: bool = False) -> None:
        """Finish the last stage reached."""
        self._footer(failed)
        self.open = len(self.stages)


def _fit_table(fit_result: Any) -> str:
    """The summary table ``glifx fit`` prints: one row per level, with the published median and
    the optimiser that gave the model, then one ``note: GLIF<n>: ...`` line per fitted level that
    carries a caveat and one ``note: GLIF<n>: flag: ...`` per flagged parameter."""
    import math

    from glifx.report import PUBLISHED_TEST_EV_MEDIANS

    def num(x: float | None, spec: str) -> str:
        return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)

    def optimiser(lf: Any) -> str:
        if not lf.ok or lf.optimization is None:
            return "-"
        return lf.optimization.method + (" (cv)" if lf.selection is not None else "")

    header = ("level", "train EV", "test EV", "published test EV", "wall (s)", "optimiser",
              "status")
    rows = [header] + [
        (f"GLIF{lf.level}", num(lf.train_ev, ".3f"), num(lf.test_ev, ".3f"),
         num(PUBLISHED_TEST_EV_MEDIANS.get(lf.level), ".3f"), num(lf.wall_time, ".1f"),
         optimiser(lf),
         ("fitted, see note" if lf.reason or lf.flags else "fitted") if lf.ok
         else f"failed: {lf.reason}")
        for lf in fit_result.levels.values()
    ]
    widths = [max(len(r[k]) for r in rows) for k in range(len(header) - 1)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)), r[-1]])
             for r in rows]
    for lf in fit_result.levels.values():
        if lf.ok:
            lines += [f"note: GLIF{lf.level}: {lf.reason}"] if lf.reason else []
            lines += [f"note: GLIF{lf.level}: flag: {flag.message}" for flag in lf.flags]
    return "\n".join(lines)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Parent directory; results go into OUT/<cell-id>/ (replaced as a whole).")
@click.option("--levels", default="1,2,3,4,5", show_default=True, callback=_parse_levels,
              metavar="N,N,...", help="GLIF levels to fit, comma-separated, among 1-5.")
@click.option("--method", type=click.Choice(["select", "ev", "reference"]), default="select",
              show_default=True,
              help="ev: maximise the training (Noise 1) explained variance; reference: the "
                   "published method (threshold estimates from their own protocols, θ∞ "
                   "multiplier on the noisy-threshold likelihood); select: ev, and at GLIF3 "
                   "whichever of the two predicts held-out halves of Noise 1 better (at GLIF4 "
                   "and GLIF5 too, if that was the reference at GLIF3).")
@click.option("--criteria", "criteria_file", type=click.Path(dir_okay=False, path_type=str),
              default=None, help="QC criteria, JSON or YAML (as for glifx qc); default Allen v1.1.")
@handles_errors
def fit(file: str, out_dir: str, levels: tuple[int, ...], method: str,
        criteria_file: str | None) -> None:
    """Fit GLIF models to FILE: load, QC, features, GLIF fit (train Noise 1, test Noise 2), report.

    Writes OUT/<cell-id>/: qc.csv, qc.json, sweep_features.csv, spikes.csv, cell_features.json,
    GLIF<n>_neuron_config.json per fitted level (Allen format, AllenSDK GlifNeuron.from_dict),
    fit_summary.json and report.html, all at once (nothing half-written on failure).  Shows the
    progress on stderr and prints one row per level: train and test explained variance, the
    published median test EV, wall time and status, then a note per fitted level that hit a limit
    of its search.  Exits 0 on success, 2 with one line on a file it cannot use (e.g. no Noise 1
    sweep) or when no level could be fitted (the outputs, with the reasons, are still written).

    \b
    Example:
      glifx fit data_samples/rs_cell.nwb --out results/
      glifx fit cell.nwb --out results/ --levels 1,3 --criteria lab_qc.json
    """
    from glifx.process import STAGES, process_cell

    names = ", ".join(f"GLIF{lv}" for lv in levels)
    titles = {"GLIF": f"fitting {names} ({method})"}
    report = _StageProgress([(prefix, titles.get(prefix, title)) for prefix, title in STAGES])
    try:
        cell_result = process_cell(file, out_dir, levels=levels, method=method,
                                   criteria=criteria_file, progress=report)
    except BaseException:
        report.close(failed=True)
        raise
    report.close()
    path, n_ok = cell_result.out_dir, cell_result.n_fitted
    click.echo(f"cell {cell_result.cell.cell_id}: {n_ok} of {len(levels)} level(s) fitted in "
               f"{cell_result.fit.wall_time:.1f} s (method {method}); wrote {path}")
    click.echo(_fit_table(cell_result.fit))
    if n_ok == 0:
        reasons = {lf.reason for lf in cell_result.fit.levels.values()}
        if len(reasons) == 1 and (reason := reasons.pop()):  # one cause, e.g. QC left no Noise 1
            _fail(f"{file}: no GLIF level could be fitted: {reason} (wrote {path})")
        _fail(f"{file}: no GLIF level could be fitted (reasons in {path / 'fit_summary.json'})")
