"""Atomic file writes, the one place glifx puts files on disk.

Every output is written to a temporary file in the target's folder (same file system) and renamed
onto the target only when complete, so a reader sees the old file or the whole new one, never half
of one, and a failure leaves nothing behind.  The finished file gets the usual permissions
(``0o666`` less the process umask), not the private ``0o600`` of a temporary file.

A command's *set* of outputs is written the same way, as a whole (:func:`staged_dir`,
:func:`updated_dir`): into a hidden staging folder beside the target, which replaces the target
folder in one rename when everything is written.  Temporary names carry the host and process id
(``.<name>.glifx-<host>-<pid>-<random>.tmp`` / ``.old``), so that :func:`clean_stale_outputs` can
remove what a killed run left (SIGKILL, power loss) without touching a live run's files.  An
``OSError`` while writing becomes :class:`~glifx.errors.OutputError` naming the target.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from glifx.errors import OutputError

#: marks glifx's temporary names; what follows identifies the process that made them
_TAG = "glifx"
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.glifx-(?P<host>[^-]*)-(?P<pid>\d+)-[^.]+\.(?:tmp|old)$")
#: a temporary from another host is taken as stale after this long (s): its process cannot be
#: checked from here
FOREIGN_STALE_AFTER_S = 24 * 3600.0


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40]


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.{_TAG}-{_host()}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale_outputs(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files and folders that killed glifx runs left in ``folder``.

    Only glifx's own temporary names are considered (``.<name>.glifx-<host>-<pid>-*.tmp`` and
    ``.old``), and only those of a process that no longer runs on this host (or, made on another
    host, older than :data:`FOREIGN_STALE_AFTER_S`): a run writing into the same folder at the
    same time keeps its files.  Call it at the start of a run, before writing into ``folder``.

    Returns
    -------
    list of pathlib.Path
        What was removed (empty when ``folder`` does not exist).
    """
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return removed
    host, now = _host(), time.time()
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None:
            continue
        if match["host"] == host:
            stale = not _alive(int(match["pid"]))
        else:
            try:
                stale = now - entry.lstat().st_mtime > FOREIGN_STALE_AFTER_S
            except FileNotFoundError:
                continue
        if not stale:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def check_writable_dir(folder: str | os.PathLike[str]) -> None:
    """Raise :class:`~glifx.errors.OutputError` unless ``folder`` is, or can be made, a writable
    folder.  Creates nothing that stays: it probes the nearest existing ancestor with a
    temporary file, so that a run learns about an unusable ``--out`` before doing any work."""
    target = Path(folder)
    probe = target
    while not probe.exists():
        if probe.is_symlink() or probe.parent == probe:
            raise OutputError(target, "no existing parent folder")
        probe = probe.parent
    if not probe.is_dir():
        what = "is a file, not a folder" if probe == target else f"{probe} is not a folder"
        raise OutputError(target, what)
    try:
        tempfile.TemporaryFile(dir=probe, prefix=_temp_prefix(target), suffix=".tmp").close()
    except OSError as exc:
        raise OutputError(target, exc.strerror or str(exc)) from None


@contextmanager
def _naming_failures(target: Path) -> Iterator[None]:
    """Turn an ``OSError`` (disk full, permission, read-only file system) into an
    :class:`~glifx.errors.OutputError` naming ``target``."""
    try:
        yield
    except OutputError as exc:  # from a file inside a staging folder: name the real target
        raise OutputError(target, exc.reason) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputError(target, f"{reason}; nothing written") from None


