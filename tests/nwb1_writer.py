"""A small writer of Allen-layout NWB 1 files, for tests (glifx itself only reads NWB 1).

Covers the parts of the Allen Cell Types ``ephys.nwb`` layout that glifx's reader uses:

* root ``nwb_version`` dataset (``"NWB-1.0.5"``), ``identifier``, ``session_start_time``,
  ``session_description``, ``file_create_date``;
* ``acquisition/timeseries/Sweep_N`` (response) and ``stimulus/presentation/Sweep_N`` (command):
  ``data`` with ``conversion``/``unit``/``resolution`` attributes, ``starting_time`` with ``rate`` (or
  ``timestamps``), ``num_samples``, the ``ancestry`` and ``neurodata_type`` attributes
  (``CurrentClampSeries``/``VoltageClampSeries`` and their stimulus types);
* ``aibs_stimulus_name``, ``aibs_stimulus_amplitude_pa``, ``aibs_stimulus_description`` (code),
  ``aibs_stimulus_interval``, ``gain``, ``seal``, ``initial_access_resistance`` on the stimulus;
  ``bias_current``, ``bridge_balance``, ``capacitance_compensation`` on current-clamp responses;
* ``epochs/Sweep_N`` and optional ``epochs/Experiment_N``, each with ``stimulus`` and ``response``
  parts holding ``idx_start``, ``count`` and a ``timeseries`` soft link.

Not covered: spike times in ``analysis``, ``general`` metadata, the ``Test_N`` epochs, MIES fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np


@dataclass
class Nwb1Sweep:
    """One sweep to write.  ``v`` in mV and ``i`` in pA (converted to the file's units on writing).

    ``experiment`` is ``(idx_start, count)`` of the Experiment epoch, or ``None`` for no such epoch.
    Fields left ``None`` are not written.
    """

    number: int
    v: np.ndarray
    i: np.ndarray
    rate: float
    stimulus_name: str | None = "Long Square"
    amplitude: float | None = None
    code: str | None = None
    clamp_mode: str = "CurrentClamp"
    experiment: tuple[int, int] | None = None
    timestamps: np.ndarray | None = None
    bias_current: float | None = None
    bridge_balance: float | None = None
    capacitance_compensation: float | None = None
    interval: float | None = None
    seal: float | None = None


def _string(group: h5py.Group, name: str, value: str) -> None:
    group.create_dataset(name, data=value, dtype=h5py.string_dtype())


def _series(
    group: h5py.Group, values: np.ndarray, *, unit: str, conversion: float, per_unit: float,
    dtype: str, ancestry: list[str], sweep: Nwb1Sweep,
) -> None:
    """Store ``values`` (mV or pA; ``per_unit`` = 1e-3 or 1e-12 of the SI unit) so that
    ``data * conversion`` is in the SI ``unit``."""
    group.attrs["ancestry"] = np.array(ancestry, dtype=h5py.string_dtype())
    group.attrs["neurodata_type"] = "TimeSeries"
    group.attrs["source"] = "glifx test writer"
    # one factor, rounded to the power of ten it means, so conversion 1e-3 stores mV unchanged
    to_file = float(f"{per_unit / conversion:.12g}")
    stored = np.asarray(values, dtype=np.float64)
    if to_file != 1.0:
        stored = stored * to_file
    data = group.create_dataset("data", data=stored.astype(dtype))
    data.attrs["conversion"] = float(conversion)
    data.attrs["unit"] = unit
    data.attrs["resolution"] = np.nan
    group.create_dataset("num_samples", data=len(values))
    if sweep.timestamps is not None:
        group.create_dataset("timestamps", data=np.asarray(sweep.timestamps, dtype=np.float64))
    else:
        st = group.create_dataset("starting_time", data=0.0)
        st.attrs["rate"] = float(sweep.rate)
        st.attrs["unit"] = "Seconds"


def write_allen_nwb1(
    path: str | Path,
    sweeps: list[Nwb1Sweep],
    *,
    voltage_unit: str = "Volts",
    voltage_conversion: float = 1e-3,
    current_unit: str = "Amps",
    current_conversion: float = 1e-12,
    dtype: str = "float64",
) -> Path:
    """Write ``sweeps`` to ``path`` in the Allen NWB 1 layout.

    With the defaults the file stores mV and pA numbers with conversions 1e-3 and 1e-12 (so reading
    back is exact); pass ``voltage_conversion=1.0`` and ``current_conversion=1.0`` to store volts
    and amperes as the Allen files do.
    """
    path = Path(path)
    with h5py.File(path, "w") as f:
        _string(f, "nwb_version", "NWB-1.0.5")
        _string(f, "identifier", f"test-{path.stem}")
        _string(f, "session_description", "glifx NWB 1 test file")
        _string(f, "session_start_time", "2016-01-01T00:00:00")
        f.create_dataset("file_create_date", data=np.array(["2016-01-01T00:00:00"], dtype="S"))
        acq = f.create_group("acquisition/timeseries")
        pres = f.create_group("stimulus/presentation")
        epochs = f.create_group("epochs")
        for s in sweeps:
            name = f"Sweep_{s.number}"
            cc = s.clamp_mode == "CurrentClamp"
            v_args = {"unit": voltage_unit, "conversion": voltage_conversion, "per_unit": 1e-3,
                      "dtype": dtype, "sweep": s}
            i_args = {"unit": current_unit, "conversion": current_conversion, "per_unit": 1e-12,
                      "dtype": dtype, "sweep": s}
            resp = acq.create_group(name)
            stim = pres.create_group(name)
            if cc:
                _series(resp, s.v, ancestry=["TimeSeries", "PatchClampSeries",
                                             "CurrentClampSeries"], **v_args)
                _series(stim, s.i, ancestry=["TimeSeries", "PatchClampSeries",
                                             "CurrentClampStimulusSeries"], **i_args)
                for key in ("bias_current", "bridge_balance", "capacitance_compensation"):
                    value = getattr(s, key)
                    if value is not None:
                        resp.create_dataset(key, data=float(value))
            else:
                _series(resp, s.i, ancestry=["TimeSeries", "PatchClampSeries",
                                             "VoltageClampSeries"], **i_args)
                _series(stim, s.v, ancestry=["TimeSeries", "PatchClampSeries",
                                             "VoltageClampStimulusSeries"], **v_args)
            if s.stimulus_name is not None:
                _string(stim, "aibs_stimulus_name", s.stimulus_name)
            if s.amplitude is not None:
                stim.create_dataset("aibs_stimulus_amplitude_pa", data=float(s.amplitude))
            if s.code is not None:
                _string(stim, "aibs_stimulus_description", s.code)
            if s.interval is not None:
                stim.create_dataset("aibs_stimulus_interval", data=float(s.interval))
            if s.seal is not None:
                stim.create_dataset("seal", data=float(s.seal))
            stim.create_dataset("gain", data=1.0)
            n = len(s.v)
            windows = {"Sweep": (0, n)}
            if s.experiment is not None:
                windows["Experiment"] = s.experiment
            for kind, (start, count) in windows.items():
                epoch = epochs.create_group(f"{kind}_{s.number}")
                epoch.create_dataset("start_time", data=start / s.rate)
                epoch.create_dataset("stop_time", data=(start + count) / s.rate)
                for part, target in (("stimulus", stim), ("response", resp)):
                    g = epoch.create_group(part)
                    g.create_dataset("idx_start", data=int(start))
                    g.create_dataset("count", data=int(count))
                    g["timeseries"] = h5py.SoftLink(target.name)
    return path
