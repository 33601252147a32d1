"""Preprocessing: the estimates every GLIF level starts from (GLIF_SPEC §3, steps 2–8).

Made once per cell, on the training (Noise 1), Short Square, Short Square - Triple and Long
Square sweeps only (never on the test sweeps): spike cut and voltage reset; R and C
(instrumental variables; on the subthreshold samples or with the after-spike currents,
:data:`MEMBRANE_METHODS`); after-spike currents (GLIF3–5; with the joint fit's R and C, else
with R and the subthreshold C); θ∞ (Short Square, GLIF1/3);
threshold components fitted jointly on Short Square, Triple and training spikes (GLIF2/4:
θ∞ and the spike component; GLIF5: θ∞, spike and voltage components); and, for the
reference optimiser, its own threshold estimates and the threshold-noise scale.

Each estimate is its result object or a :class:`Failed` value with the reason; only a
:class:`glifx.GlifxError` (the data do not allow the estimate) becomes :class:`Failed` — any other
exception is a bug and propagates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from functools import partial
from typing import Any

import numpy as np

from glifx._memory import release_free_memory
from glifx._threads import on_daemon_thread
from glifx.errors import ConfigError, EstimationError, GlifxError
from glifx.fitting import estimators as est
from glifx.fitting.data import FitData, SISweep, keep_on_read, release_kept

#: Least spike-free training time (s) for the passive R, C regression (else fitted with ASCs).
MIN_SUBTHRESHOLD_S = 1.0
#: How R and C are estimated: ``"joint"`` (default) with the after-spike currents on every
#: training sample outside the spike cuts (instrumental variables, quasi-differenced by the
#: intrinsic noise's measured correlation: :func:`glifx.fitting.estimators.after_spike_currents`),
#: falling back to ``"subthreshold"`` when that fit fails (the membrane's note says why);
#: ``"subthreshold"`` on the spike-free samples before each sweep's first spike (falling back to
#: the joint fit with less than :data:`MIN_SUBTHRESHOLD_S`).  The subthreshold window shrinks as
#: intrinsic noise brings the first spike forward and ends where the noise has just pushed V
#: up, so its R and C scatter and drift: on the development half of the bench (200 kHz, τ 5 ms,
#: ``python -m glifx.testing.bench --half dev --membrane-only``: the first 8 configs at noise 0.1,
#: all 24 at 0.3 × rheobase) R and C within 5 % on 4/8 and 9/24 cells subthreshold, 8/8 and
#: 17/24 joint (largest errors R +173 %, C +103 % subthreshold; C +36 % joint, README), before
#: the joint fit chose its rates again on the quasi-differenced rows and left 0.5 ms after each
#: cut out (README: "R and C under intrinsic noise").
#: Conductance-based cells can make the joint fit fail (post-spike conductances are no linear
#: membrane): the sample cells fall back to the subthreshold estimate.
MEMBRANE_METHODS = ("subthreshold", "joint")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Failed:
    """An estimate that could not be made, and why."""

    reason: str

    def __str__(self) -> str:
        return self.reason


@dataclass
class Preprocessing:
    """Estimates shared by the levels (SI, relative to rest).

    Each field is the estimate, a :class:`Failed` with its reason, or ``None`` when it was not
    needed by the levels and method of the fit.

    Attributes
    ----------
    reset
        Spike cut (s) and voltage reset rule (:class:`~glifx.fitting.estimators.SpikeReset`).
    membrane
        R (Ω) and C (F) (:class:`~glifx.fitting.estimators.Membrane`).
    asc
        After-spike currents and R (:class:`~glifx.fitting.estimators.AfterSpikeCurrents`).
    theta_inf
        θ∞ from Short Square, V.
    threshold_spike, threshold_full
        Joint threshold fits (:class:`~glifx.fitting.estimators.ThresholdComponents`): θ∞ and
        the spike component (GLIF2/4); θ∞, spike and voltage components (GLIF5).
    reference_threshold_spike, reference_threshold_full
        The reference's own threshold estimates, each from its own protocol
        (:func:`add_reference_thresholds`).
    noise_scale
        Laplace scale of the threshold noise (reference objective), V.
    uncertainty
        Estimate name (``reset``, ``membrane``, ``asc``, ``threshold_spike``,
        ``threshold_full``) -> model parameter name -> its
        :class:`~glifx.fitting.uncertainty.Uncertainty` (:func:`add_uncertainties`).
    times
        Estimate name -> seconds spent on it; ``"uncertainty"`` for the uncertainties, and
        ``"waiting"``: seconds the preprocessing did nothing because the caller's ``progress``
        held its regressions back after its thresholds had ended (:func:`glifx.process_cell`
        waits there for its features helper; 0 otherwise).
    """

    reset: est.SpikeReset | Failed | None = None
    membrane: est.Membrane | Failed | None = None
    asc: est.AfterSpikeCurrents | Failed | None = None
    theta_inf: float | Failed | None = None
    threshold_spike: est.ThresholdComponents | Failed | None = None
    threshold_full: est.ThresholdComponents | Failed | None = None
    reference_threshold_spike: est.ThresholdComponents | Failed | None = None
    reference_threshold_full: est.ThresholdComponents | Failed | None = None
    noise_scale: float | Failed | None = None
    uncertainty: dict[str, dict[str, Any]] = field(default_factory=dict)
    times: dict[str, float] = field(default_factory=dict)

    def require(self, name: str) -> Any:
        """The estimate ``name``.

        Raises
        ------
        EstimationError
            Naming the estimate and why it is missing.
        """
        value = getattr(self, name)
        if isinstance(value, Failed):
            raise EstimationError(f"{ESTIMATES[name]}: {value}")
        if value is None:
            raise EstimationError(f"{ESTIMATES[name]}: not estimated")
        return value

    def has(self, name: str) -> bool:
        """Whether the estimate ``name`` was made successfully."""
        return getattr(self, name) is not None and not isinstance(getattr(self, name), Failed)

    @property
    def cut(self) -> float | None:
        """Spike cut, s (``None`` when it could not be estimated)."""
        return self.reset.cut if isinstance(self.reset, est.SpikeReset) else None

    def thresholds(self, optimiser: str) -> tuple[str, str]:
        """Names of the ``(spike, full)`` threshold estimates ``optimiser`` starts from: the
        joint fit (``"ev"``) or the reference's separate estimates (``"reference"``)."""
        if optimiser == "reference":
            return "reference_threshold_spike", "reference_threshold_full"
        return "threshold_spike", "threshold_full"

    def as_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready dict: each made estimate's fields (SI), ``{"error": reason}`` for a
        failed one, and ``wall_time_s`` (name -> s)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("times", "uncertainty") or value is None:
                continue
            if isinstance(value, Failed):
                out[f.name] = {"error": value.reason}
            elif isinstance(value, float):
                out[f.name] = value
            else:
                out[f.name] = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                               for k, v in vars(value).items()}
        out["uncertainty"] = {name: {k: u.as_dict() for k, u in per.items()}
                              for name, per in self.uncertainty.items()}
        out["wall_time_s"] = dict(self.times)
        return out


