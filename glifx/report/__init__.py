"""Plots and the per-cell HTML report.

Fill plain dataclasses (:class:`CellReport` holding one :class:`LevelReport` per GLIF level, plus
optional :class:`FICurve` and :class:`VoltageOverlay`) and call :func:`write_report` to get one
self-contained HTML file (figures embedded as PNG, nothing referenced outside it, written
atomically).  Each figure is also available on its own as a function returning a matplotlib
``Figure`` (built without pyplot, rendered with Agg).  Units: time s, voltage mV, current pA,
rates Hz; parameters carry their own unit strings.

From a fit: :func:`build_cell_report` turns (cell, QC, features, fit) into a :class:`CellReport`;
:func:`write_fit_outputs` writes every output file of ``glifx fit`` into ``DIR/<cell_id>/`` at once.

Example
-------
>>> import numpy as np
>>> from glifx.report import CellReport, LevelReport, write_report
>>> lv1 = LevelReport(1, parameters={"R_input": (1.9e8, "Ω"), "C": (9e-11, "F")},
...                   train_ev=0.71, test_ev=0.69, wall_time_s=3.2,
...                   test_data_spikes=[np.array([0.11, 0.52]), np.array([0.12, 0.50])],
...                   test_model_spikes=[np.array([0.13, 0.49])], test_t_range=(0.0, 1.0))
>>> lv2 = LevelReport(2, status="failed", reason="no Short Square - Triple sweep passed QC")
>>> write_report(CellReport("cell-1", source="cell-1.nwb", levels=[lv1, lv2]), "out/report.html")
... # doctest: +SKIP
"""

import importlib
from typing import Any

from glifx.report.data import (
    LEVEL_STATUSES,
    PUBLISHED_TEST_EV_MEDIANS,
    REPORT_NAME,
    CellReport,
    FICurve,
    LevelReport,
    VoltageOverlay,
    parameter_frame,
    parameters_from_allen_config,
)
from glifx.report.from_fit import build_cell_report
from glifx.report.outputs import fit_summary, write_fit_outputs
from glifx.report.traces import downsample_minmax

#: The names drawn with matplotlib, by module: imported on first use, so that the stages that
#: run before any drawing (and the helper processes forked meanwhile) do without matplotlib.
_DRAWING = {
    "glifx.report.plots": (
        "LEVEL_COLORS", "busiest_window", "format_value", "level_color", "parameter_matrix",
        "plot_explained_variance", "plot_fi_curve", "plot_parameter_table", "plot_psth",
        "plot_qc_summary", "plot_raster", "plot_test_response", "plot_voltage_overlay", "psth",
    ),
    "glifx.report.render": (
        "DEFAULT_DPI", "figure_to_data_uri", "figure_to_png", "render_html", "write_report",
    ),
}
_LAZY = {name: module for module, names in _DRAWING.items() for name in names}


# PEP 562 hook for the drawing names, as glifx, glifx.qc and glifx.testing have for theirs
def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'glifx.report' has no attribute {name!r}")
    globals()[name] = value = getattr(importlib.import_module(_LAZY[name]), name)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "DEFAULT_DPI",
    "LEVEL_COLORS",
    "LEVEL_STATUSES",
    "PUBLISHED_TEST_EV_MEDIANS",
    "REPORT_NAME",
    "CellReport",
    "FICurve",
    "LevelReport",
    "VoltageOverlay",
    "build_cell_report",
    "busiest_window",
    "downsample_minmax",
    "figure_to_data_uri",
    "figure_to_png",
    "fit_summary",
    "format_value",
    "level_color",
    "parameter_frame",
    "parameter_matrix",
    "parameters_from_allen_config",
    "plot_explained_variance",
    "plot_fi_curve",
    "plot_parameter_table",
    "plot_psth",
    "plot_qc_summary",
    "plot_raster",
    "plot_test_response",
    "plot_voltage_overlay",
    "psth",
    "render_html",
    "write_fit_outputs",
    "write_report",
]
