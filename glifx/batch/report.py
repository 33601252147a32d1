"""``cohort.html``: the cohort report, one self-contained file (figures embedded as PNG through
:func:`glifx.report.figure_to_data_uri`, the per-cell report's stylesheet inline).

Sections: summary counts → test explained variance per level (every cell, with the published
medians of Teeter et al. 2018 marked) → GLIF(n+1) against GLIF(n), per cell → distributions of
the main parameters → QC (sweeps passed per cell) and failure reasons → a table with one row per
file linking each cell's ``report.html`` (the only references outside the file; relative).
"""

from __future__ import annotations

import html
import math
import os
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from glifx._files import write_text_atomic
from glifx.report import PUBLISHED_TEST_EV_MEDIANS, REPORT_NAME, figure_to_data_uri, level_color
from glifx.report.plots import FIG_WIDTH, reason_key
from glifx.report.render import STYLESHEET

COHORT_REPORT_NAME = "cohort.html"
#: Parameters whose distributions the report shows: column suffix → (label, unit, scale).
_SHOWN_PARAMETERS = {
    "R_input": ("R", "MΩ", 1e-6),
    "C": ("C", "pF", 1e12),
    "tau_m": ("τm", "ms", 1e3),
    "th_inf": ("θ∞", "mV", 1e3),
}


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _img(fig: Figure, alt: str) -> str:
    return f'<figure><img alt="{_e(alt)}" src="{figure_to_data_uri(fig)}"></figure>'


def _fitted(frame: pd.DataFrame, level: int) -> pd.DataFrame:
    return frame[frame.get(f"glif{level}_status", pd.Series(dtype=str)) == "fitted"]


def plot_test_ev(frame: pd.DataFrame, levels: Sequence[int]) -> Figure:
    """Test (Noise 2) explained variance of every fitted cell per level (points, jittered, and a
    box), with the published median test EV of the 645-cell set marked."""
    fig = Figure(figsize=(FIG_WIDTH, 3.4), layout="constrained")
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)  # fixed jitter: the same table draws the same figure
    for x, level in enumerate(levels):
        values = _fitted(frame, level)[f"glif{level}_test_ev"].dropna().to_numpy()
        if values.size:
            ax.boxplot(values, positions=[x], widths=0.5, showfliers=False,
                       medianprops={"color": level_color(level)})
            ax.scatter(x + rng.uniform(-0.15, 0.15, values.size), values, s=12,
                       color=level_color(level), alpha=0.7, zorder=3)
        median = PUBLISHED_TEST_EV_MEDIANS.get(level)
        if median is not None:
            ax.plot([x - 0.3, x + 0.3], [median, median], color="black", lw=2.5,
                    label="published median (645 cells)" if x == 0 else None)
    ax.set_xticks(range(len(levels)), [f"GLIF{n}" for n in levels])
    ax.set_xlim(-0.6, len(levels) - 0.4)
    ax.set_ylabel("test explained variance ratio")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.set_title("Test (Noise 2) explained variance per level", fontsize=10, loc="left")
    return fig


def plot_level_pairs(frame: pd.DataFrame, levels: Sequence[int]) -> Figure | None:
    """Test EV of GLIF(n+1) against GLIF(n) per cell, for each pair of consecutive levels fitted
    (``None`` with fewer than two levels)."""
    pairs = list(zip(levels[:-1], levels[1:], strict=True))
    if not pairs:
        return None
    fig = Figure(figsize=(FIG_WIDTH, 2.8), layout="constrained")
    for k, (lo, hi) in enumerate(pairs):
        ax = fig.add_subplot(1, len(pairs), k + 1)
        both = frame[[f"glif{lo}_test_ev", f"glif{hi}_test_ev"]].dropna()
        ax.scatter(both.iloc[:, 0], both.iloc[:, 1], s=14, color=level_color(hi))
        ax.plot([0, 1], [0, 1], color="#999999", lw=0.8)
        ax.set_xlabel(f"GLIF{lo} test EV")
        ax.set_ylabel(f"GLIF{hi} test EV")
        better = int((both.iloc[:, 1] > both.iloc[:, 0]).sum())
        ax.set_title(f"GLIF{hi} better in {better}/{len(both)}", fontsize=9, loc="left")
    return fig


def plot_parameters(frame: pd.DataFrame, levels: Sequence[int]) -> Figure:
    """Distributions of R, C, τm and θ∞ over the fitted cells, one histogram per parameter with
    every level overlaid."""
    fig = Figure(figsize=(FIG_WIDTH, 2.6), layout="constrained")
    for k, (suffix, (label, unit, scale)) in enumerate(_SHOWN_PARAMETERS.items()):
        ax = fig.add_subplot(1, len(_SHOWN_PARAMETERS), k + 1)
        for level in levels:
            values = _fitted(frame, level)[f"glif{level}_{suffix}"].dropna().to_numpy() * scale
            if values.size:
                ax.hist(values, bins=min(20, max(3, values.size)), histtype="step", lw=1.5,
                        color=level_color(level), label=f"GLIF{level}")
        ax.set_xlabel(f"{label} ({unit})")
        if k == 0:
            ax.set_ylabel("cells")
            if ax.get_legend_handles_labels()[0]:  # none before a cell is fitted (a partial run)
                ax.legend(fontsize=7, frameon=False)
    return fig


