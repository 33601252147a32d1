"""What each column of ``qc.csv`` and each key of ``qc.json`` means: name, unit, meaning.

Written beside the files as ``columns.json`` and listed in the README; windows as in
:mod:`glifx.qc.sweep_qc`.
"""

from __future__ import annotations

Column = tuple[str, str, str]

QC_CSV: list[Column] = [
    ("sweep_number", "", "sweep number in the file"),
    ("stimulus_name", "", "stimulus name (Allen vocabulary)"),
    ("stimulus_code", "", "the file's stimulus code"),
    ("clamp_mode", "", "CurrentClamp or VoltageClamp"),
    ("status", "", "passed, failed or excluded (voltage clamp, test and search sweeps)"),
    ("passed", "", "true when the sweep passed QC"),
    ("pre_noise_rms_mv", "mV", "RMS noise of the short window before the stimulus"),
    ("post_noise_rms_mv", "mV", "RMS noise at the end of the recording (not on ramps)"),
    ("slow_noise_rms_mv", "mV", "RMS noise of the stability window before the stimulus"),
    ("vm_delta_mv", "mV", "|pre_vm_mv - post_vm_mv|: drift over the sweep (not on ramps)"),
    ("leak_pa", "pA", "bias (holding) current"),
    ("pre_vm_mv", "mV", "mean membrane potential before the stimulus"),
    ("post_vm_mv", "mV", "mean membrane potential at the end of the recording"),
    ("integrity", "", "passed, failed or not measured: is the sweep complete and readable"),
    ("leak_source", "", "where leak_pa came from: file or command baseline"),
    ("is_ramp", "", "true for Ramp sweeps (post-stimulus criteria do not apply)"),
    ("reasons", "", "why the sweep failed, '; '-separated"),
    ("not_measured", "", "measurements that could not be made and why, '; '-separated"),
    ("notes", "", "remarks (e.g. why a sweep is excluded), '; '-separated"),
]

QC_JSON: list[Column] = [
    ("cell_id", "", "the cell's id"),
    ("source", "", "the file the cell was read from"),
    ("cell.passed", "", "the cell verdict"),
    ("cell.reasons", "", "why the cell failed"),
    ("cell.measurements.blowout_mv", "mV", "blowout voltage"),
    ("cell.measurements.electrode_0_pa", "pA", "electrode offset current"),
    ("cell.measurements.seal_gohm", "GΩ", "seal resistance"),
    ("cell.measurements.initial_access_resistance_mohm", "MΩ", "initial access resistance"),
    ("cell.measurements.input_resistance_mohm", "MΩ", "input resistance"),
    ("cell.measurements.input_access_resistance_ratio", "", "input / access resistance"),
    ("cell.not_measured", "", "cell measurements the file does not hold, and why"),
    ("cell.sources", "", "where each cell value came from"),
    ("passed_sweeps", "", "sweep numbers that passed"),
    ("failed_sweeps", "", "sweep numbers that failed"),
    ("sweeps", "", "the rows of qc.csv, lists kept as lists"),
    ("criteria", "", "the QC criteria used (names end in their unit: _mv, _pa, _gohm, ...)"),
    ("warnings", "", "plausibility warnings: implausible baselines, volt-scaled traces, spikes "
                     "on hyperpolarising steps or only a few mV high; they never fail a sweep"),
]

QC_FILES: dict[str, list[Column]] = {"qc.csv": QC_CSV, "qc.json": QC_JSON}
