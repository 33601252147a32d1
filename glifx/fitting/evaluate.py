"""What the fitted models do on the cell's own protocols, as plain arrays (for reports and users).

:func:`evaluate_fit` simulates each fitted level of a :class:`~glifx.fitting.FitResult` on the
sweeps the fit used (``FitResult.data``, SI, relative to rest) and returns
:class:`FitEvaluation`: per level the recorded and model spike trains on the test sweeps (scored
exactly as the test EV is), the model's f-I curve on the Long Square sweeps, and each model's
voltage on one training epoch beside the recording.  Units of the results: times s from sweep
start, voltages mV (absolute: ``1e3 * (v + El_reference)``), currents pA, rates Hz.

Each part is built on its own: when its data are missing (no Long Square or test sweep, a sweep
without a stimulus epoch) it is left out and :attr:`FitEvaluation.notes` says why.  Only
:class:`glifx.GlifxError` is turned into a note; anything else is a bug and propagates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from glifx.errors import ConfigError, GlifxError, SweepError
from glifx.fitting._kernels import away_runs
from glifx.fitting.data import FitData, SISweep
from glifx.fitting.scoring import SpikeTrainData

if TYPE_CHECKING:  # pragma: no cover
    from glifx.fitting.pipeline import FitResult

MV_PER_V = 1e3
PA_PER_A = 1e12
#: Current change (A) from the pre-stimulus level that marks a sample as inside a stimulus epoch.
EPOCH_CURRENT_A = 1e-12
#: Gaps shorter than this (s) do not split an epoch; epochs shorter than the minimum are ignored.
EPOCH_MERGE_S = 0.05
EPOCH_MIN_S = 0.2
#: Time (s) shown on either side of the overlaid training epoch.
OVERLAY_MARGIN_S = 0.2


@dataclass
class SpikeTrainComparison:
    """Spike trains on the test stimulus.

    Attributes
    ----------
    data_times
        Recorded spike times per test repeat, s from sweep start.
    model_times
        The model's spike times, one train per distinct test stimulus, s.
    t_range
        ``(start, end)`` of the stimulus, s, or ``None``.
    """

    data_times: list[np.ndarray]
    model_times: list[np.ndarray]
    t_range: tuple[float, float] | None


@dataclass
class ModelFI:
    """A model's f-I curve: firing rate (Hz) in the stimulus window of each Long Square sweep
    against its amplitude (pA)."""

    amplitude_pa: np.ndarray
    rate_hz: np.ndarray


@dataclass
class EpochOverlay:
    """One training epoch, recorded and simulated.

    Attributes
    ----------
    t
        Time, s from sweep start.
    v_data
        Recorded voltage, mV.
    stimulus_pa
        Injected current, pA.
    label
        Which sweep and epoch.
    model_v
        Level -> the model's voltage, mV (NaN in spike cuts).
    """

    t: np.ndarray
    v_data: np.ndarray
    stimulus_pa: np.ndarray
    label: str
    model_v: dict[int, np.ndarray] = field(default_factory=dict)


@dataclass
class FitEvaluation:
    """:func:`evaluate_fit`'s result: ``test_trains`` and ``fi`` map each fitted level to its
    result (levels whose part could not be made are absent); ``overlay`` (a training epoch),
    ``test_overlay`` (the busiest epoch of the first Noise 2 test sweep) and
    ``long_square_overlay`` (the lowest-amplitude Long Square that fired, whole step) are
    recorded-versus-model voltages or ``None``; ``notes`` say what was left out and why."""

    test_trains: dict[int, SpikeTrainComparison] = field(default_factory=dict)
    fi: dict[int, ModelFI] = field(default_factory=dict)
    overlay: EpochOverlay | None = None
    test_overlay: EpochOverlay | None = None
    long_square_overlay: EpochOverlay | None = None
    notes: list[str] = field(default_factory=list)


def evaluate_fit(fit: FitResult, data: FitData | None = None, *,
                 long_square_amplitudes_pa: Mapping[int, float] | None = None) -> FitEvaluation:
    """Simulate every fitted level of ``fit`` on the cell's test, Long Square and training sweeps.

    Parameters
    ----------
    fit
        The fit (:func:`glifx.fit_cell`).
    data
        The SI sweeps to use; default ``fit.data`` (the ones the fit used, Long Square included).
    long_square_amplitudes_pa
        Sweep number -> amplitude (pA) to plot each Long Square sweep at (e.g. the features'
        ``stim_amp``, so that model and recorded f-I curves share an axis); default each sweep's
        own amplitude.

    Returns
    -------
    FitEvaluation
    """
    out = FitEvaluation()
    own = data is None or data is fit.data  # the fit's runs are on these very sweeps
    data = data if data is not None else fit.data
    models = {lf.level: lf.model for lf in fit.levels.values() if lf.ok}
    if data is None:
        out.notes.append("Test spike trains, f-I curves and voltage overlay not shown: the fit "
                         "kept no prepared sweeps.")
        return out
    if not models:
        return out
    long_square = [s for s in data.long_square if s.stimulus is not None]
    amps = [(long_square_amplitudes_pa or {}).get(s.sweep_number, s.amplitude * PA_PER_A)
            for s in long_square]
    for level, model in models.items():
        lf = fit.levels[level]
        test_runs = lf.test_runs if own and len(lf.test_runs) == len(data.test) else None
        check = lf.protocol_check
        ls_runs = (check.long_square_runs if own and check is not None
                   and len(check.long_square_runs) == len(long_square) else None)
        if data.test:
            trains = _part(out, f"GLIF{level} test spike trains",
                           lambda m=model, r=test_runs: test_spike_trains(m, data.test, r))
            if trains is not None:
                out.test_trains[level] = trains
        else:
            out.notes.append(f"GLIF{level}: no test sweep, no test spike trains.")
        fi = _part(out, f"GLIF{level} f-I curve",
                   lambda m=model, r=ls_runs: model_fi(m, long_square, amps, r)
                   ) if long_square else None
        if fi is not None:
            out.fi[level] = fi
    if not long_square:
        out.notes.append("No model f-I curve: no Long Square sweep passed QC.")
    if data.train:
        out.overlay = _part(out, "voltage overlay", lambda: epoch_overlay(data, models))
    if data.test:
        out.test_overlay = _part(out, "test voltage overlay",
                                 lambda: epoch_overlay(data, models, data.test[0]))
    spiking = [s for s in long_square if s.spikes.size and s.amplitude > 0]
    if spiking:
        lowest = min(spiking, key=lambda s: s.amplitude)
        out.long_square_overlay = _part(out, "Long Square voltage overlay",
                                        lambda: sweep_overlay(data, models, lowest, lowest.stimulus))
    return out


def _part(out: FitEvaluation, what: str, build: Callable[[], Any]) -> Any:
    """``build()``, or ``None`` with a note that ``what`` is not shown when its data are missing
    or unusable."""
    try:
        return build()
    except GlifxError as exc:
        out.notes.append(f"{what} not shown: {exc}")
        return None


def test_spike_trains(model: Any, test: Sequence[SISweep],
                      runs: Sequence[np.ndarray] | None = None) -> SpikeTrainComparison:
    """Recorded spike times per test repeat and the model's on the test stimuli (s from sweep
    start), simulated exactly as the test EV is scored (common grid, data ``dt``); ``runs``:
    the model's spike steps per test sweep when already simulated so (``LevelFit.test_runs``).
    """
    if runs is None:
        tsd = SpikeTrainData.from_sweeps(list(test))
        dt, n_samples, spikes = tsd.dt, tsd.n_samples, tsd.spikes
        runs = tsd.simulate(model)
    else:  # the fit's runs: the grid and the recorded spikes suffice, no scorer to prepare
        dt, n_samples, spikes = _common_grid(test)
    data_times = [np.asarray(sp, dtype=np.float64) * dt for sp in spikes]
    model_times: list[np.ndarray] = []
    seen: list[np.ndarray] = []
    for steps in runs:
        # identical repeats give identical runs: show each once
        if not any(np.array_equal(steps, s) for s in seen):
            seen.append(steps)
            model_times.append(np.asarray(steps, dtype=np.float64) * dt)
    windows = [s.stimulus for s in test if s.stimulus is not None]
    t_range = None
    if windows:
        a = min(w[0] for w in windows) * dt
        b = min(max(w[1] for w in windows), n_samples - 1) * dt
        t_range = (a, b) if b > a else None
    return SpikeTrainComparison(data_times, model_times, t_range)


def _common_grid(sweeps: Sequence[SISweep]) -> tuple[float, int, list[np.ndarray]]:
    """``dt`` (s), length and recorded spike steps per sweep of the common grid
    :meth:`SpikeTrainData.from_sweeps` scores on (the shortest sweep), with its checks."""
    if not sweeps:
        raise ConfigError("no sweeps to score a model on")
    dts = {round(s.dt, 15) for s in sweeps}
    if len(dts) != 1:
        raise ConfigError(f"sweeps have different sample intervals: {sorted(dts)}")
    n = min(s.n_samples for s in sweeps)
    return float(sweeps[0].dt), n, [sp[sp < n] for sp in (np.asarray(s.spikes) for s in sweeps)]


def model_fi(model: Any, sweeps: Sequence[SISweep], amplitudes_pa: Sequence[float],
             runs: Sequence[np.ndarray] | None = None) -> ModelFI | None:
    """The model's firing rate (Hz) in the stimulus window of each Long Square sweep, simulated on
    that sweep's recorded current (A) at its ``dt``; ``None`` when no amplitude is finite.
    ``runs``: the model's spike steps on each of ``sweeps`` when already simulated so (the
    collapse guard's, ``ProtocolCheck.long_square_runs``)."""
    from glifx.glif import simulate, simulate_many

    finite = [k for k, (_, a) in enumerate(zip(sweeps, amplitudes_pa, strict=True))
              if np.isfinite(a)]
    keep = [(sweeps[k], amplitudes_pa[k]) for k in finite]
    if not keep:
        return None
    if runs is not None:
        runs = [runs[k] for k in finite]
    elif len({s.dt for s, _ in keep}) == 1:
        runs = simulate_many(model, [s.i for s, _ in keep], keep[0][0].dt)
    else:
        runs = [simulate(model, s.i, s.dt).spike_steps for s, _ in keep]
    rates = []
    for (s, _), steps in zip(keep, runs, strict=True):
        a, b = s.stimulus  # inclusive; the window lasts (b - a) * dt s, as ipfx's avg_rate counts
        n = np.count_nonzero((steps >= a) & (steps <= b))
        rates.append(n / (max(b - a, 1) * s.dt))
    return ModelFI(np.array([a for _, a in keep]), np.array(rates))


