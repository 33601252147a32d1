"""``glifx compare`` and glifx.testing.compare: result folders compared quantity by quantity.

The expected folder is the frozen result of the RS sample cell (tests/reference_cells/rs_cell,
written by ``glifx fit``); each test copies it, changes the files the way a regression would, and
checks what the comparison reports.  Files are edited as text / CSV rows, so that nothing but the
edited value changes.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from glifx.cli import main
from glifx.errors import ConfigError, FileFormatError
from glifx.testing import DEFAULT_TOLERANCES, CellOutputs, assert_results_match, compare_results
from glifx.testing.compare import CLASSES, COLUMNS, Tolerance, Tolerances

ROOT = Path(__file__).resolve().parent.parent
RS = ROOT / "tests" / "reference_cells" / "rs_cell"
FS = ROOT / "tests" / "reference_cells" / "fs_cell"
SAMPLES = ROOT / "data_samples"
#: The defaults the README and the module docstring document.
DOCUMENTED = {"verdict": Tolerance(), "count": Tolerance(), "text": Tolerance(),
              "feature": Tolerance(rel=1e-3), "parameter": Tolerance(rel=1e-3),
              "ev": Tolerance(abs=1e-3)}


def run(*args: Any):
    return CliRunner().invoke(main, ["compare", *map(str, args)])


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def edit_csv(path: Path, change: Callable[[list[dict[str, str]]], list[dict[str, str]]]) -> None:
    """Rewrite a CSV file row by row (cells stay the strings they were, except those changed)."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    rows = change(rows)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def set_cell(rows: list[dict[str, str]], sweep: int, column: str, value: str) -> list[dict[str, str]]:
    (row,) = [r for r in rows if int(r["sweep_number"]) == sweep]
    row[column] = value
    return rows


@pytest.fixture
def actual(tmp_path) -> Path:
    """A copy of the frozen RS result, ``actual/rs_cell``."""
    return Path(shutil.copytree(RS, tmp_path / "actual" / "rs_cell"))


def beyond(table: pd.DataFrame) -> list[tuple[str, str]]:
    return [(r.where, r.quantity) for r in table.itertuples() if not r.within_tolerance]


def scale_th_inf(folder: Path, level: int, factor: float) -> None:
    """Move a level's θ∞ in its neuron config and in fit_summary.json."""
    edit_json(folder / f"GLIF{level}_neuron_config.json",
              lambda c: c.update(th_inf=c["th_inf"] * factor))
    edit_json(folder / "fit_summary.json", lambda s: s["levels"][f"GLIF{level}"]["parameters"]
              ["th_inf"].update(value=s["levels"][f"GLIF{level}"]["parameters"]["th_inf"]["value"]
                                * factor))


# ------------------------------------------------------------------------------------ acceptance
def test_identical_folders_compare_equal(actual):
    result = run(RS, actual)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [result.stdout.strip()]  # the summary line only
    assert "all within tolerance" in result.stdout and "0 changed within tolerance" in result.stdout

    table = compare_results(RS, actual)
    assert list(table.columns) == list(COLUMNS)
    assert table["equal"].all() and table["within_tolerance"].all()
    assert set(table["kind"]) == set(CLASSES)
    # every sweep's QC verdict, every level's parameters and EV, every sweep's spike count
    qc = pd.read_csv(RS / "qc.csv")
    verdicts = table[table.quantity == "qc.passed"]
    assert sorted(int(w.split()[1]) for w in verdicts["where"]) == sorted(qc.sweep_number)
    summary = json.loads((RS / "fit_summary.json").read_text())
    for name, entry in summary["levels"].items():
        rows = table[table["where"] == name]
        assert set(entry["parameters"]) <= set(rows.quantity)
        assert {"status", "train_ev", "test_ev", "config.th_inf"} <= set(rows.quantity)
    spikes = pd.read_csv(RS / "spikes.csv").groupby("sweep_number").size()
    counts = table[table.quantity == "spike_count"].set_index("where")["expected"]
    for sweep, n in spikes.items():
        assert counts[f"sweep {sweep}"] == n


