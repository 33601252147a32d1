"""Per-sweep feature records and cell summaries per protocol (Long Square, Short Square, Ramp, Noise).

Units: s, mV, pA, Hz, MΩ; spike features as in :mod:`glifx.features.spikes`.

Long Square follows ipfx's ``LongSquareAnalysis`` (rheobase, f-I slope, hero sweep, sag, tau, input
resistance) with one common step window for all sweeps, found from the command (the longest constant
segment of the largest step) unless given.  Unlike ipfx it accepts any amplitude set, never raises on
a missing subthreshold or suprathreshold sweep (the feature is NaN and ``notes`` says why), and, when
no hyperpolarising step exists but every sweep carries the same hyperpolarising pre-pulse, takes
tau, sag and input resistance from that pre-pulse (``subthreshold_window`` says which).
A step counts as depolarising only above :data:`ZERO_STEP_PA` (ipfx: above 0), so that a 0 pA step
stored as float32 round-off (3e-5 pA) cannot become the rheobase.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from glifx.errors import ConfigError
from glifx.features import subthreshold as sub
from glifx.features.spikes import detect_spikes, recorded_arrays, recorded_length
from glifx.features.train import all_train_features

#: Steps at most this large, pA, are 0 pA steps (commands stored in float32 carry ~1e-5 pA).
ZERO_STEP_PA = 0.5
#: Amplitude offsets (pA) above rheobase where the hero sweep is looked for (ipfx).
HERO_MIN_AMP_OFFSET = 39.0
HERO_MAX_AMP_OFFSET = 61.0
#: Sag is taken on the subthreshold sweep whose peak deflection is nearest this level, mV (ipfx).
SAG_TARGET = -100.0

FIRST_SPIKE_FEATURES = (
    "threshold_t", "threshold_v", "threshold_i", "peak_t", "peak_v", "trough_t", "trough_v",
    "fast_trough_t", "fast_trough_v", "slow_trough_t", "slow_trough_v", "upstroke", "downstroke",
    "upstroke_downstroke_ratio", "width",
)
HERO_FEATURES = ("avg_rate", "latency", "first_isi", "mean_isi", "median_isi", "isi_cv", "adapt")


class _Recorded:
    """A sweep's recorded part (no NaN tail) with the attributes the summaries use.

    ``t``, ``v`` and ``i`` are the sweep's, sliced when read and not kept: a Long Square set at
    500 kHz holds 0.5 GB of them as float64, which the summary needs one sweep at a time."""

    def __init__(self, sweep: Any) -> None:
        self._sweep = sweep
        self.n_samples = recorded_length(sweep)
        self.sweep_number = sweep.sweep_number
        self.sampling_rate = sweep.sampling_rate
        self.stimulus_name = sweep.stimulus_name
        self.stimulus_amplitude = sweep.stimulus_amplitude
        self.epochs = sweep.epochs
        self.time_at = sweep.time_at  # the values of t[index], without building t

    @property
    def t(self) -> np.ndarray:
        return self._sweep.t[:self.n_samples]

    @property
    def v(self) -> np.ndarray:
        return self._sweep.v[:self.n_samples]

    @property
    def i(self) -> np.ndarray | None:
        i = self._sweep.i
        return None if i is None else i[:self.n_samples]

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(t s, v mV, i pA)``, as :func:`~glifx.features.spikes.recorded_arrays`."""
        return self.t, self.v, self.i


def _runs(x: np.ndarray) -> list[tuple[int, int, float]]:
    """Constant runs of ``x`` as ``(first, last, value)`` (inclusive indices)."""
    edges = np.flatnonzero(np.diff(x)) + 1
    starts = np.r_[0, edges]
    ends = np.r_[edges - 1, x.size - 1]
    return [(int(a), int(b), float(x[a])) for a, b in zip(starts, ends, strict=True)]


