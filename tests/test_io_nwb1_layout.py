"""NWB 1 cross-read: files from tests/nwb1_writer.py read by an independent h5py walk of the
published NWB 1 / Allen Cell Types layout, and glifx's reader compared with that walk.

The writer and glifx's reader were written together, so a misunderstanding of the layout could be
shared by both and still round-trip.  The walk below follows the layout as published (NWB 1.0.x
TimeSeries; the Allen ``ephys.nwb`` files as AllenSDK's ``NwbDataSet`` documents them): sweeps are
the ``epochs/Sweep_N`` groups; each epoch's ``stimulus`` and ``response`` parts hold ``idx_start``,
``count`` and a ``timeseries`` link to the series; a series' values in its SI ``unit`` are
``data * data.attrs["conversion"]``; its rate is ``starting_time.attrs["rate"]`` (or follows from
``timestamps``); its class is the last entry of its ``ancestry`` attribute; ``epochs/Experiment_N``
ends where the valid response ends; the stimulus name, amplitude (pA) and code are datasets
``aibs_stimulus_name``, ``aibs_stimulus_amplitude_pa`` and ``aibs_stimulus_description`` of
``stimulus/presentation/Sweep_N``, ``bias_current`` one of ``acquisition/timeseries/Sweep_N``.
AllenSDK itself cannot be installed beside glifx (it pins numpy < 1.24, pandas 1.5.3, scipy < 1.11).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
from nwb1_writer import Nwb1Sweep, write_allen_nwb1

import glifx

RATE = 25_000.0
SI_UNITS = {"Volts": "V", "volts": "V", "V": "V", "Amps": "A", "amperes": "A", "A": "A"}
CLAMP_OF_RESPONSE = {"CurrentClampSeries": "CurrentClamp", "VoltageClampSeries": "VoltageClamp"}


@dataclass
class LayoutSweep:
    """One sweep as the layout defines it: SI values (V, A), rate, names, epochs."""

    stimulus: np.ndarray
    response: np.ndarray
    stimulus_unit: str
    response_unit: str
    response_class: str
    rate: float
    experiment: tuple[int, int] | None
    name: str | None
    amplitude_pa: float | None
    code: str | None
    bias_current: float | None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _scalar(group: h5py.Group, name: str):
    if name not in group:
        return None
    value = group[name][()]
    return _text(value) if isinstance(value, bytes | str) else float(np.ravel(value)[0])


def _series(part: h5py.Group) -> tuple[np.ndarray, str, str, float]:
    """SI values, SI unit, class and rate of the series an epoch part links to."""
    start, count = int(part["idx_start"][()]), int(part["count"][()])
    series = part["timeseries"]
    data = series["data"]
    values = data[start:start + count].astype(np.float64) * float(data.attrs["conversion"])
    unit = SI_UNITS[_text(data.attrs["unit"])]
    ancestry = [_text(a) for a in series.attrs["ancestry"]]
    assert ancestry[0] == "TimeSeries" and _text(series.attrs["neurodata_type"]) == "TimeSeries"
    if "starting_time" in series:
        rate = float(series["starting_time"].attrs["rate"])
    else:
        rate = 1.0 / float(np.median(np.diff(series["timestamps"][:])))
    return values, unit, ancestry[-1], rate


def read_layout(path: Path) -> dict[int, LayoutSweep]:
    """Every sweep of an Allen-layout NWB 1 file, by the published layout alone."""
    out = {}
    with h5py.File(path, "r") as f:
        assert _text(f["nwb_version"][()]).startswith("NWB-1")
        for key in f["epochs"]:
            if not key.startswith("Sweep_"):
                continue
            number = int(key.split("_")[1])
            epoch = f["epochs"][key]
            # the epoch's links name the series of this sweep
            assert epoch["stimulus"].get("timeseries", getlink=True).path == \
                f"/stimulus/presentation/{key}"
            assert epoch["response"].get("timeseries", getlink=True).path == \
                f"/acquisition/timeseries/{key}"
            stimulus, s_unit, _, rate = _series(epoch["stimulus"])
            response, r_unit, r_class, r_rate = _series(epoch["response"])
            assert rate == r_rate
            experiment = None
            if f"Experiment_{number}" in f["epochs"]:
                part = f["epochs"][f"Experiment_{number}"]["response"]
                start = int(part["idx_start"][()])
                experiment = (start, start + int(part["count"][()]) - 1)
            presentation = f["stimulus/presentation"][key]
            out[number] = LayoutSweep(
                stimulus, response, s_unit, r_unit, r_class, rate, experiment,
                _scalar(presentation, "aibs_stimulus_name"),
                _scalar(presentation, "aibs_stimulus_amplitude_pa"),
                _scalar(presentation, "aibs_stimulus_description"),
                _scalar(f["acquisition/timeseries"][key], "bias_current"))
    return out


def _sweeps() -> list[Nwb1Sweep]:
    """Two current-clamp sweeps (one stopped early) and a voltage-clamp sweep."""
    rng = np.random.default_rng(11)
    n = int(2.0 * RATE)
    out = []
    for number, amp, experiment in ((3, 90.0, (int(0.5 * RATE), n - int(0.5 * RATE))),
                                    (4, -30.0, (int(0.5 * RATE), int(0.8 * RATE)))):
        i = np.zeros(n)
        i[int(0.02 * RATE):int(0.03 * RATE)] = -20.0
        i[int(0.6 * RATE):int(1.6 * RATE)] = amp
        v = -71.0 + 0.3 * rng.standard_normal(n) + 0.05 * i
        out.append(Nwb1Sweep(number=number, v=v, i=i, rate=RATE, stimulus_name="Long Square",
                             amplitude=amp, code="C1LSCOARSE150216", experiment=experiment,
                             bias_current=-7.5))
    m = int(0.2 * RATE)
    out.append(Nwb1Sweep(number=1, v=np.where(np.arange(m) > m // 2, -60.0, -70.0),
                         i=25.0 * rng.standard_normal(m), rate=RATE, stimulus_name="Test",
                         clamp_mode="VoltageClamp"))
    return out


FLAVOURS = {
    "mV and pA with conversions": dict(),
    "volts and amperes (as Allen files)": dict(voltage_conversion=1.0, current_conversion=1.0),
    "float32": dict(dtype="float32"),
}


@pytest.fixture(params=list(FLAVOURS), scope="module")
def written(request, tmp_path_factory) -> tuple[Path, list[Nwb1Sweep], str]:
    path = tmp_path_factory.mktemp("nwb1") / "cell.nwb"
    sweeps = _sweeps()
    write_allen_nwb1(path, sweeps, **FLAVOURS[request.param])
    return path, sweeps, request.param


def test_writer_follows_the_published_layout(written):
    """The layout walk reads back what was meant: SI values, units, classes, rate, epochs and the
    Allen stimulus fields (so the writer is checked against the layout, not against glifx)."""
    path, sweeps, flavour = written
    layout = read_layout(path)
    assert sorted(layout) == sorted(s.number for s in sweeps)
    rtol = 1e-6 if flavour == "float32" else 1e-12  # float32 keeps 24 bits
    for s in sweeps:
        got = layout[s.number]
        cc = s.clamp_mode == "CurrentClamp"
        assert got.response_class == ("CurrentClampSeries" if cc else "VoltageClampSeries")
        assert (got.response_unit, got.stimulus_unit) == (("V", "A") if cc else ("A", "V"))
        volts, amps = (got.response, got.stimulus) if cc else (got.stimulus, got.response)
        np.testing.assert_allclose(volts, s.v * 1e-3, rtol=rtol, atol=0)
        np.testing.assert_allclose(amps, s.i * 1e-12, rtol=rtol, atol=1e-12 * 1e-9)
        assert got.rate == s.rate
        assert got.name == s.stimulus_name and got.code == s.code
        assert got.amplitude_pa == s.amplitude and got.bias_current == s.bias_current
        want = None if s.experiment is None else (s.experiment[0], sum(s.experiment) - 1)
        assert got.experiment == want


def test_glifx_reads_what_the_layout_says(written):
    """glifx's reader against the layout walk: sweep numbers, names, codes, amplitudes, clamp
    modes, rates, every sample (mV, pA) and the end of the valid response."""
    path, _, _ = written
    layout = read_layout(path)
    cell = glifx.load_cell(path)
    assert sorted(cell.sweep_numbers) == sorted(layout)
    for number, want in layout.items():
        rec, sweep = cell.record(number), cell[number]
        assert rec.clamp_mode == CLAMP_OF_RESPONSE[want.response_class]
        assert (rec.stimulus_name, rec.stimulus_code) == (want.name, want.code)
        assert rec.stimulus_amplitude == want.amplitude_pa
        assert rec.sampling_rate == want.rate and rec.n_samples == want.response.size
        cc = rec.clamp_mode == "CurrentClamp"
        volts, amps = (want.response, want.stimulus) if cc else (want.stimulus, want.response)
        v_mv, i_pa = volts * 1e3, amps * 1e12
        if cc and want.experiment is not None:
            # samples past the experiment epoch are not valid response: glifx marks them NaN
            end = want.experiment[1]
            assert sweep.epochs.recording == (0, end)
            assert np.all(np.isnan(sweep.v[end + 1:]))
            np.testing.assert_allclose(sweep.v[:end + 1], v_mv[:end + 1], rtol=1e-13)
        else:
            np.testing.assert_allclose(sweep.v, v_mv, rtol=1e-13)
        np.testing.assert_allclose(sweep.i, i_pa, rtol=1e-13, atol=1e-12)
        if want.bias_current is not None:
            assert sweep.metadata["bias_current"] == want.bias_current
