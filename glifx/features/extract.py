"""``extract_features``: every feature of a cell in one call, and writing them to disk.

Units: s, mV, pA, V/s, Hz, MΩ (ipfx's names and units).
"""

from __future__ import annotations

import math
import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from glifx._display import fmt, html_repr, text_repr
from glifx._files import updated_dir, write_columns, write_json_atomic, write_text_atomic
from glifx.errors import GlifxError, SweepError
from glifx.features import cell as cf
from glifx.features.columns import FEATURE_FILES
from glifx.features.spikes import (
    SPIKE_COLUMNS,
    SpikeParams,
    adjusted_detection_params,
    calculate_dvdt,
    detect_spikes,
    recorded_arrays,
    recorded_current,
)
from glifx.sweep import CURRENT_CLAMP, sweep_ranges

EXCLUDED_STIMULI = {"test", "search"}
#: Window after Short Square onset (s) from which detection parameters are adapted (ipfx).
SHORT_SQUARE_EST_WINDOW = 0.001
NOISE_STIMULI = {"noise 1", "noise 2"}
#: Square steps: their ``stim_amp`` is measured on the command (ipfx).
STEP_STIMULI = {"long square", "short square"}
#: Action potentials rise well above this from threshold to peak, mV; lower "spikes" are warned about.
MIN_PLAUSIBLE_SPIKE_HEIGHT_MV = 20.0
SWEEP_BASE_COLUMNS = ["sweep_number", "stimulus_name", "stim_amp", "start", "end",
                      "spike_count", "avg_rate", "latency", "first_isi", "mean_isi", "median_isi",
                      "isi_cv", "adapt", "filter_khz"]


@dataclass
class CellFeatures:
    """All features of one cell.

    Attributes
    ----------
    spikes
        Every spike of every analysed current-clamp sweep, detected on the whole sweep whatever
        its stimulus: ``sweep_number``, ``relative_to_stimulus`` (``"before"``, ``"during"``,
        ``"after"`` the sweep's stimulus window, by threshold time, or ``"no_stimulus"``), then
        the columns of :data:`glifx.features.spikes.SPIKE_COLUMNS` (times s on the sweep's own
        clock, which starts at 0).
    sweeps
        One row per analysed sweep (columns in :data:`glifx.features.columns.SWEEP_FEATURES_CSV`):
        ``sweep_number``, ``stimulus_name``, ``stim_amp`` (pA), window ``start``/``end``
        (s), ``spike_count`` (spikes in the window), ``spike_count_whole_sweep``, train features
        over the window (``avg_rate`` Hz, ``latency`` s, ISIs s, ``isi_cv``,
        ``adapt``, ``burst``, ``pause``, ``delay``...), and for steps ``v_baseline``,
        ``peak_deflect`` (mV), ``sag``; plus ``filter_khz`` used.
    cell
        Cell record: ``cell_id``, per-protocol summaries (``long_square``, ``short_square``,
        ``ramp``, ``noise``), ``dropped_sweeps`` {sweep number: reason}, ``params``,
        ``warnings`` (:func:`spike_warnings`).
    """

    spikes: pd.DataFrame
    sweeps: pd.DataFrame
    cell: dict[str, Any] = field(default_factory=dict)

    def key_features(self) -> dict[str, Any]:
        """The cell-type features a physiologist looks at first (ipfx names and units): Long
        Square ``rheobase_i`` pA, ``input_resistance`` MΩ, ``tau`` s, ``sag``, ``v_baseline`` mV,
        ``fi_fit_slope`` Hz/pA and the rheobase sweep's first-spike ``threshold_v`` mV,
        ``peak_v`` mV, ``width`` s, ``upstroke_downstroke_ratio``; NaN where not measured."""
        ls = self.cell.get("long_square") or {}
        keys = ("rheobase_i", "input_resistance", "tau", "sag", "v_baseline", "fi_fit_slope")
        out = {k: ls.get(k, math.nan) for k in keys}
        for k in ("threshold_v", "peak_v", "width", "upstroke_downstroke_ratio"):
            out[f"first_spike_{k}"] = ls.get(f"rheobase_first_spike_{k}", math.nan)
        return out

    def __repr__(self) -> str:
        n_sweeps = self.spikes["sweep_number"].nunique() if len(self.spikes) else 0
        shown = ", ".join(f"{k}={fmt(v)}" for k, v in list(self.key_features().items())[:4])
        lines = [f"{len(self.spikes)} spikes on {n_sweeps} of {len(self.sweeps)} sweeps",
                 f"long square: {shown}",
                 *(f"warning: {w}" for w in self.cell.get("warnings", []))]
        if self.cell.get("dropped_sweeps"):
            lines.append(f"dropped sweeps: {', '.join(self.cell['dropped_sweeps'])}")
        return text_repr(f"CellFeatures({self.cell.get('cell_id')!r})", lines)

    def _repr_html_(self) -> str:
        """Notebook view: the key features, warnings and the sweep-feature table."""
        cols = [c for c in ("sweep_number", "stimulus_name", "stim_amp", "spike_count",
                            "spike_count_whole_sweep", "avg_rate", "latency") if c in self.sweeps]
        notes = [f"warning: {w}" for w in self.cell.get("warnings", [])]
        return html_repr(f"Features of {self.cell.get('cell_id')}",
                         list(self.key_features().items()), self.sweeps[cols], notes)

    def write(self, out_dir: str | os.PathLike[str], *, atomic: bool = True) -> dict[str, Path]:
        """Write ``spikes.csv``, ``sweep_features.csv`` and ``cell_features.json`` into
        ``out_dir`` (created if needed), with their column descriptions in ``columns.json``
        (:mod:`glifx.features.columns`): the files appear together or not at all
        (:func:`glifx._files.updated_dir`); ``atomic=False`` writes straight into ``out_dir``,
        for a caller that stages the folder itself.  Raises
        :class:`~glifx.errors.OutputError` when they cannot be written."""
        names = {"spikes": "spikes.csv", "sweeps": "sweep_features.csv",
                 "cell": "cell_features.json", "columns": "columns.json"}
        out = Path(out_dir)
        if not atomic:
            out.mkdir(parents=True, exist_ok=True)
        with updated_dir(out) if atomic else nullcontext(out) as stage:
            write_text_atomic(stage / names["spikes"], self.spikes.to_csv(index=False))
            write_text_atomic(stage / names["sweeps"], self.sweeps.to_csv(index=False))
            write_json_atomic(stage / names["cell"], self.cell)
            write_columns(stage, FEATURE_FILES)
        return {key: out / name for key, name in names.items()}


