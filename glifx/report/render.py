"""The per-cell HTML report: one self-contained file (figures embedded as base64 PNG at twice the
screen resolution, inline CSS with print rules that keep headings with what follows them).

Layout: header (cell id, source, notes) → summary table of levels (status, train/test EV, the
published median, wall time; the whole fit's time on the same clock) → cell-feature panel →
example traces per protocol → first spike (waveform, phase plot) → explained variance figure →
parameter table (HTML) → one section per level (raster + PSTH of the test sweeps, or the reason
it was not fitted) → Noise 2 model-vs-data voltage with a zoom → Long Square model-vs-data →
voltage overlay of a training epoch → f-I curve → QC (cell verdict with the criteria not
measured, plausibility warnings, per-sweep table, failure figure when a sweep failed).

Every user-supplied string is escaped with :func:`html.escape`; the file references nothing
outside itself (links are in-page ``#anchors`` only).  It is written atomically: everything is
rendered in memory first, then written to a temporary file in the target directory and renamed,
so a failure leaves either no report or the previous one, never a partial file.
"""

from __future__ import annotations

import base64
import gc
import html
import io
import math
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.ticker import NullLocator

from glifx._files import write_text_atomic
from glifx.report._forked import map_shared
from glifx.report.cell_plots import plot_example_traces, plot_spike_waveform
from glifx.report.data import (
    PUBLISHED_TEST_EV_MEDIANS,
    REPORT_NAME,
    CellReport,
    LevelReport,
    VoltageOverlay,
)
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

