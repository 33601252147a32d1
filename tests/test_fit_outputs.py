"""write_fit_outputs and build_cell_report: complete, reloadable, documented, atomic, robust."""

from __future__ import annotations

import dataclasses
import html
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import glifx
from glifx.errors import ConfigError
from glifx.features import extract_features
from glifx.fitting import FitResult, LevelFit
from glifx.fitting.data import prepare
from glifx.fitting.preprocess import Preprocessing
from glifx.fitting.selection import SELECT_LEVELS
from glifx.report import CellReport
from glifx.report import outputs as outputs_mod
from glifx.report.from_fit import build_cell_report
from glifx.report.outputs import (
    ALLEN_CONFIG_KEYS,
    LEVEL_KEYS,
    SUMMARY_KEYS,
    config_name,
    safe_cell_dirname,
    write_fit_outputs,
)

RS_CELL = Path(__file__).resolve().parent.parent / "data_samples" / "rs_cell.nwb"
LEVELS = (1, 2)  # GLIF1/2 need no after-spike-current regression: a fast fit
FILES = ("qc.csv", "qc.json", "sweep_features.csv", "spikes.csv", "cell_features.json",
         "fit_summary.json", "report.html", "columns.json")


@pytest.fixture(scope="module")
def pipeline():
    """rs_cell through load → QC → features → prepare → fit_cell (levels 1, 2)."""
    cell = glifx.load_cell(RS_CELL)
    qc = glifx.run_qc(cell)
    feats = extract_features(cell, qc=qc)
    data = prepare(cell, qc=qc, long_square=True)
    fit = glifx.fit_cell(cell, LEVELS, qc=qc, data=data)
    assert any(lf.ok for lf in fit), f"no level fitted on rs_cell: {fit.summary()}"
    return cell, qc, feats, fit, data


@pytest.fixture(scope="module")
def written(pipeline, tmp_path_factory):
    cell, qc, feats, fit, data = pipeline
    out = tmp_path_factory.mktemp("fit")
    return write_fit_outputs(out, cell, qc, feats, fit, data=data)


def test_outputs_complete(pipeline, written):
    cell, qc, feats, fit, _ = pipeline
    assert written.name == cell.cell_id
    names = {p.name for p in written.iterdir()}
    fitted = {config_name(lf.level) for lf in fit if lf.ok}
    unfitted = {config_name(lf.level) for lf in fit if not lf.ok}
    assert names == set(FILES) | fitted
    assert not names & unfitted
    assert len(pd.read_csv(written / "qc.csv")) == len(qc.sweeps)
    assert len(pd.read_csv(written / "spikes.csv")) == len(feats.spikes) > 0
    assert len(pd.read_csv(written / "sweep_features.csv")) == len(feats.sweeps)
    assert json.loads((written / "cell_features.json").read_text())["cell_id"] == cell.cell_id
    html = (written / "report.html").read_text()
    assert f"Cell {cell.cell_id}" in html and "f-I curve" in html and "Voltage: training epoch" in html
    # no hidden temporary directory left beside the result
    assert [p.name for p in written.parent.iterdir()] == [written.name]


def test_configs_reload_and_simulate(pipeline, written):
    _, _, _, fit, data = pipeline
    stim = data.test[0].i
    for lf in fit:
        if not lf.ok:
            continue
        cfg = json.loads((written / config_name(lf.level)).read_text())
        assert set(ALLEN_CONFIG_KEYS) <= set(cfg)
        # spike_cut_length is in steps of the config dt and matches the fitted cut in seconds
        assert cfg["dt"] == pytest.approx(data.test[0].dt)
        cut_s = cfg["spike_cut_length"] * cfg["dt"]
        assert cut_s == pytest.approx(lf.model.spike_cut_s, abs=cfg["dt"] / 2)
        model = glifx.GlifModel.from_allen_config(cfg)
        assert model.level == lf.level
        again = glifx.simulate(model, stim, cfg["dt"]).spike_steps
        np.testing.assert_array_equal(again, glifx.simulate(lf.model, stim, cfg["dt"]).spike_steps)
        # a reader that ignores glifx's extra key (as AllenSDK does) gets the same cut at this dt
        plain = glifx.GlifModel.from_allen_config({k: v for k, v in cfg.items()
                                                   if k != "glifx_spike_cut_s"})
        np.testing.assert_array_equal(glifx.simulate(plain, stim, cfg["dt"]).spike_steps, again)
        assert again.size > 0


