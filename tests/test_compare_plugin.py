"""Reference folders (glifx.testing.reference) and the pytest plugin (``--glifx-reference``).

The plugin test installs glifx into a new virtual environment and runs pytest there in a
subprocess, so that the plugin is found through its ``pytest11`` entry point and nothing of this
project's test set-up (conftest.py, PYTHONPATH) is involved.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from glifx.errors import ConfigError, FileFormatError
from glifx.testing import ReferenceCell, reference_cells
from glifx.testing.compare import Tolerance

ROOT = Path(__file__).resolve().parent.parent
FROZEN = ROOT / "tests" / "reference_cells"
RS_NWB = ROOT / "data_samples" / "rs_cell.nwb"


def glif1_reference(folder: Path, name: str = "rs_cell", th_inf_factor: float = 1.0) -> Path:
    """The frozen RS result cut down to GLIF1 (a fast refit), as ``folder/name``; θ∞ scaled."""
    out = Path(shutil.copytree(FROZEN / "rs_cell", folder / name))
    for level in (2, 3, 4, 5):
        (out / f"GLIF{level}_neuron_config.json").unlink()
    summary = json.loads((out / "fit_summary.json").read_text())
    summary["levels"] = {"GLIF1": summary["levels"]["GLIF1"]}
    summary["levels"]["GLIF1"]["parameters"]["th_inf"]["value"] *= th_inf_factor
    (out / "fit_summary.json").write_text(json.dumps(summary, indent=2))
    config = json.loads((out / "GLIF1_neuron_config.json").read_text())
    config["th_inf"] *= th_inf_factor
    (out / "GLIF1_neuron_config.json").write_text(json.dumps(config, indent=2))
    return out


def test_project_reference_folder():
    """tests/reference_cells: both sample cells, recordings in data_samples/ (manifest), all five
    levels with the default method, as glifx fit wrote them."""
    cells = {c.name: c for c in reference_cells(FROZEN)}
    assert set(cells) == {"rs_cell", "fs_cell"}
    for name, cell in cells.items():
        assert isinstance(cell, ReferenceCell)
        assert cell.recording.resolve() == (ROOT / "data_samples" / f"{name}.nwb").resolve()
        assert cell.levels == (1, 2, 3, 4, 5) and cell.method == "select"
        assert cell.criteria is None and cell.tolerances is None
        assert cell.compare(cell.expected)["equal"].all()


def test_reference_folder_layout(tmp_path):
    glif1_reference(tmp_path)
    (tmp_path / "rs_cell.nwb").write_bytes(b"")  # found by name; not read here
    (tmp_path / "notes.txt").write_text("not a cell")
    (cell,) = reference_cells(tmp_path)
    assert (cell.name, cell.recording, cell.expected) == ("rs_cell", tmp_path / "rs_cell.nwb",
                                                          tmp_path / "rs_cell")
    assert cell.levels == (1,) and cell.method == "select"

    # a manifest: recordings kept elsewhere, tolerances inline or in a file, QC criteria
    (tmp_path / "rs_cell.nwb").unlink()
    (tmp_path / "glifx-reference.yaml").write_text(
        f"recordings:\n  rs_cell: {RS_NWB}\ncriteria: lab_qc.json\n"
        "tolerances:\n  '*th_inf': {rel: 0.06}\n")
    (cell,) = reference_cells(tmp_path)
    assert cell.recording == RS_NWB and cell.criteria == tmp_path / "lab_qc.json"
    assert cell.tolerances.resolve("rs_cell", "GLIF1", "th_inf", "parameter") == Tolerance(rel=0.06)
    moved = glif1_reference(tmp_path / "moved", th_inf_factor=1.05)
    assert cell.compare(moved)["within_tolerance"].all()  # the folder's tolerances apply
    assert not cell.compare(moved, tolerances={})["within_tolerance"].all()
    with pytest.raises(AssertionError, match="th_inf"):
        cell.assert_matches(moved, tolerances={})

    (tmp_path / "glifx-reference.yaml").write_text("tolerances: tol.json\n")
    (tmp_path / "tol.json").write_text('{"ev": {"abs": 0.01}}')
    (cell,) = reference_cells(tmp_path)
    assert cell.recording is None and cell.tolerances.classes["ev"] == Tolerance(abs=0.01)
    with pytest.raises(ConfigError, match="no recording"):
        cell.fit(tmp_path / "out")


@pytest.mark.parametrize(("manifest", "error"), [
    ("flavour: mild\n", ConfigError), ("- 1\n", ConfigError), ("recordings: [a]\n", ConfigError),
    ("tolerances: {x: 1}\n", ConfigError), ("tolerances: missing.yaml\n", FileFormatError),
    ("recordings: {a: [\n", FileFormatError),
])
def test_bad_manifests(tmp_path, manifest, error):
    glif1_reference(tmp_path)
    (tmp_path / "glifx-reference.yaml").write_text(manifest)
    with pytest.raises(error):
        reference_cells(tmp_path)


def test_not_a_reference_folder(tmp_path):
    with pytest.raises(FileFormatError, match="not a glifx result"):
        reference_cells(tmp_path)
    cell = glif1_reference(tmp_path)
    with pytest.raises(FileFormatError, match="one cell's result folder"):
        reference_cells(cell)


def _venv_with_glifx(venv: Path) -> Path:
    """A new virtual environment with this glifx installed (editable, no dependencies): the
    packages of the running interpreter are made visible by a .pth file, so nothing is downloaded
    and the running environment is not touched.  Returns the environment's python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                                 "['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    outer = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
    Path(purelib, "_outer_packages.pth").write_text("\n".join(dict.fromkeys(outer)) + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-input", "--disable-pip-version-check",
                    "-e", str(ROOT)], check=True, env=_clean_env(), cwd=venv)
    return python


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "VIRTUAL_ENV")}


