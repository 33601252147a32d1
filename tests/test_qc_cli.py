"""The ``glifx qc`` command: table, files, criteria from a file and from options, clear errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from glifx.cli import main


def test_help_has_example():
    result = CliRunner().invoke(main, ["qc", "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and "--pre-noise-rms-mv-max" in result.output
    assert "--no-require-full-windows" in result.output


def test_invalid_criteria_file_exits_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"pre_noise_max": 0.1}')
    result = CliRunner().invoke(main, ["qc", "whatever.abf", "--criteria", str(bad)])
    assert result.exit_code == 2
    assert "unknown QC criteria key(s): pre_noise_max" in result.output
    assert len(result.output.strip().splitlines()) == 1
    bad.write_text("{not json")
    result = CliRunner().invoke(main, ["qc", "whatever.abf", "--criteria", str(bad)])
    assert result.exit_code == 2 and "not valid JSON" in result.output
    result = CliRunner().invoke(main, ["qc", "whatever.abf", "--criteria", str(tmp_path / "no.json")])
    assert result.exit_code == 2 and "cannot read QC criteria file" in result.output


def test_invalid_limit_exits_2():
    result = CliRunner().invoke(main, ["qc", "x.abf", "--leak-pa-min", "50", "--leak-pa-max", "-50"])
    assert result.exit_code == 2 and "leak_pa_min" in result.output
    result = CliRunner().invoke(main, ["qc", "x.abf", "--seal-gohm-min", "high"])
    assert result.exit_code == 2  # click's own usage error


@pytest.mark.shared_data
def test_qc_command_writes_tables(shared_data, tmp_path):
    abf = shared_data / "real" / "pyabf" / "File_axon_5.abf"
    out = tmp_path / "out"
    crit = tmp_path / "c.json"
    crit.write_text(json.dumps({"require_full_windows": False, "slow_noise_rms_mv_max": 0.8}))
    runner = CliRunner()
    result = runner.invoke(main, ["qc", str(abf), "--out", str(out), "--criteria", str(crit),
                                  "--vm-delta-mv-max", "2.5", "--excluded-stimuli", "Test,Search"])
    assert result.exit_code == 0, result.output
    assert "cell File_axon_5" in result.output and "slow_noise" in result.output
    data = json.loads((out / "qc.json").read_text())
    assert data["criteria"]["vm_delta_mv_max"] == 2.5  # from the option
    assert data["criteria"]["slow_noise_rms_mv_max"] == 0.8  # from the file
    assert data["criteria"]["require_full_windows"] is False
    assert (out / "qc.csv").read_text().startswith("sweep_number,")
    # the options changed the verdict: the default criteria pass fewer sweeps
    strict = runner.invoke(main, ["qc", str(abf), "--out", str(tmp_path / "d")])
    assert strict.exit_code == 0, strict.output
    default = json.loads((tmp_path / "d" / "qc.json").read_text())
    assert len(default["passed_sweeps"]) < len(data["passed_sweeps"])


def test_missing_recording_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["qc", str(tmp_path / "nope.abf")])
    assert result.exit_code == 2 and result.output.startswith("glifx: error:")
