"""``fit_cohort``: many recordings, one :func:`glifx.process_cell` task per cell on dask.distributed.

glifx only submits tasks and collects their rows; scheduling, retrying and reporting dead
workers are dask's (``retries=1`` per task; a worker that dies while running a cell makes the
scheduler run the cell again elsewhere, up to ``distributed.scheduler.allowed-failures`` times —
1 on the embedded cluster — and then report ``KilledWorker``, which becomes the cell's reason).

Per-cell timeout: dask cannot stop a task that is running (cancelling a future only forgets
its result; the worker thread goes on).  So each cell announces on the worker when it starts
(an event the client subscribes to), and a cell running longer than ``cell_timeout`` is
cancelled and the worker process running it is killed by its nanny, which starts a fresh one;
the cell becomes a ``failed`` row.  The kill is the nanny's own (``Nanny.kill``) with a short
grace, not ``Client.restart_workers``: a graceful restart waits for the running task to end (up
to 4 s), so a cell could finish after its timeout.  An interrupted run (Ctrl-C, SIGTERM) stops
its running cells the same way.
"""

from __future__ import annotations

import math
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from glifx.batch.inputs import find_recordings
from glifx.batch.report import COHORT_REPORT_NAME, write_cohort_report
from glifx.batch.table import cohort_frame, failed_row, row_from_summary, write_cohort_tables
from glifx.batch.tasks import FitOptions, finished_summary, fit_one, folder_names, identify
from glifx.errors import ConfigError
from glifx.qc import QCCriteria, resolve_criteria
from glifx.report.outputs import clean_stale_outputs, file_sha256

ALL_LEVELS = (1, 2, 3, 4, 5)
METHODS = ("select", "ev", "reference")
#: Seconds to wait for an external scheduler before giving up.
CONNECT_TIMEOUT_S = 10.0
#: Times a cell may be on a worker that dies before dask reports ``KilledWorker`` (embedded
#: cluster; an external scheduler uses its own ``distributed.scheduler.allowed-failures``).
ALLOWED_FAILURES = 1
#: Seconds a worker process running a stopped cell is given to close before its nanny kills it.
KILL_GRACE_S = 0.5
#: Seconds to wait for a worker without a nanny to be removed by the scheduler.
RESTART_TIMEOUT_S = 60.0


@dataclass
class CohortProgress:
    """Where a cohort run stands; passed to the ``progress`` callback of :func:`fit_cohort`.

    Attributes
    ----------
    total
        Cells (input files) in the run.
    fitted, failed
        Cells finished so far, by status (``fitted`` includes ``resumed``).
    resumed
        Cells whose finished folder was kept.
    running
        Cells being fitted on a worker right now.
    elapsed_s
        Seconds since the run started.
    eta_s
        Estimated seconds to the end (``None`` until a cell has been fitted).
    last
        The row of the cell that just finished, or ``None`` for a periodic update.
    """

    total: int
    fitted: int = 0
    failed: int = 0
    resumed: int = 0
    running: int = 0
    elapsed_s: float = 0.0
    eta_s: float | None = None
    last: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def done(self) -> int:
        """Cells finished, fitted or failed."""
        return self.fitted + self.failed

    def line(self) -> str:
        """One line for a terminal: ``cohort: 3/10 done (1 failed), 2 running, 1 min 5 s,
        ETA 4 min``."""
        eta = "ETA -" if self.eta_s is None else f"ETA {_duration(self.eta_s)}"
        failed = f" ({self.failed} failed)" if self.failed else ""
        return (f"cohort: {self.done}/{self.total} done{failed}, {self.running} running, "
                f"{_duration(self.elapsed_s)}, {eta}")


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _check_options(levels: Sequence[int], method: str, client: Any, workers: int | None,
                   scheduler: str | None, cell_timeout: float | None) -> tuple[int, ...]:
    chosen = tuple(sorted({int(n) for n in levels}))
    if not chosen or any(n not in ALL_LEVELS for n in chosen):
        raise ConfigError(f"levels: expected levels among 1-5, got {list(levels)}")
    if method not in METHODS:
        raise ConfigError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    if sum(x is not None for x in (client, workers, scheduler)) > 1:
        raise ConfigError("give at most one of client, workers and scheduler")
    if workers is not None and workers < 1:
        raise ConfigError(f"workers: expected at least 1, got {workers}")
    if cell_timeout is not None and not (math.isfinite(cell_timeout) and cell_timeout > 0):
        raise ConfigError(f"cell_timeout: expected a positive number of seconds, got {cell_timeout}")
    return chosen


