"""Features under eFEL's names agree with eFEL itself on eFEL's own test traces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from glifx.errors import ConfigError
from glifx.features import EFEL_MAPPING, efel_features
from glifx.features.efel_names import EFEL_NOT_EXPOSED, FEATURE_NAMES

# file, stimulus window (ms, shared/data/real/PROVENANCE.md), voltage scale to mV
TRACES = [
    ("testdata.txt", 700.0, 2700.0, 1.0),
    ("zero_ISI_log_slope_skip95824004.abf.csv", 31.2, 431.2, 1.0),
    ("impedance.txt", 100.0, 5100.0, 1e3),  # stored in volts
]


@pytest.fixture(scope="module")
def traces(shared_data: Path) -> dict:
    out = {}
    for name, start, end, scale in TRACES:
        data = np.loadtxt(shared_data / "real" / "efel" / name)
        out[name] = (data[:, 0], data[:, 1] * scale, start, end)
    return out


@pytest.mark.shared_data
@pytest.mark.filterwarnings("ignore::DeprecationWarning:efel.*")  # eFEL's old names, kept on purpose
@pytest.mark.parametrize("name", [t[0] for t in TRACES])
def test_every_feature_agrees_with_efel_within_1_percent(traces: dict, name: str) -> None:
    efel = pytest.importorskip("efel")
    t_ms, v, start, end = traces[name]
    theirs = efel.get_feature_values(
        [{"T": t_ms, "V": v, "stim_start": [start], "stim_end": [end]}], list(FEATURE_NAMES),
        raise_warnings=False)[0]
    ours = efel_features(t_ms * 1e-3, v, start * 1e-3, end * 1e-3)
    assert list(ours) == list(FEATURE_NAMES)
    for feature in FEATURE_NAMES:
        expected = np.asarray([] if theirs[feature] is None else theirs[feature], dtype=np.float64)
        assert ours[feature].shape == expected.shape, (feature, ours[feature], expected)
        np.testing.assert_allclose(ours[feature], expected, rtol=0.01, err_msg=feature)


@pytest.mark.shared_data
def test_the_spiking_traces_spike(traces: dict) -> None:
    t_ms, v, start, end = traces["testdata.txt"]
    feats = efel_features(t_ms * 1e-3, v, start * 1e-3, end * 1e-3, names=["Spikecount", "ISI_CV"])
    assert list(feats) == ["Spikecount", "ISI_CV"]
    assert feats["Spikecount"][0] == 6


def test_mapping_covers_every_feature_once() -> None:
    names = [row.efel for row in EFEL_MAPPING]
    assert len(names) == len(set(names)) == len(FEATURE_NAMES)
    assert all(row.glifx and row.units and row.difference for row in EFEL_MAPPING)


#: the eFEL features issue 23 lists by name: each offered, or its absence explained
ISSUE_NAMES = ("mean_frequency", "AP_amplitude", "AP_width", "spike_half_width",
               "time_to_first_spike", "ISI_CV", "adaptation_index", "voltage_base",
               "steady_state_voltage", "sag_amplitude", "ohmic_input_resistance")


def test_every_feature_the_issue_names_is_offered_or_explained() -> None:
    for name in ISSUE_NAMES:
        assert (name in FEATURE_NAMES) != (name in EFEL_NOT_EXPOSED), name
    assert all(len(reason) > 40 for reason in EFEL_NOT_EXPOSED.values())


@pytest.mark.shared_data
@pytest.mark.filterwarnings("ignore::DeprecationWarning:efel.*")
def test_the_features_not_offered_have_no_efel_value_on_its_traces(traces: dict) -> None:
    """What EFEL_NOT_EXPOSED says: eFEL 5.7 itself returns nothing for them on its test traces
    (no hyperpolarising step; no stimulus_current setting)."""
    efel = pytest.importorskip("efel")
    for t_ms, v, start, end in traces.values():
        theirs = efel.get_feature_values(
            [{"T": t_ms, "V": v, "stim_start": [start], "stim_end": [end]}], list(EFEL_NOT_EXPOSED),
            raise_warnings=False)[0]
        assert all(theirs[name] is None for name in EFEL_NOT_EXPOSED)


def test_adaptation_index_skips_and_needs_four_spikes() -> None:
    t = np.arange(0, 2.0, 1e-4)
    v = np.full_like(t, -70.0)
    onsets = (0.2, 0.25, 0.31, 0.38, 0.46, 0.55)  # ISIs 50, 60, 70, 80, 90 ms
    for t0 in onsets:
        k = int(round(t0 / 1e-4))
        v[k:k + 10] = np.linspace(-70, 20, 10)
        v[k + 10:k + 20] = np.linspace(20, -75, 10)
    # 6 spikes: round(0.6) = 1 skipped, ISIs 60, 70, 80, 90 ms
    isi = np.array([60.0, 70.0, 80.0, 90.0])
    expected = np.mean(np.diff(isi) / (isi[1:] + isi[:-1]))
    f = efel_features(t, v, 0.1, 1.9, names=["adaptation_index", "AP_width", "steady_state_voltage"])
    np.testing.assert_allclose(f["adaptation_index"], expected, atol=1e-3)
    assert f["AP_width"].size == 6 and f["steady_state_voltage"][0] == pytest.approx(-70.0)
    # from 0.3 s on: 4 spikes, none skipped (round(0.4) = 0); from 0.35 s: 3, no value
    isi = isi[1:]
    expected = np.mean(np.diff(isi) / (isi[1:] + isi[:-1]))
    later = efel_features(t, v, 0.3, 1.9, names=["adaptation_index"])["adaptation_index"]
    np.testing.assert_allclose(later, expected, atol=1e-3)
    assert efel_features(t, v, 0.35, 1.9, names=["adaptation_index"])["adaptation_index"].size == 0


def test_synthetic_spike_train_by_hand() -> None:
    t = np.arange(0, 1.0, 1e-4)  # s, 10 kHz
    v = np.full_like(t, -70.0)
    for t0 in (0.2, 0.35, 0.6):  # triangular spikes reaching +20 mV
        k = int(round(t0 / 1e-4))
        v[k:k + 10] = np.linspace(-70, 20, 10)
        v[k + 10:k + 20] = np.linspace(20, -75, 10)
    f = efel_features(t, v, 0.1, 0.9)
    assert f["Spikecount"][0] == 3 and f["Spikecount_stimint"][0] == 3
    np.testing.assert_allclose(f["all_ISI_values"], [150.0, 250.0], atol=0.11)
    np.testing.assert_allclose(f["mean_frequency"], 3 / (f["peak_time"][-1] - 100.0) * 1e3)
    np.testing.assert_allclose(f["voltage_base"], -70.0)
    assert f["ISI_CV"].size == 0  # one ISI left once the first is dropped


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"names": ["spike_count"]}, "not offered under eFEL's names: spike_count"),
    ({"start": 0.5, "end": 0.1}, "expected start < end"),
])
def test_bad_arguments(kwargs: dict, message: str) -> None:
    args = {"t": np.arange(10) * 1e-3, "v": np.zeros(10), "start": 0.001, "end": 0.005, **kwargs}
    with pytest.raises(ConfigError, match=message):
        efel_features(**args)
