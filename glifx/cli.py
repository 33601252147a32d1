"""The ``glifx`` command line: thin wrappers that parse arguments, call the library and print.

Every command exits 0 on success and 2 with one line ``glifx: error: ...`` on input it cannot use
(a :class:`glifx.GlifxError`); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from glifx.errors import GlifxError


def _fail(message: str) -> None:
    click.echo(f"glifx: error: {message}", err=True)
    sys.exit(2)


def handles_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a GlifxError (or a missing file) into one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GlifxError as exc:
            _fail(str(exc))
        except OSError as exc:  # e.g. an unwritable output directory
            _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="glifx")
def main() -> None:
    """glifx: QC, features and GLIF fitting of whole-cell current-clamp recordings.

    \b
    Example:
      glifx info data_samples/rs_cell.nwb
    """