def test_glif3_th_inf_moved_5_percent(actual):
    scale_th_inf(actual, 3, 1.05)
    result = run(RS, actual)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 3  # fit_summary.json's θ∞, the neuron config's, the summary line
    for line in lines[:2]:
        cell, where, quantity = line.split()[:3]
        assert (cell, where) == ("rs_cell", "GLIF3") and quantity in ("th_inf", "config.th_inf")
        assert "(+5 %)" in line and "tolerance rel 0.1 %" in line
    assert lines[2].startswith("compared ") and "2 beyond tolerance" in lines[2]


def test_one_qc_verdict_flipped(actual):
    edit_csv(actual / "qc.csv", lambda rows: set_cell(rows, 12, "passed", "False"))
    result = run(RS, actual)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:4] == ["rs_cell", "sweep", "12", "qc.passed"]
    assert "expected True" in lines[0] and "actual False" in lines[0]


@pytest.mark.parametrize("case", ["empty", "missing", "file", "bad-json", "no-levels", "bad-csv"])
@pytest.mark.parametrize("side", ["expected", "actual"])
def test_not_a_result_exits_2_with_one_line(tmp_path, case, side):
    bad = tmp_path / "bad"
    if case == "empty":
        bad.mkdir()
    elif case == "file":
        bad.write_text("x")
    elif case in ("bad-json", "no-levels"):
        shutil.copytree(RS, bad)
        (bad / "fit_summary.json").write_text("{" if case == "bad-json" else '{"cell_id": "x"}')
    elif case == "bad-csv":
        shutil.copytree(RS, bad)
        (bad / "qc.csv").write_text("sweep,passed\nfirst,True\n")
    result = run(*((bad, RS) if side == "expected" else (RS, bad)))
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("glifx: error: ") and str(bad) in line
    if case == "bad-csv":
        assert "qc.csv" in line and "sweep_number" in line


def test_cells_present_on_one_side_only_are_differences(tmp_path):
    expected, actual = tmp_path / "expected", tmp_path / "actual"
    for name, src in (("rs_cell", RS), ("fs_cell", FS)):
        shutil.copytree(src, expected / name)
    shutil.copytree(RS, actual / "rs_cell")
    shutil.copytree(FS, actual / "fs_copy")
    (expected / "cohort.csv").write_text("cell_id\nrs_cell\nfs_cell\n")  # cohort files are not cells
    assert run(expected, expected).exit_code == 0

    scale_th_inf(actual / "rs_cell", 3, 1.05)
    table = compare_results(expected, actual)
    assert set(table["cell"]) == {"rs_cell", "fs_cell", "fs_copy"}
    moved = table[~table.within_tolerance]
    assert sorted(zip(moved.cell, moved["where"], moved.quantity, strict=True)) == [
        ("fs_cell", "cell", "cell"), ("fs_copy", "cell", "cell"),
        ("rs_cell", "GLIF3", "config.th_inf"), ("rs_cell", "GLIF3", "th_inf")]
    sides = moved[moved.quantity == "cell"].set_index("cell")
    assert list(sides.loc["fs_cell", ["expected", "actual"]]) == ["present", "absent"]
    assert list(sides.loc["fs_copy", ["expected", "actual"]]) == ["absent", "present"]
    result = run(expected, actual)
    assert result.exit_code == 1 and "in 3 cells" in result.stdout.splitlines()[-1]
    # one cell folder against a cohort: paired by cell id, the cohort's other cells are differences
    table = compare_results(RS, expected)
    assert beyond(table) == [("cell", "cell")] and set(table.cell) == {"rs_cell", "fs_cell"}


# ------------------------------------------------------------------------------------ tolerances
def test_documented_default_tolerances():
    assert DEFAULT_TOLERANCES == DOCUMENTED
    assert str(DOCUMENTED["parameter"]) == "rel 0.1 %" and str(DOCUMENTED["ev"]) == "abs 0.001"
    assert str(Tolerance()) == "exact" and str(Tolerance(rel=0.02, abs=1e-3)) == "rel 2 % or abs 0.001"


