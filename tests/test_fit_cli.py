"""``glifx fit``: help, outputs, summary table, progress, exit codes."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import glifx
import glifx.process
from glifx.cli import main
from glifx.fitting.preprocess import Preprocessing

SAMPLES = Path(__file__).resolve().parent.parent / "data_samples"
RS_CELL = SAMPLES / "rs_cell.nwb"


def run(*args: str):
    return CliRunner().invoke(main, ["fit", *args])


def test_help_has_example():
    result = run("--help")
    assert result.exit_code == 0
    assert "glifx fit data_samples/rs_cell.nwb --out results/" in result.output
    for option in ("--out", "--levels", "--method", "--criteria"):
        assert option in result.output


def test_fit_writes_outputs_and_prints_table(tmp_path):
    result = run(str(RS_CELL), "--out", str(tmp_path), "--levels", "1,2")
    assert result.exit_code == 0, result.output
    out = tmp_path / "rs_cell"
    summary = json.loads((out / "fit_summary.json").read_text())
    assert set(summary["levels"]) == {"GLIF1", "GLIF2"}
    assert (out / "report.html").exists() and (out / "qc.csv").exists()
    lines = result.stdout.splitlines()
    assert lines[0].startswith("cell rs_cell:") and str(out) in lines[0]
    assert lines[1].split()[:3] == ["level", "train", "EV"]
    rows = {ln.split()[0]: ln for ln in lines[2:] if not ln.startswith("note:")}
    assert set(rows) == {"GLIF1", "GLIF2"}
    assert "0.702" in rows["GLIF1"] and "0.677" in rows["GLIF2"]  # published medians
    for name, entry in summary["levels"].items():
        if entry["status"] == "fitted":
            assert f"{entry['test_ev']:.3f}" in rows[name] and (out / entry["neuron_config"]).exists()
        else:
            assert "failed:" in rows[name]
    # progress, stage by stage, on stderr only
    assert "[1/7] loading" in result.stderr and "[7/7] writing outputs" in result.stderr
    assert "[1/7]" not in result.stdout


def test_missing_file_exits_2_with_one_line(tmp_path):
    result = run(str(tmp_path / "nope.nwb"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("glifx: error:") and "nope.nwb" in lines[-1]
    assert not (tmp_path / "out").exists()


def test_file_without_noise_1_exits_2(tmp_path):
    from glifx.io import write_nwb

    cell = glifx.load_cell(RS_CELL)
    keep = [cell.sweep(r.sweep_number) for r in cell.records if r.stimulus_name == "Long Square"]
    path = write_nwb(glifx.Cell.from_sweeps(keep, cell_id="steps_only"), tmp_path / "steps_only.nwb")
    result = run(str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("glifx: error:") and "steps_only.nwb" in last and "Noise 1" in last
    assert not (tmp_path / "out" / "steps_only").exists()


def test_criteria_file_failing_every_sweep_exits_2(tmp_path):
    """QC rejecting every Noise 1 sweep: one line with how many failed, the criterion with its
    worst value and limit and how to relax it; the folder is still written whole."""
    criteria = tmp_path / "strict.json"
    criteria.write_text(json.dumps({"pre_noise_rms_mv_max": 1e-9}))
    result = run(str(RS_CELL), "--out", str(tmp_path / "out"), "--criteria", str(criteria))
    assert result.exit_code == 2
    assert "failed QC" in result.stderr  # the warning about the cell verdict
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("glifx: error:") and "rs_cell.nwb" in last and "Noise 1" in last
    qc = pd.read_csv(tmp_path / "out" / "rs_cell" / "qc.csv")
    noise_1 = qc[(qc["stimulus_name"] == "Noise 1") & (qc["status"] != "excluded")]
    worst = noise_1["pre_noise_rms_mv"].max()
    assert f"QC rejected all {len(noise_1)} 'Noise 1' sweeps" in last
    m = re.search(rf"pre_noise_rms_mv in {len(noise_1)} \(worst (\S+) > 1e-09\)", last)
    assert m is not None and float(m[1]) == pytest.approx(worst, rel=0.01)
    assert "--criteria" in last and '"pre_noise_rms_mv_max"' in last
    folder = tmp_path / "out" / "rs_cell"
    for name in ("qc.csv", "qc.json", "fit_summary.json", "report.html"):
        assert (folder / name).is_file(), name
    summary = json.loads((folder / "fit_summary.json").read_text())
    for entry in summary["levels"].values():
        assert entry["status"] == "failed" and entry["reason"].startswith("QC rejected all")


def test_no_level_fitted_writes_reasons_and_exits_2(tmp_path, monkeypatch):
    import glifx.fitting
    from glifx.fitting import FitResult, LevelFit

    def fit_nothing(cell, levels, qc=None, method="ev", data=None, **kwargs):
        # the CLI no longer prepares the sweeps itself (fit_cell does, and keeps them)
        from glifx.fitting.data import prepare

        data = data if data is not None else prepare(cell, qc=qc)
        fits = {lv: LevelFit(lv, reason="θ∞ (Short Square): not estimated") for lv in levels}
        return FitResult(cell.cell_id, fits, Preprocessing(), data.el_reference, {"train": [28]},
                         0.0, method, data=data)

    monkeypatch.setattr(glifx.process, "fit_cell", fit_nothing)
    result = run(str(RS_CELL), "--out", str(tmp_path), "--levels", "1,3")
    assert result.exit_code == 2
    assert "GLIF3" in result.stdout and "failed: θ∞ (Short Square): not estimated" in result.stdout
    assert "no GLIF level could be fitted" in result.stderr.strip().splitlines()[-1]
    summary = json.loads((tmp_path / "rs_cell" / "fit_summary.json").read_text())
    assert {e["status"] for e in summary["levels"].values()} == {"failed"}
    assert not list((tmp_path / "rs_cell").glob("GLIF*"))


def test_note_on_a_fitted_level_follows_the_table(tmp_path, monkeypatch):
    """A fitted level with a caveat (e.g. a multiplier at a bound) is marked in its row and the
    caveat printed below the table."""
    real = glifx.fitting.fit_cell

    def fit_with_note(*args, **kwargs):
        fit = real(*args, **kwargs)
        fit[1].reason = "multiplier at a bound of its search interval: th_inf × 2 (interval 0.5–2)"
        return fit

    monkeypatch.setattr(glifx.process, "fit_cell", fit_with_note)
    result = run(str(RS_CELL), "--out", str(tmp_path), "--levels", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[2].startswith("GLIF1") and lines[2].endswith("fitted, see note")
    assert lines[3] == ("note: GLIF1: multiplier at a bound of its search interval: th_inf × 2 "
                        "(interval 0.5–2)")
    entry = json.loads((tmp_path / "rs_cell" / "fit_summary.json").read_text())["levels"]["GLIF1"]
    assert entry["status"] == "fitted" and entry["reason"].startswith("multiplier at a bound")


@pytest.mark.parametrize("levels", ["0", "6", "1,x", ""])
def test_bad_levels_is_a_usage_error(levels, tmp_path):
    result = run(str(RS_CELL), "--out", str(tmp_path), "--levels", levels)
    assert result.exit_code == 2
    assert "--levels" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rs_cell", "fs_cell"])
def test_full_fit_all_levels(name, tmp_path):
    t0 = time.perf_counter()
    result = run(str(SAMPLES / f"{name}.nwb"), "--out", str(tmp_path))
    wall = time.perf_counter() - t0
    print(f"\nglifx fit {name}.nwb (GLIF1-5): {wall:.1f} s wall")
    assert result.exit_code == 0, result.output
    out = tmp_path / name
    summary = json.loads((out / "fit_summary.json").read_text())
    assert set(summary["levels"]) == {f"GLIF{n}" for n in range(1, 6)}
    for entry in summary["levels"].values():
        if entry["status"] == "fitted":
            cfg = json.loads((out / entry["neuron_config"]).read_text())
            model = glifx.GlifModel.from_allen_config(cfg)
            assert model.level == entry["level"]
        else:
            assert entry["reason"]
    assert any(e["status"] == "fitted" for e in summary["levels"].values())
