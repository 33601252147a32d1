"""Every output column is documented (issue 21, item 5): columns.json, README, no duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import glifx
from glifx.report.data import parameters_from_allen_config
from glifx.report.outputs import (
    FIT_FILES,
    LEVEL_KEYS,
    SUMMARY_KEYS,
    SUMMARY_NAME,
    columns_markdown,
    output_columns,
)

ROOT = Path(__file__).resolve().parents[1]
RS_CELL = ROOT / "data_samples" / "rs_cell.nwb"


def _names(rows) -> set[str]:
    return {r["name"] for r in rows}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("columns")
    cell = glifx.load_cell(RS_CELL)
    qc = glifx.run_qc(cell)
    qc.write(out)
    glifx.extract_features(cell, qc=qc).write(out)
    return out


def test_columns_json_documents_every_csv_column(written) -> None:
    doc = json.loads((written / "columns.json").read_text())
    assert {"qc.csv", "qc.json", "spikes.csv", "sweep_features.csv",
            "cell_features.json"} <= set(doc)  # both writers' descriptions kept
    for name in ("qc.csv", "spikes.csv", "sweep_features.csv"):
        columns = list(pd.read_csv(written / name, nrows=1).columns)
        assert len(columns) == len(set(columns))
        assert set(columns) == _names(doc[name]), name  # every column, and no stale entries
        for row in doc[name]:
            assert row["meaning"] and isinstance(row["unit"], str)


def test_json_keys_are_documented(written) -> None:
    doc = json.loads((written / "columns.json").read_text())
    qc_keys = json.loads((written / "qc.json").read_text())
    documented = {n.split(".")[0] for n in _names(doc["qc.json"])}
    assert set(qc_keys) <= documented
    cell = json.loads((written / "cell_features.json").read_text())
    documented = {n.split(".")[0] for n in _names(doc["cell_features.json"])}
    assert set(cell) <= documented
    for block in ("long_square", "short_square", "ramp"):
        for key in cell[block]:
            full = f"{block}.{key}"
            assert any(full == n or n.startswith(full + ".")
                       or (n.endswith("*") and full.startswith(n[:-1]))
                       for n in _names(doc["cell_features.json"])), full


def test_fit_summary_keys_and_parameter_names_are_documented(shared_data) -> None:
    names = {c for c, _, _ in FIT_FILES[SUMMARY_NAME]}
    assert set(SUMMARY_KEYS) <= {n.split(".")[0] for n in names}
    for key in LEVEL_KEYS:
        full = f"levels.GLIF<n>.{key}"
        assert full in names or any(n.startswith(full + ".") for n in names), key
    config = next((shared_data / "allen_glif" / "configs").glob("*/*_GLIF5_neuron_config.json"))
    params = parameters_from_allen_config(json.loads(config.read_text()))
    assert "a_r" in params and "b_r" in params
    for key in params:
        assert " " not in key  # machine-friendly keys
        pattern = key.rstrip("0123456789") + "<j>" if key[-1].isdigit() else key
        assert f"parameters: {pattern}" in names, key


def test_readme_lists_every_column() -> None:
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index("<!-- columns:start -->\n"), readme.index("<!-- columns:end -->")
    assert readme[start + len("<!-- columns:start -->\n"):end] == columns_markdown()
    assert set(output_columns()) >= {"qc.csv", "spikes.csv", "fit_summary.json"}


def test_sweep_features_have_one_amplitude_column(written) -> None:
    table = pd.read_csv(written / "sweep_features.csv")
    assert "stimulus_amplitude" not in table.columns
    cell = glifx.load_cell(RS_CELL)
    for row in table.itertuples():  # file amplitudes and measured steps agree to 1 pA
        assert row.stim_amp == pytest.approx(cell.record(row.sweep_number).stimulus_amplitude,
                                             abs=1.0)
