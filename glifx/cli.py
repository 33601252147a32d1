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
        except EOFError as exc:
            # click reads an EOFError as end of input at a prompt and stops "interrupted" (exit
            # 130); glifx has no prompt, so it is a file ending early that a reader missed: a bug
            raise RuntimeError(f"unexpected end of data: {exc}") from exc

    return wrapper


class _OneLineErrors(click.Group):
    """The ``glifx`` group: a usage error of any command (unknown option, bad value, missing
    argument) is one line on stderr, ``glifx: error: glifx CMD: <what> (see 'glifx CMD --help')``,
    with exit code 2, instead of click's usage block; ``--help`` keeps the full text.  SIGTERM
    (what batch schedulers send) is handled like Ctrl-C: the command stops through
    ``KeyboardInterrupt``, so the output writers clean up their temporary folders."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        previous = _terminate_like_interrupt()
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "glifx"
            message = " ".join(exc.format_message().split())
            _fail(f"{where}: {message} (see '{where} --help')")
        except click.ClickException as exc:
            click.echo(f"glifx: error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:  # Ctrl-C or SIGTERM
            _interrupted()
        except Exception:
            # a signal that lands inside a C extension (e.g. numba loading a cached kernel)
            # surfaces as that extension's SystemError, not as KeyboardInterrupt
            if _SIGTERM_RECEIVED:
                _interrupted()
            raise
        finally:
            _restore_terminate(previous)
        code = code if isinstance(code, int) else 0  # an int is the code of a ctx.exit()
        if _EXIT_NOW and _run_as_command():
            _exit_now(code)
        sys.exit(code)


#: set by a command whose work is done and whose outputs are closed: the process may end
#: without the interpreter's teardown (see ``_exit_now``)
_EXIT_NOW = False


def _run_as_command() -> bool:
    """Whether this process is the ``glifx`` command itself (the console script or ``python -m
    glifx``), not a program that calls the command line in-process (tests, notebooks)."""
    from pathlib import Path

    main_module = sys.modules.get("__main__")
    spec = getattr(main_module, "__spec__", None)
    if spec is not None and spec.name == "glifx.__main__":
        return True
    return Path(getattr(main_module, "__file__", None) or "").name == "glifx"


def _exit_now(code: int) -> None:
    """End the process at once, skipping the interpreter's teardown: after a fit that is
    0.3-0.6 s of freeing every object and module one by one, which the operating system does
    in a moment.  Only once every output is written and closed; the streams are flushed here."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said there
            pass
    os._exit(code)


def _interrupted() -> None:
    click.echo("glifx: interrupted", err=True)
    _exit_stopped(130)


def _exit_stopped(code: int) -> None:
    """``sys.exit(code)`` after a caught ``KeyboardInterrupt``, with that code.

    CPython remembers a ``KeyboardInterrupt`` that ends a string ``exec``/``eval`` (which
    ``dataclasses`` and ``namedtuple`` run while a module is imported) even when a caller catches
    it, and under ``python -m`` then ends the process by SIGINT (exit status -2) whatever the
    ``SystemExit`` code.  An empty string ``exec`` clears that record.
    """
    exec("", {})  # noqa: S102 - see the docstring
    sys.exit(code)


#: set once SIGTERM arrived, so an exception it turned into (see ``main``) still reads as a stop
_SIGTERM_RECEIVED = False


def _terminate_like_interrupt() -> Any:
    """Make SIGTERM raise KeyboardInterrupt (in the main thread); returns the old handler."""
    import signal
    import threading

    global _SIGTERM_RECEIVED
    _SIGTERM_RECEIVED = False
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: Any) -> None:
        global _SIGTERM_RECEIVED
        _SIGTERM_RECEIVED = True
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def _restore_terminate(previous: Any) -> None:
    import signal

    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


@click.group("glifx", cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="glifx")
def main() -> None:
    """glifx: QC, features and GLIF fitting of whole-cell current-clamp recordings.

    \b
    Examples:
      glifx fit data_samples/rs_cell.nwb --out results/   # the main job
      glifx info data_samples/rs_cell.nwb                  # what a file holds
    """