#: Human names of the preprocessing estimates, for progress messages and reasons.
ESTIMATES = {
    "reset": "spike cut and reset", "membrane": "R and C", "asc": "after-spike currents",
    "theta_inf": "θ∞ (Short Square)", "threshold_spike": "threshold: θ∞ and spike component",
    "threshold_full": "threshold: θ∞, spike and voltage components",
    "reference_threshold_spike": "reference threshold: spike component (Triple)",
    "reference_threshold_full": "reference threshold: voltage component",
    "noise_scale": "threshold noise (Long Square)",
}


def _estimate(pre: Preprocessing, name: str, make: Callable[[], Any],
              progress: Progress | None) -> None:
    """Set ``pre.<name>`` to ``make()``, or to :class:`Failed` when the data do not allow it."""
    t0 = time.perf_counter()
    try:
        setattr(pre, name, make())
    except GlifxError as exc:
        setattr(pre, name, Failed(str(exc)))
    pre.times[name] = time.perf_counter() - t0
    if progress is not None:
        value = getattr(pre, name)
        status = f"failed: {value}" if isinstance(value, Failed) else "done"
        progress(f"preprocessing: {ESTIMATES[name]} {status} ({pre.times[name]:.2f} s)")


def _membrane(train: list[SISweep], block: int, pre: Preprocessing,
              min_subthreshold_s: float, membrane: str = "joint",
              cache: est.RegressionCache | None = None) -> est.Membrane:
    """R and C (see :data:`MEMBRANE_METHODS`): with ``"joint"``, or with less than
    ``min_subthreshold_s`` of spike-free data (a cell that fires in its "subthreshold" epoch),
    together with the after-spike currents on everything outside the cuts; else, or when that
    fit fails, on the spike-free part of the training sweeps.  The joint fit keeps per-sweep
    refits at its rates (``R_sweeps``, ``C_sweeps``) for the uncertainty."""
    # the masks are not kept through the joint fit (5 MB per 25 s sweep at 200 kHz);
    # resistance_capacitance makes the same ones again
    quiet = sum(est.subthreshold_mask(s.n_samples, s.dt, s.spikes, s.stimulus).sum() * s.dt
                for s in train)
    note = ""
    if pre.cut is None:
        note = "no spike cut: R and C from the subthreshold samples"
    elif membrane == "joint" or quiet < min_subthreshold_s:
        try:
            asc = est.after_spike_currents(train, None, pre.cut, block=block,
                                           reset=_reset_rule(pre), cache=cache)
        except GlifxError as exc:
            if quiet < min_subthreshold_s:
                raise
            note = f"the fit with the after-spike currents failed ({exc}): R and C from the " \
                   "subthreshold samples"
        else:
            from glifx.glif.simulator import map_threads

            def refit(s: SISweep) -> tuple[float, float] | None:
                try:
                    one = est.after_spike_currents([s], None, pre.cut, rates=tuple(asc.k),
                                                   block=block, reset=_reset_rule(pre),
                                                   cache=cache)
                except GlifxError:
                    return None
                return one.R, one.C

            # the sweeps' refits are independent (their forced runs release the GIL)
            per = [rc for rc in map_threads(refit, train) if rc is not None]
            per = per or [(asc.R, asc.C)]
            why = "" if asc.refinement == "quasi-differenced" else (
                f"R and C by {asc.refinement} refinement: the intrinsic noise's correlation was "
                "not modelled (none measured, or its refinement found no passive membrane)")
            return est.Membrane(asc.R, asc.C, np.array([r for r, _ in per]),
                                np.array([c for _, c in per]), "spiking", asc.noise_tau, why)
    mem = est.resistance_capacitance(train, block=block)
    return replace(mem, note=note if membrane == "joint" else "")


