"""Reliability corpus (``tests/reliability_corpus.py``): what every command does with bad input.

* An unusable file: exit 2, exactly one stderr line naming the file with a non-empty reason, no
  traceback, nothing written, and a peak memory under 2 GiB -- each command runs in a subprocess
  under a 2 GiB address-space limit (``RLIMIT_AS``; numba and llvm need ~1 GiB of it).
* One bad sweep: ``info``, ``qc``, ``features`` and ``fit`` exit 0 and report that sweep with its
  reason.
* Garbage (flat, volts stored as millivolts, 1 kHz): QC or fitting says why, in one line.
* Mistyped options and simulate inputs: one line, exit 2.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from glifx.cli import main

sys.path.insert(0, str(Path(__file__).parent))
import reliability_corpus as rc  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: address-space cap of the CLI subprocesses; peak memory must stay below it
MEMORY_CAP = 2 * 2**30
ABF_NAME = "171116sh_0018.abf"
UNUSABLE_NAMES = ["missing", "directory", "empty", "truncated_nwb", "random_bytes", "plain_hdf5",
                  "voltage_clamp_only", "unicode_path_bad", "abf_scrambled_header_0",
                  "abf_scrambled_header_1", "abf_scrambled_header_2", "abf_truncated",
                  "abf_huge_section", "abf_huge_strings", "every_sweep_bad"]
COMMANDS = ("info", "qc", "features", "fit")


def _marked(names: list[str]) -> list:
    """``names`` as parameters, the ABF cases marked ``shared_data`` (they are cut from an ABF of
    the shared data), so that ``-m "not shared_data"`` leaves them out like every other test that
    reads those data (conftest.py marks the users of the ``shared_data`` fixture)."""
    return [pytest.param(n, marks=pytest.mark.shared_data) if n in rc.ABF_CASES else n
            for n in names]


@pytest.fixture(scope="module")
def corpus(request, tmp_path_factory) -> dict[str, rc.Case]:
    """The corpus, with the ABF cases when the shared data are present and a selected test of
    this module is marked ``shared_data`` (deselected, they are neither built nor run)."""
    from conftest import shared_data_dir

    wanted = any(item.get_closest_marker("shared_data") is not None
                 and item.module is request.module for item in request.session.items)
    data = shared_data_dir() if wanted else None
    abf = data / "real" / "pyabf" / ABF_NAME if data is not None else None
    return rc.build_corpus(tmp_path_factory.mktemp("corpus"),
                           abf if abf is not None and abf.exists() else None)


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}


def run_capped(args: list[str], cwd: Path) -> tuple[int, str, str, float]:
    """``python -m glifx ARGS`` under the address-space cap: (exit code, stdout, stderr, peak
    resident memory in bytes)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "glifx", *args], stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, preexec_fn=_capped, cwd=cwd, env=_env())
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (proc.returncode, out.read().decode(errors="replace"),
                err.read().decode(errors="replace"), usage.ru_maxrss * 1024.0)


#: runs the glifx CLI once per argument list read (JSON) from stdin, in one process, and prints
#: a JSON list of [exit code, stdout, stderr, peak resident bytes so far] (an escaped exception
#: becomes exit code 1 and its traceback)
_BATCH_DRIVER = """
import contextlib, io, json, resource, sys, traceback
from glifx.cli import main
results = []
for args in json.load(sys.stdin):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args, prog_name="glifx")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0
    results.append([code, out.getvalue(), err.getvalue(), peak])
print(json.dumps(results))
"""


def run_capped_batch(runs: list[list[str]], cwd: Path) -> list[tuple[int, str, str, float]]:
    """Each argument list through the CLI, all in one Python process under the address-space
    cap (one interpreter start instead of one per run; the cap and the peak are the same)."""
    proc = subprocess.run([sys.executable, "-c", _BATCH_DRIVER], input=json.dumps(runs),
                          capture_output=True, text=True, preexec_fn=_capped, cwd=cwd, env=_env())
    assert proc.returncode == 0, proc.stderr
    return [tuple(r) for r in json.loads(proc.stdout)]


