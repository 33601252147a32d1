"""Outputs under stress: killed runs leave no debris for long, a full disk leaves no partial set,
an unusable ``--out`` is found before any work, and stale temporaries are told from live ones."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from glifx._files import _temp_prefix, clean_stale_outputs, staged_dir
from glifx.cli import main
from glifx.errors import OutputError

sys.path.insert(0, str(Path(__file__).parent))
import reliability_corpus as rc  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
GLIF1_CONFIG = PROJECT_ROOT / "tests" / "reference_cells" / "rs_cell" / "GLIF1_neuron_config.json"
FIT_FILES = {"qc.csv", "qc.json", "columns.json", "sweep_features.csv", "spikes.csv",
             "cell_features.json", "fit_summary.json", "report.html", "GLIF1_neuron_config.json"}


@pytest.fixture(scope="module")
def mini(tmp_path_factory) -> Path:
    return rc.mini_cell(tmp_path_factory.mktemp("mini"))


@pytest.fixture(scope="module")
def stimulus(tmp_path_factory) -> Path:
    """0.5 s of 200 pA at 5 µs steps (100 000 steps: a ~3 MB --trace, a few spikes)."""
    import numpy as np

    path = tmp_path_factory.mktemp("stimulus") / "step.npy"
    np.save(path, np.full(100_000, 200e-12))
    return path


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _args(command: str, mini: Path, stimulus: Path, out: Path) -> list[str]:
    """The command line writing into ``out`` (a folder; ``simulate`` writes its files there)."""
    if command.startswith("simulate"):
        files = {"--out": out / "spikes.npy", "--trace": out / "trace.npz"}
        which = command.split()[1:] or list(files)
        return ["simulate", str(GLIF1_CONFIG), "--stimulus", str(stimulus), "--dt", "5e-6",
                *(x for flag in which for x in (flag, str(files[flag])))]
    return [command, str(mini), "--out", str(out)] + (["--levels", "1"] if command == "fit" else [])


# ------------------------------------------------------------------------ stale temporaries
def test_clean_removes_dead_runs_and_keeps_live_ones(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = tmp_path / f"{_temp_prefix(tmp_path / 'cell')}abc.tmp"  # this process: alive
    live.mkdir()
    host = _temp_prefix(tmp_path).split("-")[1]
    stale = [tmp_path / f".cell.glifx-{host}-{dead.pid}-xyz.tmp",
             tmp_path / f".cell.glifx-{host}-{dead.pid}-xyz.old"]
    for path in stale:
        path.mkdir()
        (path / "qc.csv").write_text("half")
    user_files = [tmp_path / ".cell.tmp", tmp_path / "cell", tmp_path / ".hidden_notes"]
    user_files[0].mkdir()
    user_files[1].mkdir()
    user_files[2].write_text("mine")
    removed = clean_stale_outputs(tmp_path)
    assert sorted(removed) == sorted(stale)
    assert live.exists() and all(p.exists() for p in user_files)


def test_sigterm_inside_staging_removes_it(tmp_path):
    with pytest.raises(KeyboardInterrupt), staged_dir(tmp_path / "cell") as stage:
        (stage / "qc.csv").write_text("x")
        raise KeyboardInterrupt  # what the CLI's SIGTERM handler raises
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------ --out checked first
@pytest.mark.parametrize("command", ["qc", "features", "fit", "simulate --out",
                                     "simulate --trace"])
def test_unusable_out_found_before_any_work(mini, stimulus, command, tmp_path, monkeypatch):
    import glifx.features
    import glifx.glif
    import glifx.process
    import glifx.qc

    def no_work(*args, **kwargs):
        raise AssertionError("work started before --out was checked")

    for module in (glifx.qc, glifx.process):  # where the commands look them up
        monkeypatch.setattr(module, "run_qc", no_work)
    for module in (glifx.features, glifx.process):
        monkeypatch.setattr(module, "extract_features", no_work)
    monkeypatch.setattr(glifx.glif, "simulate", no_work)  # simulate imports it when it runs
    (tmp_path / "a_file").write_text("a file where a folder must be")
    out = tmp_path / "a_file" / "results"
    result = CliRunner().invoke(main, _args(command, mini, stimulus, out))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(out) in lines[0] and "not a folder" in lines[0], result.stderr


# ------------------------------------------------------------------------ kills
def _fit(mini: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.Popen([sys.executable, "-m", "glifx", "fit", str(mini), "--out", str(out),
                             "--levels", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env)


def _complete(cell_dir: Path) -> bool:
    return {p.name for p in cell_dir.iterdir()} == FIT_FILES


def _kill_while_writing(proc: subprocess.Popen, out: Path, sig: int) -> bool:
    """Send ``sig`` as soon as the staging folder appears; whether it was caught writing."""
    while proc.poll() is None:
        if any(p.name.endswith(".tmp") for p in out.iterdir()) if out.exists() else False:
            proc.send_signal(sig)
            return True
        time.sleep(0.002)
    return False


def test_sigterm_while_the_fit_waits_for_the_features_helper(mini, tmp_path):
    """The preprocessing's regressions wait for the features helper (in the main thread, the
    thresholds running beside): SIGTERM there is an interrupted run (exit 130), the error of
    no other thread, and nothing is said after it."""
    out = tmp_path / "out"
    proc = _fit(mini, out)
    assert proc.stderr is not None
    said = []
    for line in iter(proc.stderr.readline, b""):
        said.append(line.decode())
        if "preprocessing: spike cut and reset" in said[-1]:  # the regressions wait from here
            proc.send_signal(signal.SIGTERM)
            break
    try:  # an exit that waits for a thread stuck on the import lock would hang here
        rest = proc.communicate(timeout=60)[1].decode()
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("glifx fit did not exit within 60 s of SIGTERM: " + "".join(said))
    assert proc.returncode == 130, "".join(said) + rest
    assert rest.strip().splitlines()[-1] == "glifx: interrupted", rest
    assert not out.exists() or _hidden(out) == []


@pytest.mark.slow
def test_kills_then_normal_run_leave_one_complete_folder(mini, tmp_path):
    """SIGTERM and SIGKILL early, mid-run and while writing; a SIGTERM cleans up at once, a
    SIGKILL's debris goes at the next run; the old result stays whole until replaced."""
    out = tmp_path / "out"
    t0 = time.perf_counter()
    first = _fit(mini, out)
    assert first.wait() == 0, first.stderr.read()
    duration = time.perf_counter() - t0
    cell_dir = out / mini.stem
    assert _complete(cell_dir) and _hidden(out) == []

    caught_writing = 0
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for moment in ("early", "middle", "writing"):
            proc = _fit(mini, out)
            if moment == "writing":
                caught_writing += _kill_while_writing(proc, out, sig)
            else:
                time.sleep(duration * (0.3 if moment == "early" else 0.6))
                proc.send_signal(sig)
            code = proc.wait()
            stderr = proc.stderr.read().decode()
            assert "Traceback" not in stderr, stderr
            assert _complete(cell_dir), (sig, moment)  # old or new, never partial
            if sig == signal.SIGTERM:
                assert code in (0, 130, -signal.SIGTERM), (moment, code, stderr)
                assert _hidden(out) == [], (moment, _hidden(out))
    assert caught_writing >= 1

    last = _fit(mini, out)
    assert last.wait() == 0, last.stderr.read()
    assert [p.name for p in out.iterdir()] == [mini.stem]
    assert _complete(cell_dir)


