"""The import contracts of pyproject.toml (import-linter: layers, forbidden helpers, no cycles):
kept by the package, broken by a deliberate violation, so that CI's ``lint-imports`` can fail
for real."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports")
pytestmark = pytest.mark.skipif(LINT is None, reason="import-linter (the dev extra) not installed")


def _lint(project: Path) -> subprocess.CompletedProcess:
    # the copy's package must be the one imported: put its folder first on the path
    return subprocess.run([LINT, "--config", str(project / "pyproject.toml"), "--no-cache"],
                          cwd=project, capture_output=True, text=True,
                          env={"PYTHONPATH": str(project), "PATH": str(Path(sys.executable).parent)})


def _copy(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "glifx", project / "glifx",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    shutil.copy(ROOT / "pyproject.toml", project)
    return project


def test_the_package_keeps_its_layers(tmp_path):
    res = _lint(_copy(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "4 kept, 0 broken" in res.stdout


@pytest.mark.parametrize(("module", "line", "what"), [
    ("glifx/fitting/optimize.py", "from glifx.report import write_report", "glifx.report"),
    ("glifx/io/nwb1.py", "import glifx.fitting.data", "glifx.fitting"),
    ("glifx/qc/core.py", "from glifx.features import extract_features", "glifx.features"),
    ("glifx/fitting/pipeline.py", "from glifx.synth import GlifNeuron", "glifx.synth"),
    ("glifx/report/plots.py", "from glifx.fitting.data import prepare", "glifx.fitting.data"),
])
def test_a_deliberate_violation_breaks_the_contract(tmp_path, module, line, what):
    project = _copy(tmp_path)
    with open(project / module, "a") as f:
        f.write(f"\n{line}  # deliberate violation\n")
    res = _lint(project)
    assert res.returncode != 0
    assert "BROKEN" in res.stdout and f"-> {what}" in res.stdout


@pytest.mark.parametrize(("module", "line", "source", "what"), [
    ("glifx/batch/runner.py", "import glifx.testing", "glifx.batch", "glifx.testing"),
    ("glifx/export/nest.py", "import glifx.synth", "glifx.export", "glifx.synth"),
])
def test_batch_and_export_are_stages_too(tmp_path, module, line, source, what):
    # cli imports both, so such a violation breaks the contract anyway (through cli): this asks
    # that the contract names batch and export themselves, so that it still holds without cli
    project = _copy(tmp_path)
    with open(project / module, "a") as f:
        f.write(f"\n{line}  # deliberate violation\n")
    res = _lint(project)
    assert res.returncode != 0
    assert f"{source} is not allowed to import {what}" in res.stdout


def test_an_import_cycle_breaks_the_contract(tmp_path):
    # from_fit <-> outputs was the package's last cycle (the membrane cross-check, now in
    # report/checks.py); a module-level import back from from_fit brings it back
    project = _copy(tmp_path)
    with open(project / "glifx/report/from_fit.py", "a") as f:
        f.write("\nimport glifx.report.outputs  # deliberate cycle\n")
    res = _lint(project)
    assert res.returncode != 0
    assert "No cycles are allowed in glifx.report" in res.stdout
