"""Formats read through neo: the Igor .ibw pair of BluePyEfe's B6 cell, channels by units."""

from __future__ import annotations

from pathlib import Path

import neo
import numpy as np
import pytest
from click.testing import CliRunner

from glifx.cli import main
from glifx.errors import FileFormatError
from glifx.io import load_cell, sniff_format


@pytest.fixture(scope="module")
def b6(shared_data: Path) -> Path:
    return shared_data / "real" / "bluepyefe" / "B6"


def _neo_signal(path: Path):
    return neo.io.get_io(str(path)).read_block().segments[0].analogsignals[0]


@pytest.mark.shared_data
def test_igor_pair_loads_as_a_cell_with_units_from_neo(b6: Path) -> None:
    v_file, i_file = b6 / "B6_Ch3_IDRest_181.ibw", b6 / "B6_Ch0_IDRest_181.ibw"
    assert sniff_format(v_file) == "neo"
    cell = load_cell([i_file, v_file])  # order does not matter: channels are found by units
    assert len(cell) == 1 and cell.cell_id == "B6_Ch0_IDRest_181"
    sweep = cell[0]
    v_neo, i_neo = _neo_signal(v_file), _neo_signal(i_file)
    assert str(v_neo.units.dimensionality) == "mV" and str(i_neo.units.dimensionality) == "pA"
    np.testing.assert_array_equal(sweep.v[:5], v_neo.magnitude[:5, 0])
    np.testing.assert_array_equal(sweep.i[:5], i_neo.magnitude[:5, 0])
    assert sweep.sampling_rate == pytest.approx(float(v_neo.sampling_rate.rescale("Hz").magnitude))
    assert sweep.sampling_rate == 4000.0 and sweep.v.size == 12000
    assert sweep.t[-1] == pytest.approx(12000 / 4000.0 - 1 / 4000.0)
    assert -73 < np.median(sweep.v[: int(0.7 * 4000)]) < -68  # Vrest about -69 to -72 mV
    step = np.median(sweep.i[int(1.0 * 4000):int(2.5 * 4000)]) - np.median(sweep.i[:int(0.6 * 4000)])
    assert step == pytest.approx(119, abs=10)  # 50 % of threshold: about +119 pA


@pytest.mark.shared_data
def test_single_voltage_wave_has_no_stimulus(b6: Path) -> None:
    cell = load_cell(b6 / "B6_Ch3_IDRest_182.ibw")
    assert cell[0].i is None and cell[0].v.size == 12000


@pytest.mark.shared_data
def test_no_voltage_channel_is_one_line_exit_2(b6: Path) -> None:
    current_only = b6 / "B6_Ch0_IDRest_181.ibw"
    with pytest.raises(FileFormatError, match=r"no voltage channel .*signal units: pA"):
        load_cell(current_only)
    result = CliRunner().invoke(main, ["info", str(current_only)])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith("glifx: error: ") and "no voltage channel" in line


@pytest.mark.shared_data
def test_cli_info_reads_an_igor_wave(b6: Path) -> None:
    result = CliRunner().invoke(main, ["info", str(b6 / "B6_Ch3_IDRest_181.ibw")])
    assert result.exit_code == 0, result.output
    assert ": neo, cell 'B6_Ch3_IDRest_181', 1 sweeps" in result.output


def test_native_formats_keep_native_readers(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ibw"
    junk.write_bytes(b"ABF2" + bytes(100))  # ABF content wins over an Igor name
    assert sniff_format(junk) == "abf2"
    text = tmp_path / "trace.txt"  # neo's generic ASCII reader is not used
    text.write_text("0 1\n1 2\n")
    with pytest.raises(FileFormatError, match="not a recognised recording"):
        sniff_format(text)


def test_corrupt_igor_file_is_a_file_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ibw"
    bad.write_bytes(b"\x05\x00" + bytes(20))
    with pytest.raises(FileFormatError, match="bad.ibw"):
        load_cell(bad)