def _args(command: str, path: Path, out: Path) -> list[str]:
    if command == "info":
        return ["info", str(path)]
    if command == "fit":
        return ["fit", str(path), "--out", str(out), "--levels", "1"]
    return [command, str(path), "--out", str(out)]


# ------------------------------------------------------------------------------- unusable
@pytest.fixture(scope="module")
def unusable_runs(corpus, tmp_path_factory) -> dict[tuple[str, str], tuple]:
    """Every unusable case through every command, under the memory cap: (case, command) →
    (exit code, stdout, stderr, peak bytes, the --out folder)."""
    work = tmp_path_factory.mktemp("unusable")
    keys = [(n, c) for n in UNUSABLE_NAMES if n in corpus for c in COMMANDS]
    outs = {k: work / f"out_{k[0]}_{k[1]}" for k in keys}
    results = run_capped_batch([_args(c, corpus[n].path, outs[(n, c)]) for n, c in keys], work)
    return {k: (*r, outs[k]) for k, r in zip(keys, results, strict=True)}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("name", _marked(UNUSABLE_NAMES))
def test_unusable_file_one_line_exit_2_capped(corpus, unusable_runs, name, command):
    if name not in corpus:
        pytest.skip(f"{name}: needs the ABF of ../shared/data/real/pyabf (GLIFX_SHARED_DATA)")
    case = corpus[name]
    code, stdout, stderr, peak, out = unusable_runs[(name, command)]
    lines = stderr.strip().splitlines()
    assert code == 2, (code, stderr)
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith("glifx: error:") and str(case.path) in line
    reason = line.split(str(case.path), 1)[1].strip(" :'.")
    # a folder given to fit is a cohort: one with no recording in it is refused as such
    expected = ("holds no recording" if (case.name, command) == ("directory", "fit")
                else case.reason)
    assert reason and expected.lower() in line.lower(), line
    assert "Traceback" not in stderr + stdout
    assert not out.exists()
    assert peak <= MEMORY_CAP


@pytest.mark.parametrize("name", _marked(["abf_scrambled_header_1", "abf_huge_strings",
                                           "truncated_nwb"]))
def test_unusable_file_own_process_capped(corpus, name, tmp_path):
    """The same in a process of its own (``python -m glifx``), as a user runs it."""
    if name not in corpus:
        pytest.skip(f"{name}: needs the ABF of ../shared/data/real/pyabf (GLIFX_SHARED_DATA)")
    code, stdout, stderr, peak = run_capped(["info", str(corpus[name].path)], tmp_path)
    assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert str(corpus[name].path) in stderr and peak <= MEMORY_CAP


# ------------------------------------------------------------------------------- bad sweeps
def _reported(case: rc.Case, text: str) -> bool:
    """Whether ``text`` has a line naming the bad sweep with the case's reason."""
    return any(f"sweep {rc.BAD_SWEEP}" in ln and case.reason.lower() in ln.lower()
               for ln in text.splitlines())


@pytest.mark.parametrize("name", list(rc.BAD_SWEEPS))
def test_bad_sweep_info_qc_features_exit_0(corpus, name, tmp_path):
    case = corpus[name]
    runner = CliRunner()
    info = runner.invoke(main, ["info", str(case.path)])
    assert info.exit_code == 0, info.output
    assert _reported(case, info.stdout), info.stdout  # time_not_increasing: from the timestamps

    qc = runner.invoke(main, ["qc", str(case.path), "--out", str(tmp_path / "qc")])
    assert qc.exit_code == 0, qc.output
    table = pd.read_csv(tmp_path / "qc" / "qc.csv")
    row = table[table.sweep_number == rc.BAD_SWEEP].iloc[0]
    assert not row.passed and case.reason.lower() in row.reasons.lower()
    assert table[table.sweep_number != rc.BAD_SWEEP].passed.any()

    feats = runner.invoke(main, ["features", str(case.path), "--out", str(tmp_path / "f")])
    assert feats.exit_code == 0, feats.output
    assert _reported(case, feats.stdout), feats.stdout
    dropped = json.loads((tmp_path / "f" / "cell_features.json").read_text())["dropped_sweeps"]
    assert case.reason.lower() in dropped[str(rc.BAD_SWEEP)].lower()
    assert "Traceback" not in info.output + qc.output + feats.output


