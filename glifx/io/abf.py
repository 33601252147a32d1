"""Axon ABF (1.x and 2.x) → :class:`~glifx.sweep.Cell`, through pyabf.

* The recorded channel is chosen by its units, not its index: the first ADC channel in mV is a
  current-clamp voltage (preferring one whose command is a current); with none, the first channel in
  pA is a voltage-clamp current.
* ``i`` is pyabf's rebuilt command waveform (``sweepC``) in pA.  When pyabf cannot rebuild it (it
  returns NaN, e.g. the protocol's external stimulus file is missing) the voltage is kept and
  ``i = None``, name ``None``, ``name_source = "unknown"``.
* Sweep numbers are 0 … n-1; the cell id is the file stem; stimulus names and amplitudes are inferred
  from the commands (:mod:`glifx.stimulus`); the protocol name goes to ``cell.metadata``.
* pyabf reads the whole file into memory when it opens it (ABF files are small); each
  :class:`~glifx.sweep.Sweep` is built from it on first access.  Before that, the header's
  section sizes, channel and sweep counts are checked against the file size
  (:func:`check_abf_structure`): pyabf trusts them, and a corrupt header would make it allocate
  tens of gigabytes.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np

from glifx.errors import FileFormatError, SweepError
from glifx.stimulus import classify_sweeps
from glifx.sweep import CURRENT_CLAMP, VOLTAGE_CLAMP, Cell, Sweep, SweepRecord

# multiply a value in these units to get mV / pA
_TO_MV = {"mV": 1.0, "V": 1e3, "uV": 1e-3, "µV": 1e-3}
_TO_PA = {"pA": 1.0, "nA": 1e3, "uA": 1e6, "µA": 1e6, "A": 1e12, "fA": 1e-3}


#: ABF 2 header: byte offsets of the section map entries (uBlockIndex uint32, uBytes uint32,
#: llNumEntries int64) that pyabf reads, by section name
_ABF2_SECTIONS = {
    "protocol": 76, "ADC": 92, "DAC": 108, "epoch": 124, "epoch per DAC": 156, "user list": 172,
    "strings": 220, "data": 236, "tag": 252, "synch array": 316,
}
_ABF_BLOCK = 512
#: most ADC channels an Axon digitiser records
_ABF_MAX_CHANNELS = 16


def check_abf_structure(path: Path, size: int | None = None) -> None:
    """Check an ABF header against the file before pyabf allocates anything from it.

    Every section the header declares must lie inside the file, with a positive entry size when
    it has entries; the data must use 2- or 4-byte samples; the channel count must be 1-16, the
    sweep count at most the number of samples per channel, and the sample interval positive.
    Memory use while reading is then bounded by a small multiple of the file size.

    Raises
    ------
    FileFormatError
        Naming the first inconsistency found.
    """
    size = path.stat().st_size if size is None else size
    with path.open("rb") as fh:
        head = fh.read(6144)

    def field(fmt: str, offset: int) -> int | float:
        if offset + struct.calcsize(fmt) > len(head):
            raise FileFormatError(path, f"ABF header truncated or corrupt (file is {size} bytes)")
        return struct.unpack_from("<" + fmt, head, offset)[0]

    def corrupt(what: str) -> FileFormatError:
        return FileFormatError(path, f"corrupt ABF header: {what} (file is {size} bytes)")

    if head[:4] == b"ABF2":
        sections = {}
        for name, offset in _ABF2_SECTIONS.items():
            block, entry_size, count = field("I", offset), field("I", offset + 4), field("q", offset + 8)
            start = block * _ABF_BLOCK
            if count < 0 or (count > 0 and (entry_size < 1 or start + entry_size * count > size)):
                raise corrupt(f"{name} section ({count} entries of {entry_size} bytes at byte "
                              f"{start}) does not fit in the file")
            sections[name] = (start, entry_size, count)
        _, sample_bytes, n_points = sections["data"]
        n_channels = sections["ADC"][2]
        if n_points and sample_bytes not in (2, 4):
            raise corrupt(f"data samples of {sample_bytes} bytes (expected 2 or 4)")
        if sections["strings"][2] < 1:
            raise corrupt("no strings section")
        if sections["protocol"][2] < 1:
            raise corrupt("no protocol section")
        protocol_start = sections["protocol"][0]
        interval_us = _read_float(path, protocol_start + 2)
        n_sweeps = field("I", 12)
    elif head[:4] == b"ABF ":
        n_points, data_block = field("i", 10), field("i", 40)
        ignored, n_sweeps = field("h", 14), field("i", 16)
        tag_block, n_tags = field("i", 44), field("i", 48)
        synch_block, n_synch = field("i", 92), field("i", 96)
        n_channels, interval_us = field("h", 120), field("f", 122)
        sample_bytes = 2 if field("h", 100) == 0 else 4
        if n_points < 0 or data_block < 0 or data_block * _ABF_BLOCK + max(ignored, 0) \
                + n_points * sample_bytes > size:
            raise corrupt(f"data section ({n_points} samples at block {data_block}) does not fit "
                          "in the file")
        for what, block, count, entry in (("tag", tag_block, n_tags, 64),
                                          ("synch array", synch_block, n_synch, 8)):
            if count < 0 or (count > 0 and (block < 0 or block * _ABF_BLOCK + count * entry > size)):
                raise corrupt(f"{what} section ({count} entries at block {block}) does not fit "
                              "in the file")
    else:
        raise FileFormatError(path, "not an ABF file (no ABF signature)")
    if not 1 <= n_channels <= _ABF_MAX_CHANNELS:
        raise corrupt(f"{n_channels} ADC channels (expected 1-{_ABF_MAX_CHANNELS})")
    if n_sweeps > max(n_points // n_channels, 1):
        raise corrupt(f"{n_sweeps} sweeps in {n_points} samples")
    if not (interval_us > 0 and np.isfinite(interval_us)):
        raise corrupt(f"sample interval {interval_us} µs")


def _read_float(path: Path, offset: int) -> float:
    """A little-endian float32 at ``offset`` (NaN when the file is shorter)."""
    with path.open("rb") as fh:
        fh.seek(offset)
        raw = fh.read(4)
    return struct.unpack("<f", raw)[0] if len(raw) == 4 else float("nan")


def _pick_channel(abf: object, path: Path) -> tuple[int, str]:
    """(channel index, clamp mode) of the recorded membrane signal, chosen by units."""
    adc_units = list(getattr(abf, "adcUnits", []))
    dac_units = list(getattr(abf, "dacUnits", []))
    mv = [ch for ch, u in enumerate(adc_units) if u in _TO_MV]
    if mv:
        with_current_command = [
            ch for ch in mv if ch < len(dac_units) and dac_units[ch] in _TO_PA
        ]
        return (with_current_command or mv)[0], CURRENT_CLAMP
    pa = [ch for ch, u in enumerate(adc_units) if u in _TO_PA]
    if pa:
        return pa[0], VOLTAGE_CLAMP
    raise FileFormatError(
        path, f"no channel recorded in mV or pA (channel units: {adc_units or 'none'})"
    )


def read_abf(path: str | Path) -> Cell:
    """Read an ABF file into a :class:`~glifx.sweep.Cell`.

    Parameters
    ----------
    path
        ABF 1.x or 2.x file.

    Returns
    -------
    Cell
        Current-clamp sweeps: ``v`` in mV, ``i`` (the command) in pA or ``None``; voltage-clamp
        sweeps (a file recording only pA channels): ``v`` the command in mV, ``i`` the recorded
        current in pA.

    Raises
    ------
    FileFormatError
        When pyabf cannot parse the file or no channel has usable units.
    """
    import pyabf

    path = Path(path)
    source = str(path)
    check_abf_structure(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyabf warns about missing stimulus files; handled below
            abf = pyabf.ABF(source)
    except Exception as exc:  # pyabf raises anything from struct.error to IndexError on bad input
        detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
        raise FileFormatError(path, f"not a readable ABF file (truncated or corrupt?): {detail}") \
            from None
    channel, clamp_mode = _pick_channel(abf, path)
    n_sweeps = int(abf.sweepCount)
    rate = float(abf.sampleRate)
    if not rate > 0:
        raise FileFormatError(path, f"ABF sampling rate {rate} Hz is not positive")
    if n_sweeps < 1:
        raise FileFormatError(path, "ABF file holds no sweeps")

    def signal_and_command(
        number: int, with_signal: bool = True
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            abf.setSweep(number, channel=channel)
            signal = np.array(abf.sweepY, dtype=np.float64) if with_signal else None
            try:
                command = np.array(abf.sweepC, dtype=np.float64)
            except Exception:  # pyabf cannot rebuild every protocol's waveform
                command = None
        units_y, units_c = abf.sweepUnitsY, abf.sweepUnitsC
        if clamp_mode == CURRENT_CLAMP:
            y_factor, factor = _TO_MV[units_y], _TO_PA.get(units_c)
        else:
            y_factor, factor = _TO_PA[units_y], _TO_MV.get(units_c)
        if signal is not None and y_factor != 1.0:
            signal *= y_factor
        if command is None or factor is None or not np.all(np.isfinite(command)):
            return signal, None
        return signal, command * factor if factor != 1.0 else command

    # pyabf builds the commands from the protocol header (no recorded data is involved)
    commands = [signal_and_command(number, with_signal=False)[1] for number in range(n_sweeps)]
    lengths = [int(abf.sweepPointCount)] * n_sweeps

    if clamp_mode == CURRENT_CLAMP:
        guesses = classify_sweeps(commands, rate)
    else:
        guesses = classify_sweeps([None] * n_sweeps, rate)
    records = [
        SweepRecord(
            sweep_number=k, stimulus_name=g.name, stimulus_code=None, stimulus_amplitude=g.amplitude,
            sampling_rate=rate, n_samples=lengths[k], clamp_mode=clamp_mode,
            name_source=g.name_source,
        )
        for k, g in enumerate(guesses)
    ]
    del commands  # the loader rebuilds them: keeps memory at one sweep per access

    def load(number: int) -> Sweep:
        signal, command = signal_and_command(number)
        assert signal is not None  # asked for it
        rec = records[number]
        if clamp_mode == CURRENT_CLAMP:
            v, i = signal, command
        else:
            if command is None:
                raise SweepError(number, "voltage-clamp command unknown", source)
            v, i = command, signal
        return Sweep(
            v, i, sampling_rate=rate, sweep_number=number, stimulus_name=rec.stimulus_name,
            stimulus_amplitude=rec.stimulus_amplitude, clamp_mode=clamp_mode,
            name_source=rec.name_source, source=source,
            metadata={"abf_channel": channel, "abf_units_y": abf.sweepUnitsY},
        )

    metadata = {
        "format": f"ABF {abf.abfVersionString}",
        "protocol": getattr(abf, "protocol", None),
        "abf_channel": channel,
        "abf_datetime": str(getattr(abf, "abfDateTime", "")),
    }
    return Cell(records, load, cell_id=path.stem, metadata=metadata, source=source)