def _get(rows: list[dict[str, str]], sweep: int, column: str) -> str:
    return next(r[column] for r in rows if int(r["sweep_number"]) == sweep)


def _scale_feature(folder: Path, delta: float) -> None:
    def change(rows):
        return set_cell(rows, 12, "avg_rate", repr(float(_get(rows, 12, "avg_rate")) * (1 + delta)))

    edit_csv(folder / "sweep_features.csv", change)


def _scale_cell_feature(folder: Path, delta: float) -> None:
    edit_json(folder / "cell_features.json",
              lambda d: d["long_square"].update(tau=d["long_square"]["tau"] * (1 + delta)))


def _scale_parameter(folder: Path, delta: float) -> None:
    edit_json(folder / "fit_summary.json", lambda s: s["levels"]["GLIF1"]["parameters"]["R_input"]
              .update(value=s["levels"]["GLIF1"]["parameters"]["R_input"]["value"] * (1 + delta)))


def _shift_ev(folder: Path, delta: float) -> None:
    edit_json(folder / "fit_summary.json",
              lambda s: s["levels"]["GLIF1"].update(test_ev=s["levels"]["GLIF1"]["test_ev"] + delta))


NUMERIC_CASES = {  # class -> (edit(folder, change), where, quantity, the class's documented bound)
    "feature (sweep)": (_scale_feature, "sweep 12", "features.avg_rate", 1e-3),
    "feature (cell)": (_scale_cell_feature, "cell", "features.long_square.tau", 1e-3),
    "parameter": (_scale_parameter, "GLIF1", "R_input", 1e-3),
    "ev": (_shift_ev, "GLIF1", "test_ev", 1e-3),
}


@pytest.mark.parametrize("case", NUMERIC_CASES)
@pytest.mark.parametrize("side", [0.99, 1.01, -0.99, -1.01])
def test_numeric_classes_just_inside_and_outside(actual, case, side):
    edit, where, quantity, bound = NUMERIC_CASES[case]
    edit(actual, side * bound)
    table = compare_results(RS, actual)
    (row,) = table[(table["where"] == where) & (table.quantity == quantity)].itertuples()
    assert not row.equal
    assert row.within_tolerance == (abs(side) < 1)
    assert (table.equal | ((table["where"] == where) & (table.quantity == quantity))).all()


EXACT_CASES = {  # class -> (edit, where, quantity): the smallest change there is
    "verdict": (lambda f: edit_csv(f / "qc.csv", lambda r: set_cell(r, 12, "status", "failed")),
                "sweep 12", "qc.status"),
    "count": (lambda f: edit_csv(f / "spikes.csv", lambda rows: [
        r for k, r in enumerate(rows) if k != next(j for j, x in enumerate(rows)
                                                   if x["sweep_number"] == "12")]),
              "sweep 12", "spike_count"),
    "text": (lambda f: edit_csv(f / "sweep_features.csv",
                                lambda r: set_cell(r, 12, "stimulus_name", "Long Square ")),
             "sweep 12", "features.stimulus_name"),
}


@pytest.mark.parametrize("case", EXACT_CASES)
def test_exact_classes_flag_the_smallest_change(actual, case):
    edit, where, quantity = EXACT_CASES[case]
    assert compare_results(RS, actual)["within_tolerance"].all()  # just inside: unchanged
    edit(actual)
    table = compare_results(RS, actual)
    assert beyond(table) == [(where, quantity)]
    assert table.loc[~table.within_tolerance, "kind"].item() == case