class _Finite(click.ParamType):
    """A finite number within ``[lo, hi]`` (bounds inclusive; ``None``: unbounded)."""

    name = "number"

    def __init__(self, lo: float | None = None, hi: float | None = None) -> None:
        self.lo, self.hi = lo, hi

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        import math

        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"expected a number, got {value!r}", param, ctx)
        if not math.isfinite(number):
            self.fail(f"expected a finite number, got {value!r}", param, ctx)
        if (self.lo is not None and number < self.lo) or (self.hi is not None and number > self.hi):
            lo = "-inf" if self.lo is None else f"{self.lo:g}"
            hi = "inf" if self.hi is None else f"{self.hi:g}"
            self.fail(f"expected a number in [{lo}, {hi}], got {value!r}", param, ctx)
        return number


#: accepted simulation time steps, s (10 MHz to 100 Hz)
DT_RANGE_S = (1e-7, 1e-2)
#: largest stimulus current `glifx simulate` believes is in amperes (1 µA; neurons take nA)
MAX_STIMULUS_A = 1e-6


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
    from glifx.report.outputs import prepare_output_dir

    lists = {name for name, value in QCCriteria().to_dict().items() if isinstance(value, list)}
    overrides = {k: v for k, v in limits.items() if v is not None}
    for key in lists & set(overrides):
        overrides[key] = [s.strip() for s in overrides[key].split(",") if s.strip()]
    criteria = resolve_criteria(criteria_file, **overrides)
    cell = load_cell(file)
    if out_dir is not None:
        prepare_output_dir(out_dir)
    result = run_qc(cell, criteria)
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
    (kHz), clamp mode, and where the name came from (file / inferred / unknown); then one line per
    sweep the file's structure makes unusable, with the reason.  Reads no sweep data, except the
    command waveforms of files without stimulus names.

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
            "problem": r.problem,
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
    for r in rows:
        if r["problem"]:
            click.echo(f"sweep {r['sweep']}: unusable: {r['problem']}")


# ------------------------------------------------------------------------------------- simulate
@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=str))
@click.option("--stimulus", "stimulus_file", required=True,
              type=click.Path(dir_okay=False, path_type=str),
              help="1-D .npy array of injected current in amperes, one sample per step.")
@click.option("--dt", required=True, type=_Finite(*DT_RANGE_S),
              help=f"Simulation time step in seconds (e.g. 5e-6), {DT_RANGE_S[0]:g} to "
                   f"{DT_RANGE_S[1]:g}.")
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

    from pathlib import Path

    import numpy as np

    from glifx._files import write_files_atomic
    from glifx.errors import ConfigError, FileFormatError
    from glifx.glif import load_allen_config
    from glifx.glif import simulate as run
    from glifx.report.outputs import prepare_output_dir

    model = load_allen_config(config, spike_cut_policy=cut_policy)  # type: ignore[arg-type]
    for path in (out_file, trace_file):
        if path is not None:
            prepare_output_dir(Path(path).absolute().parent)
    try:
        stimulus = np.load(stimulus_file, allow_pickle=False)
    except FileNotFoundError:
        raise FileFormatError(stimulus_file, "no such file") from None
    except EOFError:  # an empty file
        raise FileFormatError(stimulus_file, "not a readable .npy array (empty file)") from None
    except (OSError, ValueError) as exc:
        raise FileFormatError(stimulus_file, f"not a readable .npy array ({exc})") from None
    if not isinstance(stimulus, np.ndarray):
        raise FileFormatError(stimulus_file, "expected one .npy array, got an archive")
    _check_stimulus_amperes(stimulus, stimulus_file)
    try:
        result = run(model, stimulus, dt, record=trace_file is not None)
    except ConfigError as exc:  # name the file when the stimulus is at fault
        message = f"{stimulus_file}: {exc}" if str(exc).startswith("stimulus") else str(exc)
        raise ConfigError(message) from None

    writers: dict[str, Any] = {}  # the two files appear together or not at all
    if out_file is not None:
        writers[out_file] = lambda fh: np.save(fh, result.spike_steps)
    if trace_file is not None:
        writers[trace_file] = lambda fh: np.savez(
            fh, voltage=result.voltage, threshold=result.threshold, asc=result.asc,
            spike_steps=result.spike_steps, dt=np.float64(dt))
    write_files_atomic(writers)
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


