"""Bad input: a glifx exception from the library, one clear line and exit code 2 from the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import glifx
from glifx import Cell, FileFormatError, Sweep, SweepError
from glifx.cli import main
from glifx.stimulus import NAME_UNKNOWN
from glifx.sweep import VOLTAGE_CLAMP

sys.path.insert(0, str(Path(__file__).parent))
from nwb1_writer import Nwb1Sweep, write_allen_nwb1  # noqa: E402

RATE = 20_000.0


def _cc_cell() -> Cell:
    i = np.zeros(4000)
    i[1000:3000] = 50.0
    return Cell.from_sweeps([Sweep(np.full(4000, -70.0), i, sampling_rate=RATE)], cell_id="c")


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "does_not_exist.nwb"


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.abf"
    path.write_bytes(b"")
    return path


def _random_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "random.nwb"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    return path


def _truncated_hdf5(tmp_path: Path) -> Path:
    full = glifx.write_nwb(_cc_cell(), tmp_path / "full.nwb")
    path = tmp_path / "truncated.nwb"
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    return path


def _plain_hdf5(tmp_path: Path) -> Path:
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(10))
    return path


def _truncated_abf(tmp_path: Path) -> Path:
    path = tmp_path / "truncated.abf"
    path.write_bytes(b"ABF2" + bytes(200))
    return path


def _voltage_clamp_only_nwb2(tmp_path: Path) -> Path:
    sweep = Sweep(np.full(1000, -70.0), np.zeros(1000), sampling_rate=RATE,
                  clamp_mode=VOLTAGE_CLAMP)
    return glifx.write_nwb(Cell.from_sweeps([sweep]), tmp_path / "vc_only.nwb")


def _voltage_clamp_only_nwb1(tmp_path: Path) -> Path:
    sweep = Nwb1Sweep(number=0, v=np.full(1000, -70.0), i=np.zeros(1000), rate=RATE,
                      clamp_mode=VOLTAGE_CLAMP)
    return write_allen_nwb1(tmp_path / "vc_only_nwb1.nwb", [sweep])


BAD_FILES = {
    "missing": (_missing, "no such file"),
    "empty": (_empty, "empty"),
    "random bytes named .nwb": (_random_bytes, "not a recognised recording"),
    "truncated HDF5": (_truncated_hdf5, "truncated"),
    "HDF5 but not NWB": (_plain_hdf5, "not NWB"),
    "truncated ABF": (_truncated_abf, "truncated or corrupt"),
    "voltage clamp only (NWB 2)": (_voltage_clamp_only_nwb2, "no current-clamp sweep"),
    "voltage clamp only (NWB 1)": (_voltage_clamp_only_nwb1, "no current-clamp sweep"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_library_raises_file_format_error(tmp_path, case):
    make, reason = BAD_FILES[case]
    path = make(tmp_path)
    with pytest.raises(FileFormatError, match=reason) as info:
        glifx.load_cell(path)
    assert info.value.path == str(path)


@pytest.mark.parametrize("case", BAD_FILES)
def test_cli_one_line_exit_2(tmp_path, case):
    make, reason = BAD_FILES[case]
    path = make(tmp_path)
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"glifx: error: {path}: ")
    assert reason in lines[0]
    assert "Traceback" not in result.output + result.stderr


def test_voltage_clamp_only_listed_on_request(tmp_path):
    cell = glifx.load_cell(_voltage_clamp_only_nwb2(tmp_path), require_current_clamp=False)
    assert cell.record(0).clamp_mode == VOLTAGE_CLAMP


def test_nan_in_nwb2_time_base_names_file_and_sweep(tmp_path):
    """Found from the timestamps when the file is opened (the sweep list says so), raised when
    the sweep is asked for; the other sweep is usable."""
    t = np.arange(4000) / RATE
    t[10] += 1e-7  # jitter, so that write_nwb stores timestamps instead of a rate
    cell = Cell.from_sweeps([Sweep(np.full(4000, -70.0), np.zeros(4000), t=t, sweep_number=4),
                             Sweep(np.full(4000, -70.0), np.zeros(4000), sampling_rate=RATE,
                                   sweep_number=5)])
    path = glifx.write_nwb(cell, tmp_path / "nan_time.nwb")
    with h5py.File(path, "r+") as f:
        f["acquisition/data_00004/timestamps"][100] = np.nan
    loaded = glifx.load_cell(path)
    assert "NaN/inf at sample 100" in loaded.record(4).problem and loaded.record(5).problem is None
    with pytest.raises(SweepError, match="NaN") as info:
        loaded[4]
    assert str(path) in str(info.value) and "sweep 4" in str(info.value)
    assert loaded[5].n_samples == 4000


def test_nan_in_nwb1_time_base_names_file_and_sweep(tmp_path):
    t = np.arange(1000) / RATE
    t[500] = np.nan
    sweep = Nwb1Sweep(number=3, v=np.full(1000, -70.0), i=np.zeros(1000), rate=RATE, timestamps=t)
    good = Nwb1Sweep(number=4, v=np.full(1000, -70.0), i=np.zeros(1000), rate=RATE)
    path = write_allen_nwb1(tmp_path / "nan_time_nwb1.nwb", [sweep, good])
    loaded = glifx.load_cell(path)
    assert "NaN/inf at sample 500" in loaded.record(3).problem and loaded.record(4).problem is None
    with pytest.raises(SweepError, match="NaN") as info:
        loaded[3]
    assert str(path) in str(info.value) and "sweep 3" in str(info.value)


def test_abf_without_rebuildable_command_keeps_voltage(shared_data, monkeypatch):
    """pyabf returns NaN when the protocol's stimulus file is missing: i=None, name unknown."""
    import pyabf

    monkeypatch.setattr(
        pyabf.ABF, "sweepC", property(lambda self: np.full(self.sweepPointCount, np.nan))
    )
    cell = glifx.load_cell(shared_data / "real" / "pyabf" / "File_axon_5.abf")
    table = cell.sweep_table()
    assert table.stimulus_name.isna().all()
    assert (table.name_source == NAME_UNKNOWN).all()
    sweep = cell[0]
    assert sweep.i is None
    np.testing.assert_allclose(sweep.v[:2], [-71.051, -71.057], atol=5e-4)


def test_unknown_sweep_number_is_a_sweep_error(shared_data):
    cell = glifx.load_cell(shared_data / "real" / "pyabf" / "File_axon_5.abf")
    with pytest.raises(SweepError, match="no such sweep"):
        cell[99]


def test_cli_info_lists_sweeps(shared_data):
    path = shared_data / "real" / "pyabf" / "File_axon_5.abf"
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 + 9  # title, header, one row per sweep
    assert lines[2].split()[:5] == ["0", "Long", "Square", "-", "-100"]
    import json

    result = CliRunner().invoke(main, ["info", str(path), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert [row["amplitude_pa"] for row in data["sweeps"]] == list(range(-100, 301, 50))
    assert {row["rate_khz"] for row in data["sweeps"]} == {20.0}