def _default_mode() -> int:
    return 0o666 & ~_umask()


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    For libraries that want a file name (HDF5, NWB).  On an exception the temporary file is
    removed and the exception propagates (an ``OSError`` as :class:`~glifx.errors.OutputError`
    naming ``path``); ``path`` is untouched.
    """
    target = Path(path)
    with _naming_failures(target):
        fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp",
                                        dir=target.parent)
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        with _naming_failures(target):
            yield tmp
            os.chmod(tmp, _default_mode())
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def staged_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty hidden folder beside ``target``; when the block succeeds it replaces
    ``target`` (a folder, or nothing yet) in one rename.

    On any exception (``KeyboardInterrupt`` from Ctrl-C or SIGTERM included) the staging folder
    is removed and ``target`` is untouched.  An existing ``target`` is moved aside just before
    the rename and deleted after it (put back if the rename fails).

    Raises
    ------
    OutputError
        When the folder cannot be written (names ``target``; nothing is left behind).
    """
    target = Path(target)
    with _naming_failures(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent))
    try:
        with _naming_failures(target):
            yield tmp
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it 0700: give it a folder's mode
            _replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def updated_dir(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Like :func:`staged_dir`, for a folder that may hold other files: the staging folder starts
    with (hard links to) the files already in ``folder``, the block writes or overwrites its own
    files, and the result replaces ``folder`` in one rename, so the new set appears whole or not
    at all and the other files stay.

    A ``folder`` that holds sub-folders (they cannot be linked) or is the working directory (or
    holds it) is not swapped: its files are then staged in a hidden folder inside it and renamed
    into place one by one once all are written (a failure while writing still leaves nothing;
    only a kill between those renames, a few microseconds, could leave a mix of old and new
    files).  A symbolic link to a folder is followed: the folder it points to is updated.
    """
    folder = Path(folder).absolute()
    if folder.is_symlink():  # swap the folder it points to, not the link
        folder = folder.resolve()
    entries = list(folder.iterdir()) if folder.is_dir() else []
    cwd = Path.cwd()
    if (folder == cwd or folder in cwd.parents  # a shell inside it would lose its folder
            or any(e.is_dir() and not _TEMP_NAME.match(e.name) for e in entries)):
        with _naming_failures(folder):
            tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(folder), suffix=".tmp", dir=folder))
        try:
            with _naming_failures(folder):
                yield tmp
                for item in tmp.iterdir():
                    os.replace(item, folder / item.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    with staged_dir(folder) as tmp:
        for entry in entries:
            if entry.is_file() and not _TEMP_NAME.match(entry.name):
                try:
                    os.link(entry, tmp / entry.name)
                except OSError:  # a file system without hard links
                    shutil.copy2(entry, tmp / entry.name)
        yield tmp


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replace_dir(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; an existing ``target`` is moved aside first and removed
    after (put back if the rename fails)."""
    old = None
    if target.exists() or target.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".old", dir=target.parent))
        old.rmdir()
        os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


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


def write_files_atomic(
        writers: Mapping[str | os.PathLike[str], Callable[[IO[bytes]], object]]) -> list[Path]:
    """Write files that belong together (spikes and their trace, one table in two formats) so
    that they are replaced together or not at all.

    Each writer fills its file through a binary handle.  Every file is written and synced to a
    temporary beside its target before the first rename, so a failure in any writer or sync (a
    full disk, a serialiser's error) leaves every target as it was and no temporary behind.
    Nesting :func:`atomic_open` instead would rename the inner file before the outer one is
    synced, and a full disk reported by that sync would leave a new file beside an old one.  Only
    a failing rename after another succeeded (no data written then) could still leave a mix.

    Parameters
    ----------
    writers : mapping
        Target path -> function writing that file's bytes to the handle it is given.

    Returns
    -------
    list of pathlib.Path
        The targets, in the order given.

    Raises
    ------
    OutputError
        From an ``OSError`` while writing or syncing a file; names that file's target.
    """
    targets = [Path(p) for p in writers]
    temps: list[Path] = []
    try:
        for target in targets:
            with _naming_failures(target):
                fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp",
                                                dir=target.parent)
                os.close(fd)
            temps.append(Path(tmp_name))
        for (target, write), tmp in zip(writers.items(), temps, strict=True):
            with _naming_failures(Path(target)):
                with open(tmp, "wb") as fh:
                    write(fh)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, _default_mode())
        for target, tmp in zip(targets, temps, strict=True):
            with _naming_failures(target):
                os.replace(tmp, target)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
    return targets


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