def _check_stimulus_amperes(stimulus: Any, path: str) -> None:
    """Refuse a stimulus array that cannot be currents in amperes (empty, integer, or peaking
    above :data:`MAX_STIMULUS_A`: most likely pA)."""
    import numpy as np

    from glifx.errors import FileFormatError

    if stimulus.size == 0:
        raise FileFormatError(path, "stimulus is empty")
    if stimulus.dtype.kind in "biu":
        raise FileFormatError(path, f"stimulus is an integer array ({stimulus.dtype}); expected "
                                    "currents in amperes as floats (e.g. 1e-10 for 100 pA)")
    if stimulus.dtype.kind == "f":
        finite = np.abs(stimulus[np.isfinite(stimulus)])  # NaN/inf: the simulator names them
        peak = float(finite.max()) if finite.size else 0.0
        if peak > MAX_STIMULUS_A:
            raise FileFormatError(path, f"stimulus peaks at {peak:g} A, above {MAX_STIMULUS_A:g} A: "
                                        "expected amperes (e.g. 1e-10 for 100 pA), not pA")


def _readable_sweeps(cell: Any) -> Any:
    """The current-clamp sweeps of ``cell`` that can be read (an unreadable one is reported by
    the features' dropped sweeps)."""
    for record in cell.records:
        if record.clamp_mode != "CurrentClamp" or record.problem is not None:
            continue
        try:
            yield cell.sweep(record.sweep_number)
        except GlifxError:
            continue


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write spikes.csv, sweep_features.csv and cell_features.json into this folder.")
@click.option("--filter", "filter_khz", type=_Finite(0.0), default=10.0, show_default=True,
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
    from glifx.report.outputs import prepare_output_dir

    cell = glifx.load_cell(file)
    if out_dir is not None:
        prepare_output_dir(out_dir)
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
            if shown:
                click.echo(f"{key}: " + ", ".join(f"{k}={v:.4g}" for k, v in shown.items()))
    for num, why in feats.cell["dropped_sweeps"].items():
        click.echo(f"dropped sweep {num}: {why}")
    from glifx.qc.plausibility_warnings import recording_warnings

    found = (qc_result.warnings if qc_result is not None
             else recording_warnings(_readable_sweeps(cell)))
    for warning in [*found, *feats.cell["warnings"]]:
        click.echo(f"warning: {warning}", err=True)
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
        from glifx._numba import CompileClock

        self.stages, self.open = list(stages), -1
        self.t0 = time.perf_counter()
        #: numba compilation, counted while ``clock.running()``: each stage's time says how
        #: much of it was compiling (a first run's cost, not the stage's work)
        self.clock, self.c0 = CompileClock(), 0.0

    def _footer(self, failed: bool = False) -> None:
        if self.open >= 0:
            compiled = self.clock.seconds - self.c0
            note = f" ({compiled:.1f} s of it compiling numba kernels)" if compiled >= 0.05 else ""
            click.echo("      " + ("failed" if failed else
                                   f"{time.perf_counter() - self.t0:.1f} s{note}"), err=True)

    def __call__(self, message: str) -> None:
        if message.startswith("warning:"):
            click.echo(message, err=True)
            return
        k = max((j for j, (prefix, _) in enumerate(self.stages) if message.startswith(prefix)),
                default=max(self.open, 0))
        while self.open < k:
            self._footer()
            self.open += 1
            self.t0, self.c0 = time.perf_counter(), self.clock.seconds
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
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
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
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Cohort: worker processes of the embedded dask cluster (one thread each, "
                   "loopback only). [default: number of cores]")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Cohort: address of a running dask scheduler (tcp://host:port) whose workers "
                   "were started with `dask worker` and see the same paths.")
@click.option("--force", is_flag=True,
              help="Cohort: refit cells whose folder is already complete for the same file and "
                   "options (by default they are kept, so a rerun resumes).")
@click.option("--cell-timeout", "cell_timeout", type=_Finite(0.0), default=None, metavar="SECONDS",
              help="Cohort: a cell still running this many seconds after it started on a worker "
                   "is stopped (its worker process is restarted) and becomes a failed row. "
                   "[default: no limit]")
@handles_errors
def fit(paths: tuple[str, ...], out_dir: str, levels: tuple[int, ...], method: str,
        criteria_file: str | None, workers: int | None, scheduler: str | None,
        force: bool, cell_timeout: float | None) -> None:
    """Fit GLIF models to each recording: load, QC, features, GLIF fit (train Noise 1, test
    Noise 2), report.

    One FILE: writes OUT/<cell-id>/: qc.csv, qc.json, sweep_features.csv, spikes.csv,
    cell_features.json, GLIF<n>_neuron_config.json per fitted level (Allen format, AllenSDK
    GlifNeuron.from_dict), fit_summary.json and report.html, all at once (nothing half-written on
    failure).  Shows the progress on stderr and prints one row per level: train and test
    explained variance, the published median test EV, wall time and status, then a note per
    fitted level that hit a limit of its search.  Exits 0 on success, 2 with one line on a file
    it cannot use (e.g. no Noise 1 sweep) or when no level could be fitted (the outputs, with the
    reasons, are still written).

    Several PATHs, folders (searched recursively for NWB and ABF recordings), or one FILE with
    --workers, --scheduler or --cell-timeout: a cohort on dask.distributed, one task per cell,
    on an embedded cluster (--workers) or a running one (--scheduler).  Writes OUT/<cell-id>/
    per cell as above, OUT/cohort.csv and cohort.parquet (one row per file) and OUT/cohort.html,
    all three rewritten as cells finish.  A cell that fails, or runs longer than --cell-timeout,
    becomes a failed row with its reason; the others go on.  Rerunning the same command skips
    finished cells (--force refits them); Ctrl-C or SIGTERM stops cleanly.  Exits 0 when at
    least one cell was fitted, 2 with one line on a path, folder or scheduler it cannot use
    (before any fit).

    \b
    Example:
      glifx fit data_samples/rs_cell.nwb --out results/
      glifx fit cell.nwb --out results/ --levels 1,3 --criteria lab_qc.json
      glifx fit recordings/ more/cell7.nwb --out results/ --workers 4
      glifx fit recordings/ --out results/ --scheduler tcp://10.0.0.5:8786
    """
    from pathlib import Path

    cohort = (len(paths) > 1 or Path(paths[0]).is_dir() or workers is not None
              or scheduler is not None or cell_timeout is not None)
    if cohort:
        _fit_cohort(paths, out_dir, levels, method, criteria_file, workers, scheduler, force,
                    cell_timeout)
        return
    file = paths[0]
    from glifx.io import load_cell
    from glifx.qc.core import resolve_criteria, start_read_ahead

    # before any progress line, so that an unusable file, criteria or --out gets its one line
    # only (process_cell checks them again: it serves the library and the batch runner too)
    cell = load_cell(file)
    criteria = resolve_criteria(criteria_file)
    start_read_ahead(cell, criteria)  # QC's sweeps are read while the fit's code imports
    try:
        from glifx._numba import uncached_kernels
        from glifx.process import STAGES, process_cell
        from glifx.report.outputs import prepare_output_dir

        prepare_output_dir(out_dir)
        names = ", ".join(f"GLIF{lv}" for lv in levels)
        titles = {"GLIF": f"fitting {names} ({method})"}
        pending = uncached_kernels()
        if pending:  # said once, before the stages whose times it inflates
            click.echo(f"glifx: compiling numba kernels ({', '.join(pending)}): first run after an "
                       f"install or update only, about a minute; later runs load them from numba's "
                       f"cache", err=True)
        report = _StageProgress([(prefix, titles.get(prefix, title)) for prefix, title in STAGES])
        try:
            with report.clock.running():
                cell_result = process_cell(cell, out_dir, levels=levels, method=method,
                                           criteria=criteria, progress=report)
        except BaseException:
            report.close(failed=True)
            raise
    except BaseException:  # what the read-ahead has not read yet is not read on the way out
        cell.clear_cache()
        raise
    report.close()
    path, n_ok = cell_result.out_dir, cell_result.n_fitted
    compiled = (f", {report.clock.seconds:.1f} s of it compiling numba kernels"
                if report.clock.seconds >= 0.05 else "")
    click.echo(f"cell {cell_result.cell.cell_id}: {n_ok} of {len(levels)} level(s) fitted in "
               f"{cell_result.fit.wall_time:.1f} s (method {method}; whole run "
               f"{cell_result.wall_time:.1f} s{compiled}, stage times above); wrote {path}")
    click.echo(_fit_table(cell_result.fit))
    if n_ok > 0:  # every file is written and closed (the folder was renamed into place)
        global _EXIT_NOW
        _EXIT_NOW = True
    if n_ok == 0:
        reasons = {lf.reason for lf in cell_result.fit.levels.values()}
        if len(reasons) == 1 and (reason := reasons.pop()):  # one cause, e.g. QC left no Noise 1
            _fail(f"{file}: no GLIF level could be fitted: {reason} (wrote {path})")
        _fail(f"{file}: no GLIF level could be fitted (reasons in {path / 'fit_summary.json'})")


# --------------------------------------------------------------------------------------- export
_EXPORT_TARGETS = ("nest", "bmtk")


@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=str))
@click.option("--to", "target", default=None, metavar="nest|bmtk",
              help="nest: {'model', 'params'} for nest.Create; bmtk: the dynamics_params JSON of a "
                   "PointNet node type (its model_template is printed).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write the JSON here (default: print it).")