def _reset_rule(pre: Preprocessing) -> tuple[float, float] | None:
    return (pre.reset.a_r, pre.reset.b_r) if isinstance(pre.reset, est.SpikeReset) else None


def _asc_resistance(pre: Preprocessing) -> float | None:
    """The R the after-spike currents are fitted with: the joint fit's (noise-robust), or
    ``None`` (fitted with them, C given) when R and C come from the subthreshold samples."""
    return pre.membrane.R if pre.membrane.source == "spiking" else None


def _after_spike_currents(train: list[SISweep], block: int, pre: Preprocessing,
                          cache: est.RegressionCache | None = None) -> est.AfterSpikeCurrents:
    # With R and C from the joint fit both are kept: refitting R with C fixed (plain
    # instrumental variables at 20 kHz, the noise's correlation not modelled) put it up to 9 %
    # low at 0.3 × rheobase on the bench's development half
    if not (pre.has("membrane") and pre.cut is not None):
        raise EstimationError("needs R, C and the spike cut")
    # the last fit choosing rates on these sweeps (the uncertainty's refits use its pair)
    return est.after_spike_currents(train, pre.membrane.C, pre.cut, block=block,
                                    reset=_reset_rule(pre), cache=cache, last_rate_choice=True,
                                    R=_asc_resistance(pre))


def _triple_error(data: FitData, cut: float | None) -> str | None:
    """Why the threshold components cannot be estimated (no usable triple, no cut), or None."""
    if not any(s.spikes.size >= 2 for s in data.triple):
        return "no Short Square - Triple sweep with two spikes"
    if cut is None:
        return "needs the spike cut"
    return None


def _joint_thresholds(data: FitData, cut: float, voltage_component: bool
                      ) -> est.ThresholdComponents:
    # θ∞ is fitted with the spike component, not fixed to the Short Square value: in a real
    # cell a 3 ms pulse crosses threshold higher than noise does (RS sample cell: 33.0 vs
    # 31.2 mV above rest), and with θ∞ fixed the spike component absorbed the difference as a
    # negative jump that never decays (a_spike -0.7 mV, b_spike at its 1/s bound; free:
    # +2.4 mV, 33 1/s; GLIF2 test EV 0.31 -> 0.47)
    return est.threshold_components(data.short_square + data.triple + data.train, cut,
                                    spike_component=True, voltage_component=voltage_component)


