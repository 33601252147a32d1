"""Atomic file writes, the one place glifx puts files on disk.

Every output is written to a temporary file in the target's folder (same file system) and renamed
onto the target only when complete, so a reader sees the old file or the whole new one, never half
of one, and a failure leaves nothing behind.  The finished file gets the usual permissions
(``0o666`` less the process umask), not the private ``0o600`` of a temporary file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    For libraries that want a file name (HDF5, NWB).  On an exception the temporary file is
    removed and the exception propagates; ``path`` is untouched.
    """
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _default_mode())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing (``"w"`` text UTF-8, or ``"wb"``).

    The file is flushed, synced and renamed onto ``path`` when the block succeeds.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes only ('w' or 'wb'), got {mode!r}")
    with atomic_path(path) as tmp:
        kwargs: dict[str, Any] = {"encoding": "utf-8", "newline": ""} if mode == "w" else {}
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as fh:
        fh.write(text)


def jsonable(x: Any) -> Any:
    """Plain JSON values: NaN/inf become ``None``, numpy scalars and arrays Python ones, tuples
    lists, mapping keys strings."""
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple | np.ndarray):
        return [jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON (through :func:`jsonable`) to ``path`` atomically."""
    text = json.dumps(jsonable(obj), indent=2, allow_nan=False, default=str) + "\n"
    write_text_atomic(path, text)


#: Name of the sidecar file that documents the columns of the files beside it.
COLUMNS_NAME = "columns.json"


def write_columns(out_dir: str | os.PathLike[str],
                  files: dict[str, list[tuple[str, str, str]]]) -> Path:
    """Add ``files`` (file name -> ``(column, unit, meaning)`` rows) to ``out_dir/columns.json``
    (atomically; descriptions of other files already there are kept)."""
    path = Path(out_dir) / COLUMNS_NAME
    doc: dict[str, Any] = {}
    if path.exists():
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            doc = {}  # unreadable: rewritten whole below
    for name, rows in files.items():
        doc[name] = [{"name": c, "unit": u, "meaning": m} for c, u, m in rows]
    write_json_atomic(path, dict(sorted(doc.items())))
    return path
