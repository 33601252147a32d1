"""Figures of the recorded cell itself: example traces per protocol, the first spike's waveform
and phase plot.  Units: time s (traces) or ms (spike), voltage mV, current pA, dV/dt V/s."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from glifx.report._layout import GridLayout
from glifx.report.data import SpikeWaveform, VoltageOverlay
from glifx.report.plots import DATA_COLOR, FIG_WIDTH, MAX_TRACE_POINTS, _title, downsample_minmax


def plot_example_traces(traces: Sequence[VoltageOverlay], max_points: int = MAX_TRACE_POINTS
                        ) -> Figure:
    """One column per protocol: membrane potential (top) and injected current (bottom).

    Parameters
    ----------
    traces
        One recorded sweep per protocol (``t`` s, ``v_data`` mV, ``stimulus_pa`` pA or ``None``;
        ``label`` is the panel title).
    max_points
        Each trace is reduced to this many points (min/max per block).
    """
    n = max(1, len(traces))
    cols = min(n, 3)
    rows = -(-n // cols)
    fig = Figure(figsize=(FIG_WIDTH, 2.9 * rows), layout=GridLayout())
    grid = fig.add_gridspec(2 * rows, cols, height_ratios=[3, 1] * rows)
    for k, tr in enumerate(traces):
        r, c = divmod(k, cols)
        ax_v = fig.add_subplot(grid[2 * r, c])
        ax_i = fig.add_subplot(grid[2 * r + 1, c], sharex=ax_v)
        t, v = downsample_minmax(tr.t, tr.v_data, max_points)
        ax_v.plot(t, v, color=DATA_COLOR, lw=0.6)
        _title(ax_v, tr.label, fontsize=9, loc="left")
        ax_v.set_ylabel("V (mV)", fontsize=8)
        ax_v.tick_params(labelbottom=False, labelsize=7)
        if tr.stimulus_pa is not None:
            ti, i = downsample_minmax(tr.t, tr.stimulus_pa, max_points)
            ax_i.plot(ti, i, color="#555555", lw=0.6)
        ax_i.set_ylabel("I (pA)", fontsize=8)
        ax_i.set_xlabel("time (s)", fontsize=8)
        ax_i.tick_params(labelsize=7)
        ax_v.set_xlim(tr.t[0], tr.t[-1])
    if not traces:
        ax = fig.add_subplot(grid[0, 0])
        ax.text(0.5, 0.5, "no analysed sweep", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    return fig


def plot_spike_waveform(spike: SpikeWaveform) -> Figure:
    """The spike's waveform (V against time from threshold) and phase plot (dV/dt against V)."""
    fig = Figure(figsize=(FIG_WIDTH, 3.4), layout=GridLayout())
    ax_w, ax_p = fig.subplots(1, 2)
    ax_w.plot(spike.t_ms, spike.v_mv, color=DATA_COLOR, lw=1.2)
    ax_w.axvline(0.0, color="#999999", lw=0.8, ls="--")
    ax_w.set_xlabel("time from threshold (ms)")
    ax_w.set_ylabel("V (mV)")
    _title(ax_w, f"Waveform — {spike.label}", fontsize=9, loc="left")
    ax_p.plot(spike.v_mv, spike.dvdt, color=DATA_COLOR, lw=1.0)
    ax_p.axhline(0.0, color="#999999", lw=0.8)
    ax_p.set_xlabel("V (mV)")
    ax_p.set_ylabel("dV/dt (V/s)")
    _title(ax_p, "Phase plot", fontsize=9, loc="left")
    if np.isfinite(spike.dvdt).any():
        ax_p.set_ylim(np.nanmin(spike.dvdt) * 1.1, np.nanmax(spike.dvdt) * 1.1)
    return fig
