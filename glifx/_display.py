"""Notebook display of result objects: short text reprs and small HTML tables.

Private and dependency-free (below every stage), so that ``Cell``, ``QCResult``, ``CellFeatures``,
``FitResult`` and ``CellResult`` render alike in Jupyter without importing the report package.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

#: Longest text repr, lines (a notebook cell's output should fit on screen).
MAX_REPR_LINES = 10
#: Rows of a table shown in an HTML repr before it is cut (the full table is an attribute).
MAX_HTML_ROWS = 20


def fmt(x: Any, digits: int = 4) -> str:
    """A value for humans: ``digits`` significant digits, ``n/a`` for NaN/None."""
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, float | int):
        return "n/a" if isinstance(x, float) and not math.isfinite(x) else f"{x:.{digits}g}"
    return str(x)


def text_repr(title: str, lines: Iterable[str]) -> str:
    """``title`` then indented ``lines``, cut to :data:`MAX_REPR_LINES` in all."""
    lines = list(lines)
    room = MAX_REPR_LINES - 1
    if len(lines) > room:
        lines = [*lines[: room - 1], f"… {len(lines) - room + 1} more"]
    return "\n".join([title, *(f"  {line}" for line in lines)])


def html_repr(title: str, facts: Sequence[tuple[str, Any]] = (),
              table: pd.DataFrame | None = None, notes: Sequence[str] = ()) -> str:
    """A titled block: a two-column fact list, an optional table (first
    :data:`MAX_HTML_ROWS` rows) and notes, all escaped."""
    parts = [f"<div class='glifx-repr'><strong>{html.escape(title)}</strong>"]
    if facts:
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                       f"<td style='text-align:left'>{html.escape(fmt(v))}</td></tr>"
                       for k, v in facts)
        parts.append(f"<table>{rows}</table>")
    if table is not None and len(table):
        shown = table.head(MAX_HTML_ROWS)
        parts.append(shown.to_html(index=False, na_rep="n/a", float_format=lambda x: f"{x:.4g}",
                                   escape=True, border=0))
        if len(table) > MAX_HTML_ROWS:
            parts.append(f"<p>… {len(table) - MAX_HTML_ROWS} more rows</p>")
    if notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("</div>")
    return "".join(parts)
