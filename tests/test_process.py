"""``glifx.process_cell``: the one call behind ``glifx fit`` (and the cohort runner)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import glifx
from glifx.cli import main
from glifx.process import STAGES, CellResult, process_cell

RS_CELL = Path(__file__).resolve().parents[1] / "data_samples" / "rs_cell.nwb"
#: Entries that record when and how long, not what: they differ between any two runs.
RUN_KEYS = {"created", "wall_time_s", "wall_time"}


def _without_run_keys(x):
    if isinstance(x, dict):
        return {k: _without_run_keys(v) for k, v in x.items() if k not in RUN_KEYS}
    if isinstance(x, list):
        return [_without_run_keys(v) for v in x]
    return x


def _report_text(path: Path) -> str:
    """The report without its timings (``1.2 s``) and the bytes of its images (which hold the
    timing figure), so that two runs of one fit read the same."""
    html = path.read_text()
    html = re.sub(r'src="data:image/[^"]+"', 'src="IMG"', html)
    html = re.sub(r"\d+(\.\d+)?\s*s\b", "T s", html)
    return re.sub(r"\d{4}-\d\d-\d\d(T[\d:+.]+| \d\d:\d\d UTC)", "DATE", html)


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The RS sample fitted at GLIF1 and GLIF3 by the CLI and by process_cell."""
    root = tmp_path_factory.mktemp("process")
    cli_out, api_out = root / "cli", root / "api"
    result = CliRunner().invoke(main, ["fit", str(RS_CELL), "--out", str(cli_out), "--levels", "1,3"])
    assert result.exit_code == 0, result.output
    messages: list[str] = []
    res = process_cell(str(RS_CELL), api_out, levels=(1, 3), progress=messages.append)
    return cli_out / "rs_cell", res, messages, result


def test_cli_and_process_cell_write_the_same_folder(both):
    cli_dir, res, _, _ = both
    api_dir = res.out_dir
    assert api_dir is not None and api_dir.name == "rs_cell"
    names = sorted(p.name for p in cli_dir.iterdir())
    assert names == sorted(p.name for p in api_dir.iterdir())
    assert {"qc.csv", "qc.json", "fit_summary.json", "report.html", "GLIF1_neuron_config.json",
            "GLIF3_neuron_config.json", "spikes.csv", "sweep_features.csv"} <= set(names)
    for name in names:
        a, b = cli_dir / name, api_dir / name
        if name.endswith(".json"):
            assert _without_run_keys(json.loads(a.read_text())) == _without_run_keys(
                json.loads(b.read_text())), name
        elif name.endswith(".csv"):
            pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b), check_exact=True)
        else:
            assert _report_text(a) == _report_text(b), name


def test_cell_result_holds_every_stage(both):
    _, res, messages, _ = both
    assert isinstance(res, CellResult) and res.n_fitted == 2
    assert res.cell.cell_id == "rs_cell" and res.qc.passed_sweeps
    assert len(res.features.spikes) > 0 and list(res.fit.levels) == [1, 3]
    assert res.wall_time >= res.fit.wall_time > 0
    # every stage reported itself, in order, with the prefixes the CLI groups by
    prefixes = [p for p, _ in STAGES]
    stages = [max(j for j, p in enumerate(prefixes) if m.startswith(p))
              for m in messages if not m.startswith("warning:")]
    assert stages == sorted(stages) and set(stages) == set(range(len(STAGES)))


def test_cli_progress_is_grouped_by_stage(both):
    _, _, _, cli = both
    headers = [ln for ln in cli.stderr.splitlines() if ln.startswith("[")]
    n = len(STAGES)
    assert [h.split("]")[0] + "]" for h in headers] == [f"[{k}/{n}]" for k in range(1, n + 1)]
    assert "fitting GLIF1, GLIF3 (select)" in headers[5]


def test_a_loaded_cell_without_an_output_folder(tmp_path):
    cell = glifx.load_cell(RS_CELL)
    res = glifx.process_cell(cell, levels=(1,), method="ev")
    assert res.out_dir is None and res.fit[1].ok and res.cell is cell
    assert not list(tmp_path.iterdir())


def test_bad_input_raises_before_any_output(tmp_path):
    with pytest.raises(glifx.FileFormatError, match="nope.nwb"):
        process_cell(tmp_path / "nope.nwb", tmp_path / "out")
    with pytest.raises(glifx.ConfigError):
        process_cell(RS_CELL, tmp_path / "out", criteria={"no_such_criterion": 1})
    assert not (tmp_path / "out").exists()


def test_one_thread_and_helper_processes_write_the_same_folder(both, tmp_path):
    """With one thread everything runs here; with two (the ``both`` fixture, on a machine of
    two or more cores) the features and half the report's figures are made by forked helpers
    (glifx.report._forked): the same files, figures included."""
    from glifx.report._forked import helper_allowed

    _, res, _, _ = both
    glifx.set_threads(1)
    try:
        assert not helper_allowed()
        serial = process_cell(str(RS_CELL), tmp_path, levels=(1, 3))
    finally:
        glifx.set_threads(None)
    for a in sorted(res.out_dir.iterdir()):
        b = serial.out_dir / a.name
        if a.suffix == ".json":
            assert _without_run_keys(json.loads(a.read_text())) == _without_run_keys(
                json.loads(b.read_text())), a.name
        elif a.suffix == ".csv":
            assert a.read_bytes() == b.read_bytes(), a.name
        else:
            images = [re.findall(r'<img[^>]*src="data:image/png[^"]+"', p.read_text())
                      for p in (a, b)]
            # the explained-variance and summary figures carry no timing: the PNGs are equal
            assert len(images[0]) == len(images[1]) > 3 and images[0][1:] == images[1][1:]
    pd.testing.assert_frame_equal(res.features.spikes, serial.features.spikes, check_exact=True)
    # (as text: a NaN that crossed from the helper is another object, and NaN != NaN)
    assert (json.dumps(res.features.cell, sort_keys=True, default=repr)
            == json.dumps(serial.features.cell, sort_keys=True, default=repr))


def test_a_feature_error_in_the_helper_is_raised_as_itself(tmp_path, monkeypatch):
    from glifx import process

    def fail(cell, qc=None):
        raise glifx.FileFormatError("some.nwb", "features failed here")

    monkeypatch.setattr(process, "extract_features", fail)
    glifx.set_threads(2)  # the helper, even on one core
    try:
        with pytest.raises(glifx.FileFormatError, match="some.nwb: features failed here"):
            process_cell(str(RS_CELL), tmp_path / "out", levels=(1,), method="ev")
    finally:
        glifx.set_threads(None)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