@pytest.mark.slow
def test_plugin_from_a_fresh_virtual_environment(tmp_path):
    """pytest --glifx-reference DIR in an environment where only glifx was installed: one test
    per reference cell (the intact one passes, the one whose expected θ∞ was moved 5 % fails
    naming GLIF1 and th_inf) and the fixtures for users' own tests."""
    pytest.importorskip("wheel", reason="building glifx without isolation needs wheel (dev extra)")
    python = _venv_with_glifx(tmp_path / "venv")
    refs = tmp_path / "refs"
    glif1_reference(refs)
    glif1_reference(refs, "rs_moved", th_inf_factor=1.05)
    shutil.copy(RS_NWB, refs / "rs_cell.nwb")
    (refs / "glifx-reference.json").write_text('{"recordings": {"rs_moved": "rs_cell.nwb"}}')
    (refs / "test_own_pipeline.py").write_text(
        "import glifx\n\n"
        "def test_glifx_is_the_installed_one():\n"
        f"    assert glifx.__file__.startswith({str(ROOT)!r})\n\n"
        "def test_reference_list(glifx_reference):\n"
        "    assert sorted(c.name for c in glifx_reference) == ['rs_cell', 'rs_moved']\n\n"
        "def test_each_cell(glifx_reference_cell):\n"
        "    assert glifx_reference_cell.levels == (1,)\n"
        "    glifx_reference_cell.assert_matches(glifx_reference_cell.expected)\n")
    result = subprocess.run(
        [str(python), "-m", "pytest", "--glifx-reference", str(refs), "-p", "no:cacheprovider",
         "--basetemp", str(tmp_path / "basetemp"), "-rA", "test_own_pipeline.py"],
        cwd=refs, env=_clean_env(), capture_output=True, text=True, timeout=900)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "glifx-0.1.0" in next(ln for ln in out.splitlines() if ln.startswith("plugins:"))
    assert "1 failed, 5 passed" in out.splitlines()[-1]
    assert f"PASSED {refs}::rs_cell" in out and f"FAILED {refs}::rs_moved" in out
    # the failure lists the moved quantities (the cell is named by its cell id, rs_cell)
    moved = [ln.split() for ln in out.splitlines() if ln.startswith("rs_cell  GLIF1  ")]
    # (a report section may repeat the failure message: compare the set of quantities named)
    assert sorted({words[2] for words in moved}) == ["config.th_inf", "th_inf"]
    assert all("(-4.76" in words for words in moved)  # the refit against 1.05 x its θ∞
    assert "HTML diff: " in out


def test_a_folder_that_is_not_a_reference_folder_is_a_usage_error(tmp_path):
    env = {**_clean_env(), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "glifx.testing.pytest_plugin", "-p",
         "no:cacheprovider", "--glifx-reference", str(tmp_path / "none")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.strip() == f"ERROR: --glifx-reference {tmp_path / 'none'}: " \
                                    f"{tmp_path / 'none'}: no such folder"
