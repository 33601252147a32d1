"""ABF reader: the shared real ABF files against the facts in real/PROVENANCE.md and against pyabf."""

from __future__ import annotations

import numpy as np
import pytest

import glifx
from glifx.stimulus import NAME_INFERRED
from glifx.sweep import CURRENT_CLAMP

# (file, sweeps, sampling rate Hz, sweep length s, step amplitudes pA) as stated in PROVENANCE.md
ABF_FACTS = [
    ("171116sh_0018.abf", 17, 20_000, 3.0, np.arange(-100, 301, 25)),
    ("2019_07_24_0055_fsi.abf", 17, 20_000, 3.0, np.arange(-100, 301, 25)),
    ("18711001.abf", 30, 20_000, 1.5, np.arange(0, 291, 10)),
    ("File_axon_5.abf", 9, 20_000, 1.0, np.arange(-100, 301, 50)),
    ("190619B_0003.abf", 10, 10_000, 3.064, np.arange(-120, 421, 60)),
]


@pytest.mark.parametrize("name, n_sweeps, rate, length, amplitudes", ABF_FACTS)
def test_step_files_match_provenance(shared_data, name, n_sweeps, rate, length, amplitudes):
    cell = glifx.load_cell(shared_data / "real" / "pyabf" / name)
    table = cell.sweep_table()
    assert cell.cell_id == name.removesuffix(".abf")
    assert list(table.sweep_number) == list(range(n_sweeps))
    assert np.all(table.sampling_rate_hz == rate)
    assert np.allclose(table.duration_s, length)
    assert list(table.stimulus_name) == ["Long Square"] * n_sweeps
    assert np.all(table.name_source == NAME_INFERRED)
    assert np.all(table.clamp_mode == CURRENT_CLAMP)
    np.testing.assert_allclose(table.stimulus_amplitude_pa, amplitudes, atol=1e-6)


def test_ramp_file_is_a_ramp(shared_data):
    cell = glifx.load_cell(shared_data / "real" / "pyabf" / "171116sh_0016.abf")
    table = cell.sweep_table()
    assert len(table) == 11
    assert np.all(table.sampling_rate_hz == 20_000)
    assert np.allclose(table.duration_s, 1.0)
    assert list(table.stimulus_name) == ["Ramp"] * 11
    # PROVENANCE: sweep 0 flat at 0 pA, sweep k rises to 10 k pA
    np.testing.assert_allclose(table.stimulus_amplitude_pa, np.arange(0, 101, 10), atol=1e-3)


def test_first_samples_of_file_axon_5(shared_data):
    sweep = glifx.load_cell(shared_data / "real" / "pyabf" / "File_axon_5.abf")[0]
    np.testing.assert_allclose(
        sweep.v[:5], [-71.051, -71.057, -71.051, -71.063, -71.069], atol=5e-4
    )


def test_step_window_matches_provenance(shared_data):
    """File_axon_5: 0.5 s step at 0.216-0.716 s; the command is in pA with the stated amplitude."""
    sweep = glifx.load_cell(shared_data / "real" / "pyabf" / "File_axon_5.abf")[8]
    start, end = sweep.stimulus_window
    assert start == pytest.approx(0.216, abs=2e-3)
    assert end == pytest.approx(0.716, abs=2e-3)
    assert sweep.i[int(0.5 * sweep.sampling_rate)] == pytest.approx(300.0)


@pytest.mark.parametrize("name", ["171116sh_0018.abf", "190619B_0003.abf"])
def test_data_equal_pyabf(shared_data, name):
    import pyabf

    path = shared_data / "real" / "pyabf" / name
    cell = glifx.load_cell(path)
    abf = pyabf.ABF(str(path))
    for number in (0, len(cell) - 1):
        abf.setSweep(number, channel=0)
        sweep = cell[number]
        np.testing.assert_array_equal(sweep.v, abf.sweepY.astype(np.float64))
        np.testing.assert_array_equal(sweep.i, abf.sweepC.astype(np.float64))


def test_abf1_second_channel_not_chosen(shared_data):
    """190619B_0003 has two mV channels; the second (IN 2) is flat near 0 mV, the first is Vm."""
    sweep = glifx.load_cell(shared_data / "real" / "pyabf" / "190619B_0003.abf")[0]
    assert np.median(sweep.v) < -40
    assert sweep.metadata["abf_channel"] == 0


def test_format_sniffed_from_content_not_name(shared_data, tmp_path):
    renamed = tmp_path / "looks_like.nwb"
    renamed.write_bytes((shared_data / "real" / "pyabf" / "File_axon_5.abf").read_bytes())
    cell = glifx.load_cell(renamed)
    assert len(cell) == 9
    assert cell.cell_id == "looks_like"