def stimulus_relation(times: np.ndarray, window: tuple[float, float] | None) -> np.ndarray:
    """Where each time (s) lies relative to a stimulus window (s): ``"before"``, ``"during"``
    (inclusive bounds), ``"after"``, or ``"no_stimulus"`` for every time when ``window`` is
    ``None``."""
    times = np.asarray(times, dtype=float)
    if window is None:
        return np.full(times.shape, "no_stimulus", dtype=object)
    return np.where(times < window[0], "before",
                    np.where(times > window[1], "after", "during")).astype(object)


def spike_warnings(spikes: pd.DataFrame, sweeps: pd.DataFrame) -> list[str]:
    """Plausibility warnings about detected spikes, one line per kind.

    - spikes during a hyperpolarising step (``stim_amp`` below ``-ZERO_STEP_PA``): a cell does not
      fire while it is pushed down; these are usually noise or glitches;
    - spikes less than :data:`MIN_PLAUSIBLE_SPIKE_HEIGHT_MV` from threshold to peak (detection
      accepts 2 mV, ipfx's ``min_height``): quantisation steps or noise rather than action potentials.

    Parameters
    ----------
    spikes
        ``CellFeatures.spikes`` (``sweep_number``, ``relative_to_stimulus``, ``threshold_v``,
        ``peak_v`` mV).
    sweeps
        ``CellFeatures.sweeps`` (``sweep_number``, ``stim_amp`` pA where known).
    """
    if spikes.empty:
        return []
    out = []
    if "stim_amp" in sweeps.columns:
        hyper = set(sweeps.loc[sweeps["stim_amp"] < -cf.ZERO_STEP_PA, "sweep_number"].astype(int))
        during = spikes[(spikes["relative_to_stimulus"] == "during")
                        & spikes["sweep_number"].isin(hyper)]
        if len(during):
            out.append(f"{len(during)} spike(s) during hyperpolarising steps on sweeps "
                       f"{sweep_ranges(during['sweep_number'])}: noise or glitches?")
    height = spikes["peak_v"] - spikes["threshold_v"]
    low = spikes[height < MIN_PLAUSIBLE_SPIKE_HEIGHT_MV]
    if len(low):
        out.append(f"{len(low)} spike(s) less than {MIN_PLAUSIBLE_SPIKE_HEIGHT_MV:g} mV from "
                   f"threshold to peak (median {float(np.median(height[low.index])):.1f} mV) on "
                   f"sweeps {sweep_ranges(low['sweep_number'])}: noise or quantisation steps?")
    return out