@pytest.mark.parametrize("t", [
    [0, 1, 2, 3, 4, 5, 6, 7, 8], [0, 1, 2, 3, 3, 5, 6, 7, 8], [0, 1, 2, 3, 4, 2, 6, 7, 8],
    [0, 1, 2, 3, 4, 5, 6, 7, 7], [0, 1, 2, 3, 4, 5, 6, 7, np.inf], [0, np.nan, 2, 3, 4, 5, 6, 7, 8],
])
@pytest.mark.parametrize("start", [0, 1, 3])
def test_time_base_read_in_chunks_as_the_sweep_judges_it(t, start, monkeypatch):
    """What the readers find from the timestamps alone (chunks of 4 here, so that a jump back
    falls on and across chunk boundaries) is what :class:`glifx.Sweep` says of the same window."""
    import glifx
    from glifx.io import nwb2

    monkeypatch.setattr(nwb2, "_TIME_CHUNK", 4)
    window = np.asarray(t, dtype=np.float64)[start:]
    found = nwb2._time_base_problem(np.asarray(t, dtype=np.float64), start, window.size)
    try:
        glifx.Sweep(np.zeros(window.size), np.zeros(window.size), t=window * 1e-3, sweep_number=7)
        expected = None
    except glifx.SweepError as exc:
        expected = str(exc).removeprefix("sweep 7: ")
    assert found == expected


def _fit_reports_bad_sweep(case: rc.Case, out: Path) -> None:
    result = CliRunner().invoke(main, ["fit", str(case.path), "--out", str(out), "--levels", "1"])
    assert result.exit_code == 0, result.output
    cell_dir = out / case.path.stem
    table = pd.read_csv(cell_dir / "qc.csv")
    row = table[table.sweep_number == rc.BAD_SWEEP].iloc[0]
    assert not row.passed and case.reason.lower() in row.reasons.lower()
    summary = json.loads((cell_dir / "fit_summary.json").read_text())
    assert summary["levels"]["GLIF1"]["status"] == "fitted"


def test_bad_sweep_fit_exit_0(corpus, tmp_path):
    _fit_reports_bad_sweep(corpus["dangling_reference"], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in rc.BAD_SWEEPS if n != "dangling_reference"])
def test_bad_sweep_fit_exit_0_every_case(corpus, name, tmp_path):
    _fit_reports_bad_sweep(corpus[name], tmp_path)


def test_bad_sweep_capped_subprocess(corpus, tmp_path):
    """The sweep claiming 10^11 samples is refused before anything is allocated."""
    case = corpus["huge_shape"]
    code, stdout, stderr, peak = run_capped(["features", str(case.path)], tmp_path)
    assert code == 0, stderr
    assert _reported(case, stdout) and peak <= MEMORY_CAP


def test_unicode_path_usable(tmp_path):
    path = rc.unicode_copy(tmp_path)
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 0 and str(path) in result.output


