"""glifx.report._layout.GridLayout: the report figures placed as constrained layout places them."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine

from glifx.report import (
    VoltageOverlay,
    plot_explained_variance,
    plot_fi_curve,
    plot_qc_summary,
    plot_test_response,
    plot_voltage_overlay,
)
from glifx.report._layout import GridLayout
from glifx.report.cell_plots import plot_example_traces
from tests.test_report import make_report

DPI = 200


def _positions(fig: Figure) -> np.ndarray:
    """Axes extents in pixels at :data:`DPI` after a draw."""
    fig.dpi = DPI
    FigureCanvasAgg(fig).draw()
    return np.array([ax.get_position().extents for ax in fig.axes]) * np.tile(
        fig.get_size_inches() * DPI, 2)


def _figures() -> dict[str, Figure]:
    rep = make_report()
    fitted = [lv for lv in rep.levels if lv.fitted]
    return {
        "test response": plot_test_response(fitted[0]),
        "ev": plot_explained_variance(rep.levels),
        "overlay": plot_voltage_overlay(rep.overlay, rep.levels),
        "fi": plot_fi_curve(rep.fi_data, rep.levels),
        "qc": plot_qc_summary(rep.qc_table),
        "traces": plot_example_traces([rep.overlay] * 4),
    }


@pytest.mark.parametrize("name", ["test response", "ev", "overlay", "fi", "qc", "traces"])
def test_places_axes_as_constrained_layout(name):
    fig = _figures()[name]
    assert isinstance(fig.get_layout_engine(), GridLayout)
    ours = _positions(fig)
    fig.set_layout_engine(ConstrainedLayoutEngine())
    theirs = _positions(fig)
    # a few pixels of a 2000 px wide image: text extents from the font, not the renderer
    assert np.abs(ours - theirs).max() < 8.0, np.round(ours - theirs, 1)


def test_wide_tick_labels_widen_the_margin():
    t = np.linspace(0.0, 1.0, 2000)
    narrow = VoltageOverlay(t, -70 + np.sin(20 * t), None, label="narrow")
    wide = VoltageOverlay(t, -70.0 + 1e-4 * np.sin(20 * t), 1e6 + 0.5 * t, label="wide")
    x_narrow = _positions(plot_voltage_overlay(narrow, {}))[:, 0]
    fig = plot_voltage_overlay(wide, {})
    x_wide = _positions(fig)[:, 0]
    assert x_wide.min() > x_narrow.max() + 40  # "−0.00010" needs more room than "−70"
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:  # nothing drawn outside the figure
        box = ax.get_tightbbox(renderer)
        assert box.x0 >= 0 and box.y0 >= 0 and box.y1 <= fig.bbox.height
    top = fig.axes[0]  # its title is lifted above the offset text ("+1e6"), as matplotlib would
    assert top.yaxis.get_offset_text().get_text()
    title = top._left_title  # the left title's Text (private: no public getter)
    assert title.get_window_extent(renderer).y0 >= \
        top.yaxis.get_offset_text().get_window_extent(renderer).y1


def test_falls_back_to_constrained_layout_outside_one_grid():
    fig = Figure(figsize=(6, 3), layout=GridLayout())
    ax = fig.add_subplot(1, 2, 1)
    fig.add_axes((0.6, 0.1, 0.3, 0.8))  # not in a grid
    ax.set_ylabel("a label")
    before = ax.get_position().extents
    FigureCanvasAgg(fig).draw()
    assert not np.allclose(ax.get_position().extents, before)  # constrained layout placed it