def _one_amplitude(table: pd.DataFrame) -> pd.DataFrame:
    """One amplitude column, ``stim_amp`` (pA), after ``stimulus_name``: on square steps the
    amplitude measured on the command (ipfx), elsewhere (ramps, noise, pulse triples, test) the
    file's amplitude, since the command one sample into those stimuli is not their amplitude."""
    if "stimulus_amplitude" not in table.columns:
        return table
    amp = table.pop("stimulus_amplitude").astype(float)
    measured = table.pop("stim_amp").astype(float) if "stim_amp" in table.columns else amp
    steps = table["stimulus_name"].fillna("").str.strip().str.casefold().isin(STEP_STIMULI)
    table.insert(2, "stim_amp", measured.where(steps & measured.notna(), amp))
    return table


def _name(sweep: Any) -> str:
    return (sweep.stimulus_name or "").strip().casefold()


@dataclass
class PulseDetection:
    """Spikes of a group of short-pulse sweeps and the detection parameters used.

    Attributes
    ----------
    spikes
        Sweep number -> spike table (ipfx columns); sweeps whose detection failed are absent.
    params
        The spike-detection parameters used (``dv_cutoff`` V/s and ``thresh_frac`` adapted).
    note
        What was adapted, in words, or ``None``.
    """

    spikes: dict[int, pd.DataFrame]
    params: dict[str, Any]
    note: str | None = None


def detect_pulse_spikes(sweeps: list[Any], **spike_params: Any) -> PulseDetection:
    """Spikes of Short Square or Short Square - Triple sweeps by ipfx's Short Square rule.

    ``dv_cutoff`` and ``thresh_frac`` are adapted from the first 1 ms after the pulse onset
    (a 3 ms pulse drives the voltage fast but passively), and spikes are searched over the whole
    sweep, because they often cross threshold after the pulse has ended; for a triple the
    stimulus window ends with the last pulse and would lose the spike that follows it.

    Parameters
    ----------
    sweeps
        Sweeps of one pulse protocol, sharing their timing (``t`` s, ``v`` mV, ``i`` pA).
    **spike_params
        Spike-detection parameters as for :func:`glifx.features.spikes.detect_spikes`.
    """
    win = sweeps[0].stimulus_window
    params = {k: v for k, v in spike_params.items() if k not in ("dv_cutoff", "thresh_frac")}
    note = None
    if win is not None:
        cutoff, frac = adjusted_detection_params(sweeps, win[0], win[0] + SHORT_SQUARE_EST_WINDOW,
                                                 filter=spike_params.get("filter", 10.0))
        if np.isfinite(cutoff) and cutoff > 0:
            params.update(dv_cutoff=cutoff, thresh_frac=frac)
            note = f"adapted detection: dv_cutoff {cutoff:.4g} V/s, thresh_frac {frac:.4g}"
    spikes = {}
    for s in sweeps:
        t, v, i = recorded_arrays(s)
        try:
            spikes[s.sweep_number] = detect_spikes(t, v, i, sampling_rate=s.sampling_rate, **params)
        except GlifxError:  # keeps the sweep's first-pass result in extract_features
            continue
    return PulseDetection(spikes, params, note)


def _redetect_pulses(sweeps, spikes_by, rows, extra_train, spike_params) -> PulseDetection:
    """Detect a pulse protocol's spikes by :func:`detect_pulse_spikes`; replace those sweeps'
    spikes and rows (train features over the whole sweep)."""
    found = detect_pulse_spikes(sweeps, **spike_params)
    by_row = {r["sweep_number"]: k for k, r in enumerate(rows)}
    for s in sweeps:
        df = found.spikes.get(s.sweep_number)
        if df is None:
            continue
        spikes_by[s.sweep_number] = df
        row = cf.sweep_record(s, df, None, None, extra_train=extra_train)
        row["filter_khz"] = df.attrs.get("filter_khz")
        rows[by_row[s.sweep_number]] = row
    return found