@pytest.mark.parametrize("fmt", ["json", "yaml"])
@pytest.mark.parametrize(("tolerances", "exit_code", "still_beyond"), [
    ({"GLIF3.th_inf": {"rel": 0.06}}, 1, ["config.th_inf"]),
    ({"*th_inf": {"rel": 0.06}}, 0, []),
    ({"rs_cell/GLIF3.*th_inf": {"rel": 0.06}}, 0, []),
    ({"parameter": {"rel": 0.06}}, 0, []),
    ({"parameter": {"abs": 0.01}}, 0, []),  # θ∞ moved by ~1-2 mV = 0.001-0.002 V
    ({"GLIF3.*": "ignore"}, 0, []),
    ({"GLIF3.th_inf": "exact", "*th_inf": {"rel": 0.06}}, 1, ["th_inf"]),  # first match wins
    ({"GLIF1.th_inf": {"rel": 0.06}}, 1, ["th_inf", "config.th_inf"]),
])
def test_tolerance_file_overrides_by_pattern(actual, tmp_path, fmt, tolerances, exit_code,
                                             still_beyond):
    scale_th_inf(actual, 3, 1.05)
    path = tmp_path / f"tol.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(tolerances))
    else:
        import yaml

        path.write_text(yaml.safe_dump(tolerances, sort_keys=False))
    result = run(RS, actual, "--tolerances", path)
    assert result.exit_code == exit_code, result.output
    assert [ln.split()[2] for ln in result.stdout.splitlines()[:-1]] == still_beyond
    table = compare_results(RS, actual, path)
    ignored = "ignore" in tolerances.values()
    assert ignored == (not (table["where"] == "GLIF3").any())


@pytest.mark.parametrize(("text", "suffix"), [
    ('{"th_inf": 0.05}', "json"), ('{"th_inf": {"rel": -1}}', "json"),
    ('{"th_inf": {"relative": 0.1}}', "json"), ("[1, 2]", "json"), ("{", "json"),
    ("th_inf: {rel: [0.1}", "yaml"), ("th_inf: approximately", "yml"),
])
def test_bad_tolerance_files_exit_2(actual, tmp_path, text, suffix):
    path = tmp_path / f"tol.{suffix}"
    path.write_text(text)
    result = run(RS, actual, "--tolerances", path)
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("glifx: error: ") and str(path) in line
    with pytest.raises((ConfigError, FileFormatError)):
        compare_results(RS, actual, path)


def test_tolerances_as_mapping_and_objects(actual):
    scale_th_inf(actual, 3, 1.05)
    assert not compare_results(RS, actual)["within_tolerance"].all()
    loose = {"*th_inf": Tolerance(rel=0.06)}
    assert compare_results(RS, actual, loose)["within_tolerance"].all()
    assert compare_results(RS, actual, Tolerances.from_mapping(loose))["within_tolerance"].all()
    with pytest.raises(ConfigError, match="rel"):
        Tolerance(rel=-0.1)


# ------------------------------------------------------------------------------- what is compared
def test_time_stamps_wall_times_version_and_paths_are_not_compared(actual):
    def stamp(s):
        s.update(created="2099-01-01T00:00:00+00:00", wall_time_s=1e6, glifx_version="9.9",
                 source="/elsewhere/rs_cell.nwb")
        s["preprocessing"]["wall_time_s"] = {k: 1e6 for k in s["preprocessing"]["wall_time_s"]}
        for entry in s["levels"].values():
            entry["wall_time_s"] = 1e6

    edit_json(actual / "fit_summary.json", stamp)
    edit_json(actual / "cell_features.json", lambda d: d.update(source="/elsewhere/rs_cell.nwb"))
    (actual / "report.html").write_text("<html>another report</html>")
    table = compare_results(RS, actual)
    assert table["equal"].all()


def test_levels_fitted_on_one_side_only(actual):
    (actual / "GLIF5_neuron_config.json").unlink()
    edit_json(actual / "fit_summary.json", lambda s: s["levels"].pop("GLIF5"))

    def fail_glif4(s):
        s["levels"]["GLIF4"].update(status="failed", reason="no Triple sweep", parameters={})

    edit_json(actual / "fit_summary.json", fail_glif4)
    (actual / "GLIF4_neuron_config.json").unlink()
    table = compare_results(RS, actual)
    assert beyond(table) == [
        ("cell", "files.GLIF4_neuron_config.json"), ("cell", "files.GLIF5_neuron_config.json"),
        ("GLIF4", "status"), ("GLIF4", "reason"), ("GLIF5", "status")]
    statuses = table[table.quantity == "status"].set_index("where")
    assert statuses.loc["GLIF5", "actual"] == "absent" and statuses.loc["GLIF4", "actual"] == "failed"