def step_window(sweeps: Sequence[Any]) -> tuple[float, float] | None:
    """Common step window ``(start, end)`` in s: the longest constant non-holding segment of the
    command of the sweep with the largest absolute command (first one on a tie), or ``None``."""
    best, best_amp = None, -1.0
    for s in sweeps:
        i = s.i
        if i is None or not np.all(np.isfinite(i)):
            continue
        amp = float(np.max(np.abs(i - i[0])))
        if amp > best_amp:
            best, best_amp = s, amp
    if best is None or best_amp == 0:
        return None
    i = best.i
    runs = [r for r in _runs(i) if r[2] != i[0]]
    a, b, _ = max(runs, key=lambda r: r[1] - r[0])
    return float(best.time_at(a)), float(best.time_at(b))


def long_square_window(sweeps: Sequence[Any]) -> tuple[float, float] | None:
    """The step window :func:`long_square_summary` uses by default, s: :func:`step_window` of
    the sweeps' recorded parts (without a NaN tail)."""
    return step_window([_Recorded(s) for s in sweeps])


def _prestep_window(sweeps: Sequence[Any], start: float) -> tuple[float, float] | None:
    """A hyperpolarising segment common to all sweeps and ending before ``start``, or ``None``."""
    windows = set()
    for s in sweeps:
        i = s.i
        if i is None:
            return None
        runs = [r for r in _runs(i) if r[2] < i[0] and s.time_at(r[1]) < start]
        if not runs:
            return None
        a, b, _ = max(runs, key=lambda r: r[1] - r[0])
        windows.add((round(float(s.time_at(a)), 9), round(float(s.time_at(b)), 9)))
    return windows.pop() if len(windows) == 1 else None


def stim_amp(t: np.ndarray, i: np.ndarray | None, start: float) -> float:
    """Step amplitude, pA: the command one sample after ``start`` (ipfx ``_step_stim_amp``)."""
    if i is None:
        return math.nan
    k = min(int(np.searchsorted(t, start)), t.size - 1)
    k = k - 1 if k > 0 and abs(t[k - 1] - start) <= abs(t[k] - start) else k
    return float(i[min(k + 1, i.size - 1)])


def sweep_record(sweep: Any, spikes: pd.DataFrame, start: float | None, end: float | None, *,
                 baseline_interval: float = 0.1, sag_baseline_interval: float = 0.03,
                 extra_train: bool = True,
                 arrays: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None,
                 ) -> dict[str, Any]:
    """One row of the sweep-feature table: train features, and step features when the window is
    known (``stim_amp`` pA, ``v_baseline`` mV, ``peak_deflect`` mV, ``sag``).

    ``sag`` is defined for hyperpolarising steps only (it measures the recovery of a
    hyperpolarisation); on depolarising steps its ratio has no meaning and is NaN.  ``arrays``:
    the sweep's :func:`~glifx.features.spikes.recorded_arrays` when the caller holds them (a
    second time base of a long sweep is as large as its voltage)."""
    t, v, i = arrays if arrays is not None else recorded_arrays(sweep)
    s0 = float(t[0]) if start is None else start
    s1 = float(t[-1]) if end is None else end
    rec: dict[str, Any] = {"sweep_number": sweep.sweep_number, "stimulus_name": sweep.stimulus_name,
                           "stimulus_amplitude": sweep.stimulus_amplitude, "start": s0, "end": s1,
                           "spike_count": len(spikes)}
    rec.update(all_train_features(t, v, spikes, s0, s1, extra=extra_train))
    if start is not None and end is not None:
        rec["stim_amp"] = stim_amp(t, i, start)
        rec["v_baseline"] = sub.baseline_voltage(t, v, start, baseline_interval)
        rec["peak_deflect"], _ = sub.voltage_deflection(t, v, i, start, end)
        rec["sag"] = (sub.sag(t, v, i, start, end, baseline_interval=sag_baseline_interval)
                      if rec["stim_amp"] < 0 else math.nan)
    return rec


