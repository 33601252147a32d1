"""Preprocessing estimators of GLIF parameters (GLIF_SPEC §3, steps 2–8), on plain SI arrays.

Every function takes voltages in V **relative to rest**, currents in A, times and ``dt`` in s and
spike threshold sample indices, and returns SI values (Ω, F, s, V, A, 1/s).  None of them reads a
:class:`glifx.Sweep`; :mod:`glifx.fitting.data` prepares the arrays.

Differences from the reference method, all deliberate:

* R and C are regressed with an instrumental variable (the passive response to the stimulus)
  that removes the bias intrinsic noise causes in least squares (C several percent too large).
* R and C (and R with after-spike currents) are regressed on the **centred** derivative
  ``(V[k+1] - V[k-1]) / 2Δ`` against ``V[k]`` and ``I[k]``.  With white recording noise the
  reference's ``V[t+1] = αV[t] + βI[t] + γ`` (and a forward difference) puts the same noise
  sample on both sides and biases ``1 - α`` (hence R and C) by ``σ²/var(V)``, which at 20 kHz is
  several percent; the centred form has no such term.  The time constant comes from the exact
  continuous-time relation, not from a forward-Euler step.
* After-spike-current bases start at the **end of the spike cut** (where the simulator injects
  the amplitudes), so the fitted amplitudes are the ones the simulator applies (the reference fits
  them at the spike and forgets to advance them through the cut).
* The spike-induced threshold ``a_spike`` is likewise referred to the end of the cut, and every
  earlier spike of a triple contributes (not only the first).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from scipy import optimize

from glifx.errors import ConfigError, EstimationError, GlifxError
from glifx.fitting import _kernels

if TYPE_CHECKING:  # pragma: no cover
    from glifx.fitting.data import SISweep

#: Rate (Hz) the regression estimators block-average to, as the reference did.
REGRESSION_RATE = 20e3

#: Rate constants (1/s) tried for the two after-spike currents, as the reference.
ASC_RATES = (3.0, 10.0, 30.0, 100.0, 300.0)
#: Spike-cut search range, s (GLIF_SPEC §3.4).
MIN_CUT_S, MAX_CUT_S = 1e-3, 10e-3
#: The spike threshold component is fitted only at decay rates where at least
#: MIN_SPIKE_SUPPORT observed thresholds keep SPIKE_SUPPORT_LEVEL of an earlier spike's jump.
MIN_SPIKE_SUPPORT = 5
SPIKE_SUPPORT_LEVEL = 0.05
#: Search intervals (1/s) of the spike- and voltage-threshold decay rates.  An estimate at an end
#: of its interval is flagged (:mod:`glifx.fitting.flags`): the data did not pin it down.
B_SPIKE_BOUNDS = (1.0, 2000.0)
B_VOLTAGE_BOUNDS = (1.0, 300.0)
#: The reference's b_voltage search interval (:func:`voltage_threshold_component`), 1/s.
REFERENCE_B_VOLTAGE_BOUNDS = (1.0, 2000.0)
#: Rate (Hz) of the quasi-differenced instrumental-variable refinement of the after-spike-
#: current regression (:func:`_asc_iv` with ``correlated_noise``): coarse enough that the
#: intrinsic noise's step-to-step correlation stands clear of the recording noise (at 10 and
#: 20 kHz, tried before the exact block-mean weights, ρ came out near 1 and C went wrong; 2 kHz
#: and 1 kHz agree to within 1–2 % on the bench's development half).
NOISE_IV_RATE = 2e3
#: Time (s) after each spike cut left out of the rows of the after-spike-current regressions
#: (the currents still start at the cut's end): a cut estimated short leaves the end of the
#: spike in the rows, which the fastest current then absorbs, with R and C (bench development
#: cell 512322162, noise 0.3, cut 0.26 ms short: rates 30 and 300 1/s instead of 3 and 30,
#: R −6 %; with the guard R +0.7 %, C +2.6 %).  On conductance-based cells it keeps the
#: joint fit off the spike's repolarisation (Pospischil RS, noise 0.1: C 163 → 117 pF, truth
#: 118).
POST_CUT_GUARD_S = 0.5e-3
#: Rounds of the choice of after-spike-current rates on the quasi-differenced rows after the
#: refinement (:func:`after_spike_currents`): each may move the rates and refit R and C.
PAIR_ROUNDS = 2
#: How an after-spike-current fit's coefficients were made (:attr:`AfterSpikeCurrents.refinement`).
REFINEMENTS = ("quasi-differenced", "plain", "least squares")
#: Longest lag (s) of the residual autocovariance the intrinsic noise is measured on, and the
#: standard errors by which its correlated part must stand out (:func:`noise_correlation`).
NOISE_ACF_SPAN_S = 20e-3
NOISE_SIGNIFICANCE = 4.0
#: Time (s) before a spike threshold excluded from the "subthreshold" part of a sweep.
PRE_SPIKE_GUARD_S = 5e-3


def _common_dt(sweeps: Sequence[SISweep]) -> float:
    """The sample interval (s) all ``sweeps`` share."""
    dts = {s.dt for s in sweeps}
    if len(dts) > 1:
        raise ConfigError(f"the sweeps have different sample intervals: {sorted(dts)} s")
    if not dts:
        raise EstimationError("no sweeps")
    return dts.pop()


# --------------------------------------------------------------------------- masks and derivatives
def cut_mask(n: int, spikes: np.ndarray, cut: int) -> np.ndarray:
    """Boolean mask of samples that follow the model's dynamics: False on ``s+1 … s+cut-1`` of
    every spike ``s`` (the spike itself, where V first exceeds threshold, and the reset sample
    ``s + cut`` are kept)."""
    ok = np.ones(n, dtype=bool)
    for s in np.asarray(spikes, dtype=np.int64):
        ok[max(0, s + 1) : min(n, s + max(cut, 1))] = False
    return ok


def _guard(dt: float, guard: float) -> int:
    """Samples after each spike cut left out of the after-spike-current regressions' rows:
    ``guard`` s (:data:`POST_CUT_GUARD_S` in the fits that model the noise's correlation)."""
    return int(round(guard / dt))


def block_mask(mask: np.ndarray, factor: int) -> np.ndarray:
    """A block is valid only if every sample in it is (incomplete last block dropped)."""
    if factor <= 1:
        return mask
    m = mask.size // factor
    return mask[: m * factor].reshape(m, factor).all(axis=1)


def block_mean(x: np.ndarray, factor: int) -> np.ndarray:
    """Block averages of ``x`` over ``factor`` samples (incomplete last block dropped)."""
    if factor <= 1:
        return np.asarray(x, dtype=np.float64)
    if x.dtype == np.float64 and x.ndim == 1 and factor <= _kernels.PAIRWISE_BLOCK:
        return _kernels.block_means(x, int(factor))  # numpy's sums, without its per-row cost
    m = x.size // factor
    return x[: m * factor].reshape(m, factor).mean(axis=1)


def regression_block(dt: float, rate: float = REGRESSION_RATE) -> int:
    """Block-averaging factor that brings samples ``dt`` (s) to about ``rate`` Hz (at least 1)."""
    return max(1, int(round(1.0 / (dt * rate))))


def centred_rows(mask: np.ndarray) -> np.ndarray:
    """Indices ``k`` whose centred derivative is defined inside ``mask`` (k-1, k, k+1 valid) and
    that do not straddle a jump."""
    ok = mask[1:-1] & mask[:-2] & mask[2:]
    return np.flatnonzero(ok) + 1


def centred_derivative(v: np.ndarray, dt: float, rows: np.ndarray) -> np.ndarray:
    """``(v[k+1] - v[k-1]) / (2 dt)`` at ``rows``, V/s."""
    return (v[rows + 1] - v[rows - 1]) / (2.0 * dt)


def refine_on_grid(f: Callable[[float], float], grid: np.ndarray,
                   values: Sequence[float] | None = None, *, xatol: float,
                   maxiter: int | None = None) -> tuple[float, float]:
    """Minimise a function of one variable: the best point of ``grid``, then a bounded scalar
    search (Brent) between its two neighbours.

    Parameters
    ----------
    f
        The function.
    grid
        Increasing trial points.
    values
        ``f`` on ``grid`` when already computed (e.g. in one parallel batch).
    xatol, maxiter
        Tolerance and iteration cap of the bounded search.

    Returns
    -------
    (x, f(x))
        The search's result, or the best grid point when the search does not improve on it.
    """
    grid = np.asarray(grid, dtype=np.float64)
    vals = [f(g) for g in grid] if values is None else list(values)
    k = int(np.argmin(vals))
    options: dict = {"xatol": xatol}
    if maxiter is not None:
        options["maxiter"] = maxiter
    res = optimize.minimize_scalar(f, bounds=(grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]),
                                   method="bounded", options=options)
    if res.fun <= vals[k]:
        return float(res.x), float(res.fun)
    return float(grid[k]), float(vals[k])


# --------------------------------------------------------------------------- R and C
# (El_reference, GLIF_SPEC §3.2, is measured where the sweeps are converted to SI:
# glifx.fitting.data.prepare, the mean of the training sweeps' resting_potential.)
@dataclass(frozen=True)
class Membrane:
    """Passive membrane estimate.

    Attributes
    ----------
    R
        Input resistance, Ω (mean over sweeps).
    C
        Capacitance, F (mean over sweeps).
    R_sweeps, C_sweeps
        Per-sweep estimates, Ω and F.
    source
        ``"subthreshold"`` (passive regression before each sweep's first spike) or
        ``"spiking"`` (fitted together with the after-spike currents on every sample outside
        the spike cuts).
    noise_tau
        Correlation time of the intrinsic current noise the spiking fit measured, s (0: none).
    note
        Why the estimate is not the one asked for (empty when it is).
    """

    R: float
    C: float
    R_sweeps: np.ndarray
    C_sweeps: np.ndarray
    source: str = "subthreshold"
    noise_tau: float = 0.0
    note: str = ""

    @property
    def tau(self) -> float:
        """Membrane time constant R·C, s."""
        return self.R * self.C


