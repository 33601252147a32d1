"""Regression comparison of result folders, the face tests use.

:func:`compare_results` (one row per compared quantity, with ``within_tolerance``) and the
tolerances come from :mod:`glifx.report.compare` (which ``glifx compare`` uses, and whose
docstring lists what is compared and the default tolerance of each class);
:func:`assert_results_match` raises an ``AssertionError`` listing what moved.

Example
-------
>>> from glifx.testing import assert_results_match
>>> assert_results_match("reference/rs_cell", "results/rs_cell",
...                      tolerances={"*.test_ev": {"abs": 0.01}})          # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from glifx.report.compare import (
    CLASSES,
    COLUMNS,
    DEFAULT_TOLERANCES,
    CellOutputs,
    Tolerance,
    Tolerances,
    cell_folders,
    compare_results,
    difference_lines,
    html_report,
    summary_line,
    write_html_report,
)

_Result = str | os.PathLike[str] | CellOutputs | Mapping[str, CellOutputs]


def assert_results_match(
    expected: _Result,
    actual: _Result,
    tolerances: Tolerances | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    max_lines: int = 50,
) -> pd.DataFrame:
    """:func:`compare_results`, raising when anything moved beyond its tolerance.

    Parameters
    ----------
    expected, actual, tolerances
        As for :func:`compare_results`.
    max_lines
        Differences listed in the message at most.

    Returns
    -------
    pandas.DataFrame
        The comparison table, when everything is within tolerance.

    Raises
    ------
    AssertionError
        Whose message is the summary line and one line per difference.
    FileFormatError, ConfigError
        As :func:`compare_results`.
    """
    table = compare_results(expected, actual, tolerances)
    if not bool(table["within_tolerance"].all()):
        raise AssertionError(failure_message(table, max_lines))
    return table


def failure_message(table: pd.DataFrame, max_lines: int = 50) -> str:
    """The summary line and one line per quantity beyond tolerance (the first ``max_lines``)."""
    lines = difference_lines(table)
    shown = lines[:max_lines]
    if len(lines) > max_lines:
        shown.append(f"... and {len(lines) - max_lines} more")
    return "\n".join([summary_line(table), *shown])


# Repeats most of glifx.report.compare.__all__ on purpose: this module is the testing face of
# those names (the report may not import glifx.testing, so the names live there).
__all__ = [
    "CLASSES",
    "COLUMNS",
    "DEFAULT_TOLERANCES",
    "CellOutputs",
    "Tolerance",
    "Tolerances",
    "assert_results_match",
    "cell_folders",
    "compare_results",
    "difference_lines",
    "failure_message",
    "html_report",
    "summary_line",
    "write_html_report",
]
