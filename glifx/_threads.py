"""Work started on a daemon thread of its own, its result as a future.

glifx's background work (QC's read-ahead, the preprocessing's threshold chain, the file's hash
during QC) runs on daemon threads, so that an interrupted run never waits for it at exit:
Ctrl-C raised in the main thread while it imports a module can leave Python's import lock held,
and a thread's next first import would then wait for ever, while the interpreter joins every
non-daemon thread (:class:`~concurrent.futures.ThreadPoolExecutor`'s too) before it exits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

R = TypeVar("R")


def run_into(future: Future[R], fn: Callable[..., R], *args: Any) -> None:
    """Run ``fn(*args)`` into ``future`` (its result or exception), unless it was cancelled."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(fn(*args))
    except BaseException as exc:  # noqa: BLE001 - the waiter's to raise
        future.set_exception(exc)


def on_daemon_thread(fn: Callable[..., R], *args: Any, name: str) -> Future[R]:
    """``fn(*args)`` started on a daemon thread named ``name``; its result as a future."""
    future: Future[R] = Future()
    threading.Thread(target=run_into, args=(future, fn, *args), name=name, daemon=True).start()
    return future