def subthreshold_mask(
    n: int, dt: float, spikes: np.ndarray, window: tuple[int, int] | None
) -> np.ndarray:
    """Samples of ``window`` (inclusive sample range; default whole sweep) before the first spike
    minus :data:`PRE_SPIKE_GUARD_S` — the part of a sweep that only the passive membrane shapes."""
    mask = np.zeros(n, dtype=bool)
    a, b = (0, n - 1) if window is None else window
    if spikes.size:
        b = min(b, int(spikes[0]) - int(round(PRE_SPIKE_GUARD_S / dt)))
    if b > a:
        mask[a : b + 1] = True
    return mask


def resistance_capacitance(
    sweeps: Sequence[SISweep],
    *,
    masks: Sequence[np.ndarray] | None = None,
    block: int = 1,
    min_samples: int = 200,
    method: str = "iv",
    iterations: int = 2,
) -> Membrane:
    """R and C by regression of ``dV/dt = I/C - V/(RC) + γ`` on subthreshold samples.

    ``method="ols"`` is ordinary least squares (the reference's regression, on the centred
    derivative).  Intrinsic noise (a current the cell adds to the stimulus) drives ``V`` too, so
    ``V`` is correlated with the equation error and OLS overestimates C by several percent.
    ``method="iv"`` (default) removes that bias with an instrumental variable: the noise-free
    passive response to the recorded current alone, computed with the current estimate of R and C
    (exact discretisation, from rest at the first sample), refined ``iterations`` times.

    Parameters
    ----------
    sweeps
        Whole sweeps starting at rest (the instrument is simulated from sample 0): ``v``
        relative to rest (V), ``i`` (A), ``dt`` (s).
    masks
        Per sweep, a boolean mask of the samples to use, at the recorded rate (default:
        :func:`subthreshold_mask` of the sweep's spikes and stimulus window).
    block
        Block-averaging factor applied to V, I and the masks first (a block is used only if
        all its samples are); :func:`regression_block` gives the one for about 20 kHz, the rate
        to use for real recordings.
    min_samples
        Fewest usable samples for a sweep to count.
    method
        ``"iv"`` or ``"ols"``.
    iterations
        Instrument refinements (``"iv"``).

    Returns
    -------
    Membrane
        R (Ω) and C (F), means of the per-sweep estimates (GLIF_SPEC §3.3).

    Raises
    ------
    EstimationError
        When no sweep has enough subthreshold samples or the fit is not a passive membrane.
    """
    from scipy.signal import lfilter

    if method not in ("iv", "ols"):
        raise ConfigError(f"method must be 'iv' or 'ols', got {method!r}")
    if masks is None:
        masks = [subthreshold_mask(s.n_samples, s.dt, s.spikes, s.stimulus) for s in sweeps]
    Rs, Cs = [], []
    for s, mask in zip(sweeps, masks, strict=True):
        v, i, dt = block_mean(s.v, block), block_mean(s.i, block), s.dt * block
        rows = centred_rows(block_mask(np.asarray(mask, dtype=bool), block))
        if rows.size < min_samples:
            continue
        y = centred_derivative(v, dt, rows)
        X = np.column_stack([v[rows], i[rows], np.ones(rows.size)])
        coef = _lstsq(X, y)
        if method == "iv" and coef[1] > 0 and coef[0] < 0:
            sx = np.sqrt(np.sum(X**2, axis=0))
            sx[sx == 0] = 1.0
            for _ in range(iterations):
                C, R = 1.0 / coef[1], -coef[1] / coef[0]
                a = np.exp(-dt / (R * C))
                v_hat = lfilter([R * (1.0 - a)], [1.0, -a], np.asarray(i, dtype=np.float64))
                Z = np.column_stack([v_hat[rows], i[rows], np.ones(rows.size)])
                sz = np.sqrt(np.sum(Z**2, axis=0))
                sz[sz == 0] = 1.0
                try:
                    new = np.linalg.solve((Z / sz).T @ (X / sx), (Z / sz).T @ y) / sx
                except np.linalg.LinAlgError:
                    break
                if not (new[1] > 0 and new[0] < 0):
                    break
                coef = new
        inv_c, minus_g_over_c = coef[1], coef[0]
        if not (inv_c > 0 and minus_g_over_c < 0):
            continue
        C = 1.0 / inv_c
        Rs.append(-1.0 / (minus_g_over_c * C))
        Cs.append(C)
    if not Rs:
        raise EstimationError("no sweep gives a passive-membrane fit (too few subthreshold samples?)")
    return Membrane(float(np.mean(Rs)), float(np.mean(Cs)), np.array(Rs), np.array(Cs))


# --------------------------------------------------------------------------- spike cut and reset
@dataclass(frozen=True)
class SpikeReset:
    """Spike cut and voltage reset ``V_after = a_r · V_threshold + b_r``.

    Attributes
    ----------
    cut
        Spike cut length, s.
    cut_steps
        The same, in samples of the data it was measured on.
    a_r
        Slope (dimensionless).
    b_r
        Intercept, V (relative to rest).
    residual
        Mean absolute residual of the line at the chosen cut, V.
    n_spikes
        Spikes used.
    """

    cut: float
    cut_steps: int
    a_r: float
    b_r: float
    residual: float
    n_spikes: int


