"""The report's figures, each usable on its own.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global figure
registry, no display needed; ``fig.savefig(...)`` renders with Agg), or draws into an ``ax`` it is
given and returns that axes' figure.  Units: time in s, voltage in mV, current in pA, rates in Hz.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from glifx.errors import ConfigError
from glifx.report._layout import GridLayout
from glifx.report.data import PUBLISHED_TEST_EV_MEDIANS, FICurve, LevelReport, VoltageOverlay
from glifx.report.traces import (  # noqa: F401 - envelope_indices: also reachable from here
    MAX_TRACE_POINTS,
    downsample_minmax,
    envelope_indices,
)

#: Colour of each GLIF level in every figure.
LEVEL_COLORS: dict[int, str] = {1: "#1f77b4", 2: "#ff7f0e", 3: "#2ca02c", 4: "#d62728", 5: "#9467bd"}
_EXTRA_COLORS = ("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
#: Colour of recorded data.
DATA_COLOR = "#222222"
#: Width of report figures, inches (at the report's dpi this fits a 1000 px column).
FIG_WIDTH = 10.0


def level_color(level: int) -> str:
    """The colour used for a GLIF level."""
    return LEVEL_COLORS.get(level, _EXTRA_COLORS[level % len(_EXTRA_COLORS)])


def _figure(height: float, width: float = FIG_WIDTH) -> Figure:
    # constrained layout's placement at a fraction of its cost (glifx.report._layout)
    return Figure(figsize=(width, height), layout=GridLayout())


def _title(ax: Axes, label: str, **kwargs: Any) -> None:
    """``ax.set_title(label, **kwargs)``; on a figure of :func:`_figure`, placed by its layout
    engine (:meth:`GridLayout.set_title`: no second layout of the ticks at every draw)."""
    engine = ax.figure.get_layout_engine()
    if isinstance(engine, GridLayout):
        engine.set_title(ax, label, **kwargs)
    else:
        ax.set_title(label, **kwargs)


def _target(ax: Axes | None, height: float) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig = _figure(height)
    return fig, fig.add_subplot()


# --------------------------------------------------------------------------------------- helpers
def psth(
    spike_trains: Sequence[np.ndarray],
    t_range: tuple[float, float],
    bin_s: float = 0.001,
    sigma_s: float = 0.01,
) -> tuple[np.ndarray, np.ndarray]:
    """Peri-stimulus time histogram: mean firing rate across trains, Gaussian-smoothed.

    Spikes are counted in bins of ``bin_s``; the counts are convolved with a Gaussian of standard
    deviation ``sigma_s`` over ±5σ, normalised to sum 1 (as the explained variance of GLIF_SPEC.md
    §4 smooths its trains), and divided by the bin width and the number of trains.

    Parameters
    ----------
    spike_trains
        Spike times per train, s.
    t_range
        ``(start, end)`` of the time axis, s.
    bin_s
        Bin width, s.
    sigma_s
        Smoothing standard deviation, s; 0 gives the plain histogram.

    Returns
    -------
    t, rate
        Bin centres (s) and rate (Hz); the rate is all zeros when there are no trains.
    """
    t0, t1 = float(t_range[0]), float(t_range[1])
    if not (bin_s > 0 and t1 > t0 and sigma_s >= 0):
        raise ConfigError(f"psth: need bin_s > 0, sigma_s >= 0 and end > start "
                          f"(got bin_s={bin_s}, sigma_s={sigma_s}, t_range={t_range})")
    n = max(1, int(math.ceil((t1 - t0) / bin_s - 1e-9)))
    edges = t0 + bin_s * np.arange(n + 1)
    counts = np.zeros(n)
    for train in spike_trains:
        c, _ = np.histogram(np.asarray(train, dtype=float), bins=edges)
        counts += c
    if sigma_s > 0:
        h = int(round(5 * sigma_s / bin_s))
        k = np.arange(-h, h + 1) * bin_s
        g = np.exp(-0.5 * (k / sigma_s) ** 2)
        g /= g.sum()
        counts = np.convolve(counts, g, mode="full")[h : h + n]
    rate = counts / (bin_s * max(len(spike_trains), 1))
    return edges[:-1] + bin_s / 2, rate


_SI_PREFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"),
                (1e-12, "p"), (1e-15, "f"))
_PREFIXABLE = {"Ω": "Ω", "ohm": "Ω", "Ohm": "Ω", "F": "F", "A": "A", "V": "V", "s": "s", "S": "S"}


def format_value(value: float, unit: str = "", digits: int = 4) -> str:
    """A parameter value as text, with an engineering prefix for SI units (``1.9e8, "Ω"`` → ``190 MΩ``).

    Parameters
    ----------
    value
        The number (in ``unit``).
    unit
        Its unit; Ω/ohm, F, A, V, s and S get prefixes, anything else is printed as given.
    digits
        Significant digits.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    value = float(value)
    base = _PREFIXABLE.get(unit)
    if base is None or value == 0 or not math.isfinite(value):
        text = f"{value:.{digits}g}"
        return f"{text} {unit}".strip()
    scale, prefix = next(((sc, pf) for sc, pf in _SI_PREFIXES if abs(value) >= sc * 0.9995),
                         _SI_PREFIXES[-1])
    return f"{value / scale:.{digits}g} {prefix}{base}"


