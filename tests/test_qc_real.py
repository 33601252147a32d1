"""QC runs on every real recording the readers load; tables are written; nothing raises."""

from __future__ import annotations

import json
import re

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


# Protocol timing of the files PROVENANCE.md flags as QC material (or whose protocol it describes):
# step onset and end (s from the sweep start), sweep length (s), the sweep whose step is 0 pA (no
# stimulus epoch: the command never changes), and whether the sweep QC of the cell must fail.
# The Allen criteria need 0.5 s of recording before and after the stimulus, so these timings alone
# decide the window verdicts.
PROTOCOLS = {
    # "0113 AP gain": first step 0.147-0.647 s, -100 pA 1.147-1.647 s, second step 1.647-2.147 s,
    # 3.0 s; the 0 pA sweep (4) starts its stimulus with the fixed -100 pA step at 1.147 s
    "pyabf/2019_07_24_0055_fsi.abf": dict(onset=0.147, end=2.147, length=3.0, zero=None,
                                          late_onset={4: 1.147}, cell_fails=None),
    # 1 s step 1.048-2.048 s of 3.064 s, -120...+420 pA by 60: sweep 2 is 0 pA
    "pyabf/190619B_0003.abf": dict(onset=1.048, end=2.048, length=3.064, zero=2, late_onset={},
                                   cell_fails=None),
    # 0.5 s step 0.216-0.716 s of 1.0 s, -100...+300 pA by 50: sweep 2 is 0 pA; no sweep has
    # full windows, so none passes
    "pyabf/File_axon_5.abf": dict(onset=0.216, end=0.716, length=1.0, zero=2, late_onset={},
                                  cell_fails=True),
    # step 31.2-431.2 ms of 0.717 s ("messy data, good for QC"): no sweep has full windows
    "bluepyefe/hippocampus-portal/99111002.nwb": dict(onset=0.0312, end=0.4312, length=0.7168,
                                                      zero=None, late_onset={}, cell_fails=True),
}
_BASELINE = re.compile(r"experiment epoch incomplete: ([\d.]+) s of baseline before the stimulus")
_TAIL = re.compile(r"experiment epoch incomplete: ([\d.]+) s of recording after the stimulus")


def _found(pattern: re.Pattern, reasons: list[str]) -> float | None:
    for reason in reasons:
        m = pattern.search(reason)
        if m:
            return float(m.group(1))
    return None


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_window_verdicts_follow_the_protocol(shared_data, name):
    """Each sweep's window verdict is the one its protocol timing (PROVENANCE.md) gives: a
    baseline or tail shorter than 0.5 s fails with its length (printed to 3 significant figures),
    a 0 pA sweep has no stimulus epoch, and without the full-window rule those reasons go."""
    from glifx.io import load_cell
    from glifx.qc import run_qc

    p = PROTOCOLS[name]
    cell = load_cell(shared_data / "real" / name)
    qc = run_qc(cell)
    relaxed = run_qc(cell, require_full_windows=False).sweeps.set_index("sweep_number")
    for row in qc.sweeps.itertuples():
        number, reasons = row.sweep_number, list(row.reasons)
        if number == p["zero"]:
            assert "integrity: no stimulus epoch: the command current does not change" in reasons
            assert row.status == "failed"
            continue
        baseline = p["late_onset"].get(number, p["onset"])
        tail = p["length"] - p["end"]
        want_baseline = baseline if baseline < 0.5 else None
        want_tail = tail if tail < 0.5 else None
        got_baseline, got_tail = _found(_BASELINE, reasons), _found(_TAIL, reasons)
        assert (got_baseline is None) == (want_baseline is None), (number, reasons)
        assert (got_tail is None) == (want_tail is None), (number, reasons)
        if want_baseline is not None:
            assert got_baseline == pytest.approx(want_baseline, rel=5e-3), number
        if want_tail is not None:
            assert got_tail == pytest.approx(want_tail, rel=5e-3), number
        if want_baseline is not None or want_tail is not None:
            assert row.status == "failed"
            assert not any("experiment epoch incomplete" in r for r in relaxed.loc[number, "reasons"])
    if p["cell_fails"]:
        assert qc.passed_sweeps == [] and not qc.cell_passed