#: Resolution of embedded figures, dots per inch (figures are 10 in wide → 2000 px, shown at
#: the page's ~950 px column: twice the screen resolution, sharp when zoomed and on HiDPI).
DEFAULT_DPI = 200
#: Width of the zoomed view of the Noise 2 overlay, s.
ZOOM_S = 0.3

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
.warn { border-left: 4px solid #e65100; background: #fff3e0; padding: 6px 12px; margin: 6px 0; }
tr.failed td { background: #fdecee; }
tr.excluded td { color: #777; }
@media print {
  body { max-width: none; padding: 0; }
  nav { display: none; }
  /* a heading, its one-line remarks and the first figure or table below stay on one page */
  h2, h3, p.meta { break-after: avoid; page-break-after: avoid; }
  figure, table, .scroll { break-before: avoid; page-break-before: avoid; }
  figure, tr, .fail, .note, .warn { break-inside: avoid; page-break-inside: avoid; }
  .scroll { display: block; max-height: none; overflow: visible; }
}
"""
#: The report's stylesheet (inline CSS), shared by the cohort report (glifx.batch).
STYLESHEET = _CSS


@contextmanager
def _tickless_spines_out_of_layout(fig: Figure) -> Iterator[None]:
    """While drawing, leave out of constrained layout the top and right spines that carry no
    tick marks (all of the report's, whose ticks are at the bottom and left).

    Such a spine lies on its axes' edge, inside the axes' box that the layout counts anyway, so
    the layout is the same (the PNGs are identical); but the layout asks each spine for its
    extent, and a spine recomputes its axis's ticks for that, in both passes: a quarter of the
    tick updates of a draw.  The figure is left as it was.
    """
    left_out = []
    if not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):
        yield  # e.g. the report's own figures (glifx.report._layout.GridLayout)
        return
    for ax in fig.axes:
        for name, axis in (("top", ax.xaxis), ("right", ax.yaxis)):
            spine = ax.spines.get(name)
            if (spine is not None and spine.get_in_layout()
                    and not axis.majorTicks[0].tick2line.get_visible()
                    and (isinstance(axis.get_minor_locator(), NullLocator)
                         or not axis.minorTicks[0].tick2line.get_visible())):
                spine.set_in_layout(False)
                left_out.append(spine)
    try:
        yield
    finally:
        for spine in left_out:
            spine.set_in_layout(True)


@contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """While the report's figures are made, keep the objects that were already alive out of the
    cyclic garbage collector's full collections (:func:`gc.freeze`), then give them back.

    A figure is tens of thousands of objects in reference cycles; the report's make the
    collector run full collections, and each scans every object of the process (the fit's
    results, pandas, numba ...): about 0.4 s of a 200 kHz cell's report.  Frozen, a full
    collection scans only what was made since, the figures themselves, which are still
    collected.  Left alone when something else froze objects already.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


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

    Notes
    -----
    With ``palette`` the figure is drawn once on an Agg canvas and its pixels are quantised
    directly: ``savefig`` would encode a full-colour PNG only for it to be decoded again (the
    pixels are the same as a first ``savefig`` at ``dpi`` with the default ``savefig.*``
    settings).  The palette PNG is written at zlib's default level 6, not the maximum: level 9
    (``optimize``) took ~5 times longer for files ~10 % smaller, with the same pixels.
    """
    if not palette:
        buf = io.BytesIO()
        with _tickless_spines_out_of_layout(fig):
            fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
        return buf.getvalue()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(fig)
    screen_dpi = fig.dpi
    fig.dpi = dpi  # as savefig does: the figure's inches stay, its pixels scale
    try:
        with _tickless_spines_out_of_layout(fig):
            canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        small = Image.fromarray(rgba).convert("RGB").quantize(colors=256,
                                                              method=Image.Quantize.FASTOCTREE)
    finally:
        fig.dpi = screen_dpi
    out = io.BytesIO()
    small.save(out, format="PNG", compress_level=6)
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


#: CSS pixels per inch of figure: a figure is shown at this size whatever the dpi it is rendered
#: at, so at :data:`DEFAULT_DPI` every image carries two pixels per CSS pixel.
CSS_PX_PER_INCH = 100


@dataclass
class _Figure:
    """One figure of the report, made and drawn only when the page is filled in."""

    make: Callable[[], Figure]
    alt: str
    caption: str | None
    #: relative drawing cost, so that the longest are started first
    weight: float


class _Figures:
    """The report's figures: :meth:`img` leaves a placeholder in the page, :meth:`fill` draws
    every figure (shared with a forked helper process where allowed:
    :func:`glifx.report._forked.map_shared`; matplotlib holds the GIL, so threads would not
    help) and puts each ``<figure>`` in its place.  The page is the same either way."""

    def __init__(self, dpi: int) -> None:
        self.dpi = dpi
        self.jobs: list[_Figure] = []
        self.token = uuid.uuid4().hex  # nothing else in the page can look like a placeholder

    def img(self, make: Callable[[], Figure], alt: str, caption: str | None = None,
            weight: float = 1.0) -> str:
        """A placeholder for the figure ``make()`` returns."""
        self.jobs.append(_Figure(make, alt, caption, weight))
        return f"\x00{self.token}:{len(self.jobs) - 1}\x00"

    def _draw(self, job: _Figure) -> tuple[int, bytes]:
        fig = job.make()
        return round(fig.get_size_inches()[0] * CSS_PX_PER_INCH), figure_to_png(fig, self.dpi)

    def fill(self, page: str, where: str) -> str:
        """``page`` with every placeholder replaced by its ``<figure>``."""
        order = sorted(range(len(self.jobs)), key=lambda k: -self.jobs[k].weight)
        drawn = map_shared(self._draw, [self.jobs[k] for k in order], what=f"{where}: figure")
        html_of: dict[int, str] = {}
        for k, (width, png) in zip(order, drawn, strict=True):
            job = self.jobs[k]
            cap = f"<figcaption>{_e(job.caption)}</figcaption>" if job.caption else ""
            src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            html_of[k] = (f'<figure><img alt="{_e(job.alt)}" width="{width}" '
                          f'src="{src}">{cap}</figure>')
        return re.sub(f"\x00{self.token}:(\\d+)\x00", lambda m: html_of[int(m[1])], page)


#: Drawing cost of the heaviest figures relative to the others (1; on a 200 kHz cell the
#: voltage overlays and the example traces take 2-3 times longer than a raster).
_HEAVY = 2.5


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
    foot = (f'<tr><td colspan="5">whole fit (preprocessing and every level)</td>'
            f'<td class="num">{_wall(report.fit_wall_time_s)}</td><td></td></tr>'
            if report.fit_wall_time_s is not None else "")
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


def _level_section(lv: LevelReport, figs: _Figures) -> str:
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
        parts.append(figs.img(lambda: plot_test_response(lv), f"{lv.name} test raster and PSTH",
                              caption))
    else:
        parts.append('<p class="empty">No test spike trains supplied for this level.</p>')
    return "".join(parts)


#: Measurement columns of the per-sweep QC table: (column, header, format).
QC_TABLE_COLUMNS = (("pre_noise_rms_mv", "pre noise (mV)", ".3f"),
                    ("post_noise_rms_mv", "post noise (mV)", ".3f"),
                    ("slow_noise_rms_mv", "slow noise (mV)", ".3f"),
                    ("vm_delta_mv", "Vm drift (mV)", ".2f"),
                    ("pre_vm_mv", "baseline (mV)", ".1f"),
                    ("leak_pa", "leak (pA)", ".1f"))


def _cell_qc(report: CellReport) -> str:
    if report.qc_cell_passed is None:
        return ""
    verdict = ("passed" if report.qc_cell_passed
               else "failed: " + "; ".join(report.qc_cell_reasons or ["(no reason given)"]))
    cls = "meta" if report.qc_cell_passed else "fail"
    out = f'<p class="{cls}"><b>Cell QC {_e(verdict)}</b>'
    if report.qc_not_measured:
        out += (f" — {len(report.qc_not_measured)} cell criteria not measured, so not checked:"
                "</p><ul>" + "".join(f"<li>{_e(m)}</li>" for m in report.qc_not_measured) + "</ul>")
    else:
        out += " — every cell criterion measured.</p>"
    return out


def _sweep_qc_table(table: pd.DataFrame) -> str:
    status = qc_status(table)
    heads = "".join(f"<th>{_e(head)}</th>" for col, head, _ in QC_TABLE_COLUMNS
                    if col in table.columns)
    rows = []
    for k, (_, row) in enumerate(table.iterrows()):
        st = str(status.iloc[k])
        name = row.get("stimulus_name")
        name = "" if name is None or (isinstance(name, float) and math.isnan(name)) else name
        cells = "".join(
            f'<td class="num">{"n/m" if pd.isna(row[c]) else format(float(row[c]), f)}</td>'
            for c, _, f in QC_TABLE_COLUMNS if c in table.columns)
        why = qc_reasons(row.get("reasons")) if st == "failed" else qc_reasons(row.get("notes"))
        rows.append(f'<tr class="{_e(st)}"><td class="num">{_e(row["sweep_number"])}</td>'
                    f"<td>{_e(name)}</td><td>{_e(st)}</td>{cells}<td>{_e('; '.join(why))}</td></tr>")
    return ('<div class="scroll"><table><thead><tr><th>sweep</th><th>stimulus</th><th>status</th>'
            f"{heads}<th>reasons / notes</th></tr></thead><tbody>" + "".join(rows)
            + '</tbody></table></div><p class="meta">n/m: not measured (see qc.json).</p>')


def _qc(report: CellReport, figs: _Figures) -> str:
    parts = [_cell_qc(report)]
    parts.extend(f'<div class="warn"><b>Warning:</b> {_e(w)}</div>' for w in report.warnings)
    table = report.qc_table
    if table is None:
        parts.append('<p class="empty">No QC table supplied.</p>')
        return "".join(parts)
    failed = int((qc_status(table) == "failed").sum())
    parts.append(f"<h3>Sweeps ({len(table)}; {failed} failed)</h3>" + _sweep_qc_table(table))
    if failed:
        parts.append(figs.img(lambda: plot_qc_summary(table), "sweep QC summary"))
    return "".join(parts)


def _cell_features(report: CellReport) -> str:
    rows = "".join(
        f'<tr><th>{_e(label)}</th><td class="num">'
        f'{"n/m" if not math.isfinite(value) else format(value, ".4g")}</td><td>{_e(unit)}</td></tr>'
        for label, value, unit in report.cell_features)
    return (f"<table><thead><tr><th>feature</th><th>value</th><th>unit</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
            '<p class="meta">ipfx definitions, Long Square sweeps; n/m: not measured '
            "(cell_features.json notes say why).</p>")


def _zoom(overlay: VoltageOverlay) -> VoltageOverlay:
    """:data:`ZOOM_S` of ``overlay`` around its first recorded spike (upward crossing of
    -10 mV), or around its middle."""
    v = overlay.v_data
    up = np.flatnonzero((v[:-1] < -10.0) & (v[1:] >= -10.0))
    centre = overlay.t[up[0]] if up.size else 0.5 * (overlay.t[0] + overlay.t[-1])
    lo = max(overlay.t[0], centre - ZOOM_S / 3)
    keep = (overlay.t >= lo) & (overlay.t <= lo + ZOOM_S)
    return VoltageOverlay(t=overlay.t[keep], v_data=v[keep],
                          stimulus_pa=None if overlay.stimulus_pa is None
                          else overlay.stimulus_pa[keep],
                          label=overlay.label + f", {ZOOM_S * 1e3:.0f} ms zoom",
                          models={k: m[keep] for k, m in overlay.models.items()})


def _model_overlay(overlay: VoltageOverlay, title: str, figs: _Figures, zoom: bool) -> str:
    caption = ("Grey: recorded voltage; coloured: model (gaps are spike cuts, triangles the "
               "model's spikes). Long traces are reduced to their per-block minima and maxima.")
    out = figs.img(lambda: plot_voltage_overlay(overlay, overlay.models, title=title), title,
                   caption, _HEAVY)
    if zoom:
        z = _zoom(overlay)
        if z.t.size >= 2:
            out += figs.img(lambda: plot_voltage_overlay(z, z.models, title=title + " (zoom)"),
                            title + " (zoom)", None, _HEAVY)
    return out


def render_html(report: CellReport, dpi: int = DEFAULT_DPI, *, name: str = REPORT_NAME) -> str:
    """The report as one HTML document (a string), figures embedded as base64 PNG.

    Parameters
    ----------
    report
        What to show.
    dpi
        Resolution of the embedded figures, dots per inch.
    name
        What error messages call the page (e.g. its path).

    Returns
    -------
    str
        The complete document.  Each section appears only when its data are in ``report``
        (levels, cell features, example traces, spike waveform, test and Long Square overlays,
        training overlay, f-I data, QC); each figure is one embedded image.
    """
    if not isinstance(report, CellReport):
        from glifx.errors import ConfigError

        raise ConfigError(f"render_html: expected a CellReport, got {type(report).__name__}")
    with _older_objects_frozen():
        figs = _Figures(dpi)
        return figs.fill(_render_html(report, figs), name)


def _render_html(report: CellReport, figs: _Figures) -> str:
    """The page, with placeholders for the figures (:meth:`_Figures.fill` draws them)."""
    from glifx import __version__

    sections: list[tuple[str, str, str]] = []  # (id, title, body)
    sections.append(("summary", "Summary", _summary(report)))
    if report.cell_features:
        sections.append(("features", "Cell features", _cell_features(report)))
    if report.example_traces:
        sections.append(("traces", "Example traces per protocol",
                         figs.img(lambda: plot_example_traces(report.example_traces),
                                  "example traces",
                                  "One recorded sweep per protocol: the rheobase sweep for Long "
                                  "Square, else the sweep with the most spikes.", _HEAVY)))
    if report.spike_waveform is not None:
        sections.append(("spike", "First spike",
                         figs.img(lambda: plot_spike_waveform(report.spike_waveform),
                                  "first spike waveform and phase plot")))
    if report.levels:
        sections.append(("ev", "Explained variance",
                         figs.img(lambda: plot_explained_variance(report.levels),
                                  "explained variance per level",
                                  "Bars: this cell (light: train, dark: test); black marks: "
                                  "published median test EV per level.")))
        sections.append(("parameters", "Fitted parameters", _parameters(report)))
        sections.append(("levels", "Test sweeps per level",
                         "".join(_level_section(lv, figs) for lv in report.levels)))
    if report.test_overlay is not None:
        sections.append(("test-voltage", "Noise 2 (test): model vs data voltage",
                         _model_overlay(report.test_overlay, "Test epoch: recorded vs model",
                                        figs, zoom=True)))
    if report.long_square_overlay is not None:
        sections.append(("long-square", "Long Square: model vs data voltage",
                         _model_overlay(report.long_square_overlay,
                                        "Long Square step: recorded vs model", figs,
                                        zoom=False)))
    fitted_v = [lv for lv in report.levels if lv.fitted and lv.model_v is not None]
    if report.overlay is not None:
        sections.append(("overlay", "Voltage: training epoch",
                         figs.img(lambda: plot_voltage_overlay(report.overlay, fitted_v),
                                  "voltage overlay",
                                  "Grey: recorded voltage; coloured: model (gaps are spike cuts). "
                                  "Long traces are reduced to their per-block minima and maxima.",
                                  _HEAVY)))
    fitted_fi = [lv for lv in report.levels if lv.fitted and lv.fi_model is not None]
    if report.fi_data is not None or fitted_fi:
        sections.append(("fi", "f-I curve",
                         figs.img(lambda: plot_fi_curve(report.fi_data, fitted_fi),
                                  "f-I curve")))
    if report.qc_table is not None or report.qc_cell_passed is not None:
        sections.append(("qc", "Quality control", _qc(report, figs)))

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
    text = render_html(report, dpi=dpi, name=str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target, text)
    return target