def spike_cut_and_reset(
    sweeps: Sequence[SISweep],
    *,
    min_cut: float = MIN_CUT_S,
    max_cut: float = MAX_CUT_S,
    criterion: str = "kink",
    tolerance: float = 1.2,
) -> SpikeReset:
    """Spike cut and voltage reset from spikes aligned at threshold (GLIF_SPEC §3.4).

    For every cut δ from ``min_cut`` up to ``min(max_cut, shortest ISI)`` (in samples), regress
    ``V(t_th + δ)`` on ``V(t_th)`` over all spikes (but a pair closer than ``min_cut``, which no
    cut fits: a detection error, left out).  The reference keeps the δ with the smallest
    mean absolute residual (``criterion="min"``).  That residual is flat at the noise level for
    every δ inside a stereotyped spike (any point of the spike waveform is a linear function of
    the threshold) and grows only once the membrane dynamics take over, so the minimum lands
    anywhere inside the spike.  ``criterion="last"`` keeps the **largest** δ whose residual is
    within ``tolerance`` × the minimum, which fails when the residual creeps up inside the spike
    (a reset slope ``a_r`` near or above 1 amplifies threshold noise).  glifx's default,
    ``criterion="kink"``, locates the onset of the membrane dynamics directly: it fits the
    residual curve with a line plus a linear-and-quadratic hinge at δ* and keeps the δ* of
    least squared error (on five ground-truth cells the cut lands 0.15–0.4 ms late, where the
    other criteria missed by up to 4 ms).

    Parameters
    ----------
    sweeps
        Sweeps with spikes (``v`` relative to rest, V; ``spikes`` threshold sample indices), all
        at one sample interval.
    min_cut, max_cut
        Search range, s.
    criterion
        ``"kink"`` (default), ``"last"`` or ``"min"`` (the reference).
    tolerance
        Residual factor over the minimum accepted by ``"last"``.

    Raises
    ------
    EstimationError
        With fewer than 3 spikes or no admissible cut.
    """
    if criterion not in ("kink", "last", "min"):
        raise ConfigError(f"criterion must be 'kink', 'last' or 'min', got {criterion!r}")
    dt = _common_dt(sweeps)
    lo = max(1, int(round(min_cut / dt)))
    hi = int(round(max_cut / dt))
    # A spike closer than the shortest cut searched to its neighbour fits no cut: a GLIF model
    # cannot fire inside its cut, so one of the two is a detection error (e.g. two thresholds
    # found on one slow upstroke).  Both are left out; the other spikes bound the cut.
    kept: list[np.ndarray] = []
    min_isi = np.inf
    for s in sweeps:
        sp = np.asarray(s.spikes, dtype=np.int64)
        isi = np.diff(sp)
        close = np.zeros(sp.size, dtype=bool)
        close[:-1] |= isi < lo
        close[1:] |= isi < lo
        kept.append(sp[~close])
        following = isi[~close[:-1]]
        if following.size:
            min_isi = min(min_isi, int(following.min()))
    if np.isfinite(min_isi):
        hi = min(hi, int(min_isi) - 1)
    # usable spikes: the longest cut stays inside the sweep
    xs, ys = [], []
    for s, sp in zip(sweeps, kept, strict=True):
        v = s.v
        sp = sp[sp + hi < v.size]
        if sp.size:
            xs.append(v[sp])
            ys.append(v[sp[:, None] + np.arange(lo, hi + 1)[None, :]])
    if hi < lo:
        raise EstimationError(f"no admissible spike cut: shortest ISI is {min_isi} samples")
    if not xs or sum(x.size for x in xs) < 3:
        raise EstimationError("fewer than 3 spikes to estimate the spike cut and reset")
    x = np.concatenate(xs)
    Y = np.concatenate(ys, axis=0)  # spikes × candidate cuts
    X = np.column_stack([x, np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(X, Y, rcond=None)
    resid = np.abs(Y - X @ coef).mean(axis=0)
    k = int(np.argmin(resid))
    if criterion == "last":
        k = int(np.flatnonzero(resid <= tolerance * resid[k])[-1])
    elif criterion == "kink" and resid.size >= 12:
        k = _hinge(resid)
    steps = lo + k
    return SpikeReset(steps * dt, steps, float(coef[0, k]), float(coef[1, k]), float(resid[k]),
                      int(x.size))


T = TypeVar("T")

#: Held around each forced run of the instrumental-variable refinement (:func:`_asc_iv`): its
#: voltage and mask at the recorded rate (43 MB for a 25 s sweep at 200 kHz) exist for one
#: sweep at a time, whichever threads refine (sweeps on threads, per-sweep refits on threads).
#: They were the largest part of preprocessing's peak; the rest of each sweep's pass overlaps.
_FORCED_RUNS = threading.Lock()


class RegressionCache:
    """Per-sweep arrays of the after-spike-current fits, built once and reused.

    One preprocessing run fits the after-spike currents up to four times on the same sweeps
    (with R and C on all training sweeps, then per sweep for the uncertainty; with C given,
    then per sweep again) and every fit rebuilds the same spike-triggered bases at the
    recorded rate (:func:`glifx.fitting._kernels.exp_basis`, the costliest step at 200 kHz)
    and block-averages them.  Passing one cache to those fits
    (:func:`after_spike_currents` ``cache=``) builds each array once; the values are the very
    arrays an uncached fit computes, so results are bitwise the same.

    Keys hold the :class:`~glifx.fitting.data.SISweep` itself (it compares by identity), so
    a cache must not outlive the sweeps' data it was filled from: make one per run and drop
    it.  At 200 kHz it holds about 55 MB per 25 s training sweep.
    """

    def __init__(self) -> None:
        self._store: dict[Hashable, Any] = {}

    def __contains__(self, key: Hashable) -> bool:
        return key in self._store

    def clear(self) -> None:
        """Forget every value."""
        self._store.clear()

    def drop(self, unwanted: Callable[[Hashable], bool]) -> None:
        """Forget the values whose key is ``unwanted`` (no later fit will ask for them)."""
        for key in [k for k in self._store if unwanted(k)]:
            del self._store[key]

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value stored under ``key``, made by ``make()`` (and stored) the first time."""
        try:
            return self._store[key]
        except KeyError:
            value = self._store[key] = make()
            return value


@dataclass(frozen=True)
class _AscRows:
    """One sweep's rows of the after-spike-current least-squares regression (block-averaged),
    before the known-C correction of ``y``."""

    rows: np.ndarray       # block indices k whose centred derivative is clear of the cuts
    dvdt: np.ndarray       # centred dV/dt at the rows, V/s
    v: np.ndarray          # block-averaged V at the rows
    i: np.ndarray          # block-averaged I at the rows


@dataclass(frozen=True)
class _AscPiece:
    """One sweep's rows of the after-spike-current least-squares regression (block-averaged)."""

    y: np.ndarray          # dV/dt (minus I/C when C is known) at the rows, V/s
    v: np.ndarray          # block-averaged V at the rows
    bases: dict            # rate -> block-averaged unit ASC basis at the rows
    i: np.ndarray          # block-averaged I at the rows


def _asc_rows(s: SISweep, n_cut: int, block: int, guard: float = 0.0) -> _AscRows:
    v, i, dt = s.v, s.i, s.dt
    mask = block_mask(cut_mask(v.size, np.asarray(s.spikes, dtype=np.int64),
                               n_cut + _guard(dt, guard)), block)
    vb, ib = block_mean(v, block), block_mean(i, block)
    rows = centred_rows(mask)
    return _AscRows(rows, centred_derivative(vb, dt * block, rows), vb[rows], ib[rows])


def _asc_basis_rows(s: SISweep, n_cut: int, block: int, rates: Sequence[float],
                    rows: np.ndarray) -> list[np.ndarray]:
    """Block means of the unit after-spike current of each rate of ``rates`` (1/s) at ``rows``
    (in one pass over the sweep when the block allows)."""
    spikes = np.asarray(s.spikes, dtype=np.int64)
    if 2 <= block <= _kernels.PAIRWISE_BLOCK:
        means = _kernels.exp_basis_block_means(
            s.n_samples, spikes, n_cut, np.array([r * s.dt for r in rates], dtype=np.float64), block)
        return [row[rows] for row in means]
    return [block_mean(_kernels.exp_basis(s.n_samples, spikes, n_cut, r * s.dt), block)[rows]
            for r in rates]


def difference_weighted_means(x: np.ndarray, block: int, m: int) -> np.ndarray:
    """Means of ``x`` over blocks ``k`` and ``k + 1`` with the triangular weights by which its
    samples enter ``mean_{k+1} - mean_k`` of block means (``m`` values; 0 past the end).

    For ``dV/dt = a V + b I + …`` the difference of consecutive block means of ``V``, divided by
    the block duration, equals ``a``, ``b``, … times these weighted means of ``V``, ``I``, … up
    to the recorded-rate step: no discretisation error however coarse the blocks.
    """
    return _kernels.difference_weighted_means(np.ascontiguousarray(x, dtype=np.float64),
                                              int(block), int(m))


def noise_correlation(residuals: Sequence[np.ndarray], step: float,
                      span: float = NOISE_ACF_SPAN_S) -> float:
    """Lag-one correlation ``ρ = exp(-step / τ)`` of the intrinsic (Ornstein–Uhlenbeck) part of
    regression residuals sampled every ``step`` s, or 0 when they show none.

    The residual autocovariance at lags ``2 … span/step`` is fitted with ``A exp(-lag step / τ)
    + B`` (``τ`` on a grid of 0.2–50 ms, ``A > 0``): recording noise enters a differenced
    voltage at lags 0 and 1 only, and ``B`` takes up slow misfit.  The OU part counts only
    where its lag-2 covariance exceeds :data:`NOISE_SIGNIFICANCE` standard errors of a white
    residual's.
    """
    n_lag = max(8, int(round(span / step)))
    acov, count = np.zeros(n_lag + 1), np.zeros(n_lag + 1)
    for r in residuals:
        n = r.size
        if n < 4:
            continue
        r = r - r.mean()
        f = np.fft.rfft(r, 2 * n)
        ac = np.fft.irfft(f * np.conj(f), 2 * n)[: min(n, n_lag + 1)]
        acov[: ac.size] += ac
        count[: ac.size] += n - np.arange(ac.size)
    lags = np.arange(2, n_lag + 1)
    if np.any(count[lags] < 10):
        return 0.0
    c = acov[lags] / count[lags]
    # an autocovariance estimate of white residuals scatters by about variance / sqrt(count)
    noise_floor = NOISE_SIGNIFICANCE * acov[0] / count[0] / math.sqrt(count[2])
    best_sse, rho = np.inf, 0.0
    for tau in np.geomspace(0.2e-3, 50e-3, 61):
        decay = np.exp(-lags * step / tau)
        A = np.column_stack([decay, np.ones(lags.size)])
        coef, *_ = np.linalg.lstsq(A, c, rcond=None)
        sse = float(np.sum((c - A @ coef) ** 2))
        if coef[0] * decay[0] > noise_floor and sse < best_sse:
            best_sse, rho = sse, float(np.exp(-step / tau))
    return rho


@dataclass(frozen=True)
class _IvPiece:
    """One sweep at the instrumental-variable rate: rows ``k`` (blocks ``k-1 … k+1`` clear of the
    cuts), the block-mean differences and the difference-weighted regressors.  Kept per block
    and read at the rows and the rows before (:meth:`y_at`, :meth:`x_at`: the same numbers as
    stored copies, in half the memory)."""

    rows: np.ndarray
    y_all: np.ndarray    # (mean_{k+1} - mean_k) / D of V (minus I/C when C is known), V/s
    cols: np.ndarray     # difference-weighted V, [I], basis 1, basis 2 per block (columns)
    m: int               # blocks of the sweep
    sweep: SISweep

    def y_at(self, lag: int = 0) -> np.ndarray:
        """``y`` at the rows (``lag`` 0) or at the rows before (1)."""
        return self.y_all[self.rows - lag]

    def x_at(self, lag: int = 0) -> np.ndarray:
        """The regressors (columns) at the rows (``lag`` 0) or at the rows before (1)."""
        return self.cols[self.rows - lag]


def _next_current_means(i: np.ndarray, block: int, m: int) -> np.ndarray:
    """:func:`difference_weighted_means` of the current at the next sample,
    ``append(i[1:], i[-1])``, without copying ``i`` (a 25 s sweep at 200 kHz is 40 MB): the
    means of the view ``i[1:]``, and the one block that reaches the appended sample from a copy
    of its own samples (the same sums, term by term)."""
    out = difference_weighted_means(i[1:], block, m)
    width = 2 * block - 1
    k, rem = divmod(i.size - width, block)
    if rem == 0 and 0 <= k < m:  # block k ends on the last sample
        tail = np.append(i[k * block + 1 :], i[-1])
        out[k] = difference_weighted_means(tail, block, 1)[0]
    return out


def _iv_columns(s: SISweep, n_cut: int, block: int, guard: float = 0.0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int] | None:
    """The sweep's rows at the instrumental-variable rate and, over all its blocks, the block-
    mean differences of V (V/s) and the difference-weighted V and next current; ``None`` with
    fewer than 10 rows."""
    v, i, dt, spikes = s.v, s.i, s.dt, np.asarray(s.spikes, dtype=np.int64)
    mask = block_mask(cut_mask(v.size, spikes, n_cut + _guard(dt, guard)), block)
    m = mask.size
    rows = centred_rows(mask)  # k-1, k, k+1 clear: y[k] and y[k-1] both defined
    if rows.size < 10:
        return None
    vb = block_mean(v, block)
    D = dt * block
    # the GLIF step from sample m to m + 1 is driven by the current at m + 1 (GLIF_SPEC §2)
    wv, wi = difference_weighted_means(v, block, m), _next_current_means(i, block, m)
    y_all = np.zeros(m)
    y_all[:-1] = np.diff(vb) / D
    return rows, y_all, wv, wi, m


def _iv_piece(s: SISweep, ks: tuple[float, float], C: float | None, n_cut: int,
              block: int, cache: RegressionCache | None = None, guard: float = 0.0
              ) -> _IvPiece | None:
    """The sweep's :class:`_IvPiece`, or ``None`` with fewer than 10 rows (its columns and
    bases from ``cache`` when it has them: a choice among pairs of rates reuses them)."""
    cache = RegressionCache() if cache is None else cache
    made = cache.get(("iv columns", s, n_cut, block, guard),
                     lambda: _iv_columns(s, n_cut, block, guard))
    if made is None:
        return None
    rows, y_all, wv, wi, m = made
    if C is not None:
        y_all = y_all - wi / C
    spikes = np.asarray(s.spikes, dtype=np.int64)
    bases = [cache.get(("iv basis", s, n_cut, block, k), lambda k=k: difference_weighted_means(
        _kernels.exp_basis(s.v.size, spikes, n_cut, k * s.dt), block, m)) for k in ks]
    columns = [wv, *([] if C is not None else [wi]), *bases]
    # the refinement reads the columns only at the rows and the rows before: kept stacked
    return _IvPiece(rows, y_all, np.column_stack(columns), m, s)


def _iv_pieces(sweeps: Sequence[SISweep], ks: tuple[float, float], C: float | None, cut: float,
               block: int, cache: RegressionCache, guard: float = 0.0) -> list[_IvPiece]:
    """The :class:`_IvPiece` of each sweep with enough rows (from ``cache`` when it has it:
    the per-sweep refits reuse the joint fit's)."""
    pieces = []
    for s in sweeps:
        n_cut = int(round(cut / s.dt))
        pc = cache.get(("iv", s, tuple(ks), C, n_cut, block, guard),
                       lambda s=s, n_cut=n_cut: _iv_piece(s, ks, C, n_cut, block, cache, guard))
        if pc is not None:
            pieces.append(pc)
    return pieces


def _asc_iv(sweeps: Sequence[SISweep], coef: np.ndarray, ks: tuple[float, float],
            C: float | None, cut: float, reset: tuple[float, float], n_lead: int,
            iterations: int, block: int, correlated_noise: bool,
            cache: RegressionCache | None = None) -> tuple[np.ndarray, float, str]:
    """Instrumental-variable refinement of the after-spike-current regression (see
    :func:`after_spike_currents`); returns the coefficients (the ``n_lead + 2`` leading ones
    refined), the intrinsic noise's time constant, s (0 unless a quasi-differenced pass stood),
    and the last kind of pass that stood (:data:`REFINEMENTS`): a failing step (a non-passive
    solution) keeps the last coefficients that passed.

    On means of ``block`` samples the regression is written exactly
    (:func:`difference_weighted_means`).  With ``correlated_noise`` the intrinsic noise's
    correlation ``ρ`` is measured from the residuals (:func:`noise_correlation`) and every row
    is quasi-differenced (``row_k - ρ row_{k-1}``): what remains of the noise is then new at
    each step, so neither the instrument nor the after-spike bases (both set by the spikes so
    far, which the noise helped to time) can be correlated with it.  Without this, the noise
    still elevated after each spike biases C by 5-15 % at a noise of 0.3 × rheobase.  The
    quasi-differenced passes start from one plain pass: from the least-squares start alone the
    instrument can be too far off for the first of them (a check-half cell firing 33/s at noise
    0.3: C +136 % kept, against +6 % from the plain pass's start).
    """
    from glifx.glif import GlifModel, forced_spike_run
    from glifx.glif.simulator import map_threads

    pieces = _iv_pieces(sweeps, ks, C, cut, block, RegressionCache() if cache is None else cache,
                        POST_CUT_GUARD_S if correlated_noise else 0.0)
    noise_tau = 0.0
    if not pieces:
        return coef, noise_tau, "least squares"
    lead = np.asarray(coef[: n_lead + 2], dtype=np.float64)
    n_off = len(pieces)
    n_col = n_lead + 2 + n_off
    passes = iterations + 1 if correlated_noise else iterations
    stood = "least squares"  # the last kind of pass that stood
    # sweep -> (ρ, X, Σ X²): X changes only with ρ; Z is X with the instrument in column 0
    designs: dict[int, tuple[float, np.ndarray, np.ndarray]] = {}
    for k in range(passes):
        c_val = C if C is not None else 1.0 / lead[1]
        r_val = -1.0 / (lead[0] * c_val)
        amps = (lead[n_lead] * c_val, lead[n_lead + 1] * c_val)
        try:
            model = GlifModel(level=4, R_input=r_val, C=c_val, th_inf=1.0, spike_cut_s=cut,
                              a=reset[0], b=reset[1], a_spike=0.0, b_spike=1.0,
                              asc_amp_array=amps, asc_tau_array=(1.0 / ks[0], 1.0 / ks[1]))
        except GlifxError:
            break
        # residual of the current coefficients, per run of consecutive rows: the noise's ρ
        segments = []
        for pc in pieces:
            y, x = pc.y_at(), pc.x_at()
            fitted = x @ lead
            resid = y - fitted
            resid -= resid.mean()
            breaks = np.flatnonzero(np.diff(pc.rows) != 1) + 1
            segments += np.split(resid, breaks)
        step = pc.sweep.dt * block
        rho = noise_correlation(segments, step) if correlated_noise and k > 0 else 0.0
        del segments, fitted, resid, y, x
        def cross_products(item: tuple[int, _IvPiece], model: GlifModel = model,
                           rho: float = rho) -> tuple[np.ndarray, ...]:
            """Z'X, Z'y, column sums of X² and Z² of one sweep at this pass."""
            j, pc = item
            s = pc.sweep
            with _FORCED_RUNS:  # one at a time: see _FORCED_RUNS
                v_hat, valid = forced_spike_run(model, s.i, s.dt, np.asarray(s.spikes, np.int64))
                # the forced run's voltage where it is defined, 0 in the cuts (no masked copy)
                instrument = _kernels.masked_difference_weighted_means(v_hat, valid, block, pc.m)
                del v_hat, valid
            r = pc.rows
            if j not in designs or designs[j][0] != rho:
                off = np.zeros((r.size, n_off))
                off[:, j] = 1.0 - rho
                X = np.column_stack([pc.x_at() - rho * pc.x_at(1), off])
                del off
                designs[j] = (rho, X, _kernels.column_sums_of_squares(X))
            _, X, x2 = designs[j]
            # Z differs from X in column 0 only: so do the sums of squares.  Made per pass, not
            # kept beside X (a 25 s sweep's is 24 MB at 200 kHz)
            Z = X.copy()
            z2 = x2.copy()
            z2[0] = _kernels.quasi_differenced_column(Z, 0, instrument, r, rho)
            y = pc.y_at() - rho * pc.y_at(1)
            return Z.T @ X, Z.T @ y, x2, z2

        # sweeps on threads (the forced runs and the array work release the GIL); summed in
        # sweep order, as one loop would
        ZX, Zy = np.zeros((n_col, n_col)), np.zeros(n_col)
        xx, zz = np.zeros(n_col), np.zeros(n_col)
        for zx_j, zy_j, xx_j, zz_j in map_threads(cross_products, list(enumerate(pieces))):
            ZX += zx_j
            Zy += zy_j
            xx += xx_j
            zz += zz_j
        # the same solve as on the stacked, column-scaled X and Z, from their cross products
        sx, sz = np.sqrt(xx), np.sqrt(zz)
        sx[sx == 0] = 1.0
        sz[sz == 0] = 1.0
        try:
            new = np.linalg.solve(ZX / np.outer(sz, sx), Zy / sz) / sx
        except np.linalg.LinAlgError:
            break
        if not (new[0] < 0 and (C is not None or new[1] > 0)):
            break
        lead = new[: n_lead + 2]
        stood = "quasi-differenced" if rho > 0.0 else "plain"
        noise_tau = -step / math.log(rho) if 0.0 < rho < 1.0 else 0.0
    out = np.array(coef, dtype=np.float64)
    out[: n_lead + 2] = lead
    return out, noise_tau, stood


def _asc_given_membrane(sweeps: Sequence[SISweep], ks: tuple[float, float], R: float, C: float,
                        cut: float, block: int, cache: RegressionCache | None = None,
                        passes: int = 3, rho: float | None = None
                        ) -> tuple[np.ndarray, float, str, float] | None:
    """The after-spike-current regression with R and C given, rows quasi-differenced by the
    intrinsic noise's correlation (see :func:`after_spike_currents`): returns the two basis
    coefficients, the noise's time constant, s (0: none measured), and the refinement
    (:data:`REFINEMENTS`); ``None`` without rows.

    With ``V`` no regressor, only the bases (set by the spikes so far, which the noise helped to
    time) can be correlated with the noise: least squares on rows whose noise is new at each
    step (``row_k - ρ row_{k-1}``) is consistent.  ``ρ`` is measured from the residuals of the
    previous pass (the first is plain least squares) until it stops changing.
    """
    cache = RegressionCache() if cache is None else cache
    # not kept in the cache: a choice among pairs builds one set per pair
    pieces = [pc for s in sweeps if (pc := _iv_piece(s, ks, C, int(round(cut / s.dt)), block,
                                                       cache, POST_CUT_GUARD_S)) is not None]
    if not pieces:
        return None
    g = 1.0 / (R * C)
    n_off = len(pieces)
    step = pieces[0].sweep.dt * block
    fixed = rho is not None
    rho = used = rho or 0.0
    coef = np.zeros(2 + n_off)
    sse = np.inf
    for _ in range(1 if fixed else passes):
        G, b = np.zeros((2 + n_off, 2 + n_off)), np.zeros(2 + n_off)
        yy = 0.0
        for j, pc in enumerate(pieces):
            y_now, x_now, y_prev, x_prev = pc.y_at(), pc.x_at(), pc.y_at(1), pc.x_at(1)
            X = np.zeros((pc.rows.size, 2 + n_off))
            X[:, :2] = x_now[:, 1:] - rho * x_prev[:, 1:]
            X[:, 2 + j] = 1.0 - rho
            y = y_now + g * x_now[:, 0] - rho * (y_prev + g * x_prev[:, 0])
            G += X.T @ X
            b += X.T @ y
            yy += float(y @ y)
        scale = np.sqrt(np.diag(G))
        scale[scale == 0] = 1.0
        try:
            coef = np.linalg.solve(G / np.outer(scale, scale), b / scale) / scale
        except np.linalg.LinAlgError:
            return None
        used = rho
        sse = yy - float(coef @ b)
        if fixed:
            break
        segments = []
        for j, pc in enumerate(pieces):
            y_now, x_now = pc.y_at(), pc.x_at()
            resid = y_now + g * x_now[:, 0] - x_now[:, 1:] @ coef[:2] - coef[2 + j]
            segments += np.split(resid, np.flatnonzero(np.diff(pc.rows) != 1) + 1)
        new = noise_correlation(segments, step)
        if new == rho:
            break
        rho = new
    if not 0.0 < used < 1.0:
        return coef[:2], 0.0, "least squares", sse
    return coef[:2], -step / math.log(used), "quasi-differenced", sse


def _innovation_pair(sweeps: Sequence[SISweep], pairs: Sequence[tuple[float, float]], R: float,
                     C: float, cut: float, block: int, noise_tau: float,
                     cache: RegressionCache | None = None) -> tuple[float, float]:
    """The pair of rates among ``pairs`` whose after-spike currents, with R and C given, leave
    the smallest sum of squared quasi-differenced residuals (the noise's new part at each step,
    ``ρ = exp(-step / noise_tau)``, the same for every pair): the Gaussian maximum likelihood of
    the pair under the correlated noise (the first of equal ones, in the order of ``pairs``)."""
    rho = math.exp(-min(s.dt for s in sweeps) * block / noise_tau)
    sse = {}
    for pair in pairs:
        made = _asc_given_membrane(sweeps, pair, R, C, cut, block, cache, rho=rho)
        sse[pair] = np.inf if made is None else made[3]
    return min(pairs, key=sse.__getitem__)


def _hinge(curve: np.ndarray) -> int:
    """Index of the knot of the best fit ``c0 + c1 x + c2 (x - x*)_+ + c3 (x - x*)_+²``."""
    x = np.arange(curve.size, dtype=np.float64) / curve.size
    best_k, best_sse = 0, np.inf
    base = np.column_stack([np.ones_like(x), x])
    for k in range(3, curve.size - 3):
        h = np.maximum(0.0, x - x[k])
        A = np.column_stack([base, h, h * h])
        coef, *_ = np.linalg.lstsq(A, curve, rcond=None)
        sse = float(np.sum((curve - A @ coef) ** 2))
        if sse < best_sse:
            best_k, best_sse = k, sse
    return best_k


# --------------------------------------------------------------------------- after-spike currents
@dataclass(frozen=True)
class AfterSpikeCurrents:
    """After-spike currents and the resistance fitted with them (GLIF3–5).

    Attributes
    ----------
    k
        Rate constants of the two currents, 1/s (``tau = 1/k``).
    amp
        Amplitudes injected at the end of each spike cut, A.
    R
        Input resistance fitted together with the currents, Ω.
    rss
        Residual sum of squares of the chosen pair, (V/s)².
    n_samples
        Samples in the regression.
    C
        Capacitance used (given) or fitted (``C=None``), F.
    noise_tau
        Correlation time of the intrinsic current noise measured in the residuals, s (0: none
        measured, or no quasi-differenced refinement).
    refinement
        How the coefficients were made, one of :data:`REFINEMENTS`: ``"quasi-differenced"``
        (instrumental variables, rows quasi-differenced by the noise's correlation),
        ``"plain"`` (instrumental variables) or ``"least squares"`` (no refinement asked for,
        or none passed).
    """

    k: tuple[float, float]
    amp: tuple[float, float]
    R: float
    rss: float
    n_samples: int
    C: float = float("nan")
    noise_tau: float = 0.0
    refinement: str = "least squares"


def after_spike_currents(
    sweeps: Sequence[SISweep],
    C: float | None,
    cut: float,
    *,
    rates: Sequence[float] = ASC_RATES,
    block: int = 1,
    reset: tuple[float, float] | None = None,
    iterations: int = 3,
    correlated_noise: bool | None = None,
    cache: RegressionCache | None = None,
    last_rate_choice: bool = False,
    R: float | None = None,
) -> AfterSpikeCurrents:
    """Fit two after-spike currents and R on spiking sweeps (GLIF_SPEC §3.5, slip fixed).

    For each pair ``k1 < k2`` of ``rates`` regress ``dV/dt - I/C`` on ``V``, the two
    spike-triggered exponential bases (unit current starting at the end of each spike cut, as the
    simulator injects it) and one intercept per sweep; the pair with the smallest residual (the
    Gaussian maximum likelihood) wins.  Amplitudes = coefficients × C, R = -1 / (coef_V × C).
    With ``correlated_noise`` the pair is chosen again after the refinement, on the
    quasi-differenced rows with its R and C (:func:`_innovation_pair`; up to
    :data:`PAIR_ROUNDS` times, refitting when it moves): under intrinsic noise the least-squares
    residual is no longer the likelihood and could pick a pair whose refinement moved C by
    20 % (bench development cell 325853048, GLIF5 truth, noise 0.3: rates 100 and 300 1/s, C
    +20 %; chosen again: the truth's 30 and 300 1/s, C +1 %).  Those fits also leave
    :data:`POST_CUT_GUARD_S` after each cut out of their rows.

    Parameters
    ----------
    sweeps
        Sweeps at the **recorded** rate: ``v`` relative to rest (V), ``i`` (A), ``dt`` (s),
        ``spikes`` (threshold indices).
    C
        Capacitance, F (from :func:`resistance_capacitance`), or ``None`` to fit it too (the
        current becomes a regressor; used when a cell has too little subthreshold data).
    cut
        Spike cut, s.
    rates
        Candidate rate constants, 1/s.
    block
        Block-averaging factor applied to V, I and the bases before the regression (10 turns
        200 kHz into 20 kHz); samples in a block that touches a spike cut are dropped.
    reset
        ``(a_r, b_r)`` of the voltage reset.  When given, the chosen pair's coefficients are
        refined by instrumental variables (``iterations`` times, :func:`_asc_iv`): the
        instrument for ``V`` is the voltage of the fitted linear model driven by the recorded
        current and reset at the recorded spikes, which the cell's intrinsic noise does not
        drive.  Least squares biases R and, with ``C=None``, C by 5–30 % under intrinsic noise.
    correlated_noise
        Also quasi-difference the rows by the intrinsic noise's measured correlation, at
        :data:`NOISE_IV_RATE` (so that the noise left in them is not correlated with the spike
        history either).  Default: when C is fitted too (``C=None``) — the noise biases C by
        5–15 % at 0.3 × rheobase otherwise — or R and C are both given.  With C given and R
        fitted, the plain refinement at ``block`` is kept (the fallback when R and C come from
        the subthreshold samples, e.g. the sample cells): its R is biased low under strong
        noise (below), and the quasi-differenced fit inflated the fastest current of
        conductance-based cells there (Pospischil RS, noise 0.3: −5.5 nA at 300 1/s against
        −92 pA).
    cache
        Per-sweep arrays shared with other fits on the same sweeps (:class:`RegressionCache`;
        the same result, built once); default: none shared.
    last_rate_choice
        No later fit sharing ``cache`` will try other rates than the pair chosen here: the
        least-squares bases of the others are dropped from it once least squares has chosen
        (before the refinement, whose arrays then take their place: 12 MB per rate and 25 s
        sweep at 200 kHz), and the refinement's once the pair is final.
    R
        Input resistance, Ω, or ``None`` to fit it.  Given (with ``C``), ``V`` is no regressor:
        ``dV/dt - I/C + V/(R C)`` is regressed on the bases and the offsets alone (no
        instrument is needed, ``reset`` is unused), by least squares on rows quasi-differenced
        by the noise's correlation measured in the residuals (:func:`_asc_given_membrane`;
        plain least squares at ``block`` with ``correlated_noise=False``), and the result's
        ``R`` is the one given.  For R and C from the noise-robust fit (``C=None``): with R
        refitted, C fixed, the plain refinement put R up to 5 % low at a noise of
        0.3 × rheobase on the bench's development half (a synthetic GLIF4, 15 s at 20 kHz: 17 %
        low), and plain least squares on the bases left its amplitudes 10–20 % small.

    Raises
    ------
    EstimationError
        Without spikes or enough samples.
    """
    if R is not None and (C is None or not R > 0):
        raise ConfigError(f"after_spike_currents: R given ({R!r}) needs a positive R and C given")
    rates = tuple(sorted(float(r) for r in rates))
    if correlated_noise is None:
        correlated_noise = C is None or R is not None
    guard = POST_CUT_GUARD_S if correlated_noise else 0.0
    pieces = []
    n_spikes = 0
    cache = RegressionCache() if cache is None else cache
    for s in sweeps:
        n_spikes += np.asarray(s.spikes).size
        n_cut = int(round(cut / s.dt))
        ar = cache.get(("ls", s, n_cut, block, guard),
                       lambda s=s, n_cut=n_cut: _asc_rows(s, n_cut, block, guard))
        if ar.rows.size < 10:
            continue
        missing = [r for r in rates if ("ls basis", s, n_cut, block, guard, r) not in cache]
        if missing:  # built together, kept one by one (a refit asks for two of them)
            for r, basis in zip(missing, _asc_basis_rows(s, n_cut, block, missing, ar.rows),
                                strict=True):
                cache.get(("ls basis", s, n_cut, block, guard, r), lambda basis=basis: basis)
        bases = {r: cache.get(("ls basis", s, n_cut, block, guard, r), lambda: None)
                 for r in rates}
        y = ar.dvdt
        if C is not None:
            y = y - ar.i / C
        if R is not None:
            y = y + ar.v / (R * C)
        pieces.append(_AscPiece(y, ar.v, bases, ar.i))
    if n_spikes == 0:
        raise EstimationError("no spikes: after-spike currents cannot be estimated")
    if not pieces:
        raise EstimationError("too few samples outside spike cuts")
    # one design with every candidate basis; each pair is solved from the Gram matrix (normal
    # equations on scaled columns).  The Gram matrix is accumulated sweep by sweep, so no design
    # with all rows is ever held (at 200 kHz it would be ~1e6 rows x 9 columns, copied thrice).
    n_lead = 0 if R is not None else 1 if C is not None else 2  # V, and I when C is fitted
    n_off = len(pieces)
    n_col = n_lead + len(rates) + n_off
    G_raw = np.zeros((n_col, n_col))
    Xy_raw = np.zeros(n_col)
    yy = 0.0
    for j, p in enumerate(pieces):
        Xp = np.zeros((p.y.size, n_col))
        if n_lead:
            Xp[:, 0] = p.v
        if C is None:  # capacitance fitted too: the current is a regressor
            Xp[:, 1] = p.i
        for k, r in enumerate(rates):
            Xp[:, n_lead + k] = p.bases[r]
        Xp[:, n_lead + len(rates) + j] = 1.0
        G_raw += Xp.T @ Xp
        Xy_raw += Xp.T @ p.y
        yy += float(p.y @ p.y)
    scale = np.sqrt(np.diag(G_raw)).copy()
    scale[scale == 0] = 1.0
    G = G_raw / np.outer(scale, scale)
    Xy = Xy_raw / scale
    n_samples = int(sum(p.y.size for p in pieces))
    del pieces, p, Xp  # not needed by the refinement below (~45 MB at 200 kHz)
    off = list(range(n_lead + len(rates), n_lead + len(rates) + n_off))
    solved: dict[tuple[float, float], tuple[float, np.ndarray]] = {}
    for (j1, k1), (j2, k2) in itertools.combinations(enumerate(rates), 2):
        idx = [*range(n_lead), n_lead + j1, n_lead + j2, *off]
        Gs = G[np.ix_(idx, idx)]
        cs = np.linalg.solve(Gs, Xy[idx])
        rss = yy - 2.0 * float(cs @ Xy[idx]) + float(cs @ Gs @ cs)
        solved[(k1, k2)] = (rss, cs / scale[idx])
    ks = min(solved, key=lambda pair: solved[pair][0])  # the first of equal ones, in order
    rss, coef = solved[ks]
    if last_rate_choice:  # the refinements below read the least-squares bases of ks only
        _drop_other_bases(cache, "ls basis", ks)
    noise_tau, refinement = 0.0, "least squares"
    iv_block = regression_block(min(s.dt for s in sweeps), NOISE_IV_RATE)
    if R is not None:
        made = (_asc_given_membrane(sweeps, ks, R, C, cut, iv_block, cache)
                if correlated_noise else None)
        if made is not None and made[2] == "quasi-differenced" and len(solved) > 1:
            best = _innovation_pair(sweeps, list(solved), R, C, cut, iv_block, made[1], cache)
            if best != ks:
                ks, (rss, _) = best, solved[best]
                made = _asc_given_membrane(sweeps, ks, R, C, cut, iv_block, cache)
        if made is not None:
            coef, noise_tau, refinement, _ = made
        if last_rate_choice:
            _drop_other_bases(cache, "iv basis", ks)
        amps = (float(coef[0] * C), float(coef[1] * C))
        return AfterSpikeCurrents(ks, amps, float(R), rss, n_samples, float(C),
                                  float(noise_tau), refinement)
    if reset is not None and coef[0] < 0 and (C is not None or coef[1] > 0):
        coef, noise_tau, refinement = _asc_iv(sweeps, coef, ks, C, cut, reset, n_lead,
                                              iterations, iv_block if correlated_noise else block,
                                              correlated_noise, cache)
        if correlated_noise and refinement == "least squares":
            # least squares is what the refinement exists to replace: no silent fallback
            raise EstimationError("the instrumental-variable refinement of the after-spike-"
                                  "current fit finds no passive membrane")
        # the least-squares choice of rates is biased by the noise too (a development cell:
        # C +20 % at the rates it chose, +1 % at the truth's); choose again on the
        # quasi-differenced rows, refit if that moves it
        for _ in range(PAIR_ROUNDS if refinement == "quasi-differenced" else 0):
            c_val = C if C is not None else 1.0 / coef[1]
            best = _innovation_pair(sweeps, list(solved), -1.0 / (coef[0] * c_val), c_val, cut,
                                    iv_block, noise_tau, cache)
            if best == ks:
                break
            again = _asc_iv(sweeps, solved[best][1], best, C, cut, reset, n_lead, iterations,
                            iv_block, True, cache)
            if again[2] != "quasi-differenced" or not again[0][0] < 0 or not (
                    C is not None or again[0][1] > 0):
                break
            ks, rss = best, solved[best][0]
            coef, noise_tau, refinement = again
    if not coef[0] < 0:
        raise EstimationError("the after-spike-current fit gives a non-positive conductance")
    if C is None:
        if not coef[1] > 0:
            raise EstimationError("the after-spike-current fit gives a non-positive capacitance")
        C = 1.0 / coef[1]
    R = -1.0 / (coef[0] * C)
    a1, a2 = coef[n_lead] * C, coef[n_lead + 1] * C
    if last_rate_choice:
        _drop_other_bases(cache, "iv basis", ks)
    return AfterSpikeCurrents(ks, (float(a1), float(a2)), float(R), rss, n_samples, float(C),
                              float(noise_tau), refinement)


def _drop_other_bases(cache: RegressionCache, kind: str, ks: tuple[float, float]) -> None:
    """Drop from ``cache`` the bases of ``kind`` (``"ls basis"``, ``"iv basis"``) of every rate
    but the pair ``ks`` (12 MB per rate and 25 s sweep at 200 kHz); one dropped and needed
    again is rebuilt."""
    cache.drop(lambda key: key[0] == kind and key[-1] not in ks)  # type: ignore[index]


# --------------------------------------------------------------------------- thresholds
def threshold_from_short_square(sweeps: Sequence[SISweep]) -> float:
    """θ∞: threshold of the first spike at the smallest suprathreshold Short Square amplitude.

    Parameters
    ----------
    sweeps
        Short Square sweeps: ``amplitude`` (A; when unknown, the largest current), ``v``
        relative to rest (V), ``spikes`` (threshold indices).  When several sweeps share the
        smallest suprathreshold amplitude their first-spike thresholds are averaged.

    Returns
    -------
    float
        θ∞ relative to rest, V.

    Raises
    ------
    EstimationError
        When no Short Square sweep spikes.
    """
    spiking = [(s.amplitude if np.isfinite(s.amplitude) else float(np.max(s.i)),
                s.v_at(int(s.spikes[0]))) for s in sweeps if len(s.spikes)]
    if not spiking:
        raise EstimationError("no Short Square sweep with a spike: θ∞ cannot be estimated")
    amin = min(a for a, _ in spiking)
    tol = 1e-3 * abs(amin) + 1e-15
    return float(np.mean([th for a, th in spiking if abs(a - amin) <= tol]))


@dataclass(frozen=True)
class SpikeThreshold:
    """Spike-induced threshold component (GLIF2, 4, 5).

    Attributes
    ----------
    a_spike
        Threshold jump applied at the end of each spike cut, V.
    b_spike
        Its decay rate, 1/s.
    rms
        Root-mean-square residual, V.
    n_spikes
        Spikes (after the first of each sweep) in the fit.
    """

    a_spike: float
    b_spike: float
    rms: float
    n_spikes: int


def spike_threshold_component(
    sweeps: Sequence[SISweep],
    cut: float,
    *,
    baseline: float | None = None,
    theta_v: Sequence[np.ndarray] | None = None,
    b_bounds: tuple[float, float] = B_SPIKE_BOUNDS,
) -> SpikeThreshold:
    """a_spike and b_spike from the thresholds of later spikes of Short Square - Triple sweeps.

    Model (the simulator's): the threshold at spike ``m`` exceeds the first spike's by
    ``Σ_{p<m} a_spike · exp(-b_spike · (t_m - t_p - cut))`` (+ the voltage component ``θ_v``
    when given).  For fixed ``b_spike`` this is linear in ``a_spike``; ``b_spike`` is found by a
    bounded 1-D search on a log grid refined by Brent's method.

    Parameters
    ----------
    sweeps
        Triple sweeps (``v`` relative to rest, V; ``spikes``; ``dt``, s).
    cut
        Spike cut, s (the jump is referred to its end: the "advanced through the cut" fix).
    baseline
        Threshold without spike history (θ∞), V; default: each sweep's first-spike threshold.
    theta_v
        Optional voltage threshold component at each spike (V), subtracted first (GLIF5).
    b_bounds
        Search interval for b_spike, 1/s.

    Raises
    ------
    EstimationError
        With no sweep having two spikes.
    """
    rows_t, rows_y = [], []
    for j, s in enumerate(sweeps):
        v, spikes, dt = s.v, np.asarray(s.spikes, dtype=np.int64), s.dt
        if spikes.size < 2:
            continue
        th = v[spikes].astype(np.float64)
        if theta_v is not None:
            th = th - np.asarray(theta_v[j])
        base = th[0] if baseline is None else baseline
        t = spikes * dt
        for m in range(1, spikes.size):
            rows_t.append(t[m] - t[:m] - cut)
            rows_y.append(th[m] - base)
    if not rows_y:
        raise EstimationError("no Short Square - Triple sweep with two spikes: a_spike unknown")
    y = np.array(rows_y)

    def design(b: float) -> np.ndarray:
        return np.array([np.sum(np.exp(-b * np.maximum(lags, 0.0))) for lags in rows_t])

    def sse(logb: float) -> float:
        x = design(np.exp(logb))
        a = float(x @ y / (x @ x))
        return float(np.sum((y - a * x) ** 2))

    lo, hi = np.log(b_bounds[0]), np.log(b_bounds[1])
    logb, _ = refine_on_grid(sse, np.linspace(lo, hi, 60), xatol=1e-6)
    b = float(np.exp(logb))
    x = design(b)
    a = float(x @ y / (x @ x))
    rms = float(np.sqrt(np.mean((y - a * x) ** 2)))
    return SpikeThreshold(a, b, rms, int(y.size))


def spike_threshold_trace(n: int, spikes: np.ndarray, cut_steps: int, dt: float, a_spike: float,
                          b_spike: float) -> np.ndarray:
    """θ_s of the simulator at every sample given the spikes (V): jumps of ``a_spike`` at the
    end of each cut, decaying at ``b_spike``; the value at a spike sample is before its reset."""
    return a_spike * _kernels.exp_basis(n, np.asarray(spikes, dtype=np.int64), cut_steps,
                                        b_spike * dt)


@dataclass(frozen=True)
class VoltageThreshold:
    """Voltage-dependent threshold component (GLIF5).

    Attributes
    ----------
    a_voltage
        Coupling of the threshold to the membrane potential, 1/s.
    b_voltage
        Decay rate, 1/s.
    theta_inf
        θ∞ fitted together (V), or the value given.
    rms
        Root-mean-square residual, V.
    n_spikes
        Spikes in the fit.
    """

    a_voltage: float
    b_voltage: float
    theta_inf: float
    rms: float
    n_spikes: int


def voltage_threshold_component(
    sweeps: Sequence[SISweep],
    cut: float,
    theta_inf: float | None,
    a_spike: float,
    b_spike: float,
    *,
    b_bounds: tuple[float, float] = REFERENCE_B_VOLTAGE_BOUNDS,
) -> VoltageThreshold:
    """a_voltage and b_voltage from the thresholds of the training spikes (GLIF_SPEC §3.8).

    The threshold at each spike ``V(t_th)`` is modelled as ``θ∞ + θ_s + θ_v`` with ``θ_s`` from
    the spike component and ``θ_v`` integrated from the recorded voltage
    (:func:`glifx.fitting._kernels.voltage_threshold_feature`, frozen during cuts), linear in
    ``a_voltage`` for fixed ``b_voltage``; ``b_voltage`` by bounded 1-D search.

    Parameters
    ----------
    sweeps
        Training sweeps (``v`` relative to rest, V; ``spikes``; ``dt``, s).
    cut
        Spike cut, s.
    theta_inf
        θ∞ (V), or ``None`` to fit it jointly (linear).
    a_spike, b_spike
        Spike threshold component (V, 1/s).
    b_bounds
        Search interval for b_voltage, 1/s.

    Raises
    ------
    EstimationError
        With fewer than 3 spikes.
    """
    data = []
    for v, spikes, dt, n_cut in _spiking(sweeps, cut):
        ths = spike_threshold_trace(v.size, spikes, n_cut, dt, a_spike, b_spike)[spikes]
        data.append((np.ascontiguousarray(v, dtype=np.float64), spikes, dt, n_cut,
                     v[spikes] - ths))
    if sum(d[1].size for d in data) < 3:
        raise EstimationError("fewer than 3 training spikes: a_voltage, b_voltage unknown")

    def solve(logb: float) -> tuple[float, np.ndarray, np.ndarray]:
        b = np.exp(logb)
        f = np.concatenate([_kernels.voltage_threshold_feature(v, sp, nc, b * dt, dt)
                            for v, sp, dt, nc, _ in data])
        y = np.concatenate([d[4] for d in data])
        ok = np.isfinite(f)
        f, y = f[ok], y[ok]
        if theta_inf is None:
            X = np.column_stack([f, np.ones_like(f)])
        else:
            X = f[:, None]
            y = y - theta_inf
        coef = _lstsq(X, y)
        r = y - X @ coef
        return float(r @ r), coef, r

    lo, hi = np.log(b_bounds[0]), np.log(b_bounds[1])
    logb, _ = refine_on_grid(lambda g: solve(g)[0], np.linspace(lo, hi, 40), xatol=1e-6)
    _, coef, r = solve(logb)
    th_inf = float(coef[1]) if theta_inf is None else float(theta_inf)
    return VoltageThreshold(float(coef[0]), float(np.exp(logb)), th_inf,
                            float(np.sqrt(np.mean(r**2))), int(r.size))


# --------------------------------------------------------------------------- helpers
def _spiking(sweeps: Sequence[SISweep], cut: float
             ) -> Iterator[tuple[np.ndarray, np.ndarray, float, int]]:
    """``(v, spikes, dt, cut in steps)`` of each sweep that has spikes."""
    for s in sweeps:
        spikes = np.asarray(s.spikes, dtype=np.int64)
        if spikes.size:
            yield s.v, spikes, s.dt, int(round(cut / s.dt))


def _lstsq(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares with column scaling (the columns span many orders of magnitude in SI)."""
    scale = np.sqrt(np.sum(X**2, axis=0))
    scale[scale == 0] = 1.0
    coef, *_ = np.linalg.lstsq(X / scale, y, rcond=None)
    return coef / scale


# --------------------------------------------------------------------------- joint threshold fit
#: A threshold fit whose residual rms is at most this many times the recording noise of one
#: voltage sample explains the thresholds (:attr:`ThresholdComponents.explains_thresholds`).  On
#: the development half of the bench (50 kHz, 0.1 mV white + 0.1 mV 1/f recording noise, measured
#: noise 0.113 mV) the GLIF5 model's fit left 0.12-0.16 mV (1.1-1.4 × the noise) on all 32 GLIF
#: truths and 0.48-0.62 mV (4.4-5.5 ×) on all 8 conductance-based cells.
THRESHOLD_FIT_NOISE_FACTOR = 2.5
#: Width (s) of the moving average that :func:`voltage_noise` subtracts: shorter than any
#: membrane time constant, so what is left is recording noise.
NOISE_SMOOTHING_S = 0.5e-3


def voltage_noise(sweeps: Sequence[SISweep]) -> float:
    """Recording noise of one voltage sample, V: median over ``sweeps`` of the robust standard
    deviation (1.4826 × MAD) of ``v`` minus its :data:`NOISE_SMOOTHING_S` moving average before
    the stimulus, corrected for the average's own share of the noise.

    The membrane low-passes any current (stimulus or intrinsic noise) at its time constant, so a
    sub-millisecond residual is the amplifier's and digitiser's noise.  A recording filtered
    below ~2 kHz has little left: the estimate is then low, never high.  ``nan`` when no sweep
    has a pre-stimulus part of 10 smoothing widths.
    """
    from scipy.ndimage import uniform_filter1d

    values = []
    for s in sweeps:
        w = max(3, int(round(NOISE_SMOOTHING_S / s.dt)))
        end = s.stimulus[0] if s.stimulus is not None else s.n_samples
        if end < 10 * w:
            continue
        v = np.asarray(s.v_at(slice(0, end)), dtype=np.float64)
        e = v - uniform_filter1d(v, w, mode="nearest")
        mad = np.median(np.abs(e - np.median(e)))
        values.append(1.4826 * mad / np.sqrt(1.0 - 1.0 / w))
    return float(np.median(values)) if values else float("nan")


@dataclass(frozen=True)
class ThresholdComponents:
    """Threshold parameters fitted jointly to every observed spike threshold.

    Attributes
    ----------
    theta_inf
        θ∞, V relative to rest.
    a_spike, b_spike
        Spike component: jump at the end of each cut (V) and decay rate (1/s); ``None`` when
        not fitted.
    a_voltage, b_voltage
        Voltage component (1/s, 1/s); ``None`` when not fitted.
    rms
        Root-mean-square residual, V.
    n_spikes
        Spikes in the fit.
    voltage_noise
        Recording noise of one voltage sample of these sweeps (:func:`voltage_noise`), V;
        ``nan`` when it could not be measured.
    """

    theta_inf: float
    a_spike: float | None
    b_spike: float | None
    a_voltage: float | None
    b_voltage: float | None
    rms: float
    n_spikes: int
    voltage_noise: float = float("nan")

    @property
    def explains_thresholds(self) -> bool:
        """Whether the model accounts for every observed threshold to within the recording
        noise (``rms`` ≤ :data:`THRESHOLD_FIT_NOISE_FACTOR` × ``voltage_noise``): θ∞ is then a
        measurement, not a summary of thresholds the model cannot describe."""
        return bool(self.rms <= THRESHOLD_FIT_NOISE_FACTOR * self.voltage_noise)


@dataclass(frozen=True, eq=False)
class ThresholdObservations:
    """One sweep's spike thresholds as the threshold fits read them (SI, V relative to rest).

    Attributes
    ----------
    v
        The sweep's membrane potential, V (contiguous float64: the kernels read it).
    spikes
        Sample indices of the model spikes: the detected spikes outside an earlier spike's cut.
    dt
        Sample interval, s.
    n_cut
        The spike cut, samples.
    thresholds
        ``v`` at ``spikes``: the observed thresholds, V.
    slopes
        Approach slope of ``v`` over the ``slope_window`` before each threshold, V/s (zeros
        without a window).
    """

    v: np.ndarray
    spikes: np.ndarray
    dt: float
    n_cut: int
    thresholds: np.ndarray
    slopes: np.ndarray


def threshold_observations(sweeps: Sequence[SISweep], cut: float,
                           slope_window: float | None = None) -> list[ThresholdObservations]:
    """The observed thresholds of every sweep with spikes (sweeps without are left out).

    Parameters
    ----------
    sweeps
        The sweeps (spikes detected).
    cut
        Spike cut, s.
    slope_window
        Window of the approach slope before each threshold, s (``None``: no slope, zeros).
    """
    prepared = []
    for s in sweeps:
        v, spikes, dt = s.v, np.asarray(s.spikes, dtype=np.int64), s.dt
        if spikes.size == 0:
            continue
        n_cut = int(round(cut / dt))
        keep = _kernels.model_spikes(spikes, n_cut)
        sp = spikes[keep]
        w = 0 if slope_window is None else max(1, int(round(slope_window / dt)))
        slope = (v[sp] - v[np.maximum(sp - w, 0)]) / (max(w, 1) * dt)
        prepared.append(ThresholdObservations(np.ascontiguousarray(v, dtype=np.float64), sp, dt,
                                              n_cut, v[sp].astype(np.float64), slope))
    return prepared


def spike_history_column(prepared: Sequence[ThresholdObservations], b_spike: float) -> np.ndarray:
    """Spike-threshold history of unit jump at each observed threshold
    (:func:`threshold_observations`), decaying at ``b_spike`` 1/s."""
    return np.concatenate([_kernels.spike_history(o.spikes, o.n_cut, b_spike * o.dt)
                           for o in prepared])


def voltage_feature_column(prepared: Sequence[ThresholdObservations],
                           b_voltage: float) -> np.ndarray:
    """Voltage-threshold component of unit coupling at each observed threshold
    (:func:`threshold_observations`), decaying at ``b_voltage`` 1/s."""
    return np.concatenate([_kernels.voltage_threshold_feature(o.v, o.spikes, o.n_cut,
                                                              b_voltage * o.dt, o.dt)
                           for o in prepared])


def voltage_feature_columns(prepared: Sequence[ThresholdObservations],
                            b_voltages: Sequence[float]) -> list[np.ndarray]:
    """:func:`voltage_feature_column` at each of ``b_voltages`` (1/s), bitwise, in one pass
    over each sweep (:func:`glifx.fitting._kernels.voltage_threshold_features`)."""
    per_sweep = [_kernels.voltage_threshold_features(
        o.v, o.spikes, o.n_cut, np.array([b * o.dt for b in b_voltages], dtype=np.float64), o.dt)
        for o in prepared]
    return [np.concatenate([rows[q] for rows in per_sweep]) for q in range(len(b_voltages))]


def threshold_components(
    sweeps: Sequence[SISweep],
    cut: float,
    *,
    spike_component: bool = True,
    voltage_component: bool = True,
    theta_inf: float | None = None,
    b_spike_bounds: tuple[float, float] = B_SPIKE_BOUNDS,
    b_voltage_bounds: tuple[float, float] = B_VOLTAGE_BOUNDS,
    grid: int = 24,
    slope_window: float | None = None,
) -> ThresholdComponents:
    """Fit θ∞ and the spike and voltage threshold components to all observed thresholds at once.

    The threshold at each model spike (one not inside an earlier spike's cut) is modelled as the
    simulator computes it::

        V(t_th) = θ∞ + a_spike · S(b_spike) + a_voltage · F(b_voltage)

    with ``S`` the spike history (unit jumps at the end of each earlier cut, decaying at
    ``b_spike``) and ``F`` the voltage component of unit coupling driven by the recorded voltage
    and frozen in cuts.  For fixed rates the model is linear in ``(θ∞, a_spike, a_voltage)``; the
    rates are found on a log grid, each refined by a bounded scalar search.  Giving Short Square,
    Short Square - Triple and training Noise sweeps together lets every spike inform every
    parameter (the reference fits each from one protocol and ignores θ_v in the triples).

    Parameters
    ----------
    sweeps
        Sweeps with spikes: ``v`` relative to rest (V), ``spikes`` (threshold indices),
        ``dt`` (s).
    cut
        Spike cut, s.
    spike_component, voltage_component
        Which components the model has (GLIF2/4: spike only; GLIF5: both).
    theta_inf
        Fix θ∞ (V) instead of fitting it.
    b_spike_bounds, b_voltage_bounds
        Search intervals of the rates, 1/s.  The published b_voltage of the 12 reference cells
        lie between 18 and 111 1/s; the cap of 300 1/s keeps the voltage component from turning
        into a detector of the approach slope (see ``slope_window``).
    grid
        Grid points per rate.
    slope_window
        Length (s) of the window before each threshold over which the approach slope ``dV/dt``
        is measured for the detection-lag term (``None``: no such term).  A detector that marks
        the threshold a fixed time δ before the model's crossing (any low-pass filtered dV/dt
        criterion does) reads ``θ − δ·dV/dt``.  Off by default: on ground-truth cells this
        nuisance term is nearly collinear with a fast voltage component and made θ∞ worse, so
        the lag is left as a known bias of θ∞ (about −δ·dV/dt, below 1 mV at 200 kHz).

    Raises
    ------
    EstimationError
        With fewer spikes than parameters + 2.
    """
    prepared = threshold_observations(sweeps, cut, slope_window)
    y = np.concatenate([o.thresholds for o in prepared]) if prepared else np.empty(0)
    slopes = np.concatenate([o.slopes for o in prepared]) if prepared else np.empty(0)
    n_par = (theta_inf is None) + spike_component + voltage_component
    if y.size < n_par + 2:
        raise EstimationError(f"{y.size} spikes are too few to fit the threshold components")
    y_fit = y if theta_inf is None else y - theta_inf

    def s_col(b: float) -> np.ndarray:
        return spike_history_column(prepared, b)

    def f_col(b: float) -> np.ndarray:
        return voltage_feature_column(prepared, b)

    def solve(s: np.ndarray | None, f: np.ndarray | None) -> tuple[float, np.ndarray]:
        cols = [] if slope_window is None else [slopes]
        if theta_inf is None:
            cols.append(np.ones_like(y))
        if s is not None:
            cols.append(s)
        if f is not None:
            cols.append(f)
        X = np.column_stack(cols)
        ok = np.all(np.isfinite(X), axis=1)
        coef = _lstsq(X[ok], y_fit[ok])
        r = y_fit[ok] - X[ok] @ coef
        return float(r @ r) / max(int(ok.sum()), 1), coef

    gs = np.linspace(np.log(b_spike_bounds[0]), np.log(b_spike_bounds[1]), grid)
    gv = np.linspace(np.log(b_voltage_bounds[0]), np.log(b_voltage_bounds[1]), max(grid // 2, 4))
    s_cache = [s_col(np.exp(g)) for g in gs] if spike_component else []
    if spike_component:
        # a decay rate at which (almost) no observed threshold still feels the jump leaves
        # a_spike unidentified: its column is ~0 and any jump fits (FS sample cell, triple
        # spikes missed: a_spike = -369 V at b_spike = 2000 1/s, a model firing at every step
        # after its cut).  Support (spikes with S >= SPIKE_SUPPORT_LEVEL) falls with b_spike,
        # so the admissible rates are a prefix of the grid.
        support = [int(np.count_nonzero(sc >= SPIKE_SUPPORT_LEVEL)) for sc in s_cache]
        n_ok = sum(1 for c in support if c >= MIN_SPIKE_SUPPORT)
        if n_ok == 0:
            raise EstimationError(
                f"fewer than {MIN_SPIKE_SUPPORT} spikes follow an earlier one closely enough to "
                "measure the spike threshold component")
        gs, s_cache = gs[:n_ok], s_cache[:n_ok]

    def best_spike(f: np.ndarray | None) -> tuple[float, float | None]:
        """Profile over log b_spike for a fixed voltage column: (mse, log b_spike)."""
        if not spike_component:
            return solve(None, f)[0], None
        x, mse = refine_on_grid(lambda g: solve(s_col(np.exp(g)), f)[0], gs,
                                [solve(sc, f)[0] for sc in s_cache], xatol=1e-4)
        return mse, x

    g_s = g_v = None
    if voltage_component:
        # the grid's voltage columns in one pass (the same columns as one at a time)
        on_grid = voltage_feature_columns(prepared, [np.exp(g) for g in gv])
        g_v, _ = refine_on_grid(lambda g: best_spike(f_col(np.exp(g)))[0], gv,
                                [best_spike(f)[0] for f in on_grid], xatol=1e-3)
        del on_grid
        f = f_col(np.exp(g_v))
    else:
        f = None
    _, g_s = best_spike(f)
    b_s = None if g_s is None else float(np.exp(g_s))
    b_v = None if g_v is None else float(np.exp(g_v))
    s = None if b_s is None else s_col(b_s)
    mse, coef = solve(s, f)
    j = 0 if slope_window is None else 1
    th = theta_inf
    if theta_inf is None:
        th = float(coef[j])
        j += 1
    a_s = a_v = None
    if spike_component:
        a_s = float(coef[j])
        j += 1
    if voltage_component:
        a_v = float(coef[j])
    return ThresholdComponents(float(th), a_s, b_s, a_v, b_v, float(np.sqrt(mse)), int(y.size),
                               voltage_noise(sweeps))


# --------------------------------------------------------------------------- threshold noise
def laplace_scale_from_long_square(sweeps: Sequence[SISweep], window_s: float = 0.5) -> float:
    """Laplace scale (V) of the subthreshold voltage noise of Long Square sweeps.

    The last ``window_s`` of each spike-free stimulus epoch (steady state) is detrended linearly;
    the Laplace scale is the mean absolute deviation of the residual, averaged over sweeps.

    Parameters
    ----------
    sweeps
        Long Square sweeps (``v`` relative to rest, V); those with spikes or without a stimulus
        epoch are skipped.
    window_s
        Steady-state window, s.

    Raises
    ------
    EstimationError
        When no sweep is spike-free with a steady-state window of at least 10 samples.
    """
    scales = []
    for s in sweeps:
        if s.stimulus is None or s.spikes.size:
            continue
        b = s.stimulus[1]
        a = max(s.stimulus[0], b - int(round(window_s / s.dt)))
        seg = np.asarray(s.v_at(slice(a, b)), dtype=np.float64)
        if seg.size < 10:
            continue
        t = np.arange(seg.size)
        resid = seg - np.polyval(np.polyfit(t, seg, 1), t)
        scales.append(float(np.mean(np.abs(resid))))
    if not scales:
        raise EstimationError("no spike-free Long Square sweep to measure the voltage noise")
    return float(np.mean(scales))
