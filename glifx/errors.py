"""Exception types raised by glifx.

Every error glifx raises on purpose derives from :class:`GlifxError`, so a pipeline can catch
one type, and the CLI turns it into a single line on stderr with exit code 2.  Messages name the
file, the sweep and the reason wherever those are known.  One kind of mistake, one class:

- :class:`FileFormatError`: a file cannot be read or used (names the file);
- :class:`SweepError`: one sweep is unusable (names the sweep, and the file when known);
- :class:`ConfigError`: an argument, option, criteria file or model configuration is invalid
  (names the field and what was expected);
- :class:`EstimationError`: the data do not allow an estimate or a fit.

Anything else escaping glifx is a bug and keeps its traceback.
"""

from __future__ import annotations

from os import PathLike


class GlifxError(Exception):
    """Base class of every error glifx raises deliberately."""


class FileFormatError(GlifxError):
    """A file cannot be read: missing, empty, truncated, not a supported format or not usable.

    Parameters
    ----------
    path
        The file concerned.
    reason
        What is wrong, in words a user can act on.
    """

    def __init__(self, path: str | PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class SweepError(GlifxError):
    """One sweep is unusable (bad time base, NaN in the data where none may be, wrong shape).

    Parameters
    ----------
    sweep_number
        The sweep concerned, or ``None`` when it has no number yet.
    reason
        What is wrong.
    source
        The file the sweep came from, when known.
    """

    def __init__(self, sweep_number: int | None, reason: str, source: str | None = None) -> None:
        self.sweep_number = sweep_number
        self.reason = reason
        self.source = source
        where = f"sweep {sweep_number}" if sweep_number is not None else "sweep"
        prefix = f"{source}: {where}" if source else where
        super().__init__(f"{prefix}: {reason}")


class ConfigError(GlifxError, ValueError):
    """Invalid parameters, criteria or model configuration (names the offending field)."""


class EstimationError(GlifxError):
    """The data do not allow an estimate or a fit (too few spikes, no sweep of a protocol, a
    regression that gives no passive membrane ...); the message says which and why."""