def _check_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        raise ConfigError(f"{out_dir}: output folder cannot be written "
                          f"({exc.strerror or exc})") from None


@contextmanager
def _dask_client(client: Any, workers: int | None, scheduler: str | None):
    """The client to submit to; an embedded cluster or a connection of this run's own is closed
    on the way out."""
    from distributed import Client, LocalCluster

    if client is not None:
        yield client
        return
    if scheduler is not None:
        try:
            own = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot reach the dask scheduler at {scheduler} "
                              f"within {CONNECT_TIMEOUT_S:g} s ({exc})") from None
        try:
            yield own
        finally:
            own.close()
        return
    import dask

    n_workers = workers or os.cpu_count() or 1
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        # every listener on the loopback interface: the scheduler, the nannies, the workers and
        # the scheduler's HTTP endpoint (no dashboard; a free port)
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None,
                               scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
    own = Client(cluster, set_as_default=False)
    try:
        yield own
    finally:
        own.close()
        cluster.close()


@contextmanager
def _interrupts_once():
    """In the main thread: SIGINT and SIGTERM raise KeyboardInterrupt once, so that the run stops
    cleanly; a second signal while it cleans up is ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def interrupt(signum: int, frame: Any) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def fit_cohort(
    paths: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    client: Any = None,
    workers: int | None = None,
    scheduler: str | None = None,
    levels: Sequence[int] = ALL_LEVELS,
    method: str = "select",
    criteria: QCCriteria | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    force: bool = False,
    cell_timeout: float | None = None,
    progress: Callable[[CohortProgress], None] | None = None,
) -> pd.DataFrame:
    """Fit every recording in ``paths`` on dask.distributed, one :func:`glifx.process_cell` per cell.

    Writes ``out_dir/<folder>/`` per cell exactly as ``glifx fit FILE`` does (each folder
    appears whole), ``out_dir/cohort.csv``, ``cohort.parquet`` and ``cohort.html`` (each
    rewritten atomically as cells finish, and after an interruption).  A rerun skips cells
    whose folder is complete for the same source bytes and options; leftovers of a killed run
    are removed first.

    Parameters
    ----------
    paths
        Recordings and folders (searched recursively, :func:`glifx.batch.find_recordings`).
    out_dir
        The output folder (created if needed).
    client
        A ``distributed.Client`` to use (its cluster, its settings; not closed).
    workers
        Worker processes of the embedded ``LocalCluster`` (one thread each, loopback only);
        default the number of cores.
    scheduler
        Address of a running scheduler (``tcp://host:port``) whose workers were started with
        ``dask worker``; they must see ``paths`` and ``out_dir`` under the same names.
    levels, method, criteria
        As for :func:`glifx.process_cell`.
    force
        Refit cells whose folder is finished.
    cell_timeout
        Seconds a cell may run on a worker (from when it starts there, not from when it was
        queued); a cell still running then is stopped by killing its worker process, which its
        nanny replaces (the embedded cluster and ``dask worker`` have one; a worker without a
        nanny is removed instead), and becomes a ``failed`` row whose reason names the timeout.
        ``None`` (default): no limit.
    progress
        Called with a :class:`CohortProgress` when a cell finishes and every ~2 s.

    Returns
    -------
    pandas.DataFrame
        One row per input file, columns :data:`glifx.batch.COHORT_COLUMNS`.

    Raises
    ------
    FileFormatError
        A path does not exist or holds no recording (before any work).
    ConfigError
        Bad options, an unwritable ``out_dir`` or an unreachable scheduler (before any fit).
    KeyboardInterrupt
        On SIGINT or SIGTERM, after stopping the cells, removing their temporary folders (on the
        embedded cluster) and writing the cohort tables of the cells finished so far.
    """
    chosen = _check_options(levels, method, client, workers, scheduler, cell_timeout)
    options = FitOptions(levels=chosen, method=method, criteria=resolve_criteria(criteria))
    out = Path(out_dir).absolute()
    sources = [str(p) for p in find_recordings(paths, exclude=out)]
    _check_writable(out)
    clean_stale_outputs(out)  # of a run killed outright (SIGKILL): it could not clean up
    rows: dict[str, dict[str, Any]] = {}
    state = CohortProgress(total=len(sources))
    started = False
    futures: dict[Any, str] = {}  # future → source
    plan: dict[str, str] = {}  # source → folder
    with _interrupts_once():
        try:
            with _dask_client(client, workers, scheduler) as dask:
                started = True
                try:
                    _run(dask, sources, str(out), options, force, rows, futures, plan, state,
                         progress or (lambda _state: None), cell_timeout)
                except KeyboardInterrupt:
                    _stop_running(dask, futures)
                    raise
        except KeyboardInterrupt:
            _record_finished_folders(plan, out, options, rows)
            raise
        finally:
            # the embedded cluster is closed by now (its workers die mid-cell): what they were
            # writing is removed; the table lists the cells finished so far
            if started:
                clean_stale_outputs(out)
                frame = _write_summary(rows, out, chosen, len(sources))
    return frame


def _run(dask: Any, sources: list[str], out_dir: str, options: FitOptions, force: bool,
         rows: dict[str, dict[str, Any]], futures: dict[Any, str], plan: dict[str, str],
         state: CohortProgress, say: Callable[[CohortProgress], None],
         cell_timeout: float | None = None) -> None:
    """Identify every file, name the folders, fit; fills ``plan`` (source → folder), ``futures``
    (future → source) and ``rows`` (source → row, as cells end); stops cells running longer
    than ``cell_timeout`` seconds."""
    t_start = time.perf_counter()
    run = time.time_ns()  # task keys unique to this run: a long-lived client keeps old results
    ids = dask.map(identify, sources, pure=False, retries=1,
                   key=[f"glifx-id-{Path(s).name}-{k}-{run}" for k, s in enumerate(sources)])
    cell_ids: dict[str, str] = {}
    for future, source in zip(ids, sources, strict=True):
        try:
            found = future.result()
        except Exception as exc:  # noqa: BLE001 - a dead worker or a bug: the file's row says so
            found = {"error": _task_error(exc, "reading")}
        if "error" in found:
            rows[source] = failed_row(source, found["error"])
        else:
            cell_ids[source] = found["cell_id"]
    folders = folder_names(cell_ids, sources)
    plan.update(folders)
    for source in cell_ids:
        if source not in folders:
            rows[source] = failed_row(source, f"cell id {cell_ids[source]!r} cannot name a folder",
                                      cell_id=cell_ids[source])
    for row in rows.values():
        _count(state, row)
    if rows:  # the files that could not be read
        _write_summary(rows, out_dir, options.levels, len(sources))
    # folder → (time.monotonic() when the cell started on a worker, that worker's address)
    started: dict[str, tuple[float, str]] = {}
    topic = None
    if cell_timeout is not None:
        topic = f"glifx-cell-started-{run}"

        def on_start(event: tuple[float, Mapping[str, str]]) -> None:
            # the client's receipt time, not the worker's clock (it may be another machine's);
            # a retry after a worker died announces again and restarts the clock
            started[event[1]["folder"]] = (time.monotonic(), event[1]["worker"])

        dask.subscribe_topic(topic, on_start)
    try:
        for source, folder in folders.items():
            future = dask.submit(fit_one, source, out_dir, folder, options, force, topic,
                                 pure=False, retries=1, key=f"glifx-fit-{folder}-{run}")
            futures[future] = source
        _collect(dask, futures, cell_ids, plan, rows, state, say, out_dir, options,
                 started, cell_timeout, t_start)
    finally:
        if topic is not None:
            dask.unsubscribe_topic(topic)


def _collect(dask: Any, futures: dict[Any, str], cell_ids: Mapping[str, str],
             plan: Mapping[str, str], rows: dict[str, dict[str, Any]], state: CohortProgress,
             say: Callable[[CohortProgress], None], out_dir: str, options: FitOptions,
             started: Mapping[str, tuple[float, str]], cell_timeout: float | None,
             t_start: float) -> None:
    """Wait for the fit tasks: a row per cell as it ends (or times out), the tables rewritten
    and ``say`` called then, and every ~2 s."""
    from distributed import as_completed

    fresh_done, last_report = 0, 0.0
    pending = as_completed(list(futures), loop=dask.loop)
    while not pending.is_empty():
        batch = pending.next_batch(block=False) if pending.has_ready() else []
        # a timed-out cell's cancelled future comes out here too: its row is written already
        batch = [f for f in batch if futures[f] not in rows]
        if cell_timeout is not None:
            batch += _stop_overdue(dask, futures, plan, rows, started, cell_timeout, out_dir,
                                   options)
        now = time.perf_counter()
        for future in batch:
            source = futures[future]
            if source not in rows:  # else: timed out, row made by _stop_overdue
                try:
                    row = future.result()
                except Exception as exc:  # noqa: BLE001 - KilledWorker, or a bug after dask's retry
                    row = failed_row(source, _task_error(exc, "fitting"))
                rows[source] = row
            row = rows[source]
            row.setdefault("cell_id", cell_ids.get(source, ""))
            fresh_done += not row.get("resumed")
            _count(state, row)
        if batch:
            _write_summary(rows, out_dir, options.levels, state.total)
        if batch or now - last_report > 2.0:
            state.running = _running(dask, futures)
            state.elapsed_s = now - t_start
            left = state.total - state.done
            state.eta_s = state.elapsed_s / fresh_done * left if fresh_done else None
            for future in batch:  # one call per finished cell, then the periodic one
                state.last = rows[futures[future]]
                say(state)
            if not batch:
                state.last = None
                say(state)
            last_report = now
        if not batch:
            time.sleep(0.25)
    state.running, state.eta_s, state.elapsed_s = 0, 0.0, time.perf_counter() - t_start
    say(state)


def _write_summary(rows: Mapping[str, Mapping[str, Any]], out_dir: str | os.PathLike[str],
                   levels: Sequence[int], total: int) -> pd.DataFrame:
    """Write ``cohort.html``, ``cohort.csv`` and ``cohort.parquet`` of the rows so far, each
    atomically, so that the three always describe the same cells (also after an interruption);
    the table last, because rendering the report is the slow step: a kill during it leaves the
    previous, consistent set."""
    frame = cohort_frame(rows.values())
    write_cohort_report(frame, Path(out_dir) / COHORT_REPORT_NAME, levels=levels, total=total)
    write_cohort_tables(frame, out_dir)
    return frame


def _stop_overdue(dask: Any, futures: Mapping[Any, str], plan: Mapping[str, str],
                  rows: dict[str, dict[str, Any]], started: Mapping[str, tuple[float, str]],
                  cell_timeout: float, out_dir: str, options: FitOptions) -> list[Any]:
    """Cancel the cells running for longer than ``cell_timeout`` s and stop their worker
    processes (the only way to stop a running task; :func:`_stop_workers`); adds their
    ``failed`` rows (a cell whose folder appeared whole before its worker stopped gets the row
    of that folder); their futures."""
    now = time.monotonic()
    overdue = {}  # future → (seconds running, worker)
    for future, source in futures.items():
        start = started.get(plan[source])
        if source in rows or future.done() or start is None:
            continue
        if now - start[0] > cell_timeout:
            overdue[future] = (now - start[0], start[1])
    if not overdue:
        return []
    # cancelled first: the scheduler forgets the task, so the restart does not make it rerun
    dask.cancel(list(overdue))
    status = _stop_workers(dask, sorted({worker for _, worker in overdue.values()}))
    for future, (seconds, worker) in overdue.items():
        how = status.get(worker, "unknown")
        stopped = ("stopped by restarting its worker process" if how == "OK" else
                   f"its worker could not be restarted ({how}): the cell may still run there")
        rows[futures[future]] = failed_row(
            futures[future], f"timed out: still running after the cell timeout of "
            f"{cell_timeout:g} s; {stopped}", wall_time_s=seconds)
    # what the stopped cells were writing (their processes are gone; same host only)
    clean_stale_outputs(Path(out_dir))
    # a cell can finish between the timer running out and its worker stopping: its folder is
    # then whole (it appears by one rename) and the table must say so, not "timed out"
    for future in overdue:
        source = futures[future]
        summary = finished_summary(Path(out_dir) / plan[source], file_sha256(source), options)
        if summary is not None:
            rows[source] = row_from_summary(summary, source=source, folder=plan[source],
                                            resumed=False)
    return list(overdue)


def _kill_on_nanny(grace_s: float) -> Callable[[Any], Any]:
    """A coroutine function for ``Client.run(..., nanny=True)``: the nanny asks its worker process
    to close, kills it after ``0.8 * grace_s`` s and, itself still running, starts a fresh one.
    Made inside a function so that cloudpickle sends it by value (a nanny need not import glifx).
    """
    async def kill_worker_process(dask_worker: Any) -> None:
        await dask_worker.kill(timeout=grace_s)

    return kill_worker_process


def _stop_workers(dask: Any, workers: Sequence[str], *, without_nanny: bool = True
                  ) -> dict[str, str]:
    """Stop what ``workers`` (addresses) are running, now: each worker process with a nanny is
    killed by it and replaced; one without a nanny is removed by the scheduler (it shuts down
    and is not replaced) if ``without_nanny``, else left alone.

    Returns
    -------
    dict
        Worker address → ``"OK"`` (stopped and replaced), ``"removed"`` (no nanny) or what
        went wrong.
    """
    try:
        info = dask.scheduler_info(n_workers=-1)["workers"]
    except Exception:  # noqa: BLE001 - a scheduler going away: the kill below says so
        info = {}
    nannied = [w for w in workers if info.get(w, {}).get("nanny")]
    others = [w for w in workers if w not in nannied]
    status: dict[str, str] = {w: "no nanny: left running" for w in others}
    if nannied:
        try:
            answers = dask.run(_kill_on_nanny(KILL_GRACE_S), workers=nannied, nanny=True,
                               on_error="return")
        except Exception as exc:  # noqa: BLE001 - e.g. the nanny is gone too
            answers = {w: exc for w in nannied}
        for worker in nannied:
            answer = answers.get(worker, "no answer from its nanny")
            status[worker] = ("OK" if answer is None else f"{type(answer).__name__}: {answer}"
                              if isinstance(answer, BaseException) else str(answer))
    if others and without_nanny:
        try:
            status.update(dask.restart_workers(others, timeout=RESTART_TIMEOUT_S,
                                               raise_for_error=False))
        except Exception as exc:  # noqa: BLE001 - the scheduler refused or went away
            status.update({w: f"{type(exc).__name__}: {exc}" for w in others})
    return status


def _stop_running(dask: Any, futures: Mapping[Any, str]) -> None:
    """After an interruption: cancel this run's cells and stop the worker processes running one
    (a worker without a nanny is left alone: it may be someone else's long-lived worker)."""
    try:
        processing = dask.processing()
    except Exception:  # noqa: BLE001 - the scheduler is going away: nothing left to stop
        processing = {}
    keys = {f.key for f in futures}
    busy = sorted(w for w, tasks in processing.items() if any(k in keys for k in tasks))
    dask.cancel(list(futures))
    if busy:
        _stop_workers(dask, busy, without_nanny=False)


def _record_finished_folders(plan: Mapping[str, str], out_dir: Path, options: FitOptions,
                              rows: dict[str, dict[str, Any]]) -> None:
    """After an interruption: add the rows of cells whose folder was written but whose row had
    not arrived, so that the table lists every finished folder."""
    for source, folder in plan.items():
        if source in rows:
            continue
        summary = finished_summary(out_dir / folder, file_sha256(source), options)
        if summary is not None:
            rows[source] = row_from_summary(summary, source=source, folder=folder, resumed=False)


def _count(state: CohortProgress, row: Mapping[str, Any]) -> None:
    if row.get("status") == "fitted":
        state.fitted += 1
        state.resumed += bool(row.get("resumed"))
    else:
        state.failed += 1


def _running(dask: Any, futures: Mapping[Any, str]) -> int:
    """Cells of this run being processed on a worker now (asks the scheduler)."""
    try:
        processing = dask.processing()
    except Exception:  # noqa: BLE001 - progress only; never stop a run for it
        return 0
    keys = {f.key for f in futures}
    return sum(k in keys for tasks in processing.values() for k in tasks)


def _task_error(exc: BaseException, doing: str) -> str:
    """A cell's reason for a task that raised (after dask's retry) or whose worker died."""
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return (f"the worker process died while {doing} this cell, on every attempt dask "
                f"allowed (killed or out of memory; KilledWorker: {exc})")
    return f"{doing} raised {type(exc).__name__}: {exc}"