def plot_qc_and_failures(frame: pd.DataFrame, max_reasons: int = 10) -> Figure:
    """Sweeps that passed QC per cell (left) and the commonest failure reasons of the cells that
    failed (right; numbers masked, paths dropped, so that one cause groups together)."""
    reasons = Counter(_reason_group(r) for r in frame.loc[frame["status"] == "failed", "reason"])
    top = reasons.most_common(max_reasons)
    fig = Figure(figsize=(FIG_WIDTH, 1.2 + 0.3 * max(len(top), 3)), layout="constrained")
    ax_q, ax_r = fig.subplots(1, 2, width_ratios=[1, 2.6])
    passed = frame["qc_passed_sweeps"].dropna().to_numpy(dtype=float)
    if passed.size:
        ax_q.hist(passed, bins=min(20, max(3, passed.size)), color="#2e7d32")
    ax_q.set_xlabel("sweeps passing QC")
    ax_q.set_ylabel("cells")
    ax_q.set_title("QC", fontsize=10, loc="left")
    if top:
        y = np.arange(len(top))[::-1]
        ax_r.barh(y, [c for _, c in top], color="#c62828", alpha=0.8)
        ax_r.set_yticks(y, [k if len(k) <= 70 else k[:67] + "…" for k, _ in top], fontsize=7)
        ax_r.set_xlabel("cells")
        ax_r.xaxis.get_major_locator().set_params(integer=True)
    else:
        ax_r.text(0.5, 0.5, "no failed cell", ha="center", va="center", color="#777777")
        ax_r.set_axis_off()
    ax_r.set_title("Why cells failed", fontsize=10, loc="left")
    return fig


def _reason_group(reason: str) -> str:
    """A failure reason without the file name in front and with its numbers masked."""
    head, sep, rest = reason.partition(": ")
    return reason_key(rest if sep and os.sep in head else reason)


def _num(x: float, spec: str = ".3f") -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _cell_table(frame: pd.DataFrame, levels: Sequence[int]) -> str:
    head = ("<tr><th>cell</th><th>status</th>"
            + "".join(f"<th>GLIF{n} test EV</th>" for n in levels)
            + "<th>QC passed sweeps</th><th>wall (s)</th><th>reason</th><th>source</th></tr>")
    body = []
    for row in frame.itertuples(index=False):
        folder = row.folder
        name = _e(row.cell_id or Path(row.source).name)
        link = f'<a href="{_e(folder)}/{REPORT_NAME}">{name}</a>' if folder else name
        if folder and folder != row.cell_id:
            link += f" <span class='meta'>({_e(folder)})</span>"
        status = f"{row.status} (resumed)" if row.resumed is True else row.status
        evs = "".join(f"<td class='num'>{_num(getattr(row, f'glif{n}_test_ev'))}</td>"
                      for n in levels)
        qc = "—" if pd.isna(row.qc_passed_sweeps) else str(row.qc_passed_sweeps)
        body.append(f"<tr><td>{link}</td><td class='status-{_e(row.status)}'>{_e(status)}</td>"
                    f"{evs}<td class='num'>{qc}</td><td class='num'>{_num(row.wall_time_s, '.1f')}"
                    f"</td><td>{_e(row.reason)}</td><td class='meta'>{_e(row.source)}</td></tr>")
    return f"<table>{head}{''.join(body)}</table>"


def render_cohort_html(frame: pd.DataFrame, levels: Sequence[int], total: int | None = None) -> str:
    """The cohort report of a cohort table (:data:`glifx.batch.COHORT_COLUMNS`) as HTML text.

    ``total``: recordings in the run; when the table has fewer rows (a run in progress or
    stopped), the header says how many are finished."""
    levels = list(levels)
    partial = ""
    if total is not None and total > len(frame):
        partial = (f"<p class='meta'><strong>{len(frame)} of {total} recordings finished</strong>"
                   " (the run is in progress or was stopped; rerunning it resumes)</p>")
    n_fitted = int((frame["status"] == "fitted").sum())
    n_resumed = int((frame["resumed"] == True).sum())  # noqa: E712 - nullable booleans
    medians = ", ".join(f"GLIF{n} {_num(_fitted(frame, n)[f'glif{n}_test_ev'].median())}"
                        for n in levels)
    parts = [
        f"<header><h1>Cohort: {len(frame)} recordings</h1>"
        f"<p class='meta'>{n_fitted} fitted ({n_resumed} kept from an earlier run), "
        f"{len(frame) - n_fitted} failed; levels {', '.join(f'GLIF{n}' for n in levels)}; "
        f"written {datetime.now(UTC).isoformat(timespec='seconds')}</p>"
        f"<p class='meta'>median test EV: {medians}</p>{partial}</header>",
        "<h2>Test explained variance</h2>", _img(plot_test_ev(frame, levels), "test EV per level"),
    ]
    pairs = plot_level_pairs(frame, levels)
    if pairs is not None:
        parts += ["<h2>Each level against the one below</h2>", _img(pairs, "level pairs")]
    parts += ["<h2>Parameters</h2>", _img(plot_parameters(frame, levels), "parameters"),
              "<h2>QC and failures</h2>", _img(plot_qc_and_failures(frame), "QC and failures"),
              "<h2>Cells</h2>", _cell_table(frame, levels)]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>glifx cohort ({len(frame)} recordings)</title><style>{STYLESHEET}</style>"
            f"</head><body>{''.join(parts)}</body></html>\n")


def write_cohort_report(frame: pd.DataFrame, path: str | os.PathLike[str],
                        levels: Sequence[int] = (1, 2, 3, 4, 5), total: int | None = None) -> Path:
    """Render the cohort report and write it to ``path`` atomically.

    Parameters
    ----------
    frame
        The cohort table.
    path
        The HTML file (usually ``<out_dir>/cohort.html``, beside the cell folders it links to).
    levels
        The levels the cohort was fitted at.
    total
        Recordings in the run (the report notes a table that lists fewer: run not finished).
    """
    path = Path(path)
    write_text_atomic(path, render_cohort_html(frame, levels, total))
    return path
