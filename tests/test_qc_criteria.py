"""QCCriteria: Allen v1.1 defaults, files, overrides and clear errors."""

from __future__ import annotations

import dataclasses
import json

import pytest

from glifx import ConfigError
from glifx.qc import QCCriteria, resolve_criteria


def test_defaults_are_allen_v1_1_as_shipped_by_ipfx():
    from ipfx.qc_feature_evaluator import load_default_qc_criteria

    allen = load_default_qc_criteria()
    c = QCCriteria()
    for key, value in allen.items():
        if key in ("id", "name", "created_at", "updated_at"):
            continue
        assert getattr(c, key) == value, key
    assert c.noise_window_s == 0.0015 and c.stability_window_s == 0.5
    assert c.min_passed_sweeps == 1


def test_frozen_and_replace():
    c = QCCriteria()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.seal_gohm_min = 2.0  # type: ignore[misc]
    d = dataclasses.replace(c, seal_gohm_min=2, excluded_stimuli=["Test"])
    assert d.seal_gohm_min == 2.0 and isinstance(d.seal_gohm_min, float)
    assert d.excluded_stimuli == ("Test",)
    assert QCCriteria(vm_delta_mv_max=2.5).vm_delta_mv_max == 2.5


def test_from_json_file_partial(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"pre_noise_rms_mv_max": 0.1, "require_full_windows": False,
                                "ramp_stimuli": ["Ramp", "ramp to rheobase"]}))
    c = QCCriteria.from_file(path)
    assert c.pre_noise_rms_mv_max == 0.1 and c.require_full_windows is False
    assert c.post_noise_rms_mv_max == 0.07  # untouched
    assert c.ramp_stimuli == ("Ramp", "ramp to rheobase")
    assert resolve_criteria(path, seal_gohm_min=3.0).seal_gohm_min == 3.0
    assert resolve_criteria(str(path)).pre_noise_rms_mv_max == 0.1


def test_round_trip(tmp_path):
    c = QCCriteria(leak_pa_min=-50.0, name="mine")
    c.to_file(tmp_path / "c.json")
    assert QCCriteria.from_file(tmp_path / "c.json") == c


def test_yaml_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("vm_delta_mv_max: 2.0\nexcluded_stimuli: [Test, Search, Blowout]\n")
    c = QCCriteria.from_file(path)
    assert c.vm_delta_mv_max == 2.0 and c.excluded_stimuli == ("Test", "Search", "Blowout")
    bad = tmp_path / "bad.yml"
    bad.write_text("a: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        QCCriteria.from_file(bad)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"pre_noise_max": 0.1}', "unknown QC criteria key.*pre_noise_max"),
        ('{"seal_gohm_min": "one"}', "seal_gohm_min must be a number"),
        ('{"seal_gohm_min": true}', "seal_gohm_min must be a number"),
        ('{"require_full_windows": 1}', "require_full_windows must be true or false"),
        ('{"min_passed_sweeps": 1.5}', "min_passed_sweeps must be an integer"),
        ('{"excluded_stimuli": "Test"}', "excluded_stimuli must be a list of strings"),
        ('{"leak_pa_min": 10, "leak_pa_max": -10}', "leak_pa_min .* is greater than leak_pa_max"),
        ('{"noise_window_s": 0}', "noise_window_s must be > 0"),
        ('[1, 2]', "must hold one object"),
        ('{"seal_gohm_min": 1.0,', "not valid JSON"),
    ],
)
def test_invalid_files(tmp_path, content, match):
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=match) as info:
        QCCriteria.from_file(path)
    assert str(path) in str(info.value)  # the message names the file


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read QC criteria file"):
        QCCriteria.from_file(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="cannot read"):
        QCCriteria.from_file(tmp_path)  # a directory


def test_resolve_criteria_rejects_other_types():
    with pytest.raises(ConfigError, match="criteria must be"):
        resolve_criteria(3.0)  # type: ignore[arg-type]
    assert resolve_criteria({"vm_delta_mv_max": 3}).vm_delta_mv_max == 3.0


def test_stimulus_helpers():
    c = QCCriteria()
    assert c.is_excluded("test") and c.is_excluded(" Search ") and not c.is_excluded("Long Square")
    assert c.is_ramp("Ramp") and c.is_ramp("Ramp to Rheobase") and c.is_ramp(None, "C1RP25Pr1S") is False
    assert c.is_ramp(None, "x_ramp_y")
