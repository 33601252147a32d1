"""The per-cell HTML report: one self-contained file (figures embedded as base64 PNG, inline CSS).

Layout: header (cell id, source, notes) → summary table of levels (status, train/test EV, the
published median, wall time, reason) → explained variance figure → parameter table (HTML) → one
section per level (raster + PSTH of the test sweeps, or the reason it was not fitted) → voltage
overlay of a training epoch → f-I curve → sweep QC (figure, cell verdict, failed sweeps with reasons).

Every user-supplied string is escaped with :func:`html.escape`; the file references nothing
outside itself (links are in-page ``#anchors`` only).  It is written atomically: everything is
rendered in memory first, then written to a temporary file in the target directory and renamed,
so a failure leaves either no report or the previous one, never a partial file.
"""

from __future__ import annotations

import base64
import html
import io
import math
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from glifx._files import write_text_atomic
from glifx.report.data import PUBLISHED_TEST_EV_MEDIANS, CellReport, LevelReport
from glifx.report.plots import (
    level_color,
    parameter_matrix,
    plot_explained_variance,
    plot_fi_curve,
    plot_qc_summary,
    plot_test_response,
    plot_voltage_overlay,
    qc_reasons,
    qc_status,
)

#: Resolution of embedded figures, dots per inch (figures are 10 in wide → 1000 px, shown at
#: the page's 950 px column, so they stay sharp on ordinary screens).
DEFAULT_DPI = 100
#: File name used when :func:`write_report` is given a directory.
REPORT_NAME = "report.html"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1000px; padding: 16px 24px 48px; color: #1d1d1d; line-height: 1.4; }
header { border-bottom: 2px solid #333; margin-bottom: 12px; }
h1 { font-size: 1.6em; margin: 8px 0 4px; word-break: break-all; }
h2 { font-size: 1.25em; margin: 28px 0 8px; border-bottom: 1px solid #ccc; padding-bottom: 2px; }
h3 { font-size: 1.05em; margin: 18px 0 6px; }
.meta { color: #555; font-size: 0.9em; margin: 2px 0; word-break: break-all; }
nav { font-size: 0.9em; margin: 8px 0; }
nav a { margin-right: 12px; color: #0b57d0; text-decoration: none; }
table { border-collapse: collapse; font-size: 0.9em; margin: 6px 0; }
th, td { border: 1px solid #d0d0d0; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.status-fitted { color: #1b5e20; font-weight: 600; }
.status-failed { color: #b00020; font-weight: 600; }
.status-skipped { color: #8d6e00; font-weight: 600; }
.fail { border-left: 4px solid #b00020; background: #fdecee; padding: 8px 12px; margin: 6px 0; }
.note { border-left: 4px solid #c9a400; background: #fff8e1; padding: 6px 12px; margin: 6px 0; }
.empty { color: #777; font-style: italic; }
figure { margin: 8px 0; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: 0.85em; }
.scroll { max-height: 420px; overflow-y: auto; display: inline-block; }
"""
#: The report's stylesheet (inline CSS), shared by the cohort report (glifx.batch).
STYLESHEET = _CSS


def figure_to_png(fig: Figure, dpi: int = DEFAULT_DPI, palette: bool = True) -> bytes:
    """Render a figure to PNG bytes.

    Parameters
    ----------
    fig
        The figure.
    dpi
        Resolution, dots per inch.
    palette
        Reduce to a 256-colour palette (Pillow, which matplotlib already requires): plots use few
        colours, and this makes the PNG 3–4 times smaller with no visible change.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    if not palette:
        return buf.getvalue()
    from PIL import Image

    buf.seek(0)
    with Image.open(buf) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()


def figure_to_data_uri(fig: Figure, dpi: int = DEFAULT_DPI) -> str:
    """Render a figure to a ``data:image/png;base64,...`` URI (palette PNG, see :func:`figure_to_png`).

    Parameters
    ----------
    fig
        The figure.
    dpi
        Resolution, dots per inch.
    """
    return "data:image/png;base64," + base64.b64encode(figure_to_png(fig, dpi)).decode("ascii")


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _img(fig: Figure, alt: str, caption: str | None, dpi: int) -> str:
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{_e(alt)}" src="{figure_to_data_uri(fig, dpi)}">{cap}</figure>'


def _ev(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def _wall(x: float | None) -> str:
    if x is None:
        return "—"
    if x < 60:
        return f"{x:.3g} s"
    m, s = divmod(x, 60)
    if m < 60:
        return f"{int(m)} min {s:.0f} s"
    h, m = divmod(m, 60)
    return f"{int(h)} h {int(m)} min"


def _anchor(lv: LevelReport) -> str:
    return f"glif{lv.level}"


def _swatch(level: int) -> str:
    return f'<span class="swatch" style="background:{level_color(level)}"></span>'


def _summary(report: CellReport) -> str:
    if not report.levels:
        return '<p class="empty">No GLIF level in this report.</p>'
    rows = []
    for lv in report.levels:
        med = PUBLISHED_TEST_EV_MEDIANS.get(lv.level)
        rows.append(
            "<tr>"
            f'<td>{_swatch(lv.level)}<a href="#{_anchor(lv)}">{_e(lv.name)}</a></td>'
            f'<td class="status-{_e(lv.status)}">{_e(lv.status)}</td>'
            f'<td class="num">{_ev(lv.train_ev)}</td>'
            f'<td class="num">{_ev(lv.test_ev)}</td>'
            f'<td class="num">{_ev(med)}</td>'
            f'<td class="num">{_wall(lv.wall_time_s)}</td>'
            f"<td>{_e(lv.reason) if lv.reason else ''}</td>"
            "</tr>"
        )
    total = [lv.wall_time_s for lv in report.levels if lv.wall_time_s is not None]
    foot = (f'<tr><td colspan="5">total</td><td class="num">{_wall(sum(total))}</td><td></td></tr>'
            if total else "")
    return (
        "<table><thead><tr><th>level</th><th>status</th><th>train EV<br>(Noise 1)</th>"
        "<th>test EV<br>(Noise 2)</th><th>published median<br>test EV</th><th>wall time</th>"
        "<th>reason / note</th></tr></thead><tbody>" + "".join(rows) + foot + "</tbody></table>"
        "<p class=\"meta\">EV: explained-variance ratio of spike trains smoothed with a 10 ms Gaussian "
        "(Teeter et al. 2018); published medians over 645 mouse cells.</p>"
    )


def _parameters(report: CellReport) -> str:
    m = parameter_matrix(report.levels)
    if m.empty or m.shape[1] == 0:
        return '<p class="empty">No fitted parameters.</p>'
    head = "".join(f"<th>{_swatch(int(c[4:]) if c[4:].isdigit() else 0)}{_e(c)}</th>" for c in m.columns)
    body = "".join(
        f"<tr><th>{_e(name)}</th>" + "".join(f'<td class="num">{_e(v)}</td>' for v in row) + "</tr>"
        for name, row in zip(m.index, m.to_numpy().tolist(), strict=True)
    )
    return f"<table><thead><tr><th>parameter</th>{head}</tr></thead><tbody>{body}</tbody></table>"


def _level_section(lv: LevelReport, dpi: int) -> str:
    parts = [f'<h3 id="{_anchor(lv)}">{_swatch(lv.level)}{_e(lv.name)} — '
             f'<span class="status-{_e(lv.status)}">{_e(lv.status)}</span></h3>']
    if not lv.fitted:
        parts.append(f'<div class="fail"><b>Not fitted.</b> Reason: {_e(lv.reason)}</div>')
        return "".join(parts)
    if lv.reason:
        parts.append(f'<div class="note">{_e(lv.reason)}</div>')
    parts.append(f'<p class="meta">train EV {_ev(lv.train_ev)} · test EV {_ev(lv.test_ev)} · '
                 f'wall time {_wall(lv.wall_time_s)}</p>')
    if lv.test_data_spikes or lv.test_model_spikes:
        n_d, n_m = len(lv.test_data_spikes), len(lv.test_model_spikes)
        caption = (f"{n_d} recorded test repeat(s) (black) and {n_m} model run(s). Whole sweep on "
                   f"top (PSTH smoothing as labelled); below, a 1 s zoom at σ = 10 ms, the smoothing "
                   f"of the explained variance.")
        parts.append(_img(plot_test_response(lv), f"{lv.name} test raster and PSTH", caption, dpi))
    else:
        parts.append('<p class="empty">No test spike trains supplied for this level.</p>')
    return "".join(parts)


def _qc(report: CellReport, dpi: int) -> str:
    parts = []
    if report.qc_cell_passed is not None:
        verdict = ("passed" if report.qc_cell_passed
                   else "failed: " + "; ".join(report.qc_cell_reasons or ["(no reason given)"]))
        cls = "meta" if report.qc_cell_passed else "fail"
        parts.append(f'<p class="{cls}"><b>Cell QC {_e(verdict)}</b></p>')
    table = report.qc_table
    if table is None:
        parts.append('<p class="empty">No QC table supplied.</p>')
        return "".join(parts)
    parts.append(_img(plot_qc_summary(table), "sweep QC summary", None, dpi))
    status = qc_status(table)
    failed = table[status == "failed"]
    if failed.empty:
        parts.append('<p class="meta">No current-clamp sweep failed QC.</p>')
        return "".join(parts)
    rows = []
    blank = pd.Series(None, index=failed.index, dtype=object)
    stim = failed["stimulus_name"] if "stimulus_name" in failed.columns else blank
    reasons = failed["reasons"] if "reasons" in failed.columns else blank
    for num, name, rs in zip(failed["sweep_number"], stim, reasons, strict=True):
        name = "" if name is None or (isinstance(name, float) and math.isnan(name)) else name
        rows.append(f'<tr><td class="num">{_e(num)}</td><td>{_e(name)}</td>'
                    f"<td>{_e('; '.join(qc_reasons(rs)))}</td></tr>")
    parts.append(f"<h3>Failed sweeps ({len(failed)})</h3><div class=\"scroll\"><table><thead><tr>"
                 "<th>sweep</th><th>stimulus</th><th>reasons</th></tr></thead><tbody>"
                 + "".join(rows) + "</tbody></table></div>")
    return "".join(parts)


def render_html(report: CellReport, dpi: int = DEFAULT_DPI) -> str:
    """The report as one HTML document (a string), figures embedded as base64 PNG.

    Parameters
    ----------
    report
        What to show.
    dpi
        Resolution of the embedded figures, dots per inch.

    Returns
    -------
    str
        The complete document.  It embeds one image for the explained variance (when there are
        levels), one per fitted level with test spike trains, one for the voltage overlay (when
        given), one for the f-I curve (when data or a model curve is given) and one for QC (when a
        QC table is given).
    """
    from glifx import __version__

    if not isinstance(report, CellReport):
        from glifx.errors import ConfigError

        raise ConfigError(f"render_html: expected a CellReport, got {type(report).__name__}")
    sections: list[tuple[str, str, str]] = []  # (id, title, body)
    sections.append(("summary", "Summary", _summary(report)))
    if report.levels:
        sections.append(("ev", "Explained variance",
                         _img(plot_explained_variance(report.levels), "explained variance per level",
                              "Bars: this cell (light: train, dark: test); black marks: published "
                              "median test EV per level.", dpi)))
        sections.append(("parameters", "Fitted parameters", _parameters(report)))
        sections.append(("levels", "Test sweeps per level",
                         "".join(_level_section(lv, dpi) for lv in report.levels)))
    fitted_v = [lv for lv in report.levels if lv.fitted and lv.model_v is not None]
    if report.overlay is not None:
        sections.append(("overlay", "Voltage: training epoch",
                         _img(plot_voltage_overlay(report.overlay, fitted_v), "voltage overlay",
                              "Grey: recorded voltage; coloured: model (gaps are spike cuts). Long "
                              "traces are reduced to their per-block minima and maxima.", dpi)))
    fitted_fi = [lv for lv in report.levels if lv.fitted and lv.fi_model is not None]
    if report.fi_data is not None or fitted_fi:
        sections.append(("fi", "f-I curve",
                         _img(plot_fi_curve(report.fi_data, fitted_fi), "f-I curve", None, dpi)))
    if report.qc_table is not None or report.qc_cell_passed is not None:
        sections.append(("qc", "Quality control", _qc(report, dpi)))

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    notes = "".join(f'<div class="note">{_e(n)}</div>' for n in report.notes)
    nav = "".join(f'<a href="#{sid}">{_e(title)}</a>' for sid, title, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{_e(title)}</h2>{content}</section>'
                   for sid, title, content in sections)
    source = _e(report.source) if report.source else '<span class="empty">unknown</span>'
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>glifx report — {_e(report.cell_id)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>Cell {_e(report.cell_id)}</h1>"
        f'<p class="meta">Source: <code>{source}</code></p>'
        f'<p class="meta">glifx {_e(__version__)} · generated {now}</p></header>\n'
        f"{notes}<nav>{nav}</nav>\n{body}\n</body>\n</html>\n"
    )


def write_report(report: CellReport, path: str | PathLike[str], dpi: int = DEFAULT_DPI) -> Path:
    """Write the report as one self-contained HTML file, atomically.

    Parameters
    ----------
    report
        What to show.
    path
        The file to write, or an existing directory (then ``<dir>/report.html``).  Missing parent
        directories are created.
    dpi
        Resolution of the embedded figures, dots per inch.

    Returns
    -------
    pathlib.Path
        The file written.

    Notes
    -----
    The whole document is rendered before anything is written; it then goes to a temporary file in
    the target directory, is flushed to disk and renamed over ``path``.  On any error the temporary
    file is removed and an existing report at ``path`` is left untouched.

    Examples
    --------
    >>> from glifx.report import CellReport, LevelReport, write_report
    >>> rep = CellReport("cell-1", levels=[LevelReport(1, status="failed", reason="no Noise 1 sweep")])
    >>> write_report(rep, "out/cell-1")  # doctest: +SKIP
    PosixPath('out/cell-1/report.html')
    """
    target = Path(path)
    if target.is_dir():
        target = target / REPORT_NAME
    text = render_html(report, dpi=dpi)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target, text)
    return target