def _no_data(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.set_xticks([])
    ax.set_yticks([])


# ------------------------------------------------------------------------------------- test data
def busiest_window(spike_trains: Sequence[np.ndarray], width_s: float,
                   t_range: tuple[float, float]) -> tuple[float, float]:
    """The ``width_s`` window inside ``t_range`` holding the most spikes of all trains together.

    Parameters
    ----------
    spike_trains
        Spike times per train, s.
    width_s
        Window length, s.
    t_range
        ``(start, end)`` the window must lie in, s.

    Returns
    -------
    tuple of float
        ``(start, end)``, s (the start of ``t_range`` when there are no spikes).
    """
    t0, t1 = float(t_range[0]), float(t_range[1])
    width_s = min(width_s, t1 - t0)
    all_spikes = np.sort(np.concatenate([np.asarray(s, dtype=float) for s in spike_trains] or [[]]))
    if all_spikes.size == 0:
        return t0, t0 + width_s
    # candidate windows start a little before each spike (so that spike is not on the edge)
    starts = np.clip(all_spikes - 0.05 * width_s, t0, t1 - width_s)
    counts = np.searchsorted(all_spikes, starts + width_s) - np.searchsorted(all_spikes, starts)
    start = float(starts[int(np.argmax(counts))])
    return start, start + width_s


def plot_raster(level: LevelReport, ax: Axes | None = None,
                window: tuple[float, float] | None = None) -> Figure:
    """Raster of the test repeats (data, black, top rows) against the model's (level colour, below).

    One row per repeat: ``len(level.test_data_spikes) + len(level.test_model_spikes)`` rows, each
    drawn as one event collection (``ax.collections``).

    Parameters
    ----------
    level
        A level with ``test_data_spikes`` / ``test_model_spikes`` (s).
    ax
        Axes to draw into; a new figure is made when ``None``.
    window
        ``(start, end)`` of the time axis, s; default :meth:`LevelReport.t_range`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    n_d, n_m = len(level.test_data_spikes), len(level.test_model_spikes)
    fig, ax = _target(ax, 0.8 + 0.18 * (n_d + n_m))
    t0, t1 = window if window is not None else level.t_range()
    rows: list[tuple[np.ndarray, str, str]] = [(s, DATA_COLOR, f"data {k + 1}")
                                               for k, s in enumerate(level.test_data_spikes)]
    rows += [(s, level_color(level.level), f"model {k + 1}" if n_m > 1 else "model")
             for k, s in enumerate(level.test_model_spikes)]
    if not rows:
        _no_data(ax, "no test spike trains")
        return fig
    # data on top: row 0 is drawn highest
    positions = np.arange(len(rows))[::-1].astype(float)
    if n_m:
        positions[n_d:] -= 0.6  # a gap between data and model rows
    for (spikes, color, _), y in zip(rows, positions, strict=True):
        ax.eventplot([spikes], lineoffsets=y, linelengths=0.8, linewidths=0.8, colors=color)
    if len(rows) <= 20:
        ax.set_yticks(positions, [label for _, _, label in rows], fontsize=7)
    else:
        ax.set_yticks([positions[0], positions[-1]], [rows[0][2], rows[-1][2]], fontsize=7)
    ax.set_ylim(positions.min() - 0.6, positions.max() + 0.6)
    ax.set_xlim(t0, t1)
    ax.set_xlabel("time (s)")
    _title(ax, f"{level.name}: test spike trains, data (black) vs model", fontsize=10, loc="left")
    return fig


def plot_psth(level: LevelReport, ax: Axes | None = None, bin_s: float = 0.001,
              sigma_s: float = 0.01, window: tuple[float, float] | None = None) -> Figure:
    """PSTH of the test repeats, data against model (Gaussian σ = ``sigma_s``, as in GLIF_SPEC §4).

    Draws two lines (``ax.lines``): data (black, over a grey fill) and model (level colour), if
    present.

    Parameters
    ----------
    level
        A level with test spike trains (s).
    ax
        Axes to draw into; a new figure is made when ``None``.
    bin_s, sigma_s
        Bin width and smoothing standard deviation, s (see :func:`psth`).
    window
        ``(start, end)`` shown, s; the PSTH is computed over the whole :meth:`LevelReport.t_range`
        (no edge effects at the window's borders).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _target(ax, 2.4)
    t_range = level.t_range()
    w0, w1 = window if window is not None else t_range
    if not level.test_data_spikes and not level.test_model_spikes:
        _no_data(ax, "no test spike trains")
        return fig
    if level.test_data_spikes:
        t, r = psth(level.test_data_spikes, t_range, bin_s, sigma_s)
        keep = (t >= w0 - bin_s) & (t <= w1 + bin_s)
        ax.fill_between(t[keep], r[keep], color="#bbbbbb", lw=0)
        ax.plot(t[keep], r[keep], color=DATA_COLOR, lw=0.8,
                label=f"data ({len(level.test_data_spikes)} repeats)")
    if level.test_model_spikes:
        t, r = psth(level.test_model_spikes, t_range, bin_s, sigma_s)
        keep = (t >= w0 - bin_s) & (t <= w1 + bin_s)
        n_m = len(level.test_model_spikes)
        ax.plot(t[keep], r[keep], color=level_color(level.level), lw=1.0, alpha=0.85,
                label=f"{level.name} model" + (f" ({n_m} runs)" if n_m > 1 else ""))
    ax.set_xlim(w0, w1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("rate (Hz)")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    _title(ax, f"{level.name}: PSTH (Gaussian σ = {sigma_s * 1e3:g} ms)", fontsize=10, loc="left")
    return fig


def plot_test_response(level: LevelReport, bin_s: float = 0.001, sigma_s: float = 0.01,
                       zoom_s: float | None = 1.0, overview_sigma_s: float | None = None) -> Figure:
    """Raster and PSTH of one level's test sweeps, whole sweep and a zoom on the busiest window.

    Parameters
    ----------
    level
        A level with test spike trains (s).
    bin_s, sigma_s
        PSTH bin width and smoothing of the zoom (and of a short sweep's overview), s.
    overview_sigma_s
        Smoothing of the whole-sweep PSTH, s.  ``None``: ``sigma_s`` for sweeps up to 5 s, else
        ``max(sigma_s, span / 250)`` (0.1 s for a 25 s Noise sweep; at 10 ms the overview would
        be a comb of single spikes).
    zoom_s
        Length of the zoomed window, s (placed where the recorded repeats spike most, see
        :func:`busiest_window`); ``None``, or a sweep not longer than twice it, gives no zoom.

    Returns
    -------
    matplotlib.figure.Figure
        Axes ``[raster, psth]`` over the whole sweep, then ``[raster, psth]`` of the zoom if any.
    """
    t_range = level.t_range()
    zoom = None
    if zoom_s is not None and (t_range[1] - t_range[0]) > 2 * zoom_s:
        zoom = busiest_window(level.test_data_spikes or level.test_model_spikes, zoom_s, t_range)
    n_rows = len(level.test_data_spikes) + len(level.test_model_spikes)
    h_raster = 0.45 + 0.15 * max(n_rows, 2)
    h_psth = 1.7
    span = t_range[1] - t_range[0]
    if overview_sigma_s is None:
        overview_sigma_s = sigma_s if span <= 5.0 else max(sigma_s, span / 250.0)
    views = [(None, overview_sigma_s)] if zoom is None else [(None, overview_sigma_s), (zoom, sigma_s)]
    fig = _figure(0.5 + len(views) * (h_raster + h_psth + 0.3))
    axes = fig.subplots(2 * len(views), 1, height_ratios=[h_raster, h_psth] * len(views))
    for k, (window, sigma) in enumerate(views):
        ax_r, ax_p = axes[2 * k], axes[2 * k + 1]
        plot_raster(level, ax=ax_r, window=window)
        plot_psth(level, ax=ax_p, bin_s=max(bin_s, sigma / 10), sigma_s=sigma, window=window)
        ax_p.text(0.005, 0.95, f"PSTH, Gaussian σ = {sigma * 1e3:.3g} ms", transform=ax_p.transAxes,
                  ha="left", va="top", fontsize=8, color="#444444")
        ax_r.sharex(ax_p)
        ax_r.set_xlabel("")
        ax_r.tick_params(labelbottom=False)
        _title(ax_p, "", loc="left")
        _title(ax_r, "", loc="left")
    title = f"{level.name}: test sweeps — raster and PSTH, whole sweep"
    if level.test_ev is not None:
        title += f" — test EV {level.test_ev:.3f}"
    _title(axes[0], title, fontsize=10, loc="left")
    if zoom is not None:
        for ax in axes[:2]:
            ax.axvspan(*zoom, color="#ffd54f", alpha=0.35, lw=0, zorder=0)
        _title(axes[2], f"zoom: {zoom[0]:.2f}–{zoom[1]:.2f} s (shaded above: the recorded repeats' "
                          f"busiest {zoom[1] - zoom[0]:g} s)", fontsize=10, loc="left")
    return fig


# ------------------------------------------------------------------------------ across levels
def plot_explained_variance(levels: Sequence[LevelReport],
                            medians: Mapping[int, float] = PUBLISHED_TEST_EV_MEDIANS) -> Figure:
    """Explained-variance ratio per level: train and test bars, published test medians as marks.

    Parameters
    ----------
    levels
        The levels, in display order (missing EVs and unfitted levels are labelled, not drawn).
    medians
        Reference test EV per level (default: Teeter et al. 2018 medians).

    Returns
    -------
    matplotlib.figure.Figure
        One axes with two bar containers (train, test) of ``len(levels)`` bars each (missing
        values drawn as height 0), plus one line of reference marks.
    """
    fig, ax = _target(None, 3.2)
    if not levels:
        _no_data(ax, "no levels")
        return fig
    x = np.arange(len(levels), dtype=float)
    w = 0.36
    train = np.array([lv.train_ev if lv.train_ev is not None else np.nan for lv in levels])
    test = np.array([lv.test_ev if lv.test_ev is not None else np.nan for lv in levels])
    colors = [level_color(lv.level) for lv in levels]
    ax.bar(x - w / 2, np.nan_to_num(train), w, color=colors, alpha=0.4, edgecolor=colors,
           label="train (Noise 1)")
    ax.bar(x + w / 2, np.nan_to_num(test), w, color=colors, edgecolor=colors, label="test (Noise 2)")
    ref = np.array([medians.get(lv.level, np.nan) for lv in levels], dtype=float)
    if np.any(np.isfinite(ref)):
        ax.plot(x + w / 2, ref, ls="none", marker="_", markersize=28, mew=2.5, color="black",
                label="published median, test (645 cells)")
    finite = np.concatenate([train[np.isfinite(train)], test[np.isfinite(test)], ref[np.isfinite(ref)]])
    lo = min(0.0, float(finite.min()) - 0.05) if finite.size else 0.0
    hi = max(1.0, float(finite.max()) + 0.05) if finite.size else 1.0
    ax.set_ylim(lo, hi * 1.08)
    for xi, lv, tr, te in zip(x, levels, train, test, strict=True):
        for dx, v, ink in ((-w / 2, tr, "black"), (w / 2, te, "white")):
            if np.isfinite(v) and v > 0.12:  # inside the bar: a published-median mark can't hide it
                ax.text(xi + dx, v - 0.015, f"{v:.2f}", ha="center", va="top", fontsize=7,
                        color=ink, fontweight="bold")
            elif np.isfinite(v):
                ax.text(xi + dx, max(v, 0) + 0.015, f"{v:.2f}", ha="center", va="bottom", fontsize=7)
        if not lv.fitted:
            ax.text(xi, 0.03, lv.status, ha="center", va="bottom", fontsize=8, color="#b00020",
                    rotation=90)
        elif not (np.isfinite(tr) or np.isfinite(te)):
            ax.text(xi, 0.03, "no EV", ha="center", va="bottom", fontsize=8, color="#777777",
                    rotation=90)
    ax.axhline(0, color="#999999", lw=0.6)
    ax.set_xticks(x, [lv.name for lv in levels])
    ax.set_ylabel("explained variance ratio")
    handles = [Patch(facecolor="#777777", alpha=0.4, edgecolor="#777777", label="train (Noise 1)"),
               Patch(facecolor="#777777", label="test (Noise 2)")]
    if np.any(np.isfinite(ref)):
        handles.append(Line2D([], [], ls="none", marker="_", markersize=14, mew=2.5, color="black",
                              label="published median, test (645 cells)"))
    ax.legend(handles=handles, loc="upper left", fontsize=8, ncols=3, frameon=False)
    _title(ax, "Explained variance (Gaussian σ = 10 ms; ratio to the data's own PSTH)", fontsize=10,
                 loc="left")
    return fig


def parameter_matrix(levels: Sequence[LevelReport]) -> pd.DataFrame:
    """The fitted levels' parameters side by side, formatted as text.

    Returns
    -------
    pandas.DataFrame
        Index: parameter name (in order of first appearance), columns: level names, values:
        formatted ``value unit`` strings (``""`` where a level has no such parameter).
    """
    fitted = [lv for lv in levels if lv.fitted]
    cols: dict[str, dict[str, str]] = {}
    names: list[str] = []
    for lv in fitted:
        table = lv.parameter_table
        col = {}
        for name, value, unit in table.itertuples(index=False):
            col[name] = format_value(value, unit)
            if name not in names:
                names.append(name)
        cols[lv.name] = col
    return pd.DataFrame({c: [v.get(n, "") for n in names] for c, v in cols.items()},
                        index=pd.Index(names, name="parameter"), dtype=object)


def plot_parameter_table(levels: Sequence[LevelReport]) -> Figure:
    """The fitted parameters as a table figure (rows: parameters, columns: fitted levels).

    Returns
    -------
    matplotlib.figure.Figure
        One axes holding one :class:`matplotlib.table.Table` (or a "no parameters" note).
    """
    m = parameter_matrix(levels)
    fig, ax = _target(None, 0.6 + 0.24 * max(len(m), 1))
    ax.axis("off")
    if m.empty or m.shape[1] == 0:
        ax.text(0.5, 0.5, "no fitted parameters", ha="center", va="center", color="#777777")
        return fig
    tab = ax.table(cellText=m.to_numpy().tolist(), rowLabels=list(m.index), colLabels=list(m.columns),
                   loc="center", cellLoc="center")
    tab.auto_set_font_size(False)
    tab.set_fontsize(8)
    for (r, c), cell in tab.get_celld().items():
        if r == 0 and c >= 0:
            lv = int(m.columns[c].removeprefix("GLIF")) if m.columns[c].startswith("GLIF") else 0
            cell.set_facecolor(level_color(lv))
            cell.get_text().set_color("white")
    _title(ax, "Fitted parameters", fontsize=10, loc="left")
    return fig


# ----------------------------------------------------------------------------------- voltage
def plot_voltage_overlay(
    overlay: VoltageOverlay,
    models: Mapping[int, np.ndarray] | Iterable[LevelReport],
    max_points: int = MAX_TRACE_POINTS,
    title: str = "Training epoch: recorded voltage vs model (model NaN = spike cut)",
) -> Figure:
    """A training epoch: stimulus (top, if given), then one panel per level with data and model.

    Each model spike (the start of a NaN spike cut) is marked with a triangle at the panel's top.

    Parameters
    ----------
    overlay
        Recorded epoch: ``t`` (s), ``v_data`` (mV), ``stimulus_pa`` (pA).
    models
        ``{level: model v (mV) on overlay.t, NaN in spike cuts}``, or LevelReports (their
        ``model_v`` is used when fitted and present).
    max_points
        Each trace is reduced to this many points (min/max per block) before plotting.
    title
        Figure title (the overlay's label is appended).

    Returns
    -------
    matplotlib.figure.Figure
        ``(stimulus given) + max(1, number of models)`` axes sharing the time axis; each model
        panel holds the data line, the model line and, if the model spiked, a marker line.
    """
    if isinstance(models, Mapping):
        traces = {int(k): np.asarray(v, dtype=float) for k, v in models.items() if v is not None}
    else:
        traces = {lv.level: lv.model_v for lv in models if lv.fitted and lv.model_v is not None}
    for k, v in traces.items():
        if v.shape != overlay.t.shape:
            raise ConfigError(f"plot_voltage_overlay: GLIF{k} model has {v.size} samples, "
                              f"the overlay has {overlay.t.size}")
    has_stim = overlay.stimulus_pa is not None
    n_panels = max(1, len(traces))
    ratios = ([1.0] if has_stim else []) + [1.6] * n_panels
    fig = _figure(0.5 + 1.3 * sum(ratios))
    axes = np.atleast_1d(fig.subplots(len(ratios), 1, sharex=True, height_ratios=ratios))
    t = overlay.t
    td, vd = downsample_minmax(t, overlay.v_data, max_points)
    if has_stim:
        ts, st = downsample_minmax(t, overlay.stimulus_pa, max_points)
        axes[0].plot(ts, st, color="#555555", lw=0.6)
        axes[0].set_ylabel("stimulus (pA)", fontsize=8)
    vpanels = axes[1:] if has_stim else axes
    items = sorted(traces.items()) or [(None, None)]
    for ax, (lvl, vm) in zip(vpanels, items, strict=True):
        ax.plot(td, vd, color="#9a9a9a", lw=0.6, label="data")
        if vm is not None:
            tm, ym = downsample_minmax(t, vm, max_points)
            ax.plot(tm, ym, color=level_color(lvl), lw=0.7, label=f"GLIF{lvl} model")
            finite = np.isfinite(vm)
            onsets = np.flatnonzero(finite[:-1] & ~finite[1:]) + 1  # a spike cut starts here
            if onsets.size:
                ax.plot(t[onsets], np.full(onsets.size, 0.97), ls="none", marker="v", ms=4,
                        color=level_color(lvl), transform=ax.get_xaxis_transform(),
                        label="model spikes")
        ax.set_ylabel("V (mV)", fontsize=8)
        ax.legend(loc="upper right", fontsize=7, frameon=False, ncols=3)
    axes[-1].set_xlim(t[0], t[-1])
    axes[-1].set_xlabel("time (s)")
    if overlay.label:
        title += f" — {overlay.label}"
    _title(axes[0], title, fontsize=10, loc="left")
    return fig


# ---------------------------------------------------------------------------------------- f-I
def plot_fi_curve(data: FICurve | None, models: Mapping[int, FICurve] | Iterable[LevelReport]) -> Figure:
    """Firing rate against step amplitude: data (black dots) and each level's model (coloured).

    Parameters
    ----------
    data
        Recorded f-I curve, or ``None``.
    models
        ``{level: FICurve}`` or LevelReports (their ``fi_model`` is used when fitted and present).

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one line per curve drawn.
    """
    if isinstance(models, Mapping):
        curves = {int(k): v for k, v in models.items() if v is not None}
    else:
        curves = {lv.level: lv.fi_model for lv in models if lv.fitted and lv.fi_model is not None}
    fig, ax = _target(None, 3.4)
    fig.set_size_inches(6.5, 3.6)
    if data is None and not curves:
        _no_data(ax, "no f-I data")
        return fig
    if data is not None:
        ax.plot(data.amplitude_pa, data.rate_hz, "o-", color=DATA_COLOR, ms=5, lw=1.2, label="data",
                zorder=5)
    for lvl, c in sorted(curves.items()):
        ax.plot(c.amplitude_pa, c.rate_hz, ".-", color=level_color(lvl), lw=1.0, ms=4,
                label=f"GLIF{lvl}")
    ax.set_xlabel("stimulus amplitude (pA)")
    ax.set_ylabel("firing rate (Hz)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, frameon=False)
    _title(ax, "f-I curve (Long Square)", fontsize=10, loc="left")
    return fig


# ----------------------------------------------------------------------------------------- QC
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")


def reason_key(reason: str) -> str:
    """A QC reason with its numbers replaced by ``n`` (so that the same criterion groups together)."""
    return _NUMBER.sub("n", reason).strip()


def qc_reasons(value: Any) -> list[str]:
    """A QC table's ``reasons`` cell as a list of strings (a list, or one ``"; "``-joined string)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        return [s.strip() for s in value.split(";") if s.strip()]
    return [str(s) for s in value]


def qc_status(table: pd.DataFrame) -> pd.Series:
    """Per sweep ``"passed"``, ``"failed"`` or ``"excluded"`` (from ``status``, else ``passed``)."""
    passed = [bool(x) if x is not None and x == x else False for x in table["passed"]]  # NaN → failed
    status = pd.Series(np.where(passed, "passed", "failed"), index=table.index, dtype=object)
    if "status" in table.columns:
        status = status.where(table["status"] != "excluded", "excluded")
    return status


def plot_qc_summary(qc_table: pd.DataFrame, max_reasons: int = 10) -> Figure:
    """Sweep QC: counts passed / failed / excluded (left) and the commonest failure reasons (right).

    Parameters
    ----------
    qc_table
        Columns ``sweep_number``, ``passed``, ``reasons`` (list or ``"; "`` string), optional ``status``.
    max_reasons
        How many reason groups to show (numbers in reasons are masked as ``n`` for grouping).

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: counts, reasons.
    """
    status = qc_status(qc_table)
    counts = [(s, int((status == s).sum())) for s in ("passed", "failed", "excluded")]
    reasons: Counter[str] = Counter()
    if "reasons" in qc_table.columns:
        for st, cell in zip(status, qc_table["reasons"], strict=True):
            if st == "failed":
                reasons.update({reason_key(r) for r in qc_reasons(cell)})
    top = reasons.most_common(max_reasons)
    fig = _figure(1.0 + 0.28 * max(len(top), 3))
    ax_c, ax_r = fig.subplots(1, 2, width_ratios=[1, 2.6])
    colors = {"passed": "#2e7d32", "failed": "#c62828", "excluded": "#9e9e9e"}
    y = np.arange(len(counts))[::-1]
    ax_c.barh(y, [c for _, c in counts], color=[colors[s] for s, _ in counts])
    ax_c.set_yticks(y, [s for s, _ in counts])
    for yi, (_, c) in zip(y, counts, strict=True):
        ax_c.text(c, yi, f" {c}", va="center", fontsize=8)
    ax_c.set_xlim(0, max(c for _, c in counts) * 1.25 + 1)
    ax_c.set_xlabel("sweeps")
    ax_c.xaxis.get_major_locator().set_params(integer=True)
    _title(ax_c, f"Sweep QC ({len(qc_table)} sweeps)", fontsize=10, loc="left")
    if top:
        yr = np.arange(len(top))[::-1]
        labels = [k if len(k) <= 60 else k[:57] + "…" for k, _ in top]
        ax_r.barh(yr, [c for _, c in top], color="#c62828", alpha=0.8)
        ax_r.set_yticks(yr, labels, fontsize=7)
        ax_r.set_xlabel("failed sweeps with this reason")
        ax_r.xaxis.get_major_locator().set_params(integer=True)
    else:
        _no_data(ax_r, "no failed sweeps")
    _title(ax_r, "Failure reasons (numbers masked as n)", fontsize=10, loc="left")
    return fig
