"""The per-cell report: data model validation, plot functions, and the self-contained HTML file."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from glifx.errors import ConfigError
from glifx.report import (
    PUBLISHED_TEST_EV_MEDIANS,
    CellReport,
    FICurve,
    LevelReport,
    VoltageOverlay,
    busiest_window,
    downsample_minmax,
    format_value,
    parameter_frame,
    parameters_from_allen_config,
    plot_explained_variance,
    plot_fi_curve,
    plot_parameter_table,
    plot_psth,
    plot_qc_summary,
    plot_raster,
    plot_test_response,
    plot_voltage_overlay,
    psth,
    render_html,
    write_report,
)
from glifx.report import render as render_mod

EVIL_ID = 'cell <script>alert("x")</script> & co'
FAIL_REASON = "no Short Square - Triple sweep passed QC <b>bold?</b>"
EPOCHS = ((1.0, 4.0), (9.0, 12.0), (17.0, 20.0))  # Noise-like: three 3 s epochs in a 25 s sweep


def _trains(rng: np.random.Generator, n: int, jitter: float, keep: float, base: np.ndarray) -> list:
    out = []
    for _ in range(n):
        s = base[rng.random(base.size) < keep]
        s = s + rng.normal(0.0, jitter, s.size)
        out.append(np.sort(s[(s > 0) & (s < 25.0)]))
    return out


def make_report(seed: int = 0, n_repeats: int = 3) -> CellReport:
    """A synthetic but plausible cell: 5 levels (GLIF2 failed), QC table, f-I, overlay."""
    rng = np.random.default_rng(seed)
    base = np.sort(np.concatenate([rng.uniform(a, b, 40 if a > 2 else 3) for a, b in EPOCHS]))
    data = _trains(rng, n_repeats, 0.002, 0.9, base)
    # overlay: 3 s at 20 kHz of a noisy membrane with spikes; model with NaN spike cuts
    dt = 5e-5
    t = np.arange(0.0, 3.0, dt)
    stim = 100 + 40 * np.convolve(rng.normal(size=t.size), np.ones(200) / 200 * 8, "same")
    v = -70 + 0.1 * (stim - 100) + rng.normal(0, 0.3, t.size)
    spk = np.sort(rng.choice(t.size - 100, 12, replace=False))
    for k in spk:
        v[k : k + 20] = np.linspace(30, -60, 20)
    levels = []
    for lvl in (1, 2, 3, 4, 5):
        if lvl == 2:
            levels.append(LevelReport(2, status="failed", reason=FAIL_REASON, wall_time_s=0.4))
            continue
        model = _trains(rng, 1, 0.004, 0.8, base)
        vm = -70 + 0.1 * (stim - 100) + 0.5 * lvl
        for k in spk[::2]:
            vm[k : k + 76] = np.nan
        params = {"El_reference": (-0.0712, "V"), "R_input": (1.9e8 + lvl * 1e6, "Ω"),
                  "C": (9.1e-11, "F"), "th_inf": (0.027, "V"), "spike_cut_length": (3.8e-3, "s")}
        if lvl >= 3:
            params["asc_amp_0"] = (-1.3e-10, "A")
            params["asc_k_0"] = (100.0, "1/s")
        levels.append(LevelReport(
            lvl, parameters=params, train_ev=0.6 + 0.04 * lvl, test_ev=0.55 + 0.05 * lvl,
            wall_time_s=2.5 * lvl, test_data_spikes=data, test_model_spikes=model,
            test_t_range=(0.0, 25.0), model_v=vm,
            fi_model=FICurve([50, 100, 150, 200, 250], [0, 8 + lvl, 20 + lvl, 31, 40 + lvl]),
        ))
    qc = pd.DataFrame({
        "sweep_number": np.arange(1, 13),
        "stimulus_name": ["Long Square"] * 6 + ["Noise 1"] * 3 + ["Noise 2"] * 3,
        "passed": [True, True, False, True, True, False, True, True, True, False, True, True],
        "reasons": [[], [], ["pre_noise_rms_mv 0.0912 > 0.07"], [], [],
                    ["pre_noise_rms_mv 0.12 > 0.07", "leak_pa -130 < -100"], [], [], [],
                    ["vm_delta_mv 1.3 > 1"], [], []],
    })
    return CellReport(
        cell_id=EVIL_ID, source="/data/<cells>/cell_1.nwb", levels=levels, qc_table=qc,
        qc_cell_passed=True, fi_data=FICurve([50, 100, 150, 200, 250], [0, 10, 22, 30, 38]),
        overlay=VoltageOverlay(t, v, stim, label="Noise 1, sweep 7, epoch 2"),
        notes=["synthetic test cell"],
    )


@pytest.fixture(scope="module")
def report() -> CellReport:
    return make_report()


# ------------------------------------------------------------------------------------ data model
def test_level_validation():
    with pytest.raises(ConfigError, match="needs a reason"):
        LevelReport(3, status="failed")
    with pytest.raises(ConfigError, match="status"):
        LevelReport(3, status="weird", reason="x")
    with pytest.raises(ConfigError, match="positive integer"):
        LevelReport(0)
    with pytest.raises(ConfigError, match="list of arrays"):
        LevelReport(1, test_data_spikes=np.array([0.1, 0.2]))
    with pytest.raises(ConfigError, match="finite"):
        LevelReport(1, test_data_spikes=[np.array([0.1, np.nan])])
    lv = LevelReport(1, train_ev=float("nan"), test_ev=np.float64(0.5))
    assert lv.train_ev is None and lv.test_ev == 0.5
    with pytest.raises(ConfigError, match="twice"):
        CellReport("c", levels=[LevelReport(1), LevelReport(1)])
    with pytest.raises(ConfigError, match="missing column"):
        CellReport("c", qc_table=pd.DataFrame({"sweep_number": [1]}))
    ov = VoltageOverlay(np.arange(10) * 0.1, np.zeros(10))
    with pytest.raises(ConfigError, match="samples"):
        CellReport("c", levels=[LevelReport(1, model_v=np.zeros(9))], overlay=ov)


def test_parameter_frame_and_format():
    a = parameter_frame({"R": (1.9e8, "Ω"), "a_r": 0.45})
    b = parameter_frame(pd.DataFrame({"value": [1.9e8, 0.45], "unit": ["Ω", ""]},
                                     index=pd.Index(["R", "a_r"], name="name")))
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["name", "value", "unit"]
    assert format_value(1.9e8, "Ω") == "190 MΩ"
    assert format_value(9.1e-11, "F") == "91 pF"
    assert format_value(-1.3e-10, "A") == "-130 pA"
    assert format_value(3.8e-3, "s") == "3.8 ms"
    assert format_value(100.0, "1/s") == "100 1/s"
    assert format_value(float("nan"), "V") == "—"


def test_parameters_from_allen_config():
    cfg = {
        "El_reference": -0.074, "R_input": 3.3e8, "C": 9.7e-11, "th_inf": 0.0376,
        "spike_cut_length": 144, "dt": 5e-5, "asc_amp_array": [-2.8e-11, -1.3e-10],
        "asc_tau_array": [0.1, 0.01],
        "coeffs": {"th_inf": 0.5, "C": 2.0, "G": 1.1, "a": 1, "b": 1, "asc_amp_array": [1.0, 2.0]},
        "voltage_reset_method": {"name": "v_before", "params": {"a": 0.24, "b": 0.0177}},
        "threshold_reset_method": {"name": "three_components",
                                   "params": {"a_spike": 0.0013, "b_spike": 211}},
        "threshold_dynamics_method": {"name": "three_components_exact",
                                      "params": {"a_voltage": 0.098, "b_voltage": 28.4}},
        "AScurrent_dynamics_method": {"name": "exp", "params": {}},
        "AScurrent_reset_method": {"name": "sum", "params": {"r": [1.0, 1.0]}},
    }
    p = parameters_from_allen_config(cfg)
    assert p["th_inf"] == pytest.approx((0.0188, "V"))
    assert p["C"][0] == pytest.approx(1.94e-10) and p["R_input"][0] == pytest.approx(3.3e8 / 1.1)
    assert p["asc_amp_2"] == pytest.approx((-2.6e-10, "A"))
    assert p["asc_k_2"] == pytest.approx((100.0, "1/s"))
    assert p["b_voltage"] == (28.4, "1/s") and p["spike_cut_length"] == (144.0, "steps")
    lif = {k: v for k, v in cfg.items() if not k.endswith("_method")}
    assert not {"a_spike", "asc_amp_1", "a_voltage"} & set(parameters_from_allen_config(lif))
    assert format_value(*p["tau_m"]) == "58.2 ms"


def test_psth_rate_and_downsample():
    # one spike per train in the middle: total area of the rate = spikes per train
    t, r = psth([np.array([0.5]), np.array([0.5])], (0.0, 1.0), bin_s=0.001, sigma_s=0.01)
    assert t.size == 1000 and np.isclose(r.sum() * 0.001, 1.0)
    assert abs(t[np.argmax(r)] - 0.5) < 0.002
    _, r0 = psth([np.array([0.25, 0.75])], (0.0, 1.0), sigma_s=0)
    assert r0.max() == pytest.approx(1000.0)
    tt = np.arange(100_000) * 1e-5
    y = np.zeros_like(tt)
    y[50_000] = 40.0
    y[70_000:71_000] = np.nan
    y[90_000:90_010] = np.nan  # a cut much shorter than a block still breaks the line
    td, yd = downsample_minmax(tt, y, 1000)
    assert td.size <= 1000 and np.nanmax(yd) == 40.0
    assert np.isnan(yd[(td > 0.69) & (td < 0.72)]).any()
    assert np.isnan(yd[(td > 0.899) & (td < 0.902)]).any()
    assert np.isnan(yd).sum() < 40 and np.all(np.diff(td) >= 0)
    assert downsample_minmax(tt[:10], y[:10], 1000)[1].size == 10


# ----------------------------------------------------------------------------------------- plots
def test_raster_one_row_per_repeat(report):
    lv = report.level(1)
    fig = plot_raster(lv)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.collections) == len(lv.test_data_spikes) + len(lv.test_model_spikes)
    assert len(ax.get_yticks()) == 4
    # a stochastic model: one row per model repeat too
    lv5 = LevelReport(5, test_data_spikes=[np.array([0.1])] * 3, test_model_spikes=[np.array([0.2])] * 4)
    assert len(plot_raster(lv5).axes[0].collections) == 7


def test_psth_and_test_response(report):
    lv = report.level(3)
    fig = plot_psth(lv)
    assert isinstance(fig, Figure) and len(fig.axes) == 1 and len(fig.axes[0].lines) == 2
    fig = plot_test_response(lv)  # whole sweep + zoom on the busiest second
    assert len(fig.axes) == 4
    assert len(fig.axes[0].collections) == 4 and len(fig.axes[1].lines) == 2
    z0, z1 = fig.axes[2].get_xlim()
    assert z1 - z0 == pytest.approx(1.0) and 0.0 <= z0 and z1 <= 25.0
    assert len(plot_test_response(lv, zoom_s=None).axes) == 2


def test_busiest_window():
    trains = [np.array([1.0, 5.0, 5.1, 5.2, 5.3, 9.0]), np.array([5.05, 5.25])]
    a, b = busiest_window(trains, 1.0, (0.0, 10.0))
    assert b - a == pytest.approx(1.0) and a <= 5.0 and b >= 5.3
    assert busiest_window([np.array([9.99])], 1.0, (0.0, 10.0)) == (9.0, 10.0)
    assert busiest_window([], 1.0, (2.0, 10.0)) == (2.0, 3.0)


def test_ev_bars(report):
    fig = plot_explained_variance(report.levels)
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.containers) == 2
    assert all(len(c) == len(report.levels) for c in ax.containers)
    test_heights = [p.get_height() for p in ax.containers[1]]
    assert test_heights[1] == 0.0  # failed GLIF2 has no bar
    marks = [ln for ln in ax.lines if ln.get_marker() == "_"]
    assert len(marks) == 1
    assert np.allclose(marks[0].get_ydata(), [PUBLISHED_TEST_EV_MEDIANS[k] for k in (1, 2, 3, 4, 5)])
    assert any(t.get_text() == "failed" for t in ax.texts)


def test_parameter_table_fig(report):
    fig = plot_parameter_table(report.levels)
    ax = fig.axes[0]
    assert len(ax.tables) == 1
    cells = ax.tables[0].get_celld()
    # 7 parameter rows + header; 4 fitted levels (+ row-label column)
    assert max(r for r, _ in cells) == 7 and max(c for _, c in cells) == 3
    texts = {c.get_text().get_text() for c in cells.values()}
    assert "191 MΩ" in texts and "GLIF5" in texts and "GLIF2" not in texts


def test_voltage_overlay(report):
    fig = plot_voltage_overlay(report.overlay, report.levels)
    assert len(fig.axes) == 1 + 4  # stimulus + one panel per fitted level
    for ax, lv in zip(fig.axes[1:], [report.level(k) for k in (1, 3, 4, 5)], strict=True):
        assert len(ax.lines) == 3  # data, model, model spike markers
        assert all(ln.get_xdata().size <= 4000 for ln in ax.lines)
        n_cuts = int(np.sum(np.isfinite(lv.model_v[:-1]) & np.isnan(lv.model_v[1:])))
        assert ax.lines[2].get_xdata().size == n_cuts == 6
    fig = plot_voltage_overlay(VoltageOverlay(report.overlay.t, report.overlay.v_data), {})
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 1


def test_fi_and_qc(report):
    fig = plot_fi_curve(report.fi_data, report.levels)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 1 + 4
    fig = plot_fi_curve(None, {})
    assert len(fig.axes[0].lines) == 0
    fig = plot_qc_summary(report.qc_table)
    assert len(fig.axes) == 2
    counts = [p.get_width() for p in fig.axes[0].patches]
    assert counts == [9, 3, 0]  # passed, failed, excluded
    reasons = [p.get_width() for p in fig.axes[1].patches]
    assert sorted(reasons, reverse=True) == [2, 1, 1]  # pre_noise (2 sweeps), leak, vm_delta
    labels = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert "pre_noise_rms_mv n > n" in labels
    # joined-string reasons and an excluded status are understood too
    qc = report.qc_table.assign(reasons=report.qc_table["reasons"].map("; ".join),
                                status=["excluded"] + ["x"] * 11)
    assert [p.get_width() for p in plot_qc_summary(qc).axes[0].patches] == [8, 3, 1]


# ---------------------------------------------------------------------------------------- report
def _images(text: str) -> list[str]:
    return re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)


def test_write_report_self_contained(report, tmp_path):
    out = write_report(report, tmp_path / "cell" / "report.html")
    assert out == tmp_path / "cell" / "report.html" and out.is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]  # one file, no temp left
    text = out.read_text(encoding="utf-8")
    # nothing outside the file
    assert not re.search(r'src="(?!data:)', text)
    assert not re.search(r"<(link|script|iframe|object|embed)\b", text, re.I)
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', text))
    assert "url(" not in text and "@import" not in text
    # images: EV + 4 fitted levels + overlay + f-I + QC
    imgs = _images(text)
    assert len(imgs) == 1 + 4 + 1 + 1 + 1 == text.count("<img ")
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in imgs)
    for lvl in (1, 2, 3, 4, 5):
        assert f'id="glif{lvl}"' in text and f"GLIF{lvl}" in text
    # escaping of user strings
    assert "<script>" not in text and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "/data/&lt;cells&gt;/cell_1.nwb" in text
    assert "<b>bold?</b>" not in text and "&lt;b&gt;bold?&lt;/b&gt;" in text
    assert text.count("no Short Square - Triple sweep passed QC") >= 2  # summary + level section
    assert "191 MΩ" in text and "0.776" in text and "synthetic test cell" in text
    assert "pre_noise_rms_mv 0.0912 &gt; 0.07" in text  # failed sweep listed with its reason
    assert len(out.read_bytes()) < 1_500_000


def test_write_report_into_directory(tmp_path):
    rep = CellReport("c1", levels=[LevelReport(1, status="skipped", reason="no Noise 1 sweep")])
    out = write_report(rep, tmp_path)
    assert out == tmp_path / "report.html"
    text = out.read_text(encoding="utf-8")
    assert len(_images(text)) == 1  # EV figure only; no plots for the skipped level
    assert "no Noise 1 sweep" in text and "Not fitted" in text


def test_minimal_report_no_levels(tmp_path):
    out = write_report(CellReport("empty"), tmp_path / "r.html")
    text = out.read_text(encoding="utf-8")
    assert _images(text) == [] and "No GLIF level" in text


def test_failed_render_leaves_nothing(report, tmp_path, monkeypatch):
    target = tmp_path / "report.html"

    def boom(*a, **k):
        raise RuntimeError("plot failed")

    monkeypatch.setattr(render_mod, "plot_qc_summary", boom)
    with pytest.raises(RuntimeError, match="plot failed"):
        write_report(report, target)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_report(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    target.write_text("previous report", encoding="utf-8")

    def boom(src, dst):
        raise OSError("disk full")

    import glifx._files

    monkeypatch.setattr(glifx._files.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_report(CellReport("c"), target)
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    assert target.read_text(encoding="utf-8") == "previous report"


def test_render_html_rejects_wrong_type():
    with pytest.raises(ConfigError):
        render_html({"cell_id": "x"})  # type: ignore[arg-type]


def test_no_pyplot_figures_leak(report):
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    render_html(report, dpi=30)
    assert len(plt.get_fignums()) == before


def test_edge_cases_render():
    # empty spike trains, EVs outside [0, 1], a non-GLIF level number, a non-numeric parameter,
    # a model-less overlay and a QC table with a missing verdict: all render without error
    lv = LevelReport(7, train_ev=1.3, test_ev=-0.2, test_data_spikes=[np.array([]), np.array([])],
                     test_model_spikes=[np.array([])])
    lv1 = LevelReport(1, parameters=pd.DataFrame({"name": ["x"], "value": ["abc"]}))
    ov = VoltageOverlay(np.arange(1000) * 1e-4, np.zeros(1000))
    qc = pd.DataFrame({"sweep_number": [1, 2], "passed": [True, None]})
    text = render_html(CellReport("e", levels=[lv, lv1], overlay=ov, qc_table=qc), dpi=40)
    assert len(_images(text)) == 4  # EV, GLIF7 test response, overlay, QC
    assert "No test spike trains supplied" in text  # GLIF1 fitted without test data
    ax = plot_explained_variance([lv]).axes[0]
    assert ax.get_ylim()[0] < -0.2 and ax.get_ylim()[1] > 1.3
