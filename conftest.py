"""Shared test fixtures.

Reference data live in ``../shared/data`` beside the project (or where ``GLIFX_SHARED_DATA``
points).  They are read only through :func:`shared_data`, which skips a test with a clear reason
when they are absent, so a fresh clone passes its tests without them.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent


def shared_data_dir() -> Path | None:
    """The reference-data folder, or ``None`` when it is not available."""
    env = os.environ.get("GLIFX_SHARED_DATA")
    path = Path(env) if env else PROJECT_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; skips the test when it is absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("reference data ../shared/data not found (set GLIFX_SHARED_DATA to use them)")
    return path


@pytest.fixture(scope="module")
def make_samples() -> ModuleType:
    """``data_samples/make_samples.py`` (the script that made the sample cells), loaded afresh
    for each test module: its neurons, recording model and rate."""
    spec = importlib.util.spec_from_file_location(
        "make_samples", PROJECT_ROOT / "data_samples" / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that reads the reference data (through the :func:`shared_data` fixture) carries
    the ``shared_data`` marker, so ``-m "not shared_data"`` selects exactly the self-contained
    tests, whether or not the test file remembered the marker."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared_data)
