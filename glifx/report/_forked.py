"""Work done by a forked helper process beside this one, for work that holds the GIL
(matplotlib drawing, feature extraction) while this process does other work.

:func:`in_helper` runs one call in a child forked from this process and gives its result
when asked (:meth:`Pending.result`), while this process goes on.  :func:`map_shared` computes
``[fn(x) for x in items]`` with the items shared between the calling process and one child
forked from it: both take the next item not yet taken from a shared counter, so the two stay
busy until the last item whatever each costs.  The child inherits ``fn`` and ``items`` by the
fork (nothing is pickled on the way in) and returns its results, which must be picklable (e.g.
PNG bytes), in one message when it is done.

The child inherits everything by the fork: it shares this process's memory copy-on-write
(its own allocations and the pages this process changes or frees meanwhile are its own cost).
The child is used only where it can help and is allowed (:func:`helper_allowed`): two or more
threads per cell (:func:`glifx.glif.default_n_jobs`: the usable cores, one in a dask worker
unless ``GLIFX_THREADS`` says otherwise), not inside a dask worker or any daemonic process (a
cohort worker runs its cells one after the other on its own threads, never a process pool), and
only on Linux (macOS has ``fork``, but a process with threads cannot fork safely there).
Otherwise (and for fewer than two items) the work runs here, in order.

Errors: an exception in the child stops it and is raised here once this process has done its
share, as the same type when it can be rebuilt (else ``RuntimeError``), with ``what``, the item
and the child's traceback in the message.  A child that dies without a word (killed, out of
memory) is not an error: what it took and did not return is done here.  Ctrl-C or SIGTERM
here kills the child before the exception goes on.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from glifx._memory import release_free_memory
from glifx.glif import default_n_jobs
from glifx.glif.simulator import _in_dask_worker

T = TypeVar("T")
R = TypeVar("R")


def helper_allowed() -> bool:
    """Whether :func:`map_shared` may fork a helper process here (see the module's notes)."""
    # Linux only: macOS has fork, but forking a process with threads is unsafe there
    return (sys.platform.startswith("linux")
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


def _die_with(parent: int) -> None:
    """Have the kernel kill this helper when its parent dies (``PR_SET_PDEATHSIG``): a parent
    killed with SIGKILL must not leave a helper running, writing to its streams."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1: PR_SET_PDEATHSIG
    except (AttributeError, OSError):  # pragma: no cover - not glibc
        pass
    if os.getppid() != parent:  # died before that was set
        os._exit(1)


def _send(send: Any, message: tuple[Any, ...]) -> None:
    """Send the helper's one message; a parent gone meanwhile is no one's error."""
    try:
        send.send(message)
    except OSError:  # BrokenPipeError: nobody is listening any more
        pass
    finally:
        send.close()


def _child(parent: int, fn: Callable[[Any], Any], items: Sequence[Any], counter: _Counter,
           send: Any) -> None:
    """The helper's whole life: take items until none is left, then send the results (or the
    first error) in one message."""
    _die_with(parent)
    done: list[tuple[int, Any]] = []
    while (k := counter.take()) is not None:
        try:
            done.append((k, fn(items[k])))
        except BaseException as exc:  # noqa: BLE001 - every failure goes to the parent
            _send(send, ("error", k, _portable(exc), traceback.format_exc()))
            return
    _send(send, ("done", done))


def _child_call(parent: int, fn: Callable[[], Any], send: Any) -> None:
    """The helper of :func:`in_helper`: one call, its result (or error) in one message."""
    _die_with(parent)
    try:
        message = ("done", fn())
    except BaseException as exc:  # noqa: BLE001 - every failure goes to the parent
        message = ("error", None, _portable(exc), traceback.format_exc())
    _send(send, message)


def _raise_helper_error(message: tuple[Any, ...], what: str, pid: int | None) -> None:
    _, k, parts, text = message
    item = "" if k is None else f" {k}"
    note = f"{what}{item} (in helper process {pid}) failed:\n{text}"
    exc = None if parts is None else _rebuilt(parts)
    if exc is not None:
        exc.add_note(note)
        raise exc
    raise RuntimeError(note)


def _before_fork() -> None:
    """Flush the standard streams (nothing buffered here is written twice) and give the
    allocator's free pages back to the system (glibc ``malloc_trim``): a free page that is
    still mapped would be copied as soon as either process reused it, so both would hold it."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    release_free_memory()


class Pending(Generic[R]):
    """The result of :func:`in_helper`'s call, to come."""

    def __init__(self, fn: Callable[[], R], what: str, proc: Any = None, recv: Any = None,
                 value: Any = None) -> None:
        self._fn, self._what, self._proc, self._recv = fn, what, proc, recv
        #: the helper's message once received; ("done", value) when the call ran here
        self._message: tuple[Any, ...] | None = None if proc is not None else ("done", value)
        self.pid: int | None = None if proc is None else proc.pid  # None: ran here

    def wait(self) -> None:
        """Wait until the helper has finished and is gone (its memory with it), without
        raising what it raised (:meth:`result` does)."""
        if self._proc is None:
            return
        try:
            self._message = self._recv.recv()
        except EOFError:  # died without a word (killed, out of memory): result() redoes it
            self._message = None
        finally:
            self.cancel()

    def result(self) -> R:
        """The call's result: waits for the helper; raises its exception (see the module's
        notes); runs the call here if the helper died without a word."""
        self.wait()
        if self._message is None:
            self._message = ("done", self._fn())
        if self._message[0] == "error":
            _raise_helper_error(self._message, self._what, self.pid)
        return self._message[1]  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """Stop the helper if it still runs; what it did not send is lost (:meth:`result`
        would then run the call here)."""
        if self._proc is None:
            return
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join()
        self._recv.close()
        self._proc = None


def in_helper(fn: Callable[[], R], *, what: str = "work") -> Pending[R]:
    """Start ``fn()`` in a forked helper process when allowed (:func:`helper_allowed`), else
    call it now; :meth:`Pending.result` gives its result either way.

    Parameters
    ----------
    fn
        The call; its result must be picklable.  What it changes stays in the helper.
    what
        What it does, for error messages.

    Returns
    -------
    Pending
        Ask it for the result (:meth:`Pending.result`) or stop the helper
        (:meth:`Pending.cancel`, e.g. when this process's own work failed).
    """
    if not helper_allowed():
        return Pending(fn, what, value=fn())
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    _before_fork()
    proc = ctx.Process(target=_child_call, args=(os.getpid(), fn, send), daemon=True,
                       name="glifx-helper")
    proc.start()
    send.close()
    return Pending(fn, what, proc, recv)


def _portable(exc: BaseException) -> tuple[type, tuple[Any, ...], dict[str, Any]] | None:
    """``exc`` as (type, args, attributes) if those survive pickling, else ``None``.

    Rebuilt by :func:`_rebuilt` without calling the type's ``__init__``: glifx's errors take
    other arguments (a path and a reason) than the ``args`` they keep, which plain pickling
    of an exception would pass back to ``__init__``.
    """
    import pickle

    parts = (type(exc), tuple(exc.args), dict(getattr(exc, "__dict__", {})))
    try:
        pickle.loads(pickle.dumps(parts))
    except Exception:  # noqa: BLE001 - any failure just means "send the text only"
        return None
    return parts


def _rebuilt(parts: tuple[type, tuple[Any, ...], dict[str, Any]]) -> BaseException | None:
    cls, args, attributes = parts
    try:
        exc = cls.__new__(cls, *args)
        exc.args = args
        exc.__dict__.update(attributes)
    except Exception:  # noqa: BLE001 - an exotic type: the text only
        return None
    return exc  # type: ignore[no-any-return]


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
    _before_fork()
    proc = ctx.Process(target=_child, args=(os.getpid(), fn, items, counter, send), daemon=True,
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
            _raise_helper_error(message, what, proc.pid)
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


__all__ = ["Pending", "helper_allowed", "in_helper", "map_shared"]