def test_html_report_is_self_contained(actual, tmp_path):
    scale_th_inf(actual, 3, 1.05)
    out = tmp_path / "diff.html"
    result = run(RS, actual, "--html", out)
    assert result.exit_code == 1 and f"wrote {out}" in result.stdout
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "Beyond tolerance (2)" in page and "config.th_inf" in page and "GLIF3" in page
    assert "src=" not in page and "http" not in page and "<link" not in page


def test_assert_results_match(actual):
    table = assert_results_match(RS, actual)
    assert table["within_tolerance"].all()
    scale_th_inf(actual, 3, 1.05)
    with pytest.raises(AssertionError) as info:
        assert_results_match(RS, actual)
    lines = str(info.value).splitlines()
    assert "2 beyond tolerance" in lines[0]
    assert [ln.split()[:3] for ln in lines[1:]] == [["rs_cell", "GLIF3", "th_inf"],
                                                   ["rs_cell", "GLIF3", "config.th_inf"]]


def test_models_compared_in_memory():
    """CellOutputs.from_models (the parameters of a result, from models) reads the same values
    as the folder glifx fit wrote from the same models."""
    from glifx.glif import GlifModel

    folder = CellOutputs.load(RS)
    models = {lv: GlifModel.from_allen_config(cfg) for lv, cfg in folder.configs.items()}
    table = compare_results(CellOutputs.from_models(models, "rs_cell"), RS,
                            {"files.*": "ignore", "cell.*": "ignore", "GLIF*.reason": "ignore"})
    params = table[table.kind == "parameter"]
    assert len(params) > 100 and params["within_tolerance"].all()
    # only what a model does not carry is missing: QC, features, EV, optimiser
    assert set(table.loc[~table.within_tolerance, "kind"]) <= {"ev", "text"}


# ------------------------------------------------------------------------------------ run to run
@pytest.mark.slow
def test_two_fits_of_a_sample_cell_compare_equal(tmp_path):
    """The fit is deterministic: two runs of glifx fit compare equal with the default tolerances
    (and every quantity is identical), although their time stamps and wall times differ."""
    runs = []
    for name in ("first", "second"):
        result = CliRunner().invoke(main, ["fit", str(SAMPLES / "rs_cell.nwb"), "--out",
                                           str(tmp_path / name), "--levels", "1,3"])
        assert result.exit_code == 0, result.output
        runs.append(tmp_path / name / "rs_cell")
    walls = [json.loads((r / "fit_summary.json").read_text())["wall_time_s"] for r in runs]
    assert walls[0] != walls[1]
    result = run(*runs)
    assert result.exit_code == 0, result.output
    assert "all within tolerance (0 changed within tolerance)" in result.stdout
    assert compare_results(*runs)["equal"].all()


def test_readme_states_the_defaults_and_a_valid_tolerances_file():
    """The README's tolerance table gives the defaults of the code, and its example file loads."""
    import re

    import yaml

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Regression tests against reference cells"):]
    section = section[:section.index("\n## ", 10)]
    words = {"exact": Tolerance(), "relative 0.1 %": Tolerance(rel=1e-3),
             "absolute 0.001": Tolerance(abs=1e-3)}
    table = dict(re.findall(r"^\| (\w+) \|.*\| ([^|]+) \|$", section, flags=re.M))
    table.pop("class")
    assert {k: words[v.strip()] for k, v in table.items()} == DEFAULT_TOLERANCES
    example = re.search(r"```yaml\n(.*?)```", section, flags=re.S).group(1)
    tolerances = Tolerances.from_mapping(yaml.safe_load(example))
    assert tolerances.resolve("c", "GLIF3", "th_inf", "parameter") == Tolerance(rel=0.02)
    assert tolerances.classes["feature"] == Tolerance(rel=0.01)
