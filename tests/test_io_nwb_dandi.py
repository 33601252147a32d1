"""NWB files written for DANDI: nwbinspector finds nothing critical and no best-practice violation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import glifx
from glifx.errors import ConfigError
from glifx.io import load_cell, write_nwb

nwbinspector = pytest.importorskip("nwbinspector")

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"
SUBJECT = {"subject_id": "sample-1", "species": "Mus musculus", "sex": "M", "age": "P56D",
           "description": "synthetic neuron of glifx's data_samples"}


def _issues(path: Path) -> list:
    return list(nwbinspector.inspect_nwbfile(nwbfile_path=str(path)))


@pytest.mark.parametrize("sample", ["rs_cell.nwb", "fs_cell.nwb"])
def test_sample_cells_pass_nwbinspector_with_a_subject(sample: str, tmp_path: Path) -> None:
    cell = load_cell(SAMPLES / sample)
    out = write_nwb(cell, tmp_path / sample, subject=SUBJECT, experimenter="Doe, Jane",
                    institution="glifx", experiment_description="synthetic recordings",
                    keywords=["GLIF", "patch clamp"])
    issues = _issues(out)
    bad = [(m.importance.name, m.check_function_name, m.message) for m in issues
           if m.importance.name in ("CRITICAL", "BEST_PRACTICE_VIOLATION", "PYNWB_VALIDATION", "ERROR")]
    assert not bad
    back = load_cell(out)  # the round trip stays exact
    assert [s.sweep_number for s in back] == [s.sweep_number for s in cell]
    for a, b in zip(cell, back, strict=True):
        np.testing.assert_array_equal(a.v, b.v)
        np.testing.assert_array_equal(a.t, b.t)
        if a.i is None:
            assert b.i is None
        else:
            np.testing.assert_array_equal(a.i, b.i)
        assert (a.stimulus_name, a.stimulus_amplitude, a.name_source) == (
            b.stimulus_name, b.stimulus_amplitude, b.name_source)


def test_without_a_subject_nwbinspector_says_critical(tmp_path: Path) -> None:
    cell = glifx.Cell.from_arrays([np.full(1000, -70.0)], [np.zeros(1000)], 10000.0)
    issues = _issues(write_nwb(cell, tmp_path / "no_subject.nwb"))
    assert [m.check_function_name for m in issues if m.importance.name == "CRITICAL"] == [
        "check_subject_exists"]


@pytest.mark.parametrize(("subject", "message"), [
    ({"subject_id": "x", "species": "Mus musculus", "sex": "M"}, "age .* or date_of_birth"),
    ({"species": "Mus musculus", "sex": "M", "age": "P1D"}, "missing subject_id"),
    ({"subject_id": "x", "species": "Mus musculus", "sex": "male", "age": "P1D"}, "subject.sex"),
    ({"subject_id": "x", "species": "Mus musculus", "sex": "M", "age": "P1D", "colour": 1},
     "subject: .*colour"),
])
def test_bad_subject_is_one_clear_error(subject: dict, message: str, tmp_path: Path) -> None:
    cell = glifx.Cell.from_arrays([np.full(100, -70.0)], [np.zeros(100)], 10000.0)
    with pytest.raises(ConfigError, match=message):
        write_nwb(cell, tmp_path / "x.nwb", subject=subject)
    assert not (tmp_path / "x.nwb").exists()


def test_the_source_session_description_is_carried(tmp_path: Path) -> None:
    cell = load_cell(SAMPLES / "rs_cell.nwb")
    text = "Whole-cell recording of a layer 5 neuron, Long/Short Square, Ramp and Noise protocols"
    described = glifx.Cell.from_sweeps(list(cell), cell_id=cell.cell_id,
                                       metadata={**cell.metadata, "session_description": text})
    back = load_cell(write_nwb(described, tmp_path / "described.nwb", subject=SUBJECT))
    assert back.metadata["session_description"] == text
    # a source without one keeps the placeholder
    bare = glifx.Cell.from_sweeps(list(cell), cell_id="bare", metadata={})
    assert load_cell(write_nwb(bare, tmp_path / "bare.nwb")).metadata["session_description"] == (
        "glifx export of cell bare")