def test_summary_documented_keys(pipeline, written):
    cell, qc, _, fit, _ = pipeline
    summary = json.loads((written / "fit_summary.json").read_text())
    assert set(summary) == set(SUMMARY_KEYS)
    assert summary["cell_id"] == cell.cell_id
    assert summary["source"] == cell.source
    assert summary["glifx_version"] == glifx.__version__
    assert summary["method"] == "select"
    assert summary["el_reference"] == pytest.approx(fit.el_reference)
    assert summary["sweeps"]["train"] == fit.sweeps["train"] and summary["sweeps"]["test"]
    assert summary["qc"]["passed_sweeps"] == qc.passed_sweeps
    assert set(summary["levels"]) == {f"GLIF{lv}" for lv in LEVELS}
    for lf in fit:
        entry = summary["levels"][f"GLIF{lf.level}"]
        assert set(entry) == set(LEVEL_KEYS)
        assert entry["wall_time_s"] == pytest.approx(lf.wall_time)
        if lf.ok:
            assert entry["status"] == "fitted"
            assert entry["train_ev"] == pytest.approx(lf.train_ev)
            assert entry["test_ev"] == pytest.approx(lf.test_ev)
            assert entry["parameters"]["R_input"]["unit"] == "Ω"
            assert entry["neuron_config"] == config_name(lf.level)
            opt = entry["optimization"]
            assert opt["method"] == lf.optimization.method in ("ev", "reference")
            assert opt["multipliers"] == lf.optimization.multipliers
            sel = entry["selection"]
            if lf.selection is not None:  # chosen by cross-validation between both optimisers
                assert lf.level in SELECT_LEVELS
                assert sel["choice"] == opt["method"] and set(sel["scores"]) == {"ev", "reference"}
                assert sel["scores"][sel["choice"]] == max(sel["scores"].values())
                assert sel["fold_scores"]["ev"] == list(lf.selection.fold_scores["ev"])
            else:
                assert sel is None and opt["method"] == "ev"
            assert opt["bounds"]["th_inf"] == list(lf.optimization.bounds["th_inf"])
            # a note on a fitted level only when a search limit was hit or the level fails
            # the collapse guard's Long Square check
            check = entry["protocol_check"]
            assert check["passes"] == lf.protocol_check.ok
            limits = not opt["at_bounds"] and opt["count_matched"]
            assert (entry["reason"] is None) == (limits and check["passes"])
            assert check["passes"] or "fails the Long Square check" in entry["reason"]
        else:
            assert entry["status"] == "failed" and entry["reason"] and entry["optimization"] is None
            assert entry["neuron_config"] is None and entry["test_ev"] is None


