"""Work shared with one forked helper process, for work that holds the GIL (matplotlib drawing).

:func:`map_shared` computes ``[fn(x) for x in items]`` with the items shared between the
calling process and one child forked from it: both take the next item not yet taken from a
shared counter, so the two stay busy until the last item whatever each costs.  The child
inherits ``fn`` and ``items`` by the fork (nothing is pickled on the way in) and returns its
results, which must be picklable (e.g. PNG bytes), in one message when it is done.

The child is used only where it can help and is allowed (:func:`helper_allowed`): two or more
threads per cell (:func:`glifx.glif.default_n_jobs`: the usable cores, one in a dask worker
unless ``GLIFX_THREADS`` says otherwise), not inside a dask worker or any daemonic process (a
cohort worker runs its cells one after the other on its own threads, never a process pool), and
only where ``fork`` exists.  Otherwise, and for fewer than two items, the items run in order
here.

Errors: an exception in the child stops it and is raised here once this process has done its
share, as the same type when it can be rebuilt (else ``RuntimeError``), with ``what``, the item
and the child's traceback in the message.  A child that dies without a word (killed, out of
memory) is not an error: what it took and did not return is done here.  Ctrl-C or SIGTERM
here kills the child before the exception goes on.
"""

from __future__ import annotations

import multiprocessing
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from glifx.glif import default_n_jobs
from glifx.glif.simulator import _in_dask_worker

T = TypeVar("T")
R = TypeVar("R")


def helper_allowed() -> bool:
    """Whether :func:`map_shared` may fork a helper process here (see the module's notes)."""
    return ("fork" in multiprocessing.get_all_start_methods()
            and default_n_jobs() >= 2
            and not multiprocessing.current_process().daemon
            and not _in_dask_worker())


class _Counter:
    """The index of the next item, shared by the two processes (a fork keeps the memory)."""

    def __init__(self, ctx: Any, n: int) -> None:
        self.value, self.lock, self.n = ctx.RawValue("l", 0), ctx.Lock(), n

    def take(self) -> int | None:
        with self.lock:
            k = self.value.value
            if k >= self.n:
                return None
            self.value.value = k + 1
            return k


def _child(fn: Callable[[Any], Any], items: Sequence[Any], counter: _Counter, send: Any) -> None:
    """The helper's whole life: take items until none is left, then send the results (or the
    first error) in one message."""
    done: list[tuple[int, Any]] = []
    try:
        while (k := counter.take()) is not None:
            try:
                done.append((k, fn(items[k])))
            except BaseException as exc:  # noqa: BLE001 - every failure goes to the parent
                send.send(("error", k, _portable(exc), traceback.format_exc()))
                return
        send.send(("done", done))
    finally:
        send.close()


def _portable(exc: BaseException) -> BaseException | None:
    """``exc`` if it survives pickling (so the parent can raise the same type), else ``None``."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure just means "send the text only"
        return None
    return exc


def map_shared(fn: Callable[[T], R], items: Sequence[T], *, what: str = "work") -> list[R]:
    """``[fn(x) for x in items]``, shared with one forked helper process when allowed.

    Parameters
    ----------
    fn
        Called once per item, in either process; its results must be picklable.  It should
        not depend on which process runs it (each process keeps its own changes).
    items
        The items, best ordered longest first (each process takes the next one).
    what
        What the items are, for error messages (e.g. ``"report.html: figure"``).

    Returns
    -------
    list
        The results, in the order of ``items``.

    Raises
    ------
    Exception
        The first exception of ``fn`` in the helper (its type when it can be rebuilt, else
        ``RuntimeError``, naming ``what``, the item index and the helper's traceback), or any
        exception of ``fn`` here.
    """
    n = len(items)
    if n < 2 or not helper_allowed():
        return [fn(x) for x in items]
    ctx = multiprocessing.get_context("fork")
    counter = _Counter(ctx, n)
    recv, send = ctx.Pipe(duplex=False)
    for stream in (sys.stdout, sys.stderr):  # nothing buffered here is written twice
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    proc = ctx.Process(target=_child, args=(fn, items, counter, send), daemon=True,
                       name="glifx-helper")
    proc.start()
    send.close()  # the child holds the writing end: its exit ends the pipe
    results: list[Any] = [None] * n
    done = [False] * n
    try:
        while (k := counter.take()) is not None:
            results[k], done[k] = fn(items[k]), True
        try:
            message = recv.recv()
        except EOFError:  # died without a word: its items are redone below
            message = ("done", [])
        if message[0] == "error":
            _, k, exc, text = message
            note = f"{what} {k} (in helper process {proc.pid}) failed:\n{text}"
            if exc is not None:
                exc.add_note(note)
                raise exc
            raise RuntimeError(note)
        for k, value in message[1]:
            results[k], done[k] = value, True
        proc.join()
        for k in range(n):  # what a dead helper took and never returned
            if not done[k]:
                results[k] = fn(items[k])
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        recv.close()
    return results


__all__ = ["helper_allowed", "map_shared"]
