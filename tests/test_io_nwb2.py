"""NWB 2: the shared extension-typed file, write_nwb round trips, and lazy listing."""

from __future__ import annotations

import numpy as np
import pytest

import glifx
import glifx.io.nwb2 as nwb2
from glifx import Cell, Sweep
from glifx.stimulus import NAME_FROM_FILE, NAME_INFERRED, NAME_UNKNOWN
from glifx.sweep import CURRENT_CLAMP, VOLTAGE_CLAMP

HIPPO = ("real", "bluepyefe", "hippocampus-portal", "99111002.nwb")


def test_hippocampus_file_matches_provenance(shared_data):
    cell = glifx.load_cell(shared_data.joinpath(*HIPPO))
    table = cell.sweep_table()
    assert len(table) == 16
    assert np.all(table.sampling_rate_hz == 10_000)
    assert [r.n_samples for r in cell.records] == [7168] * 16
    assert np.all(table.clamp_mode == CURRENT_CLAMP)
    assert list(table.stimulus_name) == ["Long Square"] * 16
    assert list(table.stimulus_code) == ["Step"] * 16  # the file's own label is kept
    assert list(table.name_source) == [NAME_INFERRED] * 16
    # steps -2.0 ... +1.0 nA in 0.2 nA steps (stored as float32 nA, hence the tolerance)
    np.testing.assert_allclose(table.stimulus_amplitude_pa, np.arange(-2000, 1001, 200), atol=1e-3)
    start, end = cell[table.sweep_number[0]].stimulus_window
    assert start == pytest.approx(0.0312, abs=2e-4)
    assert end == pytest.approx(0.4312, abs=2e-4)


def test_hippocampus_data_equal_pynwb(shared_data):
    """pynwb (with the embedded extension namespace) as the independent reader."""
    from pynwb import NWBHDF5IO

    path = shared_data.joinpath(*HIPPO)
    cell = glifx.load_cell(path)
    with NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
        nwbfile = io.read()
        for k in (1, 16):
            series = nwbfile.acquisition[f"ic__Step__{k}"]
            stim = nwbfile.stimulus[f"ics__Step__{k}"]
            expected_v = series.data[:].astype(np.float64) * series.conversion * 1e3
            expected_i = stim.data[:].astype(np.float64) * stim.conversion * 1e12
            sweep = cell[k]
            np.testing.assert_allclose(sweep.v, expected_v, rtol=1e-12)
            np.testing.assert_allclose(sweep.i, expected_i, rtol=1e-9)
            assert sweep.sampling_rate == series.rate


def test_float32_samples_are_kept_as_stored(shared_data):
    """A float32 file's sweep holds its float32 samples (half the memory of float64) and gives
    float64 values equal to h5py's samples times the series' conversion; the float64 array is
    shared while held, rebuilt after release, and survives pickling."""
    import pickle

    import h5py

    from glifx.sweep import FileSamples

    path = shared_data.joinpath(*HIPPO)
    sweep = glifx.load_cell(path)[1]
    with h5py.File(path, "r") as f:
        data = f[sweep.metadata["nwb_path"]]["data"]
        expected = data[:].astype(np.float64) * float(data.attrs["conversion"]) * 1e3
        assert data.dtype == np.float32
    assert isinstance(sweep._v, FileSamples) and sweep._v.raw.dtype == np.float32
    v = sweep.v
    assert v.dtype == np.float64 and not v.flags.writeable
    np.testing.assert_allclose(v, expected, rtol=1e-15, atol=0)
    assert sweep.v is v
    del v
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(sweep)).v, sweep.v)
    # held(): the float64 arrays built once and kept (a stage reading v and i repeatedly)
    held = sweep.held()
    assert held.v is held.v and held.i is held.i
    np.testing.assert_array_equal(held.v, sweep.v)
    np.testing.assert_array_equal(held.i, sweep.i)
    assert held.held() is held and held.sweep_number == sweep.sweep_number


def _assert_same_cell(a: Cell, b: Cell) -> None:
    assert a.sweep_numbers == b.sweep_numbers
    for ra, rb in zip(a.records, b.records, strict=True):
        assert ra == rb
    for n in a.sweep_numbers:
        sa, sb = a[n], b[n]
        np.testing.assert_array_equal(sa.v, sb.v)
        if sa.i is None:
            assert sb.i is None
        else:
            np.testing.assert_array_equal(sa.i, sb.i)
        np.testing.assert_array_equal(sa.t, sb.t)
        assert sa.sampling_rate == sb.sampling_rate
        assert sa.clamp_mode == sb.clamp_mode


def test_abf_round_trip_is_exact(shared_data, tmp_path):
    cell = glifx.load_cell(shared_data / "real" / "pyabf" / "File_axon_5.abf")
    out = glifx.write_nwb(cell, tmp_path / "axon.nwb")
    _assert_same_cell(cell, glifx.load_cell(out))


def test_hippocampus_round_trip_is_exact(shared_data, tmp_path):
    cell = glifx.load_cell(shared_data.joinpath(*HIPPO))
    back = glifx.load_cell(glifx.write_nwb(cell, tmp_path / "h.nwb"))
    _assert_same_cell(cell, back)