@click.option("--synapses", default="psc", metavar="psc|cond", show_default=True,
              help="psc: glif_psc (current synapses); cond: glif_cond (conductance synapses, NEST's "
                   "default tau_syn 0.2/2 ms and E_rev 0/-85 mV).")
@click.option("--reset", "reset", default="exact", metavar="exact|clip", show_default=True,
              help="exact: refuse a reset slope a outside NEST's [0, 1]; clip: project it into "
                   "[0, 1] keeping the reset from theta_inf (an approximation, noted on stderr).")
@handles_errors
def export(config: str, target: str | None, out_file: str | None, synapses: str, reset: str) -> None:
    """Convert the Allen GLIF neuron_config CONFIG for NEST or BMTK (NEST units: mV, pA, pF, nS, ms).

    The spike cut becomes NEST's t_ref = spike_cut_length * config dt; see README "Export to NEST
    and BMTK" for the conversion and how NEST's integration differs.  A v_before reset slope a
    outside [0, 1] (many Allen fits) exports only with --reset clip, which says what it changed.

    \b
    Examples:
      glifx export GLIF5_neuron_config.json --to nest --out glif5_nest.json
      glifx export GLIF3_neuron_config.json --to bmtk --out 593618144_glif_psc.json
      glifx export GLIF4_neuron_config.json --to nest --reset clip
    """
    import json

    from glifx._files import atomic_open
    from glifx.errors import ConfigError
    from glifx.export import to_bmtk, to_nest
    from glifx.glif import load_allen_config

    if target not in _EXPORT_TARGETS:
        got = "nothing" if target is None else repr(target)
        raise ConfigError(f"--to: expected 'nest' or 'bmtk', got {got}")
    if synapses not in ("psc", "cond"):
        raise ConfigError(f"--synapses: expected 'psc' or 'cond', got {synapses!r}")
    if reset not in ("exact", "clip"):
        raise ConfigError(f"--reset: expected 'exact' or 'clip', got {reset!r}")
    model = load_allen_config(config)
    try:
        if target == "nest":
            neuron = to_nest(model, synapses=synapses, reset=reset)  # type: ignore[arg-type]
            payload: dict[str, Any] = {"model": neuron.model, "params": neuron.params}
            template, notes = f"nest:{neuron.model}", neuron.notes
        else:
            cell = to_bmtk(model, synapses=synapses, reset=reset)  # type: ignore[arg-type]
            payload = cell["dynamics_params"]
            template, notes = cell["model_template"], tuple(cell["notes"])
    except ConfigError as exc:
        message = str(exc).replace("reset='clip'", "--reset clip")
        raise ConfigError(f"{config}: cannot export to {target}: {message}") from None
    # on stderr: the JSON on stdout stays what NEST / BMTK read
    for note in notes:
        click.echo(f"glifx: note: {note}", err=True)
    text = json.dumps(payload, indent=2) + "\n"
    if out_file is None:
        click.echo(text, nl=False)
        return
    with atomic_open(out_file, "w") as fh:
        fh.write(text)
    level = model.standard_level
    hint = (f" (BMTK node type: model_type point_neuron, model_template {template}, "
            f"dynamics_params {out_file})" if target == "bmtk" else "")
    click.echo(f"GLIF{level} -> {template}: wrote {out_file}{hint}")