def test_failure_mid_write_leaves_nothing(pipeline, tmp_path, monkeypatch):
    cell, qc, feats, fit, data = pipeline

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(outputs_mod, "write_report", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_fit_outputs(tmp_path, cell, qc, feats, fit, data=data)
    assert list(tmp_path.iterdir()) == []


def test_existing_result_replaced_only_when_complete(pipeline, tmp_path, monkeypatch):
    cell, qc, feats, fit, data = pipeline
    report = build_cell_report(cell, qc, feats, fit, data=data)
    old = tmp_path / cell.cell_id
    old.mkdir()
    (old / "stale.txt").write_text("old result")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(outputs_mod, "write_report", boom)
        with pytest.raises(OSError):
            write_fit_outputs(tmp_path, cell, qc, feats, fit, report=report)
    assert [p.name for p in tmp_path.iterdir()] == [cell.cell_id]
    assert (old / "stale.txt").read_text() == "old result"

    path = write_fit_outputs(tmp_path, cell, qc, feats, fit, report=report)
    assert path == old and not (path / "stale.txt").exists() and (path / "report.html").exists()
    assert [p.name for p in tmp_path.iterdir()] == [cell.cell_id]


def test_report_sections(pipeline):
    cell, qc, feats, fit, data = pipeline
    rep = build_cell_report(cell, qc, feats, fit, data=data)
    assert isinstance(rep, CellReport) and [lv.level for lv in rep.levels] == list(LEVELS)
    assert rep.fi_data is not None and rep.overlay is not None and rep.qc_table is not None
    for lv, lf in zip(rep.levels, fit, strict=True):
        assert lv.fitted == lf.ok
        if lf.ok:
            assert len(lv.test_data_spikes) == len(data.test)
            assert len(lv.test_model_spikes) == 1  # identical repeats: one deterministic run
            assert lv.fi_model is not None and lv.fi_model.amplitude_pa.size == len(data.long_square)
            assert lv.model_v is not None and lv.model_v.size == rep.overlay.t.size
            assert lv.parameters["th_inf"][1] == "V"
        else:
            assert lv.status == "failed" and lv.reason == lf.reason


def test_report_shows_notes_and_flags(pipeline, monkeypatch):
    """Issue 17, item 4: every level's note (``reason``) and every flag reach the report page.
    The RS fit's GLIF1 gets a hand-made flag (its own fit has none to show)."""
    from glifx.fitting.flags import Flag
    from glifx.report.render import render_html

    cell, qc, feats, fit, data = pipeline
    flag = Flag("b_spike", 1.0, "at_search_bound", "b_spike = 1 1/s is at the lower end")
    monkeypatch.setattr(fit[1], "flags", [flag])
    page = html.unescape(render_html(build_cell_report(cell, qc, feats, fit, data=data), dpi=30))
    assert f"GLIF1 flag (at_search_bound): {flag.message}." in page
    for lf in fit:
        if lf.reason:
            assert lf.reason in page


def test_report_without_long_square_features_or_fitted_level(pipeline, tmp_path):
    cell, qc, _, fit, data = pipeline
    no_ls = dataclasses.replace(data, long_square=[])
    rep = build_cell_report(cell, None, None, fit, data=no_ls)
    assert rep.fi_data is None and rep.qc_table is None
    assert all(lv.fi_model is None for lv in rep.levels)
    assert any("Long Square" in n for n in rep.notes)

    failed = FitResult(cell.cell_id, {1: LevelFit(1, reason="no θ∞")}, Preprocessing(), fit.el_reference,
                       fit.sweeps, 0.1, "ev")
    rep = build_cell_report(cell, qc, None, failed, data=dataclasses.replace(data, test=[]))
    assert rep.overlay is None and rep.levels[0].status == "failed"
    feats_empty = dataclasses.replace(pipeline[2], sweeps=pd.DataFrame())
    path = write_fit_outputs(tmp_path, cell, qc, feats_empty, failed, data=data)
    assert not list(path.glob("GLIF*_neuron_config.json"))
    summary = json.loads((path / "fit_summary.json").read_text())
    assert summary["levels"]["GLIF1"]["status"] == "failed"
    assert summary["levels"]["GLIF1"]["reason"] == "no θ∞"


def test_cell_dirname():
    assert safe_cell_dirname("a/b\\c:d") == "a_b_c_d"
    for bad in ("", ".", "..", ".hidden"):
        with pytest.raises(ConfigError):
            safe_cell_dirname(bad)


def test_no_test_sweeps_gives_outputs_without_test_ev(pipeline, tmp_path):
    cell, qc, feats, _, data = pipeline
    no_test = dataclasses.replace(data, test=[])
    fit = glifx.fit_cell(cell, (2,), qc=qc, data=no_test)
    path = write_fit_outputs(tmp_path, cell, qc, feats, fit, data=no_test)
    entry = json.loads((path / "fit_summary.json").read_text())["levels"]["GLIF2"]
    assert entry["status"] == "fitted" and entry["test_ev"] is None and entry["train_ev"] is not None
    assert (path / config_name(2)).exists() and (path / "report.html").exists()


def test_summary_cross_checks_membrane_flags_and_uncertainty(pipeline, written):
    """fit_summary.json compares the fit's R and τ with the Long Square responses (the features'
    ipfx input resistance and tau), and lists each fitted level's flags and uncertainties."""
    _, _, feats, fit, _ = pipeline
    summary = json.loads((written / "fit_summary.json").read_text())
    check = summary["membrane_cross_check"]
    ls = feats.cell["long_square"]
    assert check["R_long_square_mohm"] == pytest.approx(ls["input_resistance"])
    assert check["tau_long_square_ms"] == pytest.approx(ls["tau"] * 1e3)
    assert check["R_fit_mohm"] == pytest.approx(fit.preprocessing.membrane.R * 1e-6)
    assert check["R_rel_diff"] == pytest.approx(check["R_fit_mohm"] / check["R_long_square_mohm"] - 1)
    assert set(check["disagree"]) <= {"R", "tau"}
    for lf in fit:
        entry = summary["levels"][f"GLIF{lf.level}"]
        assert [f["rule"] for f in entry["flags"]] == [f.rule for f in lf.flags]
        assert set(entry["uncertainty"]) == set(lf.uncertainty)
        if lf.ok:  # R and C from the per-sweep spread of the Noise 1 estimates
            lo, hi = entry["uncertainty"]["C"]["ci95"]
            assert lo < entry["parameters"]["C"]["value"] < hi
