"""QC runs on every real recording the readers load; tables are written; nothing raises."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from glifx import FileFormatError

pytestmark = pytest.mark.shared_data


def test_qc_on_every_real_file(shared_data, tmp_path):
    from glifx.io import load_cell
    from glifx.qc import QC_SWEEP_COLUMNS, run_qc

    loaded = []
    for path in sorted((shared_data / "real").rglob("*")):
        if not path.is_file():
            continue
        try:
            cell = load_cell(path)
        except FileFormatError:  # not a recording the readers support (text, Igor, notes)
            continue
        for criteria in ({}, {"require_full_windows": False}):
            qc = run_qc(cell, **criteria)
            assert list(qc.sweeps.columns) == list(QC_SWEEP_COLUMNS)
            assert len(qc.sweeps) == len(cell)
            assert set(qc.sweeps["status"]) <= {"passed", "failed", "excluded"}
            failed = qc.sweeps[qc.sweeps["status"] == "failed"]
            assert all(len(r) > 0 for r in failed["reasons"]), path.name  # every failure says why
            passed = qc.sweeps.loc[qc.sweeps["passed"], "sweep_number"]
            assert qc.passed_sweeps == [int(n) for n in passed]
            assert qc.cell_passed == (not qc.cell_reasons)
            # these files hold no seal/access/blowout measurements: not measured, not failed
            assert any(s.startswith("seal_gohm:") for s in qc.cell_not_measured)
        out = tmp_path / path.stem
        paths = qc.write(out)
        assert len(pd.read_csv(paths["csv"])) == len(cell)
        data = json.loads(paths["json"].read_text())
        assert data["passed_sweeps"] == qc.passed_sweeps
        loaded.append(path.name)
    expected = {"171116sh_0016.abf", "171116sh_0018.abf", "18711001.abf", "190619B_0003.abf",
                "2019_07_24_0055_fsi.abf", "File_axon_5.abf", "99111002.nwb"}
    assert expected <= set(loaded), loaded


def test_ramp_file_uses_ramp_exceptions(shared_data):
    from glifx.io import load_cell
    from glifx.qc import run_qc

    cell = load_cell(shared_data / "real" / "pyabf" / "171116sh_0016.abf")
    # PROVENANCE.md: protocol "0111 continuous ramp", 10 pA per 1 s sweep from sweep 1 on
    assert [r.stimulus_name for r in cell.records] == ["Ramp"] * 11
    qc = run_qc(cell, require_full_windows=False)
    ramps = qc.sweeps[qc.sweeps["is_ramp"]]
    assert len(ramps) >= 10
    assert ramps["post_noise_rms_mv"].isna().all() and ramps["vm_delta_mv"].isna().all()