# -------------------------------------------------------------------------------------- compare
@main.command()
@click.argument("expected", type=click.Path(path_type=str))
@click.argument("actual", type=click.Path(path_type=str))
@click.option("--tolerances", "tolerances_file", type=click.Path(path_type=str), default=None,
              help="JSON or YAML mapping of quantity name patterns (or classes: verdict, count, "
                   "text, feature, parameter, ev) to {rel: r}, {abs: a}, \"exact\" or \"ignore\".")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write a self-contained HTML diff report to this file.")
@handles_errors
def compare(expected: str, actual: str, tolerances_file: str | None, html_file: str | None) -> None:
    """Compare the glifx result ACTUAL with the reference EXPECTED (regression check).

    EXPECTED and ACTUAL are output folders of `glifx fit`: one cell folder, or a folder holding
    many.  Compared: per-sweep QC verdicts and reasons, spike counts, sweep and cell features,
    every level's fitted parameters (neuron config and fit_summary.json), train/test explained
    variance and which levels were fitted.  Default tolerances: relative 0.1 % for parameters
    and features, absolute 0.001 for explained variance, exact for verdicts, counts and text.

    Prints one line per quantity beyond tolerance (cell, level or sweep, quantity, expected,
    actual, change, tolerance) and a summary line.  Exits 0 when everything is within
    tolerance, 1 when something moved beyond it, 2 with one line when a folder is not a glifx
    result.

    \b
    Example:
      glifx fit data_samples/rs_cell.nwb --out reference/    # freeze once, checked by a person
      glifx fit data_samples/rs_cell.nwb --out results/      # after any change
      glifx compare reference/rs_cell results/rs_cell --html diff.html
    """
    from glifx.report.compare import (
        compare_results,
        difference_lines,
        summary_line,
        write_html_report,
    )

    table = compare_results(expected, actual, tolerances_file)
    for line in difference_lines(table):
        click.echo(line)
    click.echo(summary_line(table))
    if html_file is not None:
        click.echo(f"wrote {write_html_report(html_file, table, expected, actual)}")
    sys.exit(0 if bool(table["within_tolerance"].all()) else 1)