def preprocess(data: FitData, levels: Iterable[int], *, method: str = "select",
               regression_rate: float = est.REGRESSION_RATE,
               min_subthreshold_s: float = MIN_SUBTHRESHOLD_S,
               membrane: str = "joint",
               progress: Progress | None = None) -> Preprocessing:
    """Run the preprocessing estimators needed by ``levels`` on training / SS / triple sweeps.

    Parameters
    ----------
    data
        Prepared sweeps.
    levels
        Levels to be fitted.
    method
        Whose threshold estimates to make: ``"ev"`` the joint fit (``threshold_spike``,
        ``threshold_full``); ``"reference"`` the reference's separate estimates
        (:func:`add_reference_thresholds`) and the threshold-noise scale (Long Square) its
        objective needs; ``"select"`` the joint fit, and the noise scale when ``levels``
        include any of :data:`glifx.fitting.selection.SELECT_LEVELS` (the reference's own
        components are added by :func:`glifx.fitting.fit_cell` only if a cross-validation asks
        for them).
    regression_rate
        Rate the regressions block-average to, Hz.
    min_subthreshold_s
        Spike-free training time (s, all sweeps) below which R and C are fitted together with
        the after-spike currents instead of on the subthreshold part alone.
    membrane
        One of :data:`MEMBRANE_METHODS`.
    progress
        Called with one line (``"preprocessing: <estimate> done (0.37 s)"`` or ``... failed:
        <reason>``) after each estimate.
    """
    from glifx.fitting.selection import SELECT_LEVELS
    from glifx.glif.simulator import task_threads

    levels = set(levels)
    pre = Preprocessing()
    train = data.train
    block = est.regression_block(train[0].dt, regression_rate)
    # the after-spike-current fits (membrane, asc, their per-sweep refits) share their bases
    cache = est.RegressionCache()
    # the training voltages are read whole by most estimates: converted at their first read
    # and kept until preprocessing is done (glifx.fitting.data.prepare keeps them so already;
    # again here for a second preprocessing of the same data)
    keep_on_read(train, "v")
    # its message is sent as the regression chain starts, the threshold chain running already:
    # a caller's progress callback may hold the first message back (glifx.process_cell waits
    # there for its features helper before the regressions' large working sets)
    reset_said: list[str] = []
    _estimate(pre, "reset", lambda: est.spike_cut_and_reset(train), reset_said.append)
    # its reads converted the training voltages: the pages their file samples leave free are
    # returned before the two chains' working sets
    release_free_memory()
    if membrane not in MEMBRANE_METHODS:
        raise ConfigError(f"membrane must be one of {MEMBRANE_METHODS}, got {membrane!r}")

    # Two independent chains from here on, each needing only the spike cut: the regressions
    # (R and C, then the after-spike currents with that C) and the thresholds.  They run side by
    # side, the thresholds on a thread of their own and the regressions here, in the caller's
    # thread, where its progress callback may hold them back and where Ctrl-C lands (in order
    # with one thread); each estimate is the same computation as in order, and the messages
    # keep the order of a sequential run (the thresholds' wait).
    held: list[str] = []

    # when the regressions were held back in ``progress`` (start, end) and when the thresholds
    # ended (perf_counter s): the part of the hold after the thresholds ended stood still
    held_back: list[float] = []
    thresholds_ended: list[float] = []

    def regressions() -> tuple[dict[str, Any], float]:
        held_back.append(time.perf_counter())
        if progress is not None:
            for message in reset_said:
                progress(message)
        held_back.append(time.perf_counter())
        _estimate(pre, "membrane",
                  lambda: _membrane(train, block, pre, min_subthreshold_s, membrane, cache),
                  progress)
        # the regressions' temporaries at the recorded rate (tens of MB each, on two threads)
        # leave free pages in the allocator's heaps: returned before the next fit's
        release_free_memory()
        if levels & {3, 4, 5}:
            _estimate(pre, "asc", lambda: _after_spike_currents(train, block, pre, cache),
                      progress)
            release_free_memory()
        return _uncertainties(pre, data, block, ("membrane", "asc"), cache)

    def thresholds() -> tuple[dict[str, Any], float]:
        later = held.append
        _estimate(pre, "theta_inf", lambda: est.threshold_from_short_square(data.short_square),
                  later)
        if method == "reference":
            add_reference_thresholds(pre, data, levels, later)
        elif levels & {2, 4, 5}:  # "ev", "select": the joint fit
            # every observed threshold informs every component: no triple is needed (the
            # training spikes follow each other closely enough; threshold_components says
            # when they do not).  Requiring a triple with two spikes, as the reference's
            # spike component does, left GLIF2/4/5 unfitted on a check-half GLIF5 truth
            # whose triples fire once (482809953, all three noise levels).
            if pre.cut is None:
                pre.threshold_spike = pre.threshold_full = Failed("needs the spike cut")
            else:
                if levels & {2, 4}:
                    _estimate(pre, "threshold_spike",
                              lambda: _joint_thresholds(data, pre.cut, False), later)
                if 5 in levels:
                    _estimate(pre, "threshold_full",
                              lambda: _joint_thresholds(data, pre.cut, True), later)
        if method == "reference" or (method == "select" and levels & set(SELECT_LEVELS)):
            _estimate(pre, "noise_scale",
                      lambda: est.laplace_scale_from_long_square(data.long_square), later)
        made = _uncertainties(pre, data, block, ("reset", "threshold_spike", "threshold_full"))
        thresholds_ended.append(time.perf_counter())
        return made

    if task_threads(2) > 1:
        side = on_daemon_thread(thresholds, name="glifx-thresholds")  # (glifx._threads)
        try:
            passive, t_passive = regressions()
        except Exception:
            side.exception()  # both chains end before an error goes on (not after Ctrl-C)
            raise
        spiking, t_spiking = side.result()
    else:
        (passive, t_passive), (spiking, t_spiking) = regressions(), thresholds()
    # seconds the preprocessing did nothing: the caller's progress held the regressions back
    # (glifx.process_cell waits there for its features helper) after the thresholds had ended
    pre.times["waiting"] = max(0.0, held_back[1] - max(held_back[0], thresholds_ended[0]))
    cache.clear()
    # what preprocessing kept of the file's samples (glifx.fitting.data.prepare) changes for
    # the fit: the training voltages, which no fit reads whole, go back to the file's float32
    # (57 MB instead of 114 MB at 200 kHz), and the Long Square currents, which every level's
    # collapse guard simulates, are converted now, before the trim below (which returns the
    # pages freed) rather than among the levels' working sets (~70 MB more at 200 kHz)
    release_kept(train, "v")
    for s in data.long_square:
        s.i  # noqa: B018 - the read converts and keeps them
    release_free_memory()  # the regressions' shared arrays (~0.2 GB at 200 kHz) go
    if progress is not None:
        for message in held:
            progress(message)
    made = {**passive, **spiking}
    pre.uncertainty.update((name, made[name]) for name in UNCERTAINTIES if name in made)
    pre.times["uncertainty"] = t_passive + t_spiking
    # the order of a sequential run (the chains interleave)
    order = [*ESTIMATES, "uncertainty", "waiting"]
    pre.times = dict(sorted(pre.times.items(), key=lambda item: order.index(item[0])))
    if progress is not None:
        _report_uncertainties(pre, progress)
    return pre


