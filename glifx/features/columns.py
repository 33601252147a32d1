"""What each column of the feature outputs means: name, unit, meaning (ipfx names and units).

Written beside the files as ``columns.json`` (:func:`glifx._files.write_columns`) and listed in the
README.  Units: s, mV, pA, V/s, Hz, MΩ; ``""`` for dimensionless values, counts, flags and text.
"""

from __future__ import annotations

Column = tuple[str, str, str]

_POINTS = {
    "threshold": "threshold (dV/dt crosses thresh_frac of the spike's upstroke)",
    "peak": "peak",
    "trough": "trough (minimum between the peak and the next threshold or the window end)",
    "upstroke": "steepest rise (largest dV/dt between threshold and peak)",
    "downstroke": "steepest fall (smallest dV/dt between peak and trough)",
    "fast_trough": "fast trough (where the 1 kHz-filtered dV/dt recovers to 1 % of the downstroke)",
    "adp": "afterdepolarisation after the fast trough (NaN if none)",
    "slow_trough": "slow trough (minimum after the fast trough; NaN if none)",
}


def _point_columns(name: str, with_i: bool, with_v: bool = True) -> list[Column]:
    what = _POINTS[name]
    out: list[Column] = [(f"{name}_index", "", f"sample index of the {what}, on the sweep"),
                         (f"{name}_t", "s", f"time of the {what}, from the sweep's first sample")]
    if with_v:
        out.append((f"{name}_v", "mV", f"membrane potential at the {what}"))
    if with_i:
        out.append((f"{name}_i", "pA", f"injected current at the {what}"))
    return out


SPIKES_CSV: list[Column] = [
    ("sweep_number", "", "sweep the spike was found on"),
    ("relative_to_stimulus", "",
     "threshold time relative to the sweep's stimulus window: before, during, after, or "
     "no_stimulus (the sweep has none)"),
    *_point_columns("threshold", True)[:1],
    ("clipped", "", "true when the spike runs into the end of the detection window"),
    *_point_columns("threshold", True)[1:],
    *_point_columns("peak", True),
    *_point_columns("trough", True),
    *_point_columns("upstroke", False)[:1],
    ("upstroke", "V/s", "largest dV/dt between threshold and peak"),
    *_point_columns("upstroke", False)[1:],
    *_point_columns("downstroke", False)[:1],
    ("downstroke", "V/s", "smallest (most negative) dV/dt between peak and trough"),
    *_point_columns("downstroke", False)[1:],
    ("isi_type", "", "trough shape after the spike: direct or detour (ipfx); empty without a "
                     "fast trough"),
    *_point_columns("fast_trough", True),
    *_point_columns("adp", True),
    *_point_columns("slow_trough", True),
    ("width", "s", "full width at half of the peak-to-fast-trough height (else of threshold-to-peak)"),
    ("upstroke_downstroke_ratio", "", "upstroke / -downstroke"),
]

SWEEP_FEATURES_CSV: list[Column] = [
    ("sweep_number", "", "sweep number in the file"),
    ("stimulus_name", "", "stimulus name (Allen vocabulary: Long Square, Noise 1, ...)"),
    ("stim_amp", "pA",
     "Long/Short Square: step amplitude measured on the command one sample after the window "
     "start (ipfx); other stimuli (ramp, noise, triple, test): the file's stimulus amplitude"),
    ("start", "s", "start of the feature window (stimulus onset; sweep start for noise and test)"),
    ("end", "s", "end of the feature window"),
    ("spike_count", "", "spikes in the feature window"),
    ("spike_count_whole_sweep", "", "spikes anywhere on the sweep (rows of spikes.csv)"),
    ("avg_rate", "Hz", "spike_count / window length"),
    ("latency", "s", "first threshold time - window start"),
    ("first_isi", "s", "first inter-spike interval"),
    ("mean_isi", "s", "mean inter-spike interval"),
    ("median_isi", "s", "median inter-spike interval"),
    ("isi_cv", "", "std (ddof 0) / mean of the inter-spike intervals"),
    ("adapt", "", "adaptation index: mean of (ISI[k+1] - ISI[k]) / (ISI[k+1] + ISI[k])"),
    ("burst", "", "largest burstiness index (ipfx), 0 without bursts"),
    ("burst_count", "", "number of bursts"),
    ("pause", "", "number of pauses"),
    ("pause_frac", "", "fraction of the window spent in pauses"),
    ("delay", "", "delay ratio: latency / fitted time constant of the pre-spike depolarisation"),
    ("delay_tau", "s", "time constant of the pre-spike depolarisation"),
    ("v_baseline", "mV", "mean membrane potential in the 100 ms before the window"),
    ("peak_deflect", "mV", "largest voltage deflection in the window (minimum for steps down)"),
    ("sag", "", "(peak V, 5 ms mean - steady V, last 30 ms) / (peak V - baseline); "
                "hyperpolarising steps only"),
    ("filter_khz", "kHz", "Bessel low-pass cutoff used before dV/dt (clipped below Nyquist)"),
]

