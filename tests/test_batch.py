"""Cohort fitting on dask.distributed (``glifx fit PATH...``, ``glifx.fit_cohort``).

Real processes on the loopback interface only: the embedded ``LocalCluster``, an external
``dask scheduler`` with two ``dask worker`` processes, a run stopped with SIGTERM and resumed, a
worker killed while it fits a cell.  Per-cell folders are compared with single-file fits of the
same files the way tests/test_process.py compares the CLI with ``process_cell``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from test_process import _without_run_keys  # the run-time keys two fits differ by

import glifx
from glifx.batch import COHORT_COLUMNS, find_recordings
from glifx.batch.runner import CONNECT_TIMEOUT_S
from glifx.batch.tasks import FitOptions, finished_summary, folder_names
from glifx.cli import main
from glifx.qc import resolve_criteria
from glifx.report.outputs import SUMMARY_NAME

PROJECT = Path(__file__).resolve().parents[1]
SAMPLES = PROJECT / "data_samples"
GLIFX = [sys.executable, "-c", "from glifx.cli import main; main()"]
#: What dask's nanny sets in every worker process (``distributed.nanny.pre-spawn-environ``).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _env(**extra: str) -> dict[str, str]:
    """The environment of the subprocesses: this copy of glifx first on the path."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _assert_same_folder(a: Path, b: Path) -> None:
    """Same files; JSON equal without run-time keys, CSVs exactly, reports present."""
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        if name.endswith(".json"):
            assert _without_run_keys(json.loads((a / name).read_text())) == _without_run_keys(
                json.loads((b / name).read_text())), name
        elif name.endswith(".csv"):
            pd.testing.assert_frame_equal(pd.read_csv(a / name), pd.read_csv(b / name),
                                          check_exact=True)
        else:
            assert (b / name).stat().st_size > 0, name


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """A cohort folder: the two sample cells, one recording without Noise sweeps, one corrupt
    recording and a text file that is no recording; plus single-file fits (``glifx fit FILE``,
    GLIF1) of the two sample cells as they lie in that folder, run with one BLAS thread as dask
    runs its workers (a multi-threaded BLAS sums in another order: last-bit differences)."""
    root = tmp_path_factory.mktemp("cohort")
    cells = root / "cells"
    (cells / "sub").mkdir(parents=True)
    shutil.copy(SAMPLES / "rs_cell.nwb", cells / "rs_cell.nwb")
    shutil.copy(SAMPLES / "fs_cell.nwb", cells / "sub" / "fs_cell.nwb")
    full = glifx.load_cell(SAMPLES / "rs_cell.nwb")
    no_noise = full.select(sweep_numbers=[r.sweep_number for r in full.records
                                          if not (r.stimulus_name or "").startswith("Noise")])
    glifx.write_nwb(no_noise, cells / "no_noise.nwb")
    (cells / "corrupt.nwb").write_bytes((SAMPLES / "fs_cell.nwb").read_bytes()[:5000])
    (cells / "notes.txt").write_text("not a recording\n")
    single = root / "single"
    for path in (cells / "rs_cell.nwb", cells / "sub" / "fs_cell.nwb"):
        run = subprocess.run([*GLIFX, "fit", str(path), "--out", str(single), "--levels", "1"],
                             env=_env(**ONE_THREAD), capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr
    return cells, single


def _check_cohort(out: Path, cells: Path, single: Path) -> pd.DataFrame:
    frame = pd.read_csv(out / "cohort.csv", keep_default_na=False, na_values=[""],
                        float_precision="round_trip")
    assert list(frame.columns) == list(COHORT_COLUMNS)
    parquet = pd.read_parquet(out / "cohort.parquet")
    assert list(parquet["source"]) == list(frame["source"])
    by_name = {Path(s).name: row for s, row in zip(frame["source"], frame.to_dict("records"),
                                                     strict=True)}
    assert sorted(by_name) == ["corrupt.nwb", "fs_cell.nwb", "no_noise.nwb", "rs_cell.nwb"]
    for name in ("rs_cell", "fs_cell"):
        row = by_name[f"{name}.nwb"]
        assert row["status"] == "fitted" and pd.isna(row["reason"]), row
        assert row["folder"] == name and row["glif1_status"] == "fitted"
        summary = json.loads((single / name / SUMMARY_NAME).read_text())
        assert row["glif1_test_ev"] == summary["levels"]["GLIF1"]["test_ev"]
        assert row["glif1_R_input"] == summary["levels"]["GLIF1"]["parameters"]["R_input"]["value"]
        assert row["source_sha256"] == summary["source_sha256"]
        _assert_same_folder(single / name, out / name)
    assert by_name["no_noise.nwb"]["status"] == "failed"
    assert "Noise 1" in by_name["no_noise.nwb"]["reason"]
    assert by_name["corrupt.nwb"]["status"] == "failed"
    assert "corrupt.nwb" in by_name["corrupt.nwb"]["reason"]
    assert not (out / "no_noise").exists() and not _hidden(out)
    html = (out / "cohort.html").read_text()
    assert 'href="rs_cell/report.html"' in html and 'href="fs_cell/report.html"' in html
    assert "src=\"data:image/png;base64," in html
    return frame


# ------------------------------------------------------------------------- fast: no cluster
def test_find_recordings(cohort, tmp_path):
    cells, _ = cohort
    (cells / ".hidden.nwb").write_bytes(b"x")
    try:
        found = find_recordings([cells, cells / "rs_cell.nwb"], exclude=cells / "sub")
    finally:
        (cells / ".hidden.nwb").unlink()
    assert [p.name for p in found] == ["corrupt.nwb", "no_noise.nwb", "rs_cell.nwb"]
    with pytest.raises(glifx.FileFormatError, match="no such file"):
        find_recordings([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(glifx.FileFormatError, match="holds no recording"):
        find_recordings([tmp_path / "empty"])
    with pytest.raises(glifx.FileFormatError, match="notes.txt"):
        find_recordings([cells / "notes.txt"])


def test_two_files_with_one_cell_id_get_two_folders():
    sources = ["/a/rs_cell.nwb", "/b/rs_cell.nwb", "/c/fs_cell.nwb"]
    ids = {"/a/rs_cell.nwb": "rs_cell", "/b/rs_cell.nwb": "rs_cell", "/c/fs_cell.nwb": "fs_cell"}
    names = folder_names(ids, sources)
    assert names["/c/fs_cell.nwb"] == "fs_cell"
    a, b = names["/a/rs_cell.nwb"], names["/b/rs_cell.nwb"]
    assert a != b and a.startswith("rs_cell-") and b.startswith("rs_cell-")
    assert folder_names(ids, sources[::-1]) == names  # stable whatever the order


def test_a_finished_folder_is_kept_only_for_the_same_bytes_and_options(cohort):
    cells, single = cohort
    folder = single / "rs_cell"
    sha = json.loads((folder / SUMMARY_NAME).read_text())["source_sha256"]
    same = FitOptions(levels=(1,), method="select", criteria=resolve_criteria(None))
    assert finished_summary(folder, sha, same) is not None
    assert finished_summary(folder, "0" * 64, same) is None
    assert finished_summary(folder, sha, FitOptions((1, 3), "select", same.criteria)) is None
    assert finished_summary(folder, sha, FitOptions((1,), "ev", same.criteria)) is None
    stricter = resolve_criteria(None, min_passed_sweeps=same.criteria.min_passed_sweeps + 1)
    assert finished_summary(folder, sha, FitOptions((1,), "select", stricter)) is None


def test_bad_input_is_one_line_before_any_work(cohort, tmp_path):
    cells, _ = cohort
    out = tmp_path / "out"
    runner = CliRunner()
    for args, expected in (
        ([str(cells), str(tmp_path / "missing")], "missing: no such file"),
        ([str(cells), str(cells / "notes.txt")], "notes.txt"),
    ):
        result = runner.invoke(main, ["fit", *args, "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr
    (tmp_path / "empty").mkdir()
    result = runner.invoke(main, ["fit", str(tmp_path / "empty"), "--out", str(out)])
    assert result.exit_code == 2 and "holds no recording" in result.stderr
    (tmp_path / "a_file").write_text("")
    result = runner.invoke(main, ["fit", str(cells), "--out", str(tmp_path / "a_file" / "out")])
    assert result.exit_code == 2 and "cannot be written" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_an_unreachable_scheduler_is_one_line_after_the_connect_timeout(cohort, tmp_path):
    cells, _ = cohort
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    t0 = time.perf_counter()
    result = CliRunner().invoke(main, ["fit", str(cells), "--out", str(tmp_path / "out"),
                                       "--scheduler", address])
    elapsed = time.perf_counter() - t0
    # Not a speed target: the command's contract is to give up after CONNECT_TIMEOUT_S (10 s, the
    # timeout glifx passes to dask's Client and names in the error), where dask's own default
    # connect timeout (30 s) would keep it waiting longer.  The 20 s beyond it are for starting
    # dask on a loaded machine; a command that ignored the timeout would take 30 s or more.
    assert elapsed < CONNECT_TIMEOUT_S + 20.0, elapsed
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and address in lines[0]
    assert f"within {CONNECT_TIMEOUT_S:g} s" in lines[0], lines[0]
    assert not (tmp_path / "out" / "cohort.csv").exists()


# --------------------------------------------------------------------- real clusters (slow)
@pytest.mark.slow
def test_embedded_cohort_and_resume(cohort, tmp_path):
    cells, single = cohort
    out = tmp_path / "out"
    args = [*GLIFX, "fit", str(cells), "--out", str(out), "--levels", "1", "--workers", "2"]
    run = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    assert "4 recordings, 2 fitted (0 kept from an earlier run), 2 failed" in run.stdout
    assert "cohort: 4/4 done (2 failed)" in run.stderr
    first = _check_cohort(out, cells, single)
    assert not first["resumed"].any()
    created = json.loads((out / "rs_cell" / SUMMARY_NAME).read_text())["created"]
    # the same command again: nothing refitted, the same table
    again = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr
    assert "2 fitted (2 kept from an earlier run)" in again.stdout
    second = _check_cohort(out, cells, single)
    assert list(second["resumed"]) == [s == "fitted" for s in second["status"]]
    assert json.loads((out / "rs_cell" / SUMMARY_NAME).read_text())["created"] == created
    keep = [c for c in COHORT_COLUMNS if c not in ("resumed", "wall_time_s")]
    pd.testing.assert_frame_equal(first[keep], second[keep])


@pytest.fixture
def external_cluster(tmp_path):
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 (killed at the end)."""
    scheduler_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", "0", "--dashboard-address", "127.0.0.1:0", "--scheduler-file",
         str(scheduler_file)], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 120
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        for _ in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                 "--host", "127.0.0.1", "--no-dashboard"],
                env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for proc in reversed(procs):
            proc.kill()
            proc.wait(timeout=30)


@pytest.mark.slow
def test_cohort_on_an_external_scheduler(cohort, external_cluster, tmp_path):
    cells, single = cohort
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["fit", str(cells), "--out", str(out), "--levels", "1",
                                       "--scheduler", external_cluster])
    assert result.exit_code == 0, result.output
    _check_cohort(out, cells, single)


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_the_rerun_completes(cohort, tmp_path):
    cells, single = cohort
    inputs = [str(cells / "rs_cell.nwb"), str(cells / "sub" / "fs_cell.nwb")]
    out = tmp_path / "out"
    args = [*GLIFX, "fit", *inputs, "--out", str(out), "--levels", "1", "--workers", "1"]
    proc = subprocess.Popen(args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_dir() and any((out / n / SUMMARY_NAME).exists() for n in ("rs_cell", "fs_cell")):
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "interrupted" in stderr and "rerun the same command" in stderr
    # the cell running at the signal is stopped with its worker, unless it ends within the
    # seconds dask gives the worker to shut down (a GLIF1 fit of the FS cell takes about that
    # long): then its folder is whole and the table lists it too
    finished = [n for n in ("rs_cell", "fs_cell") if (out / n).exists()]
    assert len(finished) in (1, 2) and not _hidden(out)
    table = _table_and_report_agree(out)  # the report too is of the cells finished so far
    assert sorted(table["folder"]) == sorted(finished) and set(table["status"]) == {"fitted"}
    created = {n: json.loads((out / n / SUMMARY_NAME).read_text())["created"] for n in finished}
    rerun = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr
    assert f"2 fitted ({len(finished)} kept from an earlier run)" in rerun.stdout
    for n in finished:
        assert json.loads((out / n / SUMMARY_NAME).read_text())["created"] == created[n]
    for name in ("rs_cell", "fs_cell"):
        _assert_same_folder(single / name, out / name)


@pytest.mark.slow
def test_a_worker_killed_mid_cell_costs_a_retry(cohort, tmp_path):
    """SIGKILL the worker process running the RS cell: dask runs the cell again on a live worker
    (the nanny restarts the killed one) and the run finishes with every row."""
    import dask
    from distributed import Client, LocalCluster

    cells, single = cohort
    inputs = [cells / "rs_cell.nwb", cells / "sub" / "fs_cell.nwb"]
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                               dashboard_address=None,
                               scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
    killed: list[int] = []
    with cluster, Client(cluster) as client:
        def kill_when_running() -> None:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and not killed:
                for worker, keys in client.processing().items():
                    if any(str(k).startswith("glifx-fit-rs_cell") for k in keys):
                        time.sleep(2.0)  # well inside the fit
                        pid = client.run(os.getpid, workers=[worker])[worker]
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                        return
                time.sleep(0.2)

        killer = threading.Thread(target=kill_when_running, daemon=True)
        killer.start()
        frame = glifx.fit_cohort(inputs, tmp_path / "out", client=client, levels=(1,))
        killer.join(timeout=5)
    assert killed, "the RS cell never ran"
    rows = dict(zip(frame["folder"], frame["status"], strict=True))
    assert rows == {"rs_cell": "fitted", "fs_cell": "fitted"}
    _assert_same_folder(single / "rs_cell", tmp_path / "out" / "rs_cell")
    assert not _hidden(tmp_path / "out")


# ------------------------------------------------------- timeout, dead worker, interrupted run
def _own_cluster(n_workers: int):
    """A LocalCluster on loopback, one thread per worker, one retry after a worker death (as
    the embedded cluster of ``fit_cohort``)."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, host="127.0.0.1",
                            dashboard_address=None,
                            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _table_and_report_agree(out: Path) -> pd.DataFrame:
    """cohort.csv, cohort.parquet and cohort.html describe the same cells."""
    table = pd.read_csv(out / "cohort.csv", keep_default_na=False)
    assert list(pd.read_parquet(out / "cohort.parquet")["source"]) == list(table["source"])
    html = (out / "cohort.html").read_text()
    assert f"<h1>Cohort: {len(table)} recordings</h1>" in html
    assert all(source in html for source in table["source"])
    return table


def _busy_then_write(path: str, seconds: float) -> str:
    """A task that computes for ``seconds`` and then writes ``path`` (as a cell writes its
    folder at its end)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        sum(range(10_000))
    Path(path).write_text("finished")
    return path


def test_a_stopped_worker_stops_its_task_at_once(tmp_path):
    """The cohort's stop (cell timeout, interrupt) does not wait for the running task: a task
    that would write its file 3 s later never does, the worker process is replaced within
    seconds, and the scheduler does not run the cancelled task again."""
    from distributed import Client

    from glifx.batch.runner import _stop_workers

    flag = tmp_path / "finished"
    with _own_cluster(1) as cluster, Client(cluster) as client:
        (before,) = client.run(os.getpid).values()
        future = client.submit(_busy_then_write, str(flag), 3.0, pure=False)
        deadline = time.monotonic() + 30
        while not any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        (worker,) = [w for w, keys in client.processing().items() if keys]
        client.cancel([future])
        t0 = time.monotonic()
        status = _stop_workers(client, [worker])
        stopped_after = time.monotonic() - t0
        client.wait_for_workers(1, timeout=60)
        (after,) = client.run(os.getpid).values()
        time.sleep(4.0)  # beyond the moment the task would have written its file
        assert not any(client.processing().values())
    assert status == {worker: "OK"}
    assert stopped_after < 2.5 and _gone(before) and after != before
    assert not flag.exists()


def test_a_bad_cell_timeout_is_one_line(cohort, tmp_path):
    cells, _ = cohort
    for value in ("0", "-1", "nan", "inf", "soon"):
        result = CliRunner().invoke(main, ["fit", str(cells), "--out", str(tmp_path / "out"),
                                           "--cell-timeout", value])
        assert result.exit_code == 2, (value, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "timeout" in lines[0], (value, lines)
    assert not (tmp_path / "out" / "cohort.csv").exists()


@pytest.mark.slow
def test_a_cell_over_the_timeout_is_stopped_and_fails(cohort, tmp_path):
    """A real fit (the RS cell: seconds) under a 0.5 s cell timeout, on one worker, with a
    cell kept from an earlier run: the RS cell becomes a failed row naming the timeout, its
    worker process is gone (restarted, not left computing), the other cell is done on the new
    worker and nothing of the stopped cell is left."""
    from distributed import Client

    cells, single = cohort
    out = tmp_path / "out"
    shutil.copytree(single / "fs_cell", out / "fs_cell")
    inputs = [cells / "rs_cell.nwb", cells / "sub" / "fs_cell.nwb"]
    with _own_cluster(1) as cluster, Client(cluster) as client:
        (before,) = client.run(os.getpid).values()
        t0 = time.monotonic()
        frame = glifx.fit_cohort(inputs, out, client=client, levels=(1,), cell_timeout=0.5)
        elapsed = time.monotonic() - t0
        (after,) = client.run(os.getpid).values()
    rows = {Path(r["source"]).name: r for r in frame.to_dict("records")}
    rs = rows["rs_cell.nwb"]
    assert rs["status"] == "failed" and "cell timeout of 0.5 s" in rs["reason"], rs["reason"]
    assert "restarting its worker" in rs["reason"] and 0.5 <= rs["wall_time_s"] < 30
    assert rows["fs_cell.nwb"]["status"] == "fitted" and rows["fs_cell.nwb"]["resumed"]
    assert after != before and _gone(before)
    assert elapsed < 80  # the RS fit alone takes longer than that here: it was not waited for
    assert sorted(p.name for p in out.iterdir()) == [
        "cohort.csv", "cohort.html", "cohort.parquet", "fs_cell"]
    table = _table_and_report_agree(out)
    assert "cell timeout" in table.set_index("folder").loc["", "reason"]


@pytest.mark.slow
def test_cell_timeout_from_the_command_line(cohort, tmp_path):
    cells, single = cohort
    out = tmp_path / "out"
    shutil.copytree(single / "fs_cell", out / "fs_cell")
    run = subprocess.run([*GLIFX, "fit", str(cells / "rs_cell.nwb"), str(cells / "sub" / "fs_cell.nwb"),
                          "--out", str(out), "--levels", "1", "--workers", "1",
                          "--cell-timeout", "0.5"],
                         env=_env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "rs_cell: failed: timed out: still running after the cell timeout of 0.5 s" in run.stderr
    assert "2 recordings, 1 fitted (1 kept from an earlier run), 1 failed" in run.stdout
    table = _table_and_report_agree(out)
    assert sorted(table["status"]) == ["failed", "fitted"]
    assert not _hidden(out)


@pytest.mark.slow
def test_cell_timeout_on_an_external_scheduler(cohort, external_cluster, tmp_path):
    """`dask worker` runs its worker under a nanny too: the timed-out cell's worker process is
    restarted there (a new process id), and the run goes on."""
    from distributed import Client

    cells, single = cohort
    out = tmp_path / "out"
    shutil.copytree(single / "fs_cell", out / "fs_cell")
    with Client(external_cluster, timeout=30) as client:
        before = set(client.run(os.getpid).values())
        frame = glifx.fit_cohort([cells / "rs_cell.nwb", cells / "sub" / "fs_cell.nwb"], out,
                                 client=client, levels=(1,), cell_timeout=0.5)
        client.wait_for_workers(2, timeout=120)
        after = set(client.run(os.getpid).values())
    rows = {Path(r["source"]).name: r for r in frame.to_dict("records")}
    assert "cell timeout of 0.5 s; stopped by restarting" in rows["rs_cell.nwb"]["reason"]
    assert rows["fs_cell.nwb"]["status"] == "fitted"
    assert len(before - after) == 1 and all(_gone(pid) for pid in before - after)
    assert not _hidden(out) and not (out / "rs_cell").exists()


@pytest.mark.slow
def test_a_cell_that_kills_its_worker_every_time_is_a_failed_row(cohort, tmp_path):
    """The worker running the RS cell is SIGKILLed on every attempt (as an out-of-memory kill
    would): after dask's one retry the cell is a failed row saying its worker died; the other
    cell is done; no folder, hidden or not, is left of the killed cell."""
    from distributed import Client

    cells, single = cohort
    out = tmp_path / "out"
    shutil.copytree(single / "fs_cell", out / "fs_cell")
    inputs = [cells / "rs_cell.nwb", cells / "sub" / "fs_cell.nwb"]
    killed: list[int] = []
    stop = threading.Event()
    with _own_cluster(2) as cluster, Client(cluster) as client:
        def kill_every_attempt() -> None:
            while not stop.is_set() and len(killed) < 2:
                for worker, keys in client.processing().items():
                    if any(str(k).startswith("glifx-fit-rs_cell") for k in keys):
                        time.sleep(1.0)  # into the cell (a new worker imports glifx first)
                        try:
                            pid = client.run(os.getpid, workers=[worker])[worker]
                        except Exception:  # noqa: BLE001 - the worker moved on; look again
                            break
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                        time.sleep(1.0)  # let the scheduler see the death before looking again
                        break
                time.sleep(0.1)

        killer = threading.Thread(target=kill_every_attempt, daemon=True)
        killer.start()
        try:
            frame = glifx.fit_cohort(inputs, out, client=client, levels=(1,))
        finally:
            stop.set()
            killer.join(timeout=10)
    assert len(killed) == 2, killed
    rows = {Path(r["source"]).name: r for r in frame.to_dict("records")}
    rs = rows["rs_cell.nwb"]
    assert rs["status"] == "failed" and "worker process died" in rs["reason"], rs["reason"]
    assert "KilledWorker" in rs["reason"]
    assert rows["fs_cell.nwb"]["status"] == "fitted"
    assert sorted(p.name for p in out.iterdir()) == [
        "cohort.csv", "cohort.html", "cohort.parquet", "fs_cell"]
    _table_and_report_agree(out)


@pytest.mark.slow
def test_an_interrupted_run_leaves_report_and_table_of_the_same_cells(cohort, tmp_path):
    """Interrupted as the first cell (kept from an earlier run) arrives: cohort.html is rewritten
    with cohort.csv (a stale report of an older run does not stay beside a newer table) and
    says that the run is not finished."""
    cells, single = cohort
    out = tmp_path / "out"
    shutil.copytree(single / "fs_cell", out / "fs_cell")
    (out / "cohort.html").write_text("<html>stale report of another run</html>")

    def interrupt(state: glifx.batch.CohortProgress) -> None:
        if state.last is not None:
            raise KeyboardInterrupt("SIGTERM")

    # the kept cell first: one worker runs the tasks in the order they were submitted
    inputs = [cells / "sub" / "fs_cell.nwb", cells / "rs_cell.nwb"]
    with pytest.raises(KeyboardInterrupt):
        glifx.fit_cohort(inputs, out, workers=1, levels=(1,), progress=interrupt)
    table = _table_and_report_agree(out)
    assert list(table["folder"]) == ["fs_cell"]
    html = (out / "cohort.html").read_text()
    assert "stale" not in html and "1 of 2 recordings finished" in html
    assert sorted(p.name for p in out.iterdir()) == [
        "cohort.csv", "cohort.html", "cohort.parquet", "fs_cell"]