#: The estimates :func:`add_uncertainties` gives uncertainties of, in the order it adds them.
UNCERTAINTIES = ("reset", "membrane", "asc", "threshold_spike", "threshold_full")


def _uncertainties(pre: Preprocessing, data: FitData, block: int, names: Iterable[str],
                   cache: est.RegressionCache | None = None) -> tuple[dict[str, Any], float]:
    """The uncertainties of the estimates ``names`` the data allow (:func:`add_uncertainties`),
    and the seconds spent on them."""
    from glifx.fitting import uncertainty as unc

    t0 = time.perf_counter()
    spiking = data.short_square + data.triple + data.train
    makers: dict[str, Callable[[], dict[str, Any]]] = {}
    if pre.has("reset"):
        makers["reset"] = lambda: unc.reset_uncertainty(data.train, pre.reset)
    if pre.has("membrane"):
        makers["membrane"] = lambda: unc.membrane_uncertainty(pre.membrane, data.rest_sweeps,
                                                              data.el_reference)
    if pre.has("asc") and pre.has("membrane") and pre.cut is not None:
        makers["asc"] = lambda: unc.asc_uncertainty(data.train, pre.asc, pre.membrane.C,
                                                    pre.cut, block, _reset_rule(pre),
                                                    cache=cache, R=_asc_resistance(pre))
    for name in ("threshold_spike", "threshold_full"):
        if pre.has(name) and pre.cut is not None:
            makers[name] = partial(unc.threshold_uncertainty, spiking, pre.cut, getattr(pre, name))
    out: dict[str, Any] = {}
    for name in names:
        if name not in makers:
            continue
        try:
            out[name] = makers[name]()
        except GlifxError:
            continue
    return out, time.perf_counter() - t0


