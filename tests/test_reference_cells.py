"""Regression of the sample cells against their frozen results (tests/reference_cells, written by
``glifx fit`` and checked when frozen), through the facility users get: each reference cell is
refitted as ``glifx fit`` does and compared with ``glifx.testing`` at the default tolerances.
The same check runs as ``python -m pytest --glifx-reference tests/reference_cells``.

A failure lists every quantity that moved.  When a change is meant to move results, read the
list, then refreeze as tests/reference_cells/glifx-reference.yaml says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from glifx.testing import reference_cells

CELLS = reference_cells(Path(__file__).resolve().parent / "reference_cells")


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS, ids=[c.name for c in CELLS])
def test_sample_cell_matches_its_frozen_result(cell, tmp_path):
    actual = cell.fit(tmp_path)
    assert not (actual / "report.html").exists()  # not compared, so not rendered
    cell.assert_matches(actual)
