"""pytest plugin: regression tests against reference cells (registered as a ``pytest11`` entry
point, so it is active wherever glifx is installed; it does nothing unless asked).

``pytest --glifx-reference DIR`` adds one test per reference cell of DIR (a recording beside its
expected result folder; layout in :mod:`glifx.testing.reference`): the test fits the
recording as ``glifx fit`` does, with the expected result's levels and method, and compares the
result with the expected folder (:func:`glifx.testing.compare.assert_results_match`).  On a
failure the message lists every quantity beyond tolerance, and the actual result folder and an
HTML diff (``compare.html``) are kept in pytest's temporary directory.

Options: ``--glifx-reference DIR``; ``--glifx-tolerances FILE`` (JSON or YAML; overrides the
tolerances of DIR's ``glifx-reference`` manifest).

Fixtures, for tests of one's own pipeline against the same reference cells:

- ``glifx_reference``: the list of :class:`glifx.testing.reference.ReferenceCell` of DIR (the test
  is skipped when no ``--glifx-reference`` is given);
- ``glifx_reference_cell``: one reference cell; a test asking for it runs once per cell::

      def test_my_pipeline(glifx_reference_cell, tmp_path):
          out = my_pipeline(glifx_reference_cell.recording, tmp_path)  # writes glifx results
          glifx_reference_cell.assert_matches(out)

Only the standard library and pytest are imported here: glifx's pipeline is imported when a
reference test runs.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from glifx.testing.reference import ReferenceCell

_CELLS = pytest.StashKey["list[ReferenceCell]"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("glifx", "glifx regression tests against reference cells")
    group.addoption("--glifx-reference", metavar="DIR", default=None,
                    help="Refit every reference cell of DIR (a recording beside its expected "
                         "glifx fit result folder) and compare with the expected result.")
    group.addoption("--glifx-tolerances", metavar="FILE", default=None,
                    help="Tolerances (JSON or YAML) for the reference comparisons; default: those "
                         "of DIR's glifx-reference manifest, else glifx's defaults.")


def _reference_cells(config: pytest.Config) -> list[ReferenceCell]:
    """The reference cells of ``--glifx-reference`` (empty without it), read once per session."""
    if _CELLS in config.stash:
        return config.stash[_CELLS]
    directory = config.getoption("glifx_reference")
    cells: list[ReferenceCell] = []
    if directory:
        from glifx.errors import GlifxError
        from glifx.testing.compare import Tolerances
        from glifx.testing.reference import reference_cells

        path = Path(directory)
        if not path.is_absolute():
            path = Path(config.invocation_params.dir) / path
        try:
            cells = reference_cells(path)
        except GlifxError as exc:
            raise pytest.UsageError(f"--glifx-reference {directory}: {exc}") from None
        tolerances_file = config.getoption("glifx_tolerances")
        if tolerances_file:
            try:
                tolerances = Tolerances.load(Path(config.invocation_params.dir) / tolerances_file)
            except GlifxError as exc:
                raise pytest.UsageError(f"--glifx-tolerances {tolerances_file}: {exc}") from None
            cells = [dataclasses.replace(c, tolerances=tolerances) for c in cells]
    config.stash[_CELLS] = cells
    return cells


def pytest_configure(config: pytest.Config) -> None:
    _reference_cells(config)  # a folder that is not a reference folder is a usage error, at once


class ReferenceFolder(pytest.Collector):
    """The reference cells of ``--glifx-reference DIR``, one test each."""

    def collect(self) -> list[ReferenceCellItem]:
        return [ReferenceCellItem.from_parent(self, name=cell.name, cell=cell)
                for cell in _reference_cells(self.config)]


class ReferenceCellItem(pytest.Item):
    """Fit one reference cell's recording and compare the result with its expected folder."""

    def __init__(self, *, cell: ReferenceCell, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cell = cell

    def runtest(self) -> None:
        from glifx.testing.compare import (
            compare_results,
            failure_message,
            summary_line,
            write_html_report,
        )

        out = _temporary_dir(self.config, self.name)
        actual = self.cell.fit(out)
        table = compare_results(self.cell.expected, actual, self.cell.tolerances)
        if not bool(table["within_tolerance"].all()):
            html = write_html_report(out / "compare.html", table, str(self.cell.expected),
                                     str(actual))
            raise ReferenceMismatch(f"{failure_message(table)}\nactual result: {actual}\n"
                                    f"HTML diff: {html}")
        self.user_properties.append(("glifx_compare", summary_line(table)))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from glifx.errors import GlifxError

        if isinstance(excinfo.value, ReferenceMismatch | GlifxError):
            return f"reference cell {self.name}: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"glifx reference cell {self.name}"


class ReferenceMismatch(AssertionError):
    """A reference cell's new result moved beyond tolerance (the message lists what moved)."""


def _temporary_dir(config: pytest.Config, name: str) -> Path:
    factory = getattr(config, "_tmp_path_factory", None)  # pytest's tmp_path_factory, if active
    if factory is not None:
        return Path(factory.mktemp(f"glifx-{name}"))
    return Path(tempfile.mkdtemp(prefix=f"glifx-{name}-"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    # added before other plugins (-k, --deselect, markers) see the items
    directory = config.getoption("glifx_reference")
    if not directory:
        return
    folder = ReferenceFolder.from_parent(session, name=str(directory), nodeid=str(directory),
                                         path=Path(config.invocation_params.dir) / directory)
    items.extend(session.genitems(folder))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "glifx_reference_cell" in metafunc.fixturenames:
        cells = _reference_cells(metafunc.config)
        metafunc.parametrize("glifx_reference_cell", cells, ids=[c.name for c in cells])


@pytest.fixture(scope="session")
def glifx_reference(pytestconfig: pytest.Config) -> list[ReferenceCell]:
    """The reference cells of ``--glifx-reference DIR``; skips the test without the option."""
    cells = _reference_cells(pytestconfig)
    if not pytestconfig.getoption("glifx_reference"):
        pytest.skip("no --glifx-reference DIR given")
    return cells


@pytest.fixture
def glifx_reference_cell(request: pytest.FixtureRequest) -> ReferenceCell:
    """One reference cell of ``--glifx-reference DIR`` (tests using it run once per cell)."""
    return request.param