def test_sigterm_inside_an_extension_reads_as_interrupted(tmp_path):
    """A SIGTERM that lands inside a C extension surfaces as that extension's exception (numba
    loading a cached kernel raises ``SystemError ... returned a result with an exception set``);
    the command still stops as interrupted, with no traceback."""
    script = tmp_path / "term.py"
    script.write_text(
        "import os, signal, time, click\n"
        "from glifx.cli import main\n"
        "@main.command('term-test')\n"
        "def term_test():\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        time.sleep(5)\n"
        "    except KeyboardInterrupt as exc:\n"
        "        raise SystemError('kernel returned a result with an exception set') from exc\n"
        "main(['term-test'], prog_name='glifx')\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=60)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and "glifx: interrupted" in done.stderr, done.stderr


def test_sigterm_inside_a_string_exec_under_python_m_exits_130(tmp_path):
    """A SIGTERM that lands while a module import builds a dataclass (a string ``exec``) makes
    CPython end a ``python -m`` process by SIGINT (status -2) after the exception was caught; the
    command must still exit 130 (seen as a rare failure of the early kill above)."""
    (tmp_path / "term_exec.py").write_text(
        "import os, signal, click\n"
        "from glifx.cli import main\n"
        "@main.command('term-exec')\n"
        "def term_exec():\n"
        "    exec('import os, signal\\nos.kill(os.getpid(), signal.SIGTERM)\\n"
        "import time\\ntime.sleep(5)', {})\n"
        "main(['term-exec'], prog_name='glifx')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PROJECT_ROOT)])}
    done = subprocess.run([sys.executable, "-m", "term_exec"], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 130, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and "glifx: interrupted" in done.stderr, done.stderr


# ------------------------------------------------------------------------ full disk
@pytest.fixture
def small_disk(tmp_path):
    """Mount a small tmpfs (root only); yields a function that mounts it with a size."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = []

    def make(kib: int) -> Path:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(mount)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
        mounted.append(mount)
        return mount

    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    yield make
    for path in mounted:
        subprocess.run(["umount", str(path)], check=False)


@pytest.mark.parametrize(("command", "kib"), [
    ("qc", 8), ("features", 28), ("fit", 80),
    # the trace (~3 MB) does not fit, the spike steps would: neither may be left
    ("simulate", 64), ("simulate --trace", 64),
])
def test_full_disk_leaves_no_partial_set(mini, stimulus, small_disk, command, kib):
    disk = small_disk(kib)
    out = disk / "out"
    if command.startswith("simulate"):
        out.mkdir()  # simulate writes files into an existing folder
    result = CliRunner().invoke(main, _args(command, mini, stimulus, out))
    assert result.exit_code == 2, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("glifx: error:") and str(out) in last and "No space left" in last, last
    leftovers = [p for p in disk.rglob("*") if p.is_file()]
    assert leftovers == [], leftovers
    assert not any(p.name.startswith(".") for p in disk.rglob("*"))


def _fill(disk: Path, leave: int = 0) -> None:
    """Fill the tmpfs ``disk`` with a file ``filler``, leaving ``leave`` bytes (whole pages)."""
    with open(disk / "filler", "wb", buffering=0) as fh:
        while True:
            try:
                fh.write(b"x" * PAGE)
            except OSError:
                break
    if leave:
        os.truncate(disk / "filler", (disk / "filler").stat().st_size - leave)


PAGE = 4096  # tmpfs counts whole pages


@pytest.mark.parametrize("room", ["none", "for the trace only", "for both"])
def test_full_disk_simulate_writes_both_files_or_none(stimulus, small_disk, tmp_path, room):
    """``simulate --out --trace`` on a disk with no room, or room for the trace but not the
    spike steps as well: the message names a file, nothing but the filler is left (the spike
    steps must not be flushed only after the trace is in place); with room for both, both."""
    files = {"--out": "spikes.npy", "--trace": "trace.npz"}

    def run(folder: Path):
        return CliRunner().invoke(main, [
            "simulate", str(GLIF1_CONFIG), "--stimulus", str(stimulus), "--dt", "5e-6",
            *(x for flag, name in files.items() for x in (flag, str(folder / name)))])

    assert run(tmp_path).exit_code == 0
    trace_pages = -(-(tmp_path / files["--trace"]).stat().st_size // PAGE)
    disk = small_disk(2 * trace_pages * PAGE // 1024)
    pages = {"none": 0, "for the trace only": trace_pages, "for both": trace_pages + 1}[room]
    _fill(disk, leave=pages * PAGE)
    result = run(disk)
    if room == "for both":  # the boundary is where the test says it is
        assert result.exit_code == 0, result.output
        assert sorted(p.name for p in disk.iterdir()) == sorted(["filler", *files.values()])
        return
    assert result.exit_code == 2, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("glifx: error:") and "No space left" in last, last
    assert any(str(disk / name) in last for name in files.values()), last
    assert [p.name for p in disk.iterdir()] == ["filler"]


def test_updated_dir_keeps_other_files_and_swaps_whole(tmp_path, monkeypatch):
    from glifx._files import updated_dir

    out = tmp_path / "cell1"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "qc.csv").write_text("old")
    with updated_dir(out) as stage:
        (stage / "qc.csv").write_text("new")
        (stage / "qc.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "qc.csv", "qc.json"]
    assert (out / "qc.csv").read_text() == "new" and (out / "notes.txt").read_text() == "mine"
    assert _hidden(tmp_path) == []
    # the working directory is updated in place (a shell inside it keeps its folder)
    monkeypatch.chdir(out)
    inode = out.stat().st_ino
    with updated_dir(".") as stage:
        (stage / "qc.csv").write_text("newer")
    assert out.stat().st_ino == inode and (out / "qc.csv").read_text() == "newer"
    assert _hidden(out) == [] and _hidden(tmp_path) == []
    # a failure while writing leaves the old set
    with pytest.raises(RuntimeError), updated_dir(out) as stage:
        (stage / "qc.csv").write_text("half")
        raise RuntimeError("disk on fire")
    assert (out / "qc.csv").read_text() == "newer" and _hidden(out) == []


# ------------------------------------------ failures injected in simulate, export, compare, cohort
# Two injections: the disk fills while a file is being written (half of the bytes reach the file,
# then ENOSPC), and it fills when the finished file is synced (the temporary then holds the whole
# output, so only the rename decides what a reader sees).  Every previous file must stay as it was.
PREVIOUS = b"previous output"


class _HalfThenFull:
    """A file handle that writes half of the first chunk it is given, then raises ENOSPC."""

    def __init__(self, fh):
        self._fh = fh

    def write(self, data):
        self._fh.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._fh.__exit__(*exc)


def _inject(monkeypatch, how: str, nth: int = 1) -> None:
    """Make the ``nth`` file glifx._files opens (``how="write"``) or syncs (``"fsync"``) fail."""
    import glifx._files as files

    calls = []
    if how == "write":
        def failing_open(*args, **kwargs):
            fh = open(*args, **kwargs)  # noqa: SIM115 - closed by the wrapper's __exit__
            calls.append(args[0])
            return _HalfThenFull(fh) if len(calls) == nth else fh

        monkeypatch.setattr(files, "open", failing_open, raising=False)
    else:
        real_fsync = os.fsync

        def failing_fsync(fd):
            calls.append(fd)
            if len(calls) == nth:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_fsync(fd)

        monkeypatch.setattr(files.os, "fsync", failing_fsync)


def _previous(*paths: Path) -> None:
    for path in paths:
        path.write_bytes(PREVIOUS)


def _assert_untouched(folder: Path, *paths: Path) -> None:
    for path in paths:
        assert path.read_bytes() == PREVIOUS, f"{path.name} was replaced"
    assert _hidden(folder) == [], "temporary files left behind"


def _one_line_error(result, names: Path) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("glifx: error:"), result.stderr
    assert str(names) in lines[0] and "No space left" in lines[0], lines[0]


@pytest.mark.parametrize(("how", "nth", "failing"), [
    ("write", 1, "spikes"), ("write", 2, "trace"), ("fsync", 1, None), ("fsync", 2, None)])
def test_simulate_outputs_appear_together_or_not_at_all(tmp_path, monkeypatch, how, nth, failing):
    from glifx.glif import GlifModel

    model = GlifModel(level=3, R_input=2e8, C=1e-10, th_inf=0.02, spike_cut_length=20,
                      asc_amp_array=(-5e-11, -1e-11), asc_tau_array=(0.01, 0.1))
    config, stimulus = tmp_path / "in" / "GLIF3_neuron_config.json", tmp_path / "in" / "stim.npy"
    config.parent.mkdir()
    config.write_text(json.dumps(model.to_allen_config()))
    np.save(stimulus, np.full(4000, 3e-10))
    spikes, trace = tmp_path / "spikes.npy", tmp_path / "trace.npz"
    _previous(spikes, trace)
    _inject(monkeypatch, how, nth)
    result = CliRunner().invoke(main, ["simulate", str(config), "--stimulus", str(stimulus),
                                       "--dt", "5e-6", "--out", str(spikes), "--trace", str(trace)])
    # the file whose write failed is named; a failed sync may be either file's
    _one_line_error(result, {"spikes": spikes, "trace": trace}.get(failing, tmp_path))
    _assert_untouched(tmp_path, spikes, trace)


@pytest.mark.parametrize("how", ["write", "fsync"])
def test_export_out_keeps_the_previous_file(tmp_path, monkeypatch, how):
    from glifx.glif import GlifModel

    config = tmp_path / "in" / "GLIF1_neuron_config.json"
    config.parent.mkdir()
    model = GlifModel(level=1, R_input=2e8, C=1e-10, th_inf=0.02, spike_cut_length=20)
    config.write_text(json.dumps(model.to_allen_config()))
    out = tmp_path / "glif1_nest.json"
    _previous(out)
    _inject(monkeypatch, how)
    result = CliRunner().invoke(main, ["export", str(config), "--to", "nest", "--out", str(out)])
    _one_line_error(result, out)
    _assert_untouched(tmp_path, out)


@pytest.mark.parametrize("how", ["write", "fsync"])
def test_compare_html_keeps_the_previous_report(tmp_path, monkeypatch, how):
    rs = PROJECT_ROOT / "tests" / "reference_cells" / "rs_cell"
    out = tmp_path / "diff.html"
    _previous(out)
    _inject(monkeypatch, how)
    result = CliRunner().invoke(main, ["compare", str(rs), str(rs), "--html", str(out)])
    _one_line_error(result, out)
    _assert_untouched(tmp_path, out)


@pytest.mark.parametrize(("how", "nth"), [("write", 1), ("write", 2), ("fsync", 1), ("fsync", 2)])
def test_cohort_tables_are_replaced_together_or_not_at_all(tmp_path, monkeypatch, how, nth):
    from glifx.batch import cohort_frame, write_cohort_tables
    from glifx.batch.table import failed_row

    frame = cohort_frame([failed_row(f"/data/cell{k}.nwb", "unreadable") for k in range(3)])
    csv, parquet = tmp_path / "cohort.csv", tmp_path / "cohort.parquet"
    written = write_cohort_tables(frame, tmp_path)
    assert written == {"csv": csv, "parquet": parquet}
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), frame)
    pd.testing.assert_frame_equal(pd.read_csv(csv, keep_default_na=False)[["source"]],
                                  frame[["source"]])
    _previous(csv, parquet)
    _inject(monkeypatch, how, nth)
    with pytest.raises(OutputError, match="No space left"):
        write_cohort_tables(frame, tmp_path)
    _assert_untouched(tmp_path, csv, parquet)
