"""GlifModel: validation, level/method resolution and exact Allen neuron_config round-trips."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from glifx.errors import ConfigError, FileFormatError
from glifx.glif import LEVEL_METHODS, METHOD_NAMES, GlifModel, load_allen_config


def _configs(shared_data: Path) -> list[Path]:
    paths = sorted((shared_data / "allen_glif" / "configs").glob("*/*_neuron_config.json"))
    assert len(paths) == 48
    return paths


def _glif5(**kw) -> GlifModel:
    base = dict(
        level=5, R_input=1.5e8, C=1e-10, th_inf=0.025, spike_cut_length=50,
        asc_amp_array=(-3e-11, -2e-10), asc_tau_array=(0.1, 0.01),
        a=0.4, b=0.008, a_spike=0.002, b_spike=40.0, a_voltage=10.0, b_voltage=80.0,
    )
    base.update(kw)
    return GlifModel(**base)


@pytest.mark.shared_data
def test_every_published_config_round_trips_exactly(shared_data: Path) -> None:
    for path in _configs(shared_data):
        config = json.loads(path.read_text())
        model = GlifModel.from_allen_config(config)
        back = model.to_allen_config()
        assert back == config, path.name
        # same JSON text (int/float types preserved), independent of key order
        assert json.dumps(back, sort_keys=True) == json.dumps(config, sort_keys=True), path.name
        assert model.spike_cut_policy == "steps"
        level = int(path.name.split("_GLIF")[1][0])
        assert model.level == level and model.standard_level == level


@pytest.mark.shared_data
def test_load_allen_config_and_seconds_policy(shared_data: Path) -> None:
    path = _configs(shared_data)[0]
    model = load_allen_config(path)
    config = json.loads(path.read_text())
    assert model.cut_steps(5e-6) == config["spike_cut_length"]
    sec = GlifModel.from_allen_config(config, spike_cut_policy="seconds")
    assert sec.spike_cut_policy == "seconds"
    assert sec.spike_cut_s == pytest.approx(config["spike_cut_length"] * config["dt"])
    assert sec.cut_steps(config["dt"]) == config["spike_cut_length"]
    assert sec.cut_steps(5e-6) == 10 * config["spike_cut_length"]
    out = sec.to_allen_config()
    assert out["spike_cut_length"] == config["spike_cut_length"]
    assert GlifModel.from_allen_config(out) == sec  # the seconds survive a round trip


def test_non_standard_method_combination_round_trips() -> None:
    model = dataclasses.replace(_glif5(), level=None, voltage_reset_method="zero",
                                threshold_dynamics_method="three_components_exact",
                                threshold_reset_method="three_components",
                                asc_dynamics_method="none", asc_reset_method="none")
    assert model.standard_level is None
    config = model.to_allen_config()
    again = GlifModel.from_allen_config(config)
    assert again.level is None
    assert again.to_allen_config() == config


def test_fresh_model_config_is_complete_and_round_trips() -> None:
    for level in LEVEL_METHODS:
        model = _glif5(level=level)
        config = model.to_allen_config()
        for key in ("El_reference", "El", "dt", "R_input", "C", "th_inf", "spike_cut_length",
                    "coeffs", "asc_amp_array", "asc_tau_array", "init_voltage", "init_threshold",
                    "init_AScurrents", "th_adapt", *METHOD_NAMES):
            assert key in config
        assert GlifModel.from_allen_config(config).to_allen_config() == config


def test_numpy_scalars_become_python_numbers() -> None:
    model = _glif5(spike_cut_length=np.int64(30), th_inf=np.float32(0.02), asc_amp_array=np.zeros(2))
    assert type(model.spike_cut_length) is int and type(model.th_inf) is float
    assert model.asc_amp_array == (0.0, 0.0)
    json.dumps(model.to_allen_config())


def test_replace_varies_parameters_and_revalidates() -> None:
    model = _glif5()
    m2 = dataclasses.replace(model, coeff_th_inf=0.9, th_inf=0.03)
    assert m2.th_inf == 0.03 and m2.coeff_th_inf == 0.9 and model.th_inf == 0.025
    assert dataclasses.replace(model, level=3).methods["threshold_dynamics_method"] == "inf"
    with pytest.raises(ConfigError, match="C: must be > 0"):
        dataclasses.replace(model, C=-1e-10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.C = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"C": -1e-10}, "C: must be > 0"),
        ({"R_input": 0.0}, "R_input: must be > 0"),
        ({"R_input": float("nan")}, "R_input: expected a finite number"),
        ({"level": 6}, "level: expected 1, 2, 3, 4, 5"),
        ({"a": None}, "a: missing .needed by voltage_reset_method 'v_before'"),
        ({"b_voltage": None}, "b_voltage: missing"),
        ({"b_voltage": -3.0}, "b_voltage: must be > 0"),
        ({"asc_tau_array": (0.1, 0.0)}, "asc_tau_array: time constants must be > 0"),
        ({"asc_tau_array": (0.1,)}, "asc_tau_array: expected 2 numbers"),
        ({"spike_cut_length": -1}, "spike_cut_length"),
        ({"spike_cut_length": 2.5}, "spike_cut_length"),
        ({"spike_cut_s": -1e-3}, "spike_cut_s: must be >= 0"),
        ({"threshold_dynamics_method": "inf"}, "level 5 uses 'three_components_exact'"),
        ({"level": None, "threshold_dynamics_method": "inf"}, "missing"),
        ({"voltage_reset_method": "v_after"}, "unknown method 'v_after'"),
    ],
)
def test_invalid_parameters_raise_config_error(kw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _glif5(**kw)


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        _glif5(C=0.0)


@pytest.mark.shared_data
def test_from_allen_config_rejects_unknown_methods_and_bad_blocks(shared_data: Path) -> None:
    config = json.loads(_configs(shared_data)[4].read_text())  # a GLIF5
    assert config["threshold_dynamics_method"]["name"] == "three_components_exact"
    bad = copy.deepcopy(config)
    bad["threshold_dynamics_method"]["name"] = "adapt_sometimes"
    with pytest.raises(ConfigError, match="threshold_dynamics_method: unknown method 'adapt_sometimes'"):
        GlifModel.from_allen_config(bad)
    bad = copy.deepcopy(config)
    bad["voltage_dynamics_method"]["name"] = "linear_exact"
    with pytest.raises(ConfigError, match="voltage_dynamics_method: unknown method 'linear_exact'"):
        GlifModel.from_allen_config(bad)
    bad = copy.deepcopy(config)
    del bad["C"]
    with pytest.raises(ConfigError, match="missing 'C'"):
        GlifModel.from_allen_config(bad)
    bad = copy.deepcopy(config)
    del bad["voltage_reset_method"]["params"]["b"]
    with pytest.raises(ConfigError, match="missing parameter.*b"):
        GlifModel.from_allen_config(bad)
    bad = copy.deepcopy(config)
    bad["threshold_reset_method"]["params"]["b_spike"] += 1.0
    with pytest.raises(ConfigError, match="b_spike.*differs"):
        GlifModel.from_allen_config(bad)
    bad = copy.deepcopy(config)
    bad["R_input"] = -5.0
    with pytest.raises(ConfigError, match="R_input: must be > 0"):
        GlifModel.from_allen_config(bad)
    with pytest.raises(ConfigError, match="expected a JSON object"):
        GlifModel.from_allen_config([1, 2])  # type: ignore[arg-type]


def test_load_allen_config_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="no such file"):
        load_allen_config(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(FileFormatError, match="broken.json"):
        load_allen_config(broken)
    bad = tmp_path / "bad.json"
    config = _glif5().to_allen_config()
    config["C"] = -1.0
    bad.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="bad.json: C: must be > 0"):
        load_allen_config(bad)


def test_pickle_and_hash() -> None:
    import pickle

    model = _glif5()
    model.kernel_arrays(5e-6)  # fills the per-dt cache
    again = pickle.loads(pickle.dumps(model))
    assert again == model and hash(again) == hash(model)