def _fit_cohort(paths: Sequence[str], out_dir: str, levels: tuple[int, ...], method: str,
                criteria_file: str | None, workers: int | None, scheduler: str | None,
                force: bool, cell_timeout: float | None) -> None:
    """``glifx fit PATH...``: :func:`glifx.batch.fit_cohort` with a progress line on stderr."""
    from pathlib import Path

    from glifx.batch import COHORT_REPORT_NAME, CohortProgress, fit_cohort

    on_tty = sys.stderr.isatty()

    def show(state: CohortProgress) -> None:
        row = state.last
        if row is not None:  # one line per finished cell, above the progress line
            name = row.get("folder") or row.get("cell_id") or Path(row["source"]).name
            what = ("kept (finished earlier)" if row.get("resumed") else
                    f"fitted in {row.get('wall_time_s') or 0:.1f} s"
                    if row["status"] == "fitted" else f"failed: {row.get('reason')}")
            click.echo(("\r\x1b[K" if on_tty else "") + f"{name}: {what}", err=True)
        if on_tty:
            click.echo("\r\x1b[K" + state.line(), err=True, nl=False)
        elif row is not None:
            click.echo(state.line(), err=True)

    t0 = time.perf_counter()
    try:
        frame = fit_cohort(paths, out_dir, workers=workers, scheduler=scheduler, levels=levels,
                           method=method, criteria=criteria_file, force=force,
                           cell_timeout=cell_timeout, progress=show)
    except KeyboardInterrupt as exc:
        out = Path(out_dir)
        click.echo(("\n" if on_tty else "") + f"glifx: interrupted ({exc or 'SIGINT'}); the cells "
                   f"finished so far are in {out / 'cohort.csv'}; rerun the same command to resume",
                   err=True)
        _exit_stopped(143 if "SIGTERM" in str(exc) else 130)
    if on_tty:
        click.echo("", err=True)
    out = Path(out_dir)
    n_fitted = int((frame["status"] == "fitted").sum())
    n_resumed = int((frame["resumed"] == True).sum())  # noqa: E712 - nullable booleans
    click.echo(f"cohort: {len(frame)} recordings, {n_fitted} fitted ({n_resumed} kept from an "
               f"earlier run), {len(frame) - n_fitted} failed, in {time.perf_counter() - t0:.0f} s; "
               f"wrote {out / 'cohort.csv'}, {out / 'cohort.parquet'}, {out / COHORT_REPORT_NAME}")
    if n_fitted == 0:
        _fail(f"no cell could be fitted (reasons in {out / 'cohort.csv'})")
