"""Allen NWB 1: files from tests/nwb1_writer.py read back exactly, and survive NWB1 → NWB2."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import glifx
import glifx.io.nwb1 as nwb1
from glifx.io import sniff_format
from glifx.stimulus import NAME_FROM_FILE, NAME_INFERRED
from glifx.sweep import CURRENT_CLAMP, VOLTAGE_CLAMP

sys.path.insert(0, str(Path(__file__).parent))
from nwb1_writer import Nwb1Sweep, write_allen_nwb1  # noqa: E402

RATE = 50_000.0


def _allen_like_sweeps() -> list[Nwb1Sweep]:
    """A test pulse at 20 ms, then a 1 s long square / a short square / a ramp."""
    rng = np.random.default_rng(7)
    n = int(2.5 * RATE)
    sweeps = []
    specs = [
        (5, "Long Square", "C1LSCOARSE150216", 110.0, (1.02, 2.02)),
        (6, "Long Square", "C1LSCOARSE150216", -70.0, (1.02, 2.02)),
        (9, "Short Square", "C1SSCOARSE150112", 650.0, (1.02, 1.023)),
    ]
    for number, name, code, amp, (a, b) in specs:
        i = np.zeros(n)
        i[int(0.02 * RATE):int(0.03 * RATE)] = -20.0  # test pulse
        i[int(a * RATE):int(b * RATE)] = amp
        v = -72.0 + 0.1 * rng.standard_normal(n)
        sweeps.append(Nwb1Sweep(
            number=number, v=v, i=i, rate=RATE, stimulus_name=name, amplitude=amp, code=code,
            experiment=(int(0.5 * RATE), n - int(0.5 * RATE)), bias_current=-12.5,
            bridge_balance=15e6, interval=6.0,
        ))
    return sweeps


@pytest.fixture
def nwb1_file(tmp_path) -> Path:
    return write_allen_nwb1(tmp_path / "allen_cell.nwb", _allen_like_sweeps())


def test_sniffed_as_nwb1(nwb1_file):
    assert sniff_format(nwb1_file) == "nwb1"


def test_reads_back_names_amplitudes_rates_and_data(nwb1_file):
    written = {s.number: s for s in _allen_like_sweeps()}
    cell = glifx.load_cell(nwb1_file)
    assert cell.sweep_numbers == [5, 6, 9]
    assert cell.cell_id == "allen_cell"
    for number, s in written.items():
        rec = cell.record(number)
        assert rec.stimulus_name == s.stimulus_name
        assert rec.stimulus_code == s.code
        assert rec.stimulus_amplitude == s.amplitude
        assert rec.sampling_rate == RATE
        assert rec.n_samples == len(s.v)
        assert rec.clamp_mode == CURRENT_CLAMP
        assert rec.name_source == NAME_FROM_FILE
        sweep = cell[number]
        np.testing.assert_array_equal(sweep.v, s.v)
        np.testing.assert_array_equal(sweep.i, s.i)
        assert sweep.metadata["bias_current"] == -12.5
        assert sweep.metadata["aibs_stimulus_interval"] == 6.0
    # the test pulse is recognised, so the stimulus epoch is the long square itself
    start, end = cell[5].stimulus_window
    assert start == pytest.approx(1.02, abs=1e-4) and end == pytest.approx(2.02, abs=1e-4)


def test_si_units_as_in_allen_files(tmp_path):
    """Allen files store volts and amperes (conversion 1.0): values equal up to float rounding."""
    sweeps = _allen_like_sweeps()
    path = write_allen_nwb1(tmp_path / "si.nwb", sweeps, voltage_conversion=1.0,
                            current_conversion=1.0)
    cell = glifx.load_cell(path)
    for s in sweeps:
        np.testing.assert_allclose(cell[s.number].v, s.v, rtol=1e-14)
        np.testing.assert_allclose(cell[s.number].i, s.i, rtol=1e-14, atol=1e-12)


def test_float32_file(tmp_path):
    sweeps = _allen_like_sweeps()[:1]
    path = write_allen_nwb1(tmp_path / "f32.nwb", sweeps, dtype="float32")
    sweep = glifx.load_cell(path)[5]
    np.testing.assert_array_equal(sweep.v, sweeps[0].v.astype(np.float32).astype(np.float64))


def test_nwb1_to_nwb2_round_trip_is_identical(nwb1_file, tmp_path):
    cell = glifx.load_cell(nwb1_file)
    back = glifx.load_cell(glifx.write_nwb(cell, tmp_path / "as_nwb2.nwb"))
    assert sniff_format(tmp_path / "as_nwb2.nwb") == "nwb2"
    assert back.records == cell.records
    for n in cell.sweep_numbers:
        np.testing.assert_array_equal(back[n].v, cell[n].v)
        np.testing.assert_array_equal(back[n].i, cell[n].i)
        assert back[n].sampling_rate == cell[n].sampling_rate
        assert back[n].metadata["bias_current"] == cell[n].metadata["bias_current"]


def test_name_from_code_or_waveform_when_missing(tmp_path):
    sweeps = _allen_like_sweeps()
    sweeps[0].stimulus_name = None  # code only: ipfx's ontology names it
    sweeps[2].stimulus_name = sweeps[2].code = None  # nothing: inferred from the command
    sweeps[2].amplitude = None
    cell = glifx.load_cell(write_allen_nwb1(tmp_path / "partial.nwb", sweeps))
    assert (cell.record(5).stimulus_name, cell.record(5).name_source) == ("Long Square", NAME_FROM_FILE)
    rec = cell.record(9)
    assert (rec.stimulus_name, rec.name_source, rec.stimulus_amplitude) == (
        "Short Square", NAME_INFERRED, 650.0
    )


def test_recording_stopped_early_ends_in_nan(tmp_path):
    sweeps = _allen_like_sweeps()[:1]
    n = len(sweeps[0].v)
    sweeps[0].experiment = (int(0.5 * RATE), int(1.5 * RATE))  # valid data end at 2.0 s
    sweep = glifx.load_cell(write_allen_nwb1(tmp_path / "stopped.nwb", sweeps))[5]
    assert sweep.n_samples == n
    assert np.all(np.isnan(sweep.v[int(2.0 * RATE):]))
    assert sweep.epochs.recording == (0, int(2.0 * RATE) - 1)


def test_voltage_clamp_sweep(tmp_path):
    sweeps = _allen_like_sweeps()[:1]
    n = 5000
    vc = Nwb1Sweep(number=1, v=np.full(n, -70.0), i=np.linspace(-5, 5, n), rate=RATE,
                   stimulus_name="Test", clamp_mode=VOLTAGE_CLAMP)
    cell = glifx.load_cell(write_allen_nwb1(tmp_path / "vc.nwb", [vc, *sweeps]))
    assert cell.record(1).clamp_mode == VOLTAGE_CLAMP
    np.testing.assert_array_equal(cell[1].i, vc.i)
    np.testing.assert_array_equal(cell[1].v, vc.v)


def test_listing_reads_no_sweep_data(nwb1_file, monkeypatch):
    calls = []
    monkeypatch.setattr(nwb1, "_read", lambda *a, **k: calls.append(a[1]))
    cell = glifx.load_cell(nwb1_file)
    assert len(cell.sweep_table()) == 3
    assert calls == []


def test_stopped_recording_survives_nwb2_round_trip(tmp_path):
    sweeps = _allen_like_sweeps()[:1]
    sweeps[0].experiment = (int(0.5 * RATE), int(1.5 * RATE))
    cell = glifx.load_cell(write_allen_nwb1(tmp_path / "stopped.nwb", sweeps))
    back = glifx.load_cell(glifx.write_nwb(cell, tmp_path / "stopped2.nwb"))
    np.testing.assert_array_equal(back[5].v, cell[5].v)  # NaN tail included
    assert back[5].epochs.recording == cell[5].epochs.recording