def _report_uncertainties(pre: Preprocessing, progress: Progress) -> None:
    progress(f"preprocessing: uncertainties of {', '.join(pre.uncertainty) or 'nothing'} "
             f"done ({pre.times['uncertainty']:.2f} s)")


def add_uncertainties(pre: Preprocessing, data: FitData, block: int,
                      progress: Progress | None = None, *,
                      cache: est.RegressionCache | None = None) -> None:
    """Standard errors of the made estimates into ``pre.uncertainty`` (in place;
    :mod:`glifx.fitting.uncertainty`): reset and threshold components per spike (lmfit least
    squares), R, C and the after-spike-current amplitudes from their per-sweep spread.  An
    estimate whose uncertainty the data do not allow is left out.  ``cache``: the
    after-spike-current fits' per-sweep arrays, shared with the fits of ``pre``
    (:class:`~glifx.fitting.estimators.RegressionCache`)."""
    made, seconds = _uncertainties(pre, data, block, UNCERTAINTIES, cache)
    pre.uncertainty.update(made)
    pre.times["uncertainty"] = seconds
    if progress is not None:
        _report_uncertainties(pre, progress)


def _reference_spike(data: FitData, pre: Preprocessing) -> est.ThresholdComponents:
    sc = est.spike_threshold_component(data.triple, pre.cut)
    return est.ThresholdComponents(pre.theta_inf, sc.a_spike, sc.b_spike, None, None, sc.rms,
                                   sc.n_spikes)


def _reference_full(data: FitData, pre: Preprocessing) -> est.ThresholdComponents:
    sc = pre.reference_threshold_spike
    if isinstance(sc, Failed):
        raise EstimationError(f"needs the spike component: {sc}")
    vc = est.voltage_threshold_component(data.train, pre.cut, pre.theta_inf, sc.a_spike,
                                         sc.b_spike)
    return est.ThresholdComponents(pre.theta_inf, sc.a_spike, sc.b_spike, vc.a_voltage,
                                   vc.b_voltage, vc.rms, vc.n_spikes)


def add_reference_thresholds(pre: Preprocessing, data: FitData, levels: Iterable[int],
                             progress: Progress | None = None) -> None:
    """Add the reference's threshold estimates that ``levels`` need to ``pre`` (in place), each
    from its own protocol (GLIF_SPEC §3.6–3.8).

    θ∞ is the Short Square value for every level; GLIF2/4 need the spike component
    (``reference_threshold_spike``: from the Short Square - Triple sweeps alone, the rise of each
    later spike's threshold over the sweep's first), GLIF5 also the voltage component
    (``reference_threshold_full``: from the training spikes with θ∞ and the spike component
    fixed); GLIF1/3 none.  Run by :func:`preprocess` for ``method="reference"``, and by
    :func:`glifx.fitting.fit_cell` for ``"select"`` only once the cross-validation at
    :data:`glifx.fitting.selection.GATE_LEVEL` has chosen the reference optimiser.
    """
    levels = set(levels)
    if not levels & {2, 4, 5}:
        return
    why_not = (_triple_error(data, pre.cut) if isinstance(pre.theta_inf, float) else
               "needs θ∞ from Short Square")
    if why_not is not None:
        pre.reference_threshold_spike = pre.reference_threshold_full = Failed(why_not)
        return
    _estimate(pre, "reference_threshold_spike", lambda: _reference_spike(data, pre), progress)
    if 5 in levels:
        _estimate(pre, "reference_threshold_full", lambda: _reference_full(data, pre), progress)
