"""Build the reliability corpus: bad, broken and awkward recordings made from the sample cells.

    python tests/reliability_corpus.py OUT_DIR [ABF_FILE]

writes every case into ``OUT_DIR`` and prints one line per case.  The tests
(``tests/test_reliability.py``) build it into a temporary folder through :func:`build_corpus`.

Three kinds of case:

* ``unusable`` -- no command can use the file: every command exits 2 with one line on stderr
  naming the file and a reason, writes nothing and stays under the memory cap.
* ``bad_sweep`` -- one sweep (:data:`BAD_SWEEP`) is broken, the others are fine: ``info``, ``qc``,
  ``features`` and ``fit`` exit 0 and report that sweep with its reason.
* ``garbage`` -- a readable file whose content is implausible (flat, volts stored as millivolts,
  a 1 kHz recording): QC or fitting refuses it with a reason.

Every case starts from a copy of a small cell cut from ``data_samples/rs_cell.nwb`` (a few Long
and Short Square sweeps, one Noise 1 and one Noise 2 sweep: enough to fit GLIF1 in seconds), or
from an ABF file (``../shared/data/real/pyabf``), altered with h5py or at the byte level.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

import glifx
from glifx.sweep import VOLTAGE_CLAMP

SAMPLES = Path(__file__).resolve().parent.parent / "data_samples"
#: sweeps of rs_cell kept in the small cell: Long Square, Short Square, Noise 1, Noise 2
MINI_SWEEPS = (4, 8, 12, 14, 15, 17, 19, 21, 28, 29)
#: the sweep that the bad-sweep cases break (a Long Square: the fit does not need it)
BAD_SWEEP = 8
UNUSABLE, BAD_SWEEP_KIND, GARBAGE = "unusable", "bad_sweep", "garbage"


@dataclass(frozen=True)
class Case:
    """One corpus file and what glifx must say about it.

    Attributes
    ----------
    name
        Case name (also the test id).
    path
        The file (it may be missing or a directory, on purpose).
    kind
        ``"unusable"``, ``"bad_sweep"`` or ``"garbage"``.
    reason
        A fragment the message (or the bad sweep's reason) must contain, case-insensitive.
    """

    name: str
    path: Path
    kind: str
    reason: str


def mini_cell(out: Path, name: str = "mini.nwb") -> Path:
    """The small cell as NWB 2 (glifx's writer: generic icephys with a recordings table)."""
    cell = glifx.load_cell(SAMPLES / "rs_cell.nwb")
    sweeps = [cell.sweep(n) for n in MINI_SWEEPS]
    return glifx.write_nwb(glifx.Cell.from_sweeps(sweeps, cell_id=Path(name).stem), out / name)


def _copy(base: Path, out: Path, name: str) -> Path:
    path = out / name
    shutil.copyfile(base, path)
    return path


def _replace(group: h5py.Group, name: str, data: np.ndarray, **kwargs) -> None:
    """Recreate dataset ``name`` of ``group`` with new data, keeping its attributes."""
    attrs = dict(group[name].attrs)
    del group[name]
    ds = group.create_dataset(name, data=data, **kwargs)
    ds.attrs.update(attrs)


RESPONSE = f"acquisition/data_{BAD_SWEEP:05d}"
STIMULUS = f"stimulus/presentation/stimulus_{BAD_SWEEP:05d}"


# ------------------------------------------------------------------------ one bad sweep
def _length_mismatch(f: h5py.File) -> None:
    _replace(f[STIMULUS], "data", f[STIMULUS]["data"][:-1000])


def _time_not_increasing(f: h5py.File) -> None:
    g = f[RESPONSE]
    rate = float(g["starting_time"].attrs["rate"])
    t = np.arange(g["data"].shape[0]) / rate
    t[5000] = t[4000]  # the clock jumps back
    del g["starting_time"]
    g.create_dataset("timestamps", data=t).attrs["unit"] = "seconds"


def _unknown_unit(f: h5py.File) -> None:
    f[RESPONSE]["data"].attrs["unit"] = "furlongs"


def _two_d(f: h5py.File) -> None:
    data = f[RESPONSE]["data"][()]
    _replace(f[RESPONSE], "data", np.stack([data, data], axis=1))


def _rate(value: float) -> Callable[[h5py.File], None]:
    def change(f: h5py.File) -> None:
        f[RESPONSE]["starting_time"].attrs["rate"] = value
    return change


def _dangling_reference(f: h5py.File) -> None:
    del f[RESPONSE]  # the recordings table still points at the removed series


def _huge_shape(f: h5py.File) -> None:
    """A sweep whose dataset claims 10^11 samples (unallocated chunks: the file stays small),
    read whole: the recordings table, whose windows would limit the read, is removed."""
    del f["general/intracellular_ephys/intracellular_recordings"]
    g = f[RESPONSE]
    data = g["data"][()]
    _replace(g, "data", data, chunks=(4096,), maxshape=(None,))
    g["data"].resize((10**11,))


BAD_SWEEPS: dict[str, tuple[Callable[[h5py.File], None], str]] = {
    "length_mismatch": (_length_mismatch, "samples"),
    "time_not_increasing": (_time_not_increasing, "not increasing"),
    "unknown_unit": (_unknown_unit, "unit"),
    "data_2d": (_two_d, "1-d"),
    "rate_zero": (_rate(0.0), "sampling rate"),
    "rate_negative": (_rate(-20e3), "sampling rate"),
    "dangling_reference": (_dangling_reference, "reference"),
    "huge_shape": (_huge_shape, "memory"),
}


# ------------------------------------------------------------------------ unusable files
def _scrambled_abf(abf: Path, seed: int) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        raw = bytearray(abf.read_bytes())
        raw[200:2000] = np.random.default_rng(seed).bytes(1800)
        path.write_bytes(bytes(raw))
        return path
    return make


def _abf_section_count(abf: Path, offset: int, count: int) -> Callable[[Path], Path]:
    """An ABF 2 whose section entry at ``offset`` (the header's section map) claims ``count``
    entries."""
    def make(path: Path) -> Path:
        raw = bytearray(abf.read_bytes())
        raw[offset + 8:offset + 16] = np.int64(count).tobytes()
        path.write_bytes(bytes(raw))
        return path
    return make


def _truncated_abf(abf: Path) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        raw = abf.read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
        return path
    return make


def _truncated_nwb(base: Path) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        path.write_bytes(base.read_bytes()[: base.stat().st_size // 3])
        return path
    return make


def _random_bytes(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(0).bytes(65536))
    return path


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _directory(path: Path) -> Path:
    path.mkdir()
    return path


def _plain_hdf5(path: Path) -> Path:
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(10))
    return path


def _voltage_clamp_only(path: Path) -> Path:
    sweep = glifx.Sweep(np.full(2000, -70.0), np.zeros(2000), sampling_rate=20e3,
                        clamp_mode=VOLTAGE_CLAMP)
    return glifx.write_nwb(glifx.Cell.from_sweeps([sweep], cell_id=path.stem), path)


# ------------------------------------------------------------------------ garbage
def _rewrite_voltage(base: Path, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        shutil.copyfile(base, path)
        with h5py.File(path, "r+") as f:
            for name in f["acquisition"]:
                data = f["acquisition"][name]["data"]
                data[...] = change(data[()].astype(np.float64)).astype(data.dtype)
        return path
    return make


def _shifted_voltage(base: Path, shift_mv: float) -> Callable[[Path], Path]:
    """Every voltage sample moved by ``shift_mv`` (in the file's own unit and conversion)."""
    def make(path: Path) -> Path:
        shutil.copyfile(base, path)
        with h5py.File(path, "r+") as f:
            for name in f["acquisition"]:
                data = f["acquisition"][name]["data"]
                assert data.attrs["unit"] == "volts"
                shift = shift_mv * 1e-3 / float(data.attrs.get("conversion", 1.0))
                data[...] = (data[()].astype(np.float64) + shift).astype(data.dtype)
        return path
    return make


def _downsampled(base: Path, rate: float) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        cell = glifx.load_cell(base)
        sweeps = []
        for s in cell:
            step = int(round(s.sampling_rate / rate))
            sweeps.append(glifx.Sweep(
                s.v[::step], s.i[::step], sampling_rate=s.sampling_rate / step,
                sweep_number=s.sweep_number, stimulus_name=s.stimulus_name,
                stimulus_amplitude=s.stimulus_amplitude))
        return glifx.write_nwb(glifx.Cell.from_sweeps(sweeps, cell_id=path.stem), path)
    return make


#: the cases cut from a real ABF file of the shared data (present only when ``abf`` is given)
ABF_CASES = ("abf_scrambled_header_0", "abf_scrambled_header_1", "abf_scrambled_header_2",
             "abf_truncated", "abf_huge_section", "abf_huge_strings")


def build_corpus(out: Path, abf: Path | None = None) -> dict[str, Case]:
    """Write every case into ``out`` (which must exist) and return them by name.

    Parameters
    ----------
    out
        Folder for the corpus.
    abf
        A real ABF file to break; without it the ABF cases are left out.
    """
    base = mini_cell(out)
    cases: dict[str, Case] = {}

    def add(name: str, kind: str, reason: str, make: Callable[[Path], Path], file: str) -> None:
        path = make(out / file)
        cases[name] = Case(name, path, kind, reason)

    add("missing", UNUSABLE, "no such file", lambda p: p, "does_not_exist.nwb")
    add("directory", UNUSABLE, "directory", _directory, "a_folder.nwb")
    add("empty", UNUSABLE, "empty", _empty, "empty.nwb")
    add("truncated_nwb", UNUSABLE, "truncated", _truncated_nwb(base), "truncated.nwb")
    add("random_bytes", UNUSABLE, "not a recognised recording", _random_bytes, "random.nwb")
    add("plain_hdf5", UNUSABLE, "not NWB", _plain_hdf5, "plain.h5")
    add("voltage_clamp_only", UNUSABLE, "no current-clamp sweep", _voltage_clamp_only, "vc_only.nwb")
    add("unicode_path_bad", UNUSABLE, "not a recognised recording", _random_bytes,
        "zelle_ü_细胞_\u2603.nwb")
    if abf is not None:
        for seed in range(3):
            add(f"abf_scrambled_header_{seed}", UNUSABLE, "abf", _scrambled_abf(abf, seed),
                f"scrambled_{seed}.abf")
        add("abf_truncated", UNUSABLE, "abf", _truncated_abf(abf), "truncated.abf")
        add("abf_huge_section", UNUSABLE, "section", _abf_section_count(abf, 236, 2**31 - 1),
            "huge_data_section.abf")
        add("abf_huge_strings", UNUSABLE, "section", _abf_section_count(abf, 220, 2**31 - 1),
            "huge_strings_section.abf")

    every_sweep_bad = _copy(base, out, "every_sweep_bad.nwb")
    with h5py.File(every_sweep_bad, "r+") as f:
        for name in f["acquisition"]:
            f["acquisition"][name]["starting_time"].attrs["rate"] = 0.0
    cases["every_sweep_bad"] = Case("every_sweep_bad", every_sweep_bad, UNUSABLE, "no usable sweep")

    for name, (change, reason) in BAD_SWEEPS.items():
        path = _copy(base, out, f"bad_{name}.nwb")
        with h5py.File(path, "r+") as f:
            change(f)
        cases[name] = Case(name, path, BAD_SWEEP_KIND, reason)

    add("flat", GARBAGE, "flat", _rewrite_voltage(base, lambda v: np.full_like(v, -70.0)), "flat.nwb")
    add("volts_as_millivolts", GARBAGE, "volts", _rewrite_voltage(base, lambda v: v * 1e-3),
        "volts_as_mv.nwb")
    # a resting cell sits between about -90 and -50 mV: shifted by ±300 mV, every sweep's median
    # is beyond any membrane potential (QC's v_median_mv_min/max, -150 and +50 mV)
    add("baseline_above", GARBAGE, "baseline", _shifted_voltage(base, 300.0), "baseline_above.nwb")
    add("baseline_below", GARBAGE, "baseline", _shifted_voltage(base, -300.0), "baseline_below.nwb")
    add("rate_1khz", GARBAGE, "below the 10 kHz", _downsampled(base, 1e3), "rate_1khz.nwb")
    return cases


def unicode_copy(out: Path) -> Path:
    """A usable cell at a path with non-ASCII characters."""
    return mini_cell(out, "zelle_ü_细胞.nwb")


if __name__ == "__main__":  # pragma: no cover - a script for looking at the corpus by hand
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    for case in build_corpus(target, Path(sys.argv[2]) if len(sys.argv) > 2 else None).values():
        print(f"{case.kind:<10} {case.name:<26} {case.path}")
