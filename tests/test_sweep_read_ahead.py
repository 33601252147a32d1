"""``Cell.read_ahead``: sweeps loaded on a background thread while the caller works (QC, and
``glifx fit`` while it imports), with the same sweeps, errors and cache as without it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import glifx
from glifx.errors import SweepError
from glifx.glif import set_threads
from glifx.sweep import Cell

SAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "rs_cell.nwb"


def _watched(cell: Cell, delay_s: float = 0.0, bad: int | None = None) -> list[tuple[int, str]]:
    """Wrap ``cell``'s loader: each load is recorded as (sweep number, thread name), takes
    ``delay_s`` more, and sweep ``bad`` fails as a reader library would."""
    loads: list[tuple[int, str]] = []
    load = cell._store.loader

    def loader(number: int):
        loads.append((number, threading.current_thread().name))
        time.sleep(delay_s)
        if number == bad:
            raise OSError("truncated chunk")
        return load(number)

    cell._store.loader = loader
    return loads


def test_read_ahead_gives_the_same_sweeps_loaded_on_its_thread():
    plain = glifx.load_cell(SAMPLE)
    ahead = glifx.load_cell(SAMPLE)
    loads = _watched(ahead)
    numbers = [r.sweep_number for r in ahead.records][:6]
    ahead.read_ahead(numbers)
    for n in numbers:
        a, b = plain.sweep(n), ahead.sweep(n)
        np.testing.assert_array_equal(a.v, b.v)
        np.testing.assert_array_equal(a.i, b.i)
        assert ahead.sweep(n) is b  # cached as by sweep()
    assert sorted(n for n, _ in loads) == sorted(numbers)  # each read once
    assert any(name.startswith("glifx-read-ahead") for _, name in loads)


def test_a_sweep_that_cannot_be_read_raises_when_asked_for():
    cell = glifx.load_cell(SAMPLE)
    numbers = [r.sweep_number for r in cell.records][:4]
    _watched(cell, bad=numbers[1])
    cell.read_ahead(numbers)
    with pytest.raises(SweepError, match="could not be read: truncated chunk") as err:
        cell.sweep(numbers[1])
    assert err.value.sweep_number == numbers[1] and str(SAMPLE) in str(err.value)
    assert cell.sweep(numbers[2]).n_samples > 0  # the others are unaffected


def test_clear_cache_stops_the_read_ahead():
    cell = glifx.load_cell(SAMPLE)
    loads = _watched(cell, delay_s=0.2)
    numbers = [r.sweep_number for r in cell.records][:8]
    cell.read_ahead(numbers)
    time.sleep(0.1)
    cell.clear_cache()  # cancels the queued loads, waits for the one under way
    count = len(loads)
    time.sleep(0.5)
    assert len(loads) == count < len(numbers)  # nothing read after clear_cache returned
    assert cell.sweep(numbers[-1]).n_samples > 0  # read again on demand


def test_qc_is_the_same_with_and_without_read_ahead():
    tables = []
    for threads in (1, 2):  # read-ahead only with two threads or more per cell
        set_threads(threads)
        try:
            tables.append(glifx.run_qc(glifx.load_cell(SAMPLE)).sweeps)
        finally:
            set_threads(None)
    pd.testing.assert_frame_equal(tables[0], tables[1])


def test_glifx_fit_that_fails_early_leaves_no_read_ahead(tmp_path, monkeypatch):
    """``glifx fit`` starts reading QC's sweeps before it checks ``--out``: an unusable one is
    its one error line, and nothing goes on reading the file behind it."""
    from click.testing import CliRunner

    import glifx.io
    from glifx.cli import main

    watched: list[list[tuple[int, str]]] = []
    load_cell = glifx.io.load_cell

    def slow_cell(path):  # each sweep takes 0.2 s more to read
        cell = load_cell(path)
        watched.append(_watched(cell, delay_s=0.2))
        return cell

    monkeypatch.setattr(glifx.io, "load_cell", slow_cell)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    set_threads(2)
    try:
        result = CliRunner().invoke(main, ["fit", str(SAMPLE), "--out", str(not_a_folder / "out")])
    finally:
        set_threads(None)
    assert result.exit_code == 2, result.output
    (loads,) = watched
    count = len(loads)
    time.sleep(0.6)
    assert len(loads) == count < 10  # the read-ahead stopped with the command
