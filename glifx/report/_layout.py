"""A light layout engine for the report's figures (private).

Matplotlib's constrained layout asks every axes for its tight bounding box, twice per draw, and
each box makes the axis recompute and lay out its ticks and labels: more than half of the time it
takes to draw a report figure.  :class:`GridLayout` places the axes of a figure's grid as
constrained layout does (the same paddings and spacings, margins per row and column sized to the
decorations, axes sizes in the grid's ratios) but measures the decorations directly: the tick
labels' strings from the axis's locator and formatter, titles and axis labels from their text,
each string's extent from the font (:data:`matplotlib.textpath.text_to_path`, no renderer).  It
knows the decorations the report uses (tick labels, axis labels, titles, the y offset text,
inside legends and texts; titles set through :meth:`GridLayout.set_title`); a figure it
cannot lay out (axes outside one grid, colorbars, figure legends or texts, too small a figure)
falls back to constrained layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib import rcParams
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.cbook import is_math_text
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.layout_engine import ConstrainedLayoutEngine, LayoutEngine
from matplotlib.text import Text
from matplotlib.textpath import text_to_path
from matplotlib.transforms import Bbox

_PT_PER_IN = 72.0


def _extent(text: str, prop: FontProperties) -> tuple[float, float, float]:
    """Width, height and descent (points) of one line of ``text`` drawn with ``prop``; height
    and descent at least those of ``"lp"``, as :class:`matplotlib.text.Text` lays a line out."""
    w, h, d = text_to_path.get_text_width_height_descent(text, prop, ismath=is_math_text(text))
    _, h_lp, d_lp = text_to_path.get_text_width_height_descent("lp", prop, ismath=False)
    return w, max(h, h_lp), max(d, d_lp)


def _text_extent(t: Text | None, baseline: bool = False) -> tuple[float, float]:
    """Width and height (points) of a visible, non-empty text (rotation 90 swaps them), else
    zeros; ``baseline``: the height above the baseline of its last line (a title's)."""
    if t is None or not t.get_visible() or not t.get_text():
        return 0.0, 0.0
    lines = t.get_text().split("\n")
    sizes = [_extent(line, t.get_fontproperties()) for line in lines]
    w = max(s[0] for s in sizes)
    h = sum(s[1] for s in sizes) * (1 if len(lines) == 1 else t.get_linespacing())
    if baseline:
        h -= sizes[-1][2]
    return (h, w) if round(t.get_rotation()) % 180 == 90 else (w, h)


@dataclass
class _TickLabels:
    """The tick labels an axis will draw: positions (fraction of the axis) and extents (pt)."""

    frac: np.ndarray
    width: np.ndarray
    height: np.ndarray
    offset: float  # spine to label, pt (tick length outside the axes + pad)
    tick_out: float  # tick marks outside the axes, pt (counted even without labels)
    offset_text: str = ""  # the formatter's offset ("1e−9"), drawn beside the axis's end


def _tick_labels(axis: Axis) -> _TickLabels:
    """What :meth:`matplotlib.axis.Axis._update_ticks` will draw, from the locator and the
    formatter (all positions formatted, as there, then those inside the view interval kept)."""
    tick = axis.get_major_ticks(1)[0]
    out = tick.get_tick_padding() if tick.tick1line.get_visible() else 0.0
    empty = _TickLabels(np.zeros(0), np.zeros(0), np.zeros(0), 0.0, out)
    if not tick.label1.get_visible():
        return empty
    locs = np.asarray(axis.get_major_locator()(), dtype=float)
    if locs.size == 0:
        return empty
    formatter = axis.get_major_formatter()
    labels = formatter.format_ticks(locs)
    offset_text = formatter.get_offset() if hasattr(formatter, "get_offset") else ""
    lo, hi = sorted(axis.get_view_interval())
    trans = axis.get_transform()
    a, b = trans.transform([lo, hi])
    x = trans.transform(locs)
    tol = 1e-10 * abs(b - a)
    inside = (x >= min(a, b) - tol) & (x <= max(a, b) + tol)
    prop = tick.label1.get_fontproperties()
    sizes = [_extent(s, prop)[:2] if s else (0.0, 0.0)
             for s, keep in zip(labels, inside, strict=True) if keep]
    if not sizes:
        return empty
    frac = (x[inside] - a) / (b - a) if b != a else np.zeros(int(inside.sum()))
    w, h = np.array(sizes).T
    return _TickLabels(frac, w, h, tick.get_pad() + tick.get_tick_padding(), out, offset_text)


@dataclass
class _Decorations:
    """Space (pt) an axes' decorations take outside its box, and the tick labels that may
    overhang its ends (resolved once the axes' size is known)."""

    left: float
    right: float
    bottom: float
    top: float
    x_ticks: _TickLabels
    y_ticks: _TickLabels
    lift: float  # height of the y offset text above the axes (0 without one), pt


#: Gap between the tick labels and the offset text of an axis, pt (matplotlib's OFFSETTEXTPAD).
_OFFSET_TEXT_PAD = 3.0


def _decorations(ax: Axes, fixed_titles: set[int]) -> _Decorations:
    """The decorations of ``ax``; ``fixed_titles``: ids of titles placed by :class:`GridLayout`
    (lifted above a y offset text, where matplotlib would move an auto-positioned one)."""
    x_ticks, y_ticks = _tick_labels(ax.xaxis), _tick_labels(ax.yaxis)
    if not ax.axison:
        x_ticks = y_ticks = _TickLabels(np.zeros(0), np.zeros(0), np.zeros(0), 0.0, 0.0)
    left = (y_ticks.offset + y_ticks.width.max()) if y_ticks.width.size else y_ticks.tick_out
    bottom = (x_ticks.offset + x_ticks.height.max()) if x_ticks.height.size else x_ticks.tick_out
    if ax.axison:
        w, _ = _text_extent(ax.yaxis.label)
        if w:
            left += ax.yaxis.labelpad + w
        _, h = _text_extent(ax.xaxis.label)
        if h:
            bottom += ax.xaxis.labelpad + h
    # the left and right titles are private attributes, the centre one is ax.title
    titles = [ax.title, getattr(ax, "_left_title", None), getattr(ax, "_right_title", None)]
    top = max(_text_extent(t, baseline=True)[1] for t in titles)  # titles sit on their baseline
    if top:
        top += rcParams["axes.titlepad"]
    lift = 0.0
    if ax.axison and y_ticks.offset_text:
        off = ax.yaxis.get_offset_text()
        lift = _OFFSET_TEXT_PAD + _extent(y_ticks.offset_text, off.get_fontproperties())[1]
        top = (top + lift) if any(id(t) in fixed_titles for t in titles if t is not None) \
            else max(top, lift)
    return _Decorations(left, 0.0, bottom, top, x_ticks, y_ticks, lift)


def _overhang(ticks: _TickLabels, extent: np.ndarray, length: float) -> tuple[float, float]:
    """How far (pt) labels centred on their ticks reach past the start and the end of an axis
    ``length`` pt long."""
    if not ticks.frac.size:
        return 0.0, 0.0
    pos = ticks.frac * length
    return (max(0.0, float(np.max(extent / 2 - pos))),
            max(0.0, float(np.max(pos + extent / 2 - length))))


def _spans(decor: list[tuple[slice, float, float]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per grid row (or column): the largest decoration before and after, over the axes that
    start (before) or end (after) there."""
    before, after = np.zeros(n), np.zeros(n)
    for span, b, a in decor:
        before[span.start] = max(before[span.start], b)
        after[span.stop - 1] = max(after[span.stop - 1], a)
    return before, after


def _cells(total: float, before: np.ndarray, after: np.ndarray, outer: float, inner: float,
           ratios: np.ndarray) -> np.ndarray | None:
    """Start and end (same unit as ``total``) of each cell's box along one direction: margins
    ``outer + before[0]`` and ``after[-1] + outer`` at the ends, ``after[k] + 2 inner +
    before[k + 1]`` between cells, the rest shared in ``ratios``; ``None`` when nothing is left."""
    n = ratios.size
    gaps = after[:-1] + before[1:] + 2 * inner
    free = total - (outer + before[0]) - (after[-1] + outer) - gaps.sum()
    if free <= 0:
        return None
    sizes = free * ratios / ratios.sum()
    edges = np.empty((n, 2))
    x = outer + before[0]
    for k in range(n):
        edges[k] = x, x + sizes[k]
        x += sizes[k] + (gaps[k] if k < n - 1 else 0.0)
    return edges


class GridLayout(LayoutEngine):
    """Constrained layout's placement of one grid of axes, with the decorations measured
    from the text (see the module docstring).

    Parameters
    ----------
    w_pad, h_pad
        Padding around each axes' decorations, inches (default: constrained layout's,
        ``figure.constrained_layout.w_pad`` / ``h_pad``).
    wspace, hspace
        Space between columns / rows as a fraction of the figure's width / height, shared as
        constrained layout shares it (default ``figure.constrained_layout.wspace`` / ``hspace``).
    """

    _adjust_compatible = False
    _colorbar_gridspec = False

    def __init__(self, *, w_pad: float | None = None, h_pad: float | None = None,
                 wspace: float | None = None, hspace: float | None = None) -> None:
        super().__init__()
        self._fixed_titles: dict[int, tuple[Axes, Text]] = {}  # id(title) -> (axes, title)
        self._params = {
            "w_pad": rcParams["figure.constrained_layout.w_pad"] if w_pad is None else w_pad,
            "h_pad": rcParams["figure.constrained_layout.h_pad"] if h_pad is None else h_pad,
            "wspace": rcParams["figure.constrained_layout.wspace"] if wspace is None else wspace,
            "hspace": rcParams["figure.constrained_layout.hspace"] if hspace is None else hspace,
        }

    def set_title(self, ax: Axes, label: str, **kwargs: object) -> Text:
        """``ax.set_title(label, **kwargs)`` at a fixed height, placed by this engine.

        Matplotlib positions a title anew at every draw, and to see whether the y axis's
        offset text is in the way it lays out that axis's ticks once more; this engine knows
        the offset text already and lifts the title above it when there is one (titles sit
        ``axes.titlepad`` above the axes otherwise, where matplotlib puts them too).
        """
        title = ax.set_title(label, y=1.0, **kwargs)  # type: ignore[arg-type]
        self._fixed_titles[id(title)] = (ax, title)
        return title

    def _fallback(self, fig: Figure) -> None:
        ConstrainedLayoutEngine(w_pad=self._params["w_pad"], h_pad=self._params["h_pad"],
                                wspace=self._params["wspace"], hspace=self._params["hspace"]
                                ).execute(fig)

    def execute(self, fig: Figure) -> None:  # type: ignore[override]
        """Place the axes of ``fig`` (called by matplotlib at the start of every draw)."""
        axes = [ax for ax in fig.axes if ax.get_in_layout()]
        specs = [ax.get_subplotspec() for ax in axes]
        grids = {id(s.get_gridspec()) for s in specs if s is not None}
        if not axes or None in specs or len(grids) != 1 or fig.legends or fig.texts \
                or getattr(fig, "subfigs", None) or any(ax._colorbars for ax in axes):
            self._fallback(fig)
            return
        gs = specs[0].get_gridspec()
        nrows, ncols = gs.get_geometry()
        width_in, height_in = fig.get_size_inches()
        w_pt, h_pt = width_in * _PT_PER_IN, height_in * _PT_PER_IN
        p = self._params
        w_pad, h_pad = p["w_pad"] * _PT_PER_IN, p["h_pad"] * _PT_PER_IN
        # constrained layout: a cell's inner side gets the larger of the pad and its share of
        # the spacing (half the spacing over the number of cells), its outer side the pad
        w_inner = max(w_pad, p["wspace"] / 2 / ncols * w_pt)
        h_inner = max(h_pad, p["hspace"] / 2 / nrows * h_pt)
        decor = [_decorations(ax, set(self._fixed_titles)) for ax in axes]
        cols = [s.colspan for s in specs]
        rows = [s.rowspan for s in specs]
        wr = np.asarray(gs.get_width_ratios() or [1.0] * ncols, dtype=float)
        hr = np.asarray(gs.get_height_ratios() or [1.0] * nrows, dtype=float)
        extra = [(0.0, 0.0, 0.0, 0.0)] * len(axes)  # tick labels past the axes' ends: l r b t
        for _ in range(2):  # sizes without the overhangs, then with them
            left, right = _spans([(c, d.left + e[0], d.right + e[1])
                                  for c, d, e in zip(cols, decor, extra, strict=True)], ncols)
            # rows count from the top: "before" is a row's top, "after" its bottom
            top, bottom = _spans([(r, d.top + e[3], d.bottom + e[2])
                                  for r, d, e in zip(rows, decor, extra, strict=True)], nrows)
            xs = _cells(w_pt, left, right, w_pad, w_inner, wr)
            ys = _cells(h_pt, top, bottom, h_pad, h_inner, hr)
            if xs is None or ys is None:
                self._fallback(fig)
                return
            boxes = [(xs[c.start, 0], xs[c.stop - 1, 1], ys[r.start, 0], ys[r.stop - 1, 1])
                     for c, r in zip(cols, rows, strict=True)]
            extra = []
            for d, (x0, x1, y0, y1) in zip(decor, boxes, strict=True):
                xl, xr = _overhang(d.x_ticks, d.x_ticks.width, x1 - x0)
                yb, yt = _overhang(d.y_ticks, d.y_ticks.height, y1 - y0)
                extra.append((max(0.0, xl - d.left), max(0.0, xr - d.right),
                              max(0.0, yb - d.bottom), max(0.0, yt - d.top)))
        for ax, (x0, x1, y0, y1) in zip(axes, boxes, strict=True):
            # y0 / y1 count from the top edge; figure coordinates from the bottom.  The private
            # setter, as constrained layout's: the public one takes the axes out of the layout
            ax._set_position(Bbox.from_extents(x0 / w_pt, 1 - y1 / h_pt, x1 / w_pt, 1 - y0 / h_pt))
        lifts = {id(ax): (d.lift, y1 - y0) for ax, d, (_, _, y0, y1) in zip(axes, decor, boxes,
                                                                           strict=True)}
        for ax, title in self._fixed_titles.values():
            lift, height = lifts.get(id(ax), (0.0, 1.0))
            title.set_y(1.0 + lift / height)
