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
  :class:`~glifx.sweep.Sweep` is built from it on first access.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from glifx.errors import FileFormatError
from glifx.stimulus import classify_sweeps
from glifx.sweep import CURRENT_CLAMP, VOLTAGE_CLAMP, Cell, Sweep, SweepRecord

# multiply a value in these units to get mV / pA
_TO_MV = {"mV": 1.0, "V": 1e3, "uV": 1e-3, "µV": 1e-3}
_TO_PA = {"pA": 1.0, "nA": 1e3, "uA": 1e6, "µA": 1e6, "A": 1e12, "fA": 1e-3}


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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyabf warns about missing stimulus files; handled below
            abf = pyabf.ABF(source)
    except Exception as exc:  # pyabf raises anything from struct.error to IndexError on bad input
        raise FileFormatError(path, f"not a readable ABF file (truncated or corrupt?): {exc}") from None
    channel, clamp_mode = _pick_channel(abf, path)
    n_sweeps = int(abf.sweepCount)
    rate = float(abf.sampleRate)
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
                raise FileFormatError(path, f"sweep {number}: voltage-clamp command unknown")
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