def _synthetic_cell() -> Cell:
    rng = np.random.default_rng(1)
    rate = 25_000.0 / 3.0  # a rate whose sample interval is not a short decimal
    n = 4000
    i_step = np.zeros(n)
    i_step[1000:3000] = 123.456789
    sweeps = [
        Sweep(-70 + rng.standard_normal(n), i_step, sampling_rate=rate, sweep_number=3,
              stimulus_name="Long Square", stimulus_code="C1LSCOARSE150216",
              stimulus_amplitude=123.456789, t_start=1.25),
        Sweep(-65 + rng.standard_normal(n), None, sampling_rate=rate, sweep_number=7),
        Sweep(np.full(n, -70.0), 10 * rng.standard_normal(n), sampling_rate=rate, sweep_number=9,
              clamp_mode=VOLTAGE_CLAMP, stimulus_name="Test", name_source=NAME_INFERRED),
    ]
    return Cell.from_sweeps(sweeps, cell_id="synthetic")


def test_synthetic_round_trip_keeps_float64_names_codes_and_sources(tmp_path):
    cell = _synthetic_cell()
    back = glifx.load_cell(glifx.write_nwb(cell, tmp_path / "syn.nwb"))
    _assert_same_cell(cell, back)
    assert back.record(3).stimulus_code == "C1LSCOARSE150216"
    assert back.record(3).name_source == NAME_FROM_FILE
    assert back.record(7).stimulus_name is None
    assert back.record(7).name_source == NAME_UNKNOWN
    assert back.record(9).clamp_mode == VOLTAGE_CLAMP
    assert back[3].t[0] == 1.25


def test_written_file_is_valid_for_pynwb(tmp_path):
    from pynwb import NWBHDF5IO

    path = glifx.write_nwb(_synthetic_cell(), tmp_path / "syn.nwb")
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        series = nwbfile.acquisition["data_00003"]
        assert type(series).__name__ == "CurrentClampSeries"
        assert series.stimulus_description == "Long Square"
        assert series.sweep_number == 3
        np.testing.assert_allclose(series.data[:] * series.conversion, _synthetic_cell()[3].v * 1e-3)
        assert len(nwbfile.intracellular_recordings) == 3


def test_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "out.nwb"
    target.write_bytes(b"previous content")
    import pynwb

    def broken_write(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pynwb.NWBHDF5IO, "write", broken_write)
    with pytest.raises(glifx.FileFormatError, match="No space left"):
        glifx.write_nwb(_synthetic_cell(), target)
    assert target.read_bytes() == b"previous content"
    assert [p.name for p in tmp_path.iterdir()] == ["out.nwb"]


def test_listing_reads_no_sweep_data(tmp_path, monkeypatch):
    path = glifx.write_nwb(_synthetic_cell(), tmp_path / "syn.nwb")
    calls = []
    original = nwb2._read_series
    monkeypatch.setattr(nwb2, "_read_series", lambda *a, **k: calls.append(a[1]) or original(*a, **k))
    cell = glifx.load_cell(path)
    table = cell.sweep_table()
    assert len(table) == 3 and calls == []
    assert list(table.sampling_rate_hz) == [25_000.0 / 3.0] * 3
    cell[3]
    assert sorted(calls) == ["/acquisition/data_00003", "/stimulus/presentation/stimulus_00003"]


class _FakeIpfxSweep:
    def __init__(self, v, i, rate):
        self.v, self.i, self.sampling_rate = v, i, rate
        self.t = np.arange(v.size) / rate


class _FakeIpfxDataSet:
    """Stands in for ipfx's EphysDataSet (no MIES file is available to the tests)."""

    def __init__(self, cell):
        import pandas as pd

        self.cell = cell
        self.sweep_table = pd.DataFrame([
            {"sweep_number": r.sweep_number, "stimulus_code": "C1LSCOARSE150216",
             "stimulus_name": "Long Square", "clamp_mode": r.clamp_mode,
             "stimulus_amplitude": 123.456789, "stimulus_units": "Amps"}
            for r in cell.records
        ])
        self.calls = []

    def sweep(self, number):
        self.calls.append(number)
        s = self.cell[number]
        return _FakeIpfxSweep(np.asarray(s.v), np.asarray(s.i), s.sampling_rate)


def test_mies_files_go_through_ipfx(tmp_path, monkeypatch):
    import h5py
    import ipfx.dataset.create

    source = Cell.from_sweeps([_synthetic_cell()[3]], cell_id="mies")
    path = glifx.write_nwb(source, tmp_path / "mies.nwb")
    with h5py.File(path, "r+") as f:  # what MIES writes: general/generated_by with Package=MIES
        f["general"].create_dataset("generated_by", data=np.array([[b"Package", b"MIES"]]))
    fake = _FakeIpfxDataSet(source)
    seen = []
    monkeypatch.setattr(ipfx.dataset.create, "create_ephys_data_set",
                        lambda nwb_file, **kw: seen.append(nwb_file) or fake)
    cell = glifx.load_cell(path)
    assert seen == [str(path)]
    rec = cell.record(3)
    assert (rec.stimulus_name, rec.stimulus_code, rec.name_source) == (
        "Long Square", "C1LSCOARSE150216", NAME_FROM_FILE
    )
    assert rec.sampling_rate == source.record(3).sampling_rate
    assert rec.n_samples == source.record(3).n_samples
    assert fake.calls == []  # listing read no sweep
    np.testing.assert_array_equal(cell[3].v, source[3].v)
    assert fake.calls == [3]


def test_write_into_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(glifx.FileFormatError, match="does not exist"):
        glifx.write_nwb(_synthetic_cell(), tmp_path / "no" / "such" / "x.nwb")
