"""``glifx simulate``: files in, spikes and traces out, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from glifx.cli import main
from glifx.glif import GlifModel


def _write_case(tmp_path: Path, stim: np.ndarray) -> tuple[Path, Path]:
    model = GlifModel(level=3, R_input=2e8, C=1e-10, th_inf=0.02, spike_cut_length=20,
                      asc_amp_array=(-5e-11, -1e-11), asc_tau_array=(0.01, 0.1))
    config = tmp_path / "GLIF3_neuron_config.json"
    config.write_text(json.dumps(model.to_allen_config()))
    stim_file = tmp_path / "stim.npy"
    np.save(stim_file, stim)
    return config, stim_file


def test_simulate_writes_spikes_and_traces(tmp_path: Path) -> None:
    config, stim_file = _write_case(tmp_path, np.full(40000, 3e-10))
    out, trace = tmp_path / "spikes.npy", tmp_path / "trace.npz"
    args = ["simulate", str(config), "--stimulus", str(stim_file), "--dt", "5e-6",
            "--out", str(out), "--trace", str(trace)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "GLIF3:" in result.output and "spikes in 0.2 s" in result.output
    spikes = np.load(out)
    assert spikes.dtype == np.int64 and spikes.size > 2
    with np.load(trace) as z:
        np.testing.assert_array_equal(z["spike_steps"], spikes)
        assert z["voltage"].shape == (40000,) and z["asc"].shape == (40000, 2)
        assert np.isnan(z["voltage"][spikes[0]])
    # glifx names its temporaries ".<target>.glifx-<host>-<pid>-<random>.tmp"
    assert not list(tmp_path.glob(".*.glifx-*"))  # no temporary files left behind


def test_simulate_cut_policy_seconds(tmp_path: Path) -> None:
    config, stim_file = _write_case(tmp_path, np.full(40000, 3e-10))
    runner = CliRunner()
    steps = runner.invoke(main, ["simulate", str(config), "--stimulus", str(stim_file), "--dt", "5e-6"])
    secs = runner.invoke(main, ["simulate", str(config), "--stimulus", str(stim_file), "--dt", "5e-6",
                                "--cut-policy", "seconds"])
    assert "spike cut 20 steps" in steps.output
    assert "spike cut 200 steps" in secs.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("nan", "stim.npy: stimulus_A: sample 3 is nan"),
        ("dt", "'--dt': expected a number in [1e-07, 0.01], got '0'"),
        ("method", "voltage_reset_method: unknown method 'teleport'"),
        ("missing_stim", "no such file"),
        ("bad_json", "not a readable JSON neuron config"),
    ],
)
def test_simulate_bad_input_one_line_exit_2(tmp_path: Path, change: str, message: str) -> None:
    stim = np.full(100, 1e-10)
    if change == "nan":
        stim[3] = np.nan
    config, stim_file = _write_case(tmp_path, stim)
    dt = "0" if change == "dt" else "5e-6"
    if change == "method":
        cfg = json.loads(config.read_text())
        cfg["voltage_reset_method"]["name"] = "teleport"
        config.write_text(json.dumps(cfg))
    if change == "missing_stim":
        stim_file = tmp_path / "absent.npy"
    if change == "bad_json":
        config.write_text("{")
    args = ["simulate", str(config), "--stimulus", str(stim_file), "--dt", dt]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.count("\n") == 1 and result.output.startswith("glifx: error:")


def test_simulate_help_has_example() -> None:
    result = CliRunner().invoke(main, ["simulate", "--help"])
    assert result.exit_code == 0 and "Example:" in result.output and "--dt 5e-6" in result.output