def stimulus_epochs(s: SISweep) -> list[tuple[int, int]]:
    """Half-open sample ranges of the stimulus epochs of a sweep (current away from its
    pre-stimulus level), gaps under :data:`EPOCH_MERGE_S` merged, short ones dropped."""
    if s.stimulus is None:
        return []
    a, b = s.stimulus
    base = float(np.median(s.i[max(0, a - int(0.1 / s.dt)):a])) if a > 0 else 0.0
    starts, stops = away_runs(np.ascontiguousarray(s.i[a:b + 1], dtype=np.float64), base,
                              EPOCH_CURRENT_A)  # one compiled pass over ~5 million samples
    if not starts.size:
        return []
    runs = [[int(x) + a, int(y) + a] for x, y in zip(starts, stops, strict=True)]
    merged = [runs[0]]
    for x, y in runs[1:]:
        if (x - merged[-1][1]) * s.dt < EPOCH_MERGE_S:
            merged[-1][1] = y
        else:
            merged.append([x, y])
    return [(x, y) for x, y in merged if (y - x) * s.dt >= EPOCH_MIN_S]


def epoch_overlay(data: FitData, models: Mapping[int, Any], sweep: SISweep | None = None
                  ) -> EpochOverlay:
    """The stimulus epoch of ``sweep`` (default: the first training sweep) with the most recorded
    spikes, and each model's voltage on it (mV, NaN in spike cuts)."""
    s = sweep if sweep is not None else data.train[0]
    epochs = stimulus_epochs(s)
    if not epochs:
        if s.stimulus is None:
            raise SweepError(s.sweep_number, "no stimulus epoch")
        epochs = [(s.stimulus[0], s.stimulus[1] + 1)]
    counts = [np.count_nonzero((s.spikes >= x) & (s.spikes < y)) for x, y in epochs]
    k = int(np.argmax(counts))
    return sweep_overlay(data, models, s, (epochs[k][0], epochs[k][1] - 1),
                         f"epoch {k + 1} of {len(epochs)}")


