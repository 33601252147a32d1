"""Work shared with a forked helper process (glifx.report._forked) and the report drawn that way."""

from __future__ import annotations

import multiprocessing
import os
import re
import sys

import pytest
from test_report import make_report

import glifx
from glifx.report import _forked, render_html

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="helpers are forked on Linux only")


@pytest.fixture
def two_threads():
    glifx.set_threads(2)
    yield
    glifx.set_threads(None)


def _square_with_pid(x: int) -> tuple[int, int]:
    import time

    time.sleep(0.02)  # long enough that both processes take items
    return x * x, os.getpid()


def test_results_in_order_and_both_processes_work(two_threads):
    out = _forked.map_shared(_square_with_pid, list(range(20)))
    assert [v for v, _ in out] == [x * x for x in range(20)]
    pids = {pid for _, pid in out}
    assert os.getpid() in pids and len(pids) == 2


def test_one_thread_or_few_items_stay_in_this_process():
    glifx.set_threads(1)
    try:
        assert not _forked.helper_allowed()
        assert {pid for _, pid in _forked.map_shared(_square_with_pid, range(6))} == {os.getpid()}
    finally:
        glifx.set_threads(None)
    glifx.set_threads(2)
    try:
        assert _forked.map_shared(_square_with_pid, [3]) == [(9, os.getpid())]
    finally:
        glifx.set_threads(None)


def test_daemonic_process_has_no_helper(two_threads, monkeypatch):
    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True, raising=False)
    assert not _forked.helper_allowed()


def test_no_helper_in_a_dask_worker(two_threads, monkeypatch):
    """A cohort's worker runs its cell on its own threads, even with GLIFX_THREADS=2."""
    monkeypatch.setattr(_forked, "_in_dask_worker", lambda: True)
    assert not _forked.helper_allowed()


def test_error_in_helper_is_raised_with_its_traceback(two_threads):
    parent = os.getpid()

    def fail_in_child(x: int) -> int:
        if os.getpid() != parent:
            raise ValueError(f"bad item {x}")
        import time

        time.sleep(0.05)
        return x

    with pytest.raises(ValueError, match="bad item") as info:
        _forked.map_shared(fail_in_child, list(range(10)), what="test.html: figure")
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "test.html: figure" in notes and "helper process" in notes
    assert "fail_in_child" in notes  # the helper's own traceback


def test_unpicklable_error_becomes_runtime_error(two_threads):
    parent = os.getpid()

    class Local(Exception):  # a local class cannot be pickled
        pass

    def fail_in_child(x: int) -> int:
        if os.getpid() != parent:
            raise Local("local failure")
        import time

        time.sleep(0.05)
        return x

    with pytest.raises(RuntimeError, match="local failure"):
        _forked.map_shared(fail_in_child, list(range(10)), what="figure")


def test_dead_helper_leaves_its_items_to_this_process(two_threads):
    parent = os.getpid()

    def die_in_child(x: int) -> int:
        if os.getpid() != parent:
            os._exit(3)  # killed, out of memory ...: no message
        import time

        time.sleep(0.02)
        return x + 1

    assert _forked.map_shared(die_in_child, list(range(8))) == list(range(1, 9))


def test_report_identical_with_and_without_helper():
    report = make_report()
    pages = []
    for threads in (1, 2):
        glifx.set_threads(threads)
        try:
            pages.append(re.sub(r"generated [^<]*", "", render_html(report, dpi=60)))
        finally:
            glifx.set_threads(None)
    assert pages[0] == pages[1]
    assert pages[0].count("<img") >= 5 and "\x00" not in pages[0]


def test_helper_dies_with_a_killed_parent(tmp_path):
    """SIGKILL of the main process (a killed ``glifx fit``) takes its helper with it."""
    import signal
    import subprocess
    import time

    pid_file = tmp_path / "helper.pid"
    script = tmp_path / "killed.py"
    script.write_text(
        "import os, signal, time, glifx\n"
        "from glifx.report import _forked\n"
        "glifx.set_threads(2)\n"
        "parent = os.getpid()\n"
        "def item(x):\n"
        "    if os.getpid() != parent:\n"
        f"        open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "        time.sleep(60)\n"
        "    time.sleep(0.5)\n"
        "    os.kill(parent, signal.SIGKILL)\n"
        "_forked.map_shared(item, [0, 1, 2])\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    helper = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{helper}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state in ("Z", "X"):  # gone, its parent (init) not reaping yet
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"helper {helper} outlived its killed parent")