CELL_FEATURES_JSON: list[Column] = [
    ("cell_id", "", "the cell's id"),
    ("source", "", "the file the cell was read from"),
    ("dropped_sweeps", "", "sweep number -> why it was not analysed"),
    ("params.*", "", "spike-detection parameters used (ipfx names; dv_cutoff V/s, "
                     "min_height mV, min_peak mV, max_interval s, filter kHz, ...)"),
    ("warnings", "", "plausibility warnings about the spikes (see qc.json warnings)"),
    ("long_square.start", "s", "step window start, common to the Long Square sweeps"),
    ("long_square.end", "s", "step window end"),
    ("long_square.v_baseline", "mV", "mean baseline over the Long Square sweeps"),
    ("long_square.rheobase_i", "pA", "smallest depolarising step (> 0.5 pA) that fires"),
    ("long_square.rheobase_sweep_number", "", "the rheobase sweep"),
    ("long_square.fi_fit_slope", "Hz/pA", "slope of avg_rate against stim_amp on spiking sweeps"),
    ("long_square.hero_sweep_number", "", "hero sweep: rheobase + 39…61 pA (ipfx)"),
    ("long_square.hero_amp", "pA", "the hero sweep's amplitude"),
    ("long_square.hero_*", "", "train features of the hero sweep (as in sweep_features.csv)"),
    ("long_square.rheobase_first_spike_*", "", "the rheobase sweep's first spike (as in spikes.csv)"),
    ("long_square.sag", "", "sag of the quiet sweep whose deflection is nearest -100 mV"),
    ("long_square.vm_for_sag", "mV", "peak deflection of that sweep"),
    ("long_square.tau", "s", "membrane time constant, mean over small hyperpolarising steps"),
    ("long_square.input_resistance", "MΩ", "slope of peak deflection against amplitude"),
    ("long_square.subthreshold_window", "s", "[start, end] the passive features used"),
    ("long_square.notes", "", "why a feature is missing"),
    ("short_square.stimulus_amplitude", "pA", "most common spiking Short Square amplitude"),
    ("short_square.common_amp_sweeps", "", "the sweeps at that amplitude"),
    ("short_square.mean_spike_0_*", "", "mean first-spike features over them (as spikes.csv)"),
    ("short_square.detection.dv_cutoff", "V/s", "adapted detection dV/dt cutoff"),
    ("short_square.detection.thresh_frac", "", "adapted threshold fraction"),
    ("short_square.notes", "", "what was adapted or why a feature is missing"),
    ("ramp.spiking_sweeps", "", "Ramp sweeps that fired"),
    ("ramp.mean_spike_0_*", "", "mean first-spike features over them (as spikes.csv)"),
    ("ramp.notes", "", "why a feature is missing"),
    ("noise.sweeps.<n>.epochs", "s", "[start, end] of each noise epoch of sweep n"),
    ("noise.sweeps.<n>.rate_per_epoch", "Hz", "firing rate per epoch"),
    ("noise.sweeps.<n>.spike_times_per_repeat", "s", "spike times per epoch, from epoch start"),
    ("noise.sweeps.<n>.reliability_across_epochs", "", "spike-time reliability across epochs"),
    ("noise.repeats.<stimulus>.n_sweeps", "", "sweeps of that noise stimulus"),
    ("noise.repeats.<stimulus>.reliability_per_epoch", "", "reliability across its sweeps"),
]

FEATURE_FILES: dict[str, list[Column]] = {
    "spikes.csv": SPIKES_CSV,
    "sweep_features.csv": SWEEP_FEATURES_CSV,
    "cell_features.json": CELL_FEATURES_JSON,
}