def _first_spike(spikes: pd.DataFrame, prefix: str) -> dict[str, float]:
    out = {}
    for k in FIRST_SPIKE_FEATURES:
        val = spikes[k].iloc[0] if len(spikes) and k in spikes else math.nan
        out[f"{prefix}{k}"] = float(val) if val is not None else math.nan
    return out


def long_square_summary(
    sweeps: Sequence[Any],
    start: float | None = None,
    end: float | None = None,
    *,
    spikes: dict[int, pd.DataFrame] | None = None,
    subthresh_min_amp: float = -100.0,
    baseline_interval: float = 0.1,
    sag_baseline_interval: float = 0.03,
    tau_frac: float = 0.1,
    use_prestep: bool = True,
    **spike_params: Any,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Cell features of a Long Square step set (ipfx ``LongSquareAnalysis`` definitions).

    Parameters
    ----------
    sweeps
        :class:`glifx.Sweep` objects with their commands (``i`` pA).
    start, end
        The step window, s; default :func:`step_window`.
    spikes
        Spike tables already detected in that window, by sweep number (else detected here).
    subthresh_min_amp
        Sweeps with ``subthresh_min_amp < stim_amp < 0`` pA give tau and input resistance (ipfx).
    baseline_interval, sag_baseline_interval
        Pre-stimulus intervals for the baseline and for sag, s (ipfx: 0.1 and 0.03).
    tau_frac
        Fraction of the deflection where the tau fit starts.
    use_prestep
        Take tau / sag / input resistance from a common hyperpolarising pre-pulse when the step
        set has no subthreshold hyperpolarising sweep.
    **spike_params
        :class:`glifx.features.spikes.SpikeParams` fields.

    Returns
    -------
    record, sweep_table
        ``record``: ``rheobase_i`` (pA), ``rheobase_sweep_number``, ``fi_fit_slope`` (Hz/pA),
        ``hero_sweep_number``, ``hero_amp``, ``sag``, ``vm_for_sag`` (mV), ``tau`` (s),
        ``input_resistance`` (MΩ), ``v_baseline`` (mV), ``rheobase_first_spike_*``,
        ``hero_*`` train features, ``notes``.  ``sweep_table``: one row per sweep.
    """
    sweeps = [_Recorded(s) for s in sweeps]
    notes: list[str] = []
    if start is None or end is None:
        win = step_window(sweeps)  # as long_square_window
        if win is None:
            raise ConfigError("no step found in the commands: pass start and end")
        start, end = win
    rows, spk = [], {}
    for s in sweeps:
        arrays = s.arrays()
        df = spikes.get(s.sweep_number) if spikes is not None else None
        if df is None:
            df = detect_spikes(*arrays, start, end, sampling_rate=s.sampling_rate, **spike_params)
        spk[s.sweep_number] = df
        rows.append(sweep_record(s, df, start, end, baseline_interval=baseline_interval,
                                 sag_baseline_interval=sag_baseline_interval, extra_train=False,
                                 arrays=arrays))
        del arrays
    table = pd.DataFrame(rows)
    v_base = float(np.nanmean(table["v_baseline"])) if len(table) else math.nan
    rec: dict[str, Any] = {"start": start, "end": end, "v_baseline": v_base}
    spiking = table[table["avg_rate"] > 0].sort_values("stim_amp", kind="stable")
    depol = spiking[spiking["stim_amp"] > ZERO_STEP_PA]
    rec.update(rheobase_i=math.nan, rheobase_sweep_number=None, fi_fit_slope=math.nan,
               hero_sweep_number=None, hero_amp=math.nan)
    if len(depol):
        rheo = depol.iloc[0]
        rec["rheobase_i"] = float(rheo["stim_amp"])
        rec["rheobase_sweep_number"] = int(rheo["sweep_number"])
        rec.update(_first_spike(spk[int(rheo["sweep_number"])], "rheobase_first_spike_"))
        if spiking["stim_amp"].nunique() >= 2:
            x = spiking["stim_amp"].to_numpy(float)
            design = np.vstack([x, np.ones_like(x)]).T
            rec["fi_fit_slope"] = float(np.linalg.lstsq(design, spiking["avg_rate"].to_numpy(float),
                                                        rcond=None)[0][0])
        else:
            notes.append("f-I slope needs spiking sweeps at two or more amplitudes")
        lo, hi = rec["rheobase_i"] + HERO_MIN_AMP_OFFSET, rec["rheobase_i"] + HERO_MAX_AMP_OFFSET
        in_range = spiking[(spiking["stim_amp"] > lo) & (spiking["stim_amp"] < hi)]
        if len(in_range):
            hero = in_range.iloc[0]
        else:  # none in range: the spiking sweep closest to rheobase + 39 pA (ipfx)
            hero = spiking.loc[(spiking["stim_amp"] - lo).abs().idxmin()]
        rec["hero_sweep_number"] = int(hero["sweep_number"])
        rec["hero_amp"] = float(hero["stim_amp"])
        for k in HERO_FEATURES:
            rec[f"hero_{k}"] = float(hero[k])
    else:
        notes.append("no spiking sweep with a positive amplitude: no rheobase")
    rec.update(sag=math.nan, vm_for_sag=math.nan, tau=math.nan, input_resistance=math.nan,
               subthreshold_window=[start, end])
    quiet = table[table["avg_rate"] == 0]
    calc = quiet[(quiet["stim_amp"] < 0) & (quiet["stim_amp"] > subthresh_min_amp)]
    if len(quiet):
        k = int(np.argmin(np.abs(quiet["peak_deflect"].to_numpy(float) - SAG_TARGET)))
        rec["sag"] = float(quiet["sag"].iloc[k])
        rec["vm_for_sag"] = float(quiet["peak_deflect"].iloc[k])
    if len(calc):
        by_num = {s.sweep_number: s for s in sweeps}
        chosen = [by_num[int(n)] for n in calc["sweep_number"]]
        rec.update(_passive(chosen, start, end, tau_frac, baseline_interval))
    elif use_prestep and (pre := _prestep_window(sweeps, start)) is not None:
        p0, p1 = pre
        bl = min(baseline_interval, p0 - float(sweeps[0].time_at(0)))
        sbl = min(sag_baseline_interval, bl)
        quiet_nums = set(quiet["sweep_number"]) if len(quiet) else set()
        pre_sweeps = [s for s in sweeps
                      if len(detect_spikes(*s.arrays(), p0, p1, sampling_rate=s.sampling_rate,
                                           **spike_params)) == 0] or [s for s in sweeps
                                                                      if s.sweep_number in quiet_nums]
        if pre_sweeps and bl > 0:
            rec.update(_passive(pre_sweeps, p0, p1, tau_frac, bl))
            sags = [sub.sag(*s.arrays(), p0, p1, baseline_interval=sbl) for s in pre_sweeps]
            defl = [sub.voltage_deflection(*s.arrays(), p0, p1, "min")[0] for s in pre_sweeps]
            k = int(np.argmin(np.abs(np.array(defl) - SAG_TARGET)))
            rec["sag"], rec["vm_for_sag"] = float(sags[k]), float(defl[k])
            rec["subthreshold_window"] = [p0, p1]
            notes.append(f"no hyperpolarising step: tau, sag and input resistance from the common "
                         f"pre-pulse {p0:g}-{p1:g} s ({len(pre_sweeps)} sweeps, baseline {bl:g} s)")
    else:
        notes.append(f"no subthreshold sweep with {subthresh_min_amp:g} < stim_amp < 0 pA: "
                     "no tau or input resistance")
    rec["notes"] = notes
    return rec, table


def _passive(chosen: Sequence[Any], start: float, end: float, tau_frac: float,
             baseline_interval: float) -> dict[str, float]:
    arrays = [s.arrays() for s in chosen]  # the few hyperpolarising sweeps, held once
    peak_times = [t[sub.voltage_deflection(t, v, i, start, end, "min")[1]] for t, v, i in arrays]
    median_peak = float(np.median(peak_times))
    taus = [sub.time_constant(t, v, i, start, end, median_peak, tau_frac, baseline_interval)
            for t, v, i in arrays]
    rin = sub.input_resistance([a[0] for a in arrays], [a[2] for a in arrays],
                               [a[1] for a in arrays], start, end, baseline_interval)
    return {"tau": float(np.nanmean(taus)) if np.any(np.isfinite(taus)) else math.nan,
            "input_resistance": rin}


def first_spike_means(spike_tables: Sequence[pd.DataFrame]) -> dict[str, float]:
    """Mean over sweeps of each first-spike feature (NaN-aware), ``mean_spike_0_*`` keys."""
    out = {}
    for k in FIRST_SPIKE_FEATURES:
        vals = [float(df[k].iloc[0]) for df in spike_tables if len(df) and k in df]
        vals = [x for x in vals if x == x]
        out[f"mean_spike_0_{k}"] = float(np.mean(vals)) if vals else math.nan
    return out


def short_square_summary(sweeps: Sequence[Any], spikes: dict[int, pd.DataFrame]) -> dict[str, Any]:
    """Most common spiking amplitude (ties: the lower) and the mean first-spike features there.

    ``spikes``: spike table per sweep number over its stimulus window.
    """
    amps = {}
    for s in sweeps:
        win = s.stimulus_window
        if win is None or s.i is None:
            continue
        k = int(np.searchsorted(s.t, win[0]))
        amps[s.sweep_number] = float(np.max(s.i[k:]))
    spiking = [n for n in amps if len(spikes.get(n, ())) > 0]
    if not spiking:
        return {"stimulus_amplitude": math.nan, "common_amp_sweeps": [],
                "notes": ["no spiking short square sweep"]}
    counts = Counter(amps[n] for n in spiking).most_common()
    top = counts[0][1]
    common = min(a for a, c in counts if c == top)
    chosen = [n for n in spiking if amps[n] == common]
    rec = {"stimulus_amplitude": common, "common_amp_sweeps": chosen}
    rec.update(first_spike_means([spikes[n] for n in chosen]))
    return rec


def ramp_summary(sweeps: Sequence[Any], spikes: dict[int, pd.DataFrame]) -> dict[str, Any]:
    """Mean first-spike features over the spiking ramps."""
    spiking = [s.sweep_number for s in sweeps if len(spikes.get(s.sweep_number, ())) > 0]
    rec: dict[str, Any] = {"spiking_sweeps": spiking}
    rec.update(first_spike_means([spikes[n] for n in spiking]))
    return rec


def noise_epochs(t: np.ndarray | Callable[[np.ndarray], np.ndarray], i: np.ndarray,
                 min_gap: float = 0.2, after: float | None = None) -> list[tuple[float, float]]:
    """Epochs (s) where the command varies, split at constant stretches longer than ``min_gap`` s;
    only changes after time ``after`` (e.g. the end of a test pulse) count (strictly after).

    ``t``: the sample times (s), or a function of sample indices giving them
    (:meth:`glifx.Sweep.time_at`), so that a long sweep's time base is never built (84 MB for
    21 s at 500 kHz)."""
    at = t if callable(t) else np.asarray(t).__getitem__
    changes = np.flatnonzero(i[1:] != i[:-1]) + 1  # a boolean temporary, not a float diff
    times = np.asarray(at(changes), dtype=float)
    if after is not None:
        changes, times = changes[times > after], times[times > after]
    if changes.size == 0:
        return []
    gaps = np.flatnonzero(np.diff(times) > min_gap)
    starts = np.r_[0, gaps + 1]
    ends = np.r_[gaps, changes.size - 1]
    return [(float(times[a]), float(times[b])) for a, b in zip(starts, ends, strict=True)]


def reliability(trains: Sequence[np.ndarray], duration: float, sigma: float = 0.01,
                dt: float = 0.001) -> float:
    """Mean pairwise correlation of Gaussian-smoothed spike trains (Schreiber et al. 2003).

    ``trains``: spike times relative to each repeat's start, s; ``sigma``: kernel width, s.
    NaN with fewer than two trains or when no pair has spikes in both.
    """
    if len(trains) < 2 or not duration > 10 * dt:
        return math.nan
    edges = np.arange(0.0, duration + dt, dt)
    kt = np.arange(-4 * sigma, 4 * sigma + dt, dt)
    kernel = np.exp(-0.5 * (kt / sigma) ** 2)
    smooth = [np.convolve(np.histogram(tr, edges)[0].astype(float), kernel, "same") for tr in trains]
    vals = []
    for a in range(len(smooth)):
        for b in range(a + 1, len(smooth)):
            na, nb = np.linalg.norm(smooth[a]), np.linalg.norm(smooth[b])
            if na > 0 and nb > 0:
                vals.append(float(smooth[a] @ smooth[b] / (na * nb)))
    return float(np.mean(vals)) if vals else math.nan


def noise_summary(sweeps: Sequence[Any], spikes: dict[int, pd.DataFrame]) -> dict[str, Any]:
    """Noise 1 / Noise 2: per sweep, the noise epochs (after any test pulse), spike times per epoch
    (relative to the epoch's start, s) and rate per epoch (Hz); per stimulus name, the reliability
    of each epoch across the sweeps that repeat it (Allen: the same noise played in several sweeps)
    and the reliability across epochs within a sweep (when its epochs are repeats of one length).

    ``spikes`` are whole-sweep spike tables by sweep number.
    """
    out: dict[str, Any] = {"sweeps": {}, "repeats": {}}
    by_name: dict[str, list[list[np.ndarray]]] = {}
    dur_by_name: dict[str, list[list[float]]] = {}
    for s in sweeps:
        if s.i is None:
            continue
        test = s.epochs.test
        # the command changes back at test[1] + 1, the end of the test pulse
        after = float(s.time_at(min(test[1] + 1, s.n_samples - 1))) if test is not None else None
        eps = noise_epochs(s.time_at, s.i, after=after)
        df = spikes.get(s.sweep_number)
        tt = df["threshold_t"].to_numpy(float) if df is not None and len(df) else np.empty(0)
        trains = [tt[(tt >= a) & (tt <= b)] - a for a, b in eps]
        durs = [b - a for a, b in eps]
        same = len(durs) > 1 and np.ptp(durs) < 1e-3
        out["sweeps"][str(s.sweep_number)] = {
            "stimulus_name": s.stimulus_name,
            "epochs": [[a, b] for a, b in eps],
            "rate_per_epoch": [len(tr) / d if d > 0 else math.nan
                               for tr, d in zip(trains, durs, strict=True)],
            "spike_times_per_repeat": [tr.tolist() for tr in trains],
            "reliability_across_epochs": reliability(trains, min(durs)) if same else math.nan,
        }
        by_name.setdefault(s.stimulus_name or "noise", []).append(trains)
        dur_by_name.setdefault(s.stimulus_name or "noise", []).append(durs)
    for name, per_sweep in by_name.items():
        n_ep = min(len(x) for x in per_sweep)
        rel = []
        for e in range(n_ep):
            durs = [d[e] for d in dur_by_name[name]]
            ok = np.ptp(durs) < 1e-3
            rel.append(reliability([x[e] for x in per_sweep], min(durs)) if ok else math.nan)
        out["repeats"][name] = {"n_sweeps": len(per_sweep), "reliability_per_epoch": rel}
    return out