def _short_squares(sweeps, spikes_by, rows, extra_train, spike_params) -> dict[str, Any]:
    """Short Square summary (ipfx) on spikes found by :func:`detect_pulse_spikes`."""
    found = _redetect_pulses(sweeps, spikes_by, rows, extra_train, spike_params)
    summary = cf.short_square_summary(sweeps, spikes_by)
    summary["detection"] = {k: found.params.get(k) for k in ("dv_cutoff", "thresh_frac")}
    if found.note:
        summary.setdefault("notes", []).append(found.note)
    return summary


def _in_window(window: tuple[float | None, float | None], sweeps: list[Any],
               spikes_by: dict[int, pd.DataFrame]) -> dict[int, pd.DataFrame]:
    """The spike tables of ``sweeps`` detected in exactly ``window`` (s), the Long Square
    summary's (:func:`glifx.features.cell.long_square_window`), which it then need not detect
    again."""
    out = {}
    for s in sweeps:
        df = spikes_by.get(s.sweep_number)
        if df is not None and (df.attrs.get("start"), df.attrs.get("end")) == window:
            out[s.sweep_number] = df
    return out


def extract_features(cell: Any, qc: Any | None = None, *, extra_train: bool = True,
                     **spike_params: Any) -> CellFeatures:
    """Spike, sweep and cell features of every current-clamp sweep of ``cell``.

    Spikes are detected on the whole of each sweep (``CellFeatures.spikes``); the window-defined
    features (train features, step features, the protocol summaries) use the spikes inside the
    sweep's stimulus window, as ipfx defines them.  Every sweep is analysed on its own clock
    (:meth:`glifx.Sweep.from_zero`).  Test and search sweeps, which QC excludes rather than fails,
    are searched for spikes over their whole length.

    Parameters
    ----------
    cell
        A :class:`glifx.Cell`.
    qc
        A QC result (``qc.passed_sweeps``: list of sweep numbers); when given only those sweeps
        (and test/search sweeps) are analysed and the others are listed in
        ``cell["dropped_sweeps"]`` with the reason.
    extra_train
        Also compute burst, pause and delay per sweep.
    **spike_params
        :class:`glifx.features.spikes.SpikeParams` fields (ipfx defaults; ``filter=10`` kHz is
        clipped below Nyquist on 10 and 20 kHz data).

    Returns
    -------
    CellFeatures

    Examples
    --------
    >>> feats = glifx.extract_features(glifx.load_cell("cell.abf"))   # doctest: +SKIP
    >>> feats.cell["long_square"]["rheobase_i"]                       # doctest: +SKIP
    """
    SpikeParams.from_kwargs(**spike_params)  # validate names early
    dropped: dict[int, str] = {}
    passed = None
    if qc is not None:
        passed = set(int(n) for n in qc.passed_sweeps)
        reasons = {}
        table = getattr(qc, "sweeps", None)
        if isinstance(table, pd.DataFrame) and {"sweep_number", "reasons"} <= set(table.columns):
            for num, why in zip(table["sweep_number"], table["reasons"], strict=True):
                reasons[int(num)] = "; ".join(why) if isinstance(why, list | tuple) else str(why)
    sweeps = []
    for rec in cell.records:
        n = rec.sweep_number
        if rec.clamp_mode != CURRENT_CLAMP:
            dropped[n] = "voltage clamp"
        elif passed is not None and n not in passed and _name(rec) not in EXCLUDED_STIMULI:
            dropped[n] = "failed QC: " + (reasons.get(n) or "not in qc.passed_sweeps")
        else:  # each sweep on its own clock: files may keep every sweep's start time
            try:
                sweeps.append(cell.sweep(n).from_zero())
            except GlifxError as exc:  # an unreadable sweep is dropped, with the reason
                dropped[n] = exc.reason if isinstance(exc, SweepError) else str(exc)

    filter_khz = SpikeParams.from_kwargs(**spike_params).filter
    spikes_by: dict[int, pd.DataFrame] = {}  # spikes in each sweep's feature window
    whole_by: dict[int, pd.DataFrame] = {}  # spikes anywhere in each sweep
    rows = []
    for s in sweeps:
        try:
            t, v, i = recorded_arrays(s)  # first: the epochs (stimulus window) are found on these
            whole_sweep = _name(s) in NOISE_STIMULI or _name(s) in EXCLUDED_STIMULI
            start, end = (None, None) if whole_sweep else (s.stimulus_window or (None, None))
            if _name(s) == "ramp" and start is not None:  # runs until the cell fires or the sweep ends
                end = float(s.time_at(s.n_samples - 1))
            if end is not None:
                end = min(end, float(t[-1]))
            if start is not None and start >= t[-1]:
                raise SweepError(s.sweep_number, "recording stops before the stimulus", s.source)
            # one filtered derivative for both detections: the window's (ipfx's window-defined
            # features) and the whole sweep's (every spike, spontaneous ones included); the
            # current is let go while it is filtered (a sweep read as FileSamples builds it
            # again, so that the filter's work buffer and the current are never held together)
            del i
            dvdt, _, _ = calculate_dvdt(t, v, filter_khz, s.sampling_rate)
            i = recorded_current(s, v.size)
            whole = detect_spikes(t, v, i, sampling_rate=s.sampling_rate, dvdt=dvdt,
                                  **spike_params)
            df = whole if start is None and end is None else detect_spikes(
                t, v, i, start, end, sampling_rate=s.sampling_rate, dvdt=dvdt, **spike_params)
        except GlifxError as exc:
            dropped[s.sweep_number] = f"spike detection failed: {exc}"
            continue
        spikes_by[s.sweep_number] = df
        whole_by[s.sweep_number] = whole
        del dvdt  # its memory is the next sweep's: 84 MB for 21 s at 500 kHz
        row = cf.sweep_record(s, df, start, end, extra_train=extra_train, arrays=(t, v, i))
        row["filter_khz"] = df.attrs.get("filter_khz")
        rows.append(row)
        del t, v, i  # a sweep read as FileSamples then keeps only its file's float32 samples

    record: dict[str, Any] = {"cell_id": cell.cell_id, "source": cell.source,
                              "dropped_sweeps": {str(k): v for k, v in sorted(dropped.items())},
                              "params": SpikeParams.from_kwargs(**spike_params).__dict__}
    groups: dict[str, list[Any]] = {}
    for s in sweeps:
        if s.sweep_number in spikes_by:
            groups.setdefault(_name(s), []).append(s)
    if groups.get("long square"):
        try:
            window = cf.long_square_window(groups["long square"]) or (None, None)
            ls, _ = cf.long_square_summary(groups["long square"], *window,
                                           spikes=_in_window(window, groups["long square"],
                                                             spikes_by),
                                           **spike_params)
            record["long_square"] = ls
        except (ValueError, GlifxError) as exc:
            record["long_square"] = {"notes": [str(exc)]}
    if groups.get("short square"):
        record["short_square"] = _short_squares(groups["short square"], spikes_by, rows, extra_train,
                                                spike_params)
    if groups.get("short square - triple"):  # no summary, but the spike after the last pulse
        _redetect_pulses(groups["short square - triple"], spikes_by, rows, extra_train, spike_params)
    if groups.get("ramp"):
        record["ramp"] = cf.ramp_summary(groups["ramp"], spikes_by)
    noise = [s for k in sorted(NOISE_STIMULI) for s in groups.get(k, [])]  # a set: fixed order
    if noise:
        record["noise"] = cf.noise_summary(noise, spikes_by)

    for name in ("short square", "short square - triple"):  # their detection is whole-sweep
        for s in groups.get(name, []):
            whole_by[s.sweep_number] = spikes_by[s.sweep_number]
    for row in rows:
        row["spike_count_whole_sweep"] = len(whole_by[row["sweep_number"]])
    by_number = {s.sweep_number: s for s in sweeps}
    parts = []
    for n, df in whole_by.items():
        if len(df):
            d = df.copy()
            d.insert(0, "sweep_number", n)
            d.insert(1, "relative_to_stimulus",
                     stimulus_relation(d["threshold_t"].to_numpy(float),
                                       by_number[n].stimulus_window))
            parts.append(d)
    spikes = (pd.concat(parts, ignore_index=True) if parts
              else pd.DataFrame(columns=["sweep_number", "relative_to_stimulus", *SPIKE_COLUMNS]))
    table = _one_amplitude(pd.DataFrame(rows) if rows else pd.DataFrame(columns=SWEEP_BASE_COLUMNS))
    record["warnings"] = spike_warnings(spikes, table)
    return CellFeatures(spikes=spikes, sweeps=table, cell=record)
