"""Recognise a recording's format from its content (never from its file name).

Rules, in order:

* ``ABF2`` at offset 0 → ABF 2.x; ``ABF `` (with a space) at offset 0 → ABF 1.x.
* The HDF5 signature ``\\x89HDF\\r\\n\\x1a\\n`` at offset 0 (the only place this package writes it) →
  HDF5, then the root attribute ``nwb_version``: ``2.x`` → NWB2, ``1.x`` (or the NWB1 layout: a
  root ``nwb_version`` *dataset*, or ``acquisition/timeseries`` plus ``epochs``) → NWB1.
* Anything else that one of neo's intracellular-recording IOs (:data:`NEO_IOS`) claims by the
  file's extension → ``"neo"`` (:mod:`glifx.io.neo_reader`): native formats keep their native
  readers, and only formats glifx does not read itself are left to neo's extension-based choice.
* Anything else is a :class:`~glifx.errors.FileFormatError` that says what the file looked like.
"""

from __future__ import annotations

from pathlib import Path

from glifx.errors import FileFormatError

ABF1 = "abf1"
ABF2 = "abf2"
NWB1 = "nwb1"
NWB2 = "nwb2"
NEO = "neo"

#: neo IO classes glifx accepts (whole-cell recording formats; generic ones such as ASCII, raw
#: binary or pickle would claim any file).
NEO_IOS = ("IgorIO", "AxographIO", "WinWcpIO", "WinEdrIO", "StimfitIO", "Spike2IO", "CedIO",
           "ElphyIO", "NixIO")

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

#: Longest sweep a reader loads, in samples: a sweep holds two or three float64 arrays of this
#: length (v, i and perhaps t), so 2**27 samples is 1 GiB per array, 268 s at 500 kHz.  A file
#: that declares more (a corrupt shape, or an unallocated HDF5 dataset) gets that sweep marked
#: unusable instead of exhausting the memory.
MAX_SWEEP_SAMPLES = 2**27


def sweep_size_problem(n_samples: int) -> str | None:
    """Why a sweep of ``n_samples`` samples cannot be loaded, or ``None`` when it can."""
    if n_samples < 2:
        return f"{n_samples} samples (at least 2 needed)"
    if n_samples > MAX_SWEEP_SAMPLES:
        return (f"{n_samples} samples ({n_samples * 8 / 2**30:.3g} GiB per float64 array) exceed "
                f"the memory budget of {MAX_SWEEP_SAMPLES} samples per sweep")
    return None


def _decode(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "tolist"):  # numpy scalar or 1-element array
        value = value.tolist()
        if isinstance(value, list):
            value = value[0] if value else ""
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
    return str(value)


def check_readable(path: Path) -> None:
    """Raise :class:`FileFormatError` when ``path`` is missing, not a file or empty."""
    if not path.exists():
        raise FileFormatError(path, "no such file")
    if path.is_dir():
        raise FileFormatError(path, "is a directory, not a recording file")
    if not path.is_file():
        raise FileFormatError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise FileFormatError(path, "file is empty")


def sniff_format(path: str | Path) -> str:
    """The format of ``path``: ``"abf1"``, ``"abf2"``, ``"nwb1"`` or ``"nwb2"``.

    Parameters
    ----------
    path
        The recording.

    Raises
    ------
    FileFormatError
        Missing, empty, unreadable, truncated or not a supported format.
    """
    path = Path(path)
    check_readable(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise FileFormatError(path, f"cannot be read: {exc.strerror or exc}") from None
    if head[:4] == b"ABF2":
        return ABF2
    if head[:4] == b"ABF ":
        return ABF1
    if head == HDF5_SIGNATURE:
        if neo_io_name(path) == "NixIO":
            return NEO
        return _sniff_nwb_version(path)
    if neo_io_name(path) is not None:
        return NEO
    raise FileFormatError(
        path, "not a recognised recording (expected NWB 1/2 (HDF5) or Axon ABF content, or a "
        f"format neo reads: {', '.join(io[:-2] for io in NEO_IOS)})"
    )


def neo_io_name(path: Path) -> str | None:
    """The name of the neo IO of :data:`NEO_IOS` that claims ``path`` by its extension, or None."""
    suffix = path.suffix.lower().lstrip(".")
    if not suffix or suffix in ("nwb", "abf", "h5", "hdf5"):  # native (or NWB via HDF5) content
        return None if suffix != "h5" else _nix_name(path)
    try:
        import neo
    except ImportError:  # pragma: no cover - neo is a dependency
        return None
    for io in neo.io.iolist:
        if io.__name__ in NEO_IOS and suffix in [e.lower() for e in io.extensions]:
            return io.__name__
    return None


def _nix_name(path: Path) -> str | None:
    """NIX files are HDF5 with a ``.h5``/``.nix`` name: say so only for a NIX root attribute."""
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return "NixIO" if "nix_version" in f.attrs else None
    except (OSError, ValueError):
        return None


def _sniff_nwb_version(path: Path) -> str:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            version = f.attrs.get("nwb_version")
            if version is not None:
                text = _decode(version).strip()
                if text.startswith("2"):
                    return NWB2
                if text.startswith("1") or text.upper().startswith("NWB-1"):
                    return NWB1
                raise FileFormatError(path, f"unsupported NWB version {text!r}")
            if "nwb_version" in f and not isinstance(f["nwb_version"], h5py.Group):
                text = _decode(f["nwb_version"][()]).strip()
                if text.upper().startswith("NWB-1") or text.startswith("1"):
                    return NWB1
                if text.startswith("2"):
                    return NWB2
                raise FileFormatError(path, f"unsupported NWB version {text!r}")
            if "acquisition/timeseries" in f and "epochs" in f:
                return NWB1
    except FileFormatError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise FileFormatError(
            path, f"HDF5 file cannot be opened (truncated or corrupt?): {exc}"
        ) from None
    raise FileFormatError(path, "HDF5 file is not NWB (no 'nwb_version' attribute and no NWB1 layout)")