# ------------------------------------------------------------------------------- garbage
@pytest.mark.parametrize("name", ["flat", "volts_as_millivolts"])
def test_implausible_recording_fails_qc_with_reason(corpus, name, tmp_path):
    case = corpus[name]
    result = CliRunner().invoke(main, ["qc", str(case.path), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "qc.csv")
    assert not table.passed.any()
    assert all(case.reason in why.lower() for why in table.reasons), table.reasons.tolist()
    assert "FAILED" in result.stdout


@pytest.mark.parametrize("name", ["baseline_above", "baseline_below"])
def test_impossible_baseline_fails_qc_with_reason(corpus, name, tmp_path):
    """Every sweep of the mini cell shifted by ±300 mV: each fails QC as an implausible baseline
    (not as flat or volt-scaled), and the median the reason quotes is the median of that sweep's
    samples as stored in the file (h5py, the file's conversion; no glifx reader involved)."""
    import re

    import h5py

    case = corpus[name]
    result = CliRunner().invoke(main, ["qc", str(case.path), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "qc.csv")
    assert len(table) > 0 and not table.passed.any()
    with h5py.File(case.path, "r") as f:
        expected = {int(key.rsplit("_", 1)[1]): float(np.median(
            f["acquisition"][key]["data"][()] * f["acquisition"][key]["data"].attrs["conversion"]
            * 1e3)) for key in f["acquisition"]}
    for sweep, why in zip(table.sweep_number, table.reasons, strict=True):
        assert "flat" not in why and "volts" not in why, why
        found = re.search(r"implausible baseline: median voltage (\S+) mV", why)
        assert found is not None, why
        assert float(found.group(1)) == pytest.approx(expected[sweep], rel=1e-3)  # printed .4g
        assert (expected[sweep] > 50) if name == "baseline_above" else (expected[sweep] < -150)
    # the criterion's limits are the user's: widened, the same sweeps no longer fail for it
    wide = tmp_path / "wide.json"
    wide.write_text('{"v_median_mv_min": -400, "v_median_mv_max": 400}')
    result = CliRunner().invoke(main, ["qc", str(case.path), "--out", str(tmp_path / "wide"),
                                       "--criteria", str(wide)])
    assert result.exit_code == 0, result.output
    reasons = pd.read_csv(tmp_path / "wide" / "qc.csv").reasons.fillna("")
    assert not reasons.str.contains("baseline").any(), reasons.tolist()


def test_low_rate_recording_not_fitted_with_reason(corpus, tmp_path):
    case = corpus["rate_1khz"]
    result = CliRunner().invoke(main, ["fit", str(case.path), "--out", str(tmp_path / "out"),
                                       "--levels", "1"])
    assert result.exit_code == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("glifx: error:") and str(case.path) in last and case.reason in last
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------- usage errors
RS_CELL = str(PROJECT_ROOT / "data_samples" / "rs_cell.nwb")


@pytest.mark.parametrize(("args", "fragment"), [
    (["fit", RS_CELL, "--out", "OUT", "--levels", "0,6"], "--levels"),
    (["fit", RS_CELL, "--out", "OUT", "--method", "bogus"], "--method"),
    (["fit", RS_CELL], "Missing option '--out'"),
    (["features", RS_CELL, "--filter", "-1"], "--filter"),
    (["features", RS_CELL, "--filter", "nan"], "finite"),
    (["features", RS_CELL, "--filter", "inf"], "finite"),
    (["qc", RS_CELL, "--pre-noise-rms-mv-max", "-1"], "pre_noise_rms_mv_max must be >= 0"),
    (["qc", RS_CELL, "--bogus"], "No such option"),
    (["info"], "Missing argument"),
    (["frobnicate"], "No such command"),
    (["simulate", "CONFIG", "--stimulus", "STIM", "--dt", "1e3"], "--dt"),
    (["simulate", "CONFIG", "--stimulus", "STIM", "--dt", "1e-12"], "--dt"),
])
def test_usage_error_one_line(args, fragment, tmp_path):
    args = [str(tmp_path / a) if a in ("OUT", "CONFIG", "STIM") else a for a in args]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("glifx: error:"), result.stderr
    assert fragment in lines[0]
    assert result.stdout == ""
    assert not (tmp_path / "OUT").exists()


def test_help_stays_rich():
    result = CliRunner().invoke(main, ["fit", "--help"])
    assert result.exit_code == 0 and "Example:" in result.output and "--levels" in result.output


@pytest.mark.parametrize(("stimulus", "fragment"), [
    (np.full(2000, 100, dtype=np.int64), "integer array"),
    (np.zeros(0), "empty"),
    (np.full(2000, 100.0), "not pA"),
])
def test_simulate_refuses_implausible_stimulus(shared_data, stimulus, fragment, tmp_path):
    config = next((shared_data / "allen_glif" / "configs").glob("*/*GLIF1_neuron_config.json"))
    stim = tmp_path / "stim.npy"
    np.save(stim, stimulus)
    result = CliRunner().invoke(main, ["simulate", str(config), "--stimulus", str(stim),
                                       "--dt", "5e-6"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(stim) in lines[0] and fragment in lines[0]


@pytest.mark.parametrize("content", [b"", b"\x93NUMPY\x01\x00v\x00{'descr'"])
def test_simulate_refuses_an_empty_or_truncated_stimulus_file(content, tmp_path):
    """An empty .npy (numpy raises EOFError, which click would report as "interrupted", exit
    130) and a truncated header: one line naming the file, exit 2."""
    config = PROJECT_ROOT / "tests" / "reference_cells" / "rs_cell" / "GLIF1_neuron_config.json"
    stim = tmp_path / "stim.npy"
    stim.write_bytes(content)
    result = CliRunner().invoke(main, ["simulate", str(config), "--stimulus", str(stim),
                                       "--dt", "5e-6"])
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(stim) in lines[0] and "not a readable .npy" in lines[0], lines


def test_an_eof_error_is_not_read_as_an_interruption(monkeypatch, tmp_path):
    """An EOFError a reader lets through is a bug (traceback, exit 1), not a stop (exit 130)."""
    import glifx.io

    def ends_early(*args, **kwargs):
        raise EOFError("Ran out of input")

    monkeypatch.setattr(glifx.io, "load_cell", ends_early)
    done = CliRunner().invoke(main, ["info", str(tmp_path / "any.nwb")])
    assert done.exit_code == 1 and isinstance(done.exception, RuntimeError), done.output
    assert "unexpected end of data" in str(done.exception)


# ------------------------------------------------------------------------------- numba cache
def test_no_writable_numba_cache_degrades_with_notice(tmp_path):
    """A read-only install without a writable cache: glifx runs, uncached, saying so once.
    (Run as root, permissions do not stop writes: a file where a folder must be does.)"""
    import shutil

    pkg = tmp_path / "site"
    shutil.copytree(PROJECT_ROOT / "glifx", pkg / "glifx",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for folder in [p for p in (pkg / "glifx").rglob("*") if p.is_dir()] + [pkg / "glifx"]:
        (folder / "__pycache__").write_text("not a folder")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    env = {**os.environ, "PYTHONPATH": str(pkg), "NUMBA_CACHE_DIR": str(blocker / "numba"),
           "HOME": str(blocker), "XDG_CACHE_HOME": str(blocker)}
    result = subprocess.run(
        [sys.executable, "-c", "import glifx.features._kernels, glifx.glif._kernels"],
        env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "NUMBA_CACHE_DIR" in lines[0], result.stderr


# ------------------------------------------------------------------------------- high rates
def test_hold_factor_finds_repeated_samples():
    from glifx.fitting.data import hold_factor

    rng = np.random.default_rng(0)
    v = rng.normal(-70.0, 1.0, 5000)
    assert hold_factor(v) == (1, 0)
    assert hold_factor(np.repeat(v, 25)) == (25, 0)
    assert hold_factor(np.repeat(v, 25)[7:]) == (25, 18)  # cut mid-step: runs start at 18
    stepped_nan_tail = np.concatenate([np.repeat(v, 4), np.full(100, np.nan)])
    assert hold_factor(stepped_nan_tail) == (4, 0)


def test_upsampled_recording_fits_as_recorded(tmp_path):
    """A 20 kHz recording stored at 200 kHz by repeating each sample (stair-step edges: every
    upstroke looked like several spikes, "no admissible spike cut") fits as the 20 kHz one."""
    import glifx

    cell = glifx.load_cell(rc.mini_cell(tmp_path)).select(["Noise 1", "Noise 2", "Short Square"])
    k = 10
    stepped = glifx.Cell.from_sweeps([
        glifx.Sweep(np.repeat(s.v, k), np.repeat(s.i, k), sampling_rate=s.sampling_rate * k,
                    sweep_number=s.sweep_number, stimulus_name=s.stimulus_name,
                    stimulus_amplitude=s.stimulus_amplitude) for s in cell], cell_id="stepped")
    expected = glifx.fit_cell(cell, (1,), qc=glifx.run_qc(cell))[1]
    got = glifx.fit_cell(stepped, (1,), qc=glifx.run_qc(stepped))[1]
    assert expected.ok and got.ok, got.reason
    assert got.train_ev == pytest.approx(expected.train_ev, abs=1e-9)
    assert got.test_ev == pytest.approx(expected.test_ev, abs=1e-9)


def test_nwb1_bad_sweep_is_that_sweeps_problem(tmp_path):
    """The Allen NWB 1 reader: a sweep with a zero rate and one with 2-D data are listed with
    their problems, QC fails them with the reasons, the good sweep passes."""
    import h5py
    from nwb1_writer import Nwb1Sweep, write_allen_nwb1

    import glifx

    rng = np.random.default_rng(1)
    n, rate = 3 * 50_000, 50_000.0
    i = np.zeros(n)
    i[50_000:100_000] = 40.0
    sweeps = [Nwb1Sweep(number=k, v=-70.0 + 0.02 * i + rng.normal(0, 0.02, n), i=i, rate=rate,
                        amplitude=40.0, code="C1LSCOARSE150216") for k in (1, 2, 3)]
    path = write_allen_nwb1(tmp_path / "nwb1.nwb", sweeps)
    with h5py.File(path, "r+") as f:
        f["acquisition/timeseries/Sweep_2/starting_time"].attrs["rate"] = 0.0
        g = f["acquisition/timeseries/Sweep_3"]
        data, attrs = g["data"][()], dict(g["data"].attrs)
        del g["data"]
        g.create_dataset("data", data=np.stack([data, data], axis=1)).attrs.update(attrs)
    cell = glifx.load_cell(path)
    problems = dict(zip(cell.sweep_table().sweep_number, cell.sweep_table().problem, strict=True))
    assert problems[1] is None and "sampling rate 0" in problems[2] and "1-D" in problems[3]
    qc = glifx.run_qc(cell)
    assert qc.passed_sweeps == [1]
    reasons = dict(zip(qc.sweeps.sweep_number, qc.sweeps.reasons, strict=True))
    assert "sampling rate 0" in reasons[2][0] and "1-D" in reasons[3][0]


def test_delay_fit_of_a_long_rise_is_thinned_not_changed():
    """A rise of 1.5 M samples (3 s at 500 kHz) is fitted on 100 k of them: tau as scipy's fit
    of every sample gives it."""
    from scipy.optimize import curve_fit

    from glifx.features.train import DELAY_FIT_MAX_SAMPLES, delay

    rate, n = 500e3, 1_500_000
    t = np.arange(n + 10) / rate
    v = -70.0 + 15.0 * (1 - np.exp(-t / 0.8)) + np.random.default_rng(0).normal(0, 0.3, t.size)
    spikes = pd.DataFrame({"threshold_t": [t[n]]})
    _, tau = delay(t, v, spikes, 0.0)

    def rise(x, y_inf, amp, tau):
        return y_inf - amp * np.exp(-x / tau)

    full, _ = curve_fit(rise, t[:n], v[:n], p0=(v[n - 1], v[n - 1] - v[0], 1.0))
    assert n > DELAY_FIT_MAX_SAMPLES
    assert tau == pytest.approx(full[2], rel=5e-3) and tau == pytest.approx(0.8, rel=0.02)