def sweep_overlay(data: FitData, models: Mapping[int, Any], s: SISweep,
                  window: tuple[int, int] | None, what: str = "stimulus") -> EpochOverlay:
    """Recorded and model voltage (mV) on the samples ``window`` (inclusive) of ``s`` with
    :data:`OVERLAY_MARGIN_S` either side; models simulated from the sweep's start (so that
    their state at the window is right) to the window's end."""
    from glifx.glif import simulate
    from glifx.glif.simulator import map_threads

    if window is None:
        raise SweepError(s.sweep_number, "no stimulus epoch")
    margin = int(round(OVERLAY_MARGIN_S / s.dt))
    lo, hi = max(0, window[0] - margin), min(s.n_samples, window[1] + 1 + margin)
    el_mv = data.el_reference * MV_PER_V
    overlay = EpochOverlay(
        t=np.arange(lo, hi) * s.dt, v_data=s.v_at(slice(lo, hi)) * MV_PER_V + el_mv,
        stimulus_pa=s.i_at(slice(lo, hi)) * PA_PER_A,
        label=f"{s.stimulus_name}, sweep {s.sweep_number}, {what}",
    )
    # up to the window's end only: a step depends on the ones before it, never after (one
    # array for every model's run)
    stimulus = np.ascontiguousarray(s.i_at(slice(0, hi)))

    def window_mv(model: Any) -> np.ndarray:  # each thread keeps only the window of its trace
        v = simulate(model, stimulus, s.dt, record=("voltage",)).voltage
        return v[lo:hi] * MV_PER_V + el_mv

    overlay.model_v.update(zip(models, map_threads(window_mv, list(models.values())), strict=True))
    return overlay
