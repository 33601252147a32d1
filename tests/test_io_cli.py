"""`glifx info` on every supported format."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from glifx.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from nwb1_writer import Nwb1Sweep, write_allen_nwb1  # noqa: E402


def _info_json(path: Path) -> dict:
    result = CliRunner().invoke(main, ["info", str(path), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_info_nwb1(tmp_path):
    i = np.zeros(10_000)
    i[2000:8000] = 40.0
    path = write_allen_nwb1(tmp_path / "c.nwb", [
        Nwb1Sweep(number=12, v=np.full(10_000, -70.0), i=i, rate=50_000.0, amplitude=40.0,
                  code="C1LSCOARSE150216"),
    ])
    (row,) = _info_json(path)["sweeps"]
    assert row == {
        "sweep": 12, "stimulus": "Long Square", "code": "C1LSCOARSE150216", "amplitude_pa": 40.0,
        "duration_s": 0.2, "rate_khz": 50.0, "clamp_mode": "CurrentClamp", "name_source": "file",
        "problem": None,
    }
    text = CliRunner().invoke(main, ["info", str(path)])
    assert text.exit_code == 0
    assert "C1LSCOARSE150216" in text.output and "Long Square" in text.output


def test_info_nwb2_extension_file(shared_data):
    path = shared_data / "real" / "bluepyefe" / "hippocampus-portal" / "99111002.nwb"
    data = _info_json(path)
    assert data["cell_id"] == "99111002"
    assert [row["sweep"] for row in data["sweeps"]] == list(range(1, 17))
    assert {row["rate_khz"] for row in data["sweeps"]} == {10.0}


def test_info_help_has_example():
    result = CliRunner().invoke(main, ["info", "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and "glifx info" in result.output
