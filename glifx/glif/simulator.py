"""The GLIF simulator: :func:`simulate` (one run, optional traces) and :func:`simulate_many` (batch).

The scheme is GLIF_SPEC.md section 2 (forward-Euler membrane, ASC of the previous step, exact
voltage-threshold component), compiled with numba in :mod:`glifx.glif._kernels`.  Units are SI:
stimulus in A, ``dt`` in s, voltages and thresholds in V relative to rest, currents in A.

Spike cut: step ``t`` with V(t) > theta(t) is a spike; outputs at ``t .. t+n-1`` are NaN, the reset
state is the output at ``t+n`` and simulation continues at ``t+n+1`` (input samples in the cut are
ignored).  ``n`` is :meth:`GlifModel.cut_steps` (see the spike-cut policy in
:mod:`glifx.glif.model`).

Bad reset: if the reset state is itself above threshold, the Allen reference stops silently.
glifx stops too (reference-compatible output, NaN from the spike on) but says so:
``SimulationResult.truncated`` is true and ``truncated_at`` is the step ``t+n`` of the bad reset
state.

Noise (synthetic data): ``noise=OUNoise(tau_s, sigma_A)`` adds an Ornstein-Uhlenbeck current
(stationary standard deviation ``sigma_A`` amperes, correlation time ``tau_s`` seconds, exact
discretisation) to the stimulus, drawn from ``numpy.random.default_rng(seed)``: the same seed gives
the same run.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np

from glifx.errors import ConfigError
from glifx.glif import _kernels
from glifx.glif.model import GlifModel

TRACE_NAMES = ("voltage", "threshold", "asc")

SeedLike = int | np.random.SeedSequence | None
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class OUNoise:
    """Ornstein-Uhlenbeck current noise added to the stimulus.

    dI = -(I - mean_A)/tau_s dt + sigma_A sqrt(2/tau_s) dW, simulated exactly on the grid and
    started from its stationary distribution.

    Attributes
    ----------
    tau_s
        Correlation time (s), > 0.
    sigma_A
        Stationary standard deviation (A), >= 0.
    mean_A
        Mean (A); default 0.
    """

    tau_s: float
    sigma_A: float
    mean_A: float = 0.0

    def __post_init__(self) -> None:
        if not (isinstance(self.tau_s, int | float) and math.isfinite(self.tau_s) and self.tau_s > 0):
            raise ConfigError(f"OUNoise.tau_s: must be a finite number > 0 s, got {self.tau_s!r}")
        sigma = self.sigma_A
        if not (isinstance(sigma, int | float) and math.isfinite(sigma) and sigma >= 0):
            raise ConfigError(f"OUNoise.sigma_A: must be a finite number >= 0 A, got {self.sigma_A!r}")
        if not (isinstance(self.mean_A, int | float) and math.isfinite(self.mean_A)):
            raise ConfigError(f"OUNoise.mean_A: must be a finite number (A), got {self.mean_A!r}")

    def sample(self, n_steps: int, dt: float, seed: SeedLike | np.random.Generator = None) -> np.ndarray:
        """``n_steps`` samples (A, float64) of the process on a grid of step ``dt`` (s)."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        xi = rng.standard_normal(n_steps)
        decay = math.exp(-dt / self.tau_s)
        return _kernels.ou_filter(xi, decay, float(self.sigma_A), float(self.mean_A))


@dataclass(frozen=True)
class SimulationResult:
    """Output of :func:`simulate`.

    Attributes
    ----------
    spike_steps
        int64 step indices ``t`` at which V(t) > theta(t).
    spike_times
        ``spike_steps * dt`` (s), float64 (grid times, no offset).
    dt
        Simulation step (s).
    n_steps
        Number of stimulus samples simulated.
    spike_cut_steps
        Spike-cut length used (steps).
    truncated
        True if a bad reset (reset state above threshold) stopped the run.
    truncated_at
        Step of the bad reset state (``spike + spike_cut_steps``) or ``None``.  No spike is
        reported after it and traces are NaN from the last spike on.  (A bad reset whose state
        would fall after the end of the stimulus loses nothing and is not flagged.)
    voltage
        V(t) (V, relative to rest), shape (n_steps,), NaN during cuts; ``None`` unless recorded.
    threshold
        theta(t) (V, relative to rest), shape (n_steps,), NaN during cuts; ``None`` unless recorded.
    asc
        After-spike currents I_j(t) (A), shape (n_steps, 2) (column j = current j, the layout of
        the Allen ``AScurrents`` output), NaN during cuts; ``None`` unless recorded.
    """

    spike_steps: np.ndarray
    spike_times: np.ndarray
    dt: float
    n_steps: int
    spike_cut_steps: int
    truncated: bool
    truncated_at: int | None
    voltage: np.ndarray | None = None
    threshold: np.ndarray | None = None
    asc: np.ndarray | None = None

    @property
    def n_spikes(self) -> int:
        """Number of spikes."""
        return int(self.spike_steps.shape[0])


def _check_dt(dt: float) -> float:
    if isinstance(dt, bool) or not isinstance(dt, int | float | np.floating | np.integer):
        raise ConfigError(f"dt: expected a number of seconds, got {dt!r}")
    dt = float(dt)
    if not (math.isfinite(dt) and dt > 0):
        raise ConfigError(f"dt: must be a finite time step > 0 s, got {dt!r}")
    return dt


def _as_stimulus(stimulus: object, name: str) -> np.ndarray:
    """Shape and dtype checks; a float64 C-contiguous view (a copy only if needed)."""
    try:
        arr = np.asarray(stimulus)
    except Exception as exc:  # ragged input, objects ...
        raise ConfigError(f"{name}: not a numeric array ({exc})") from None
    if arr.ndim != 1:
        raise ConfigError(f"{name}: expected a 1-D array of currents (A), got shape {arr.shape}")
    if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
        raise ConfigError(f"{name}: expected real numbers (A), got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def _first_nonfinite(arr: np.ndarray) -> int:
    """Index of the first NaN/inf of ``arr`` or -1; a vectorised sum answers the usual case."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(np.sum(arr))
    if math.isfinite(total):  # NaN/inf propagate: a finite sum proves every sample finite
        return -1
    return int(_kernels.first_nonfinite(arr))  # non-finite sum: find the sample (or an overflow)


def _check_finite(arr: np.ndarray, name: str, bad: int | None = None) -> None:
    if bad is None:
        bad = _first_nonfinite(arr)
    if bad >= 0:
        raise ConfigError(f"{name}: sample {bad} is {arr[bad]} (NaN/inf not allowed)")


def _check_stimulus(stimulus: object, name: str = "stimulus") -> np.ndarray:
    arr = _as_stimulus(stimulus, name)
    _check_finite(arr, name)
    return arr


def _check_model(model: object) -> GlifModel:
    if not isinstance(model, GlifModel):
        raise ConfigError(f"model: expected a GlifModel, got {type(model).__name__}")
    return model


def _record_set(record: bool | Iterable[str]) -> frozenset[str]:
    if record is True:
        return frozenset(TRACE_NAMES)
    if record is False or record is None:
        return frozenset()
    if isinstance(record, str):
        record = (record,)
    names = frozenset(record)
    unknown = sorted(names - set(TRACE_NAMES))
    if unknown:
        raise ConfigError(f"record: unknown trace(s) {unknown} (known: {', '.join(TRACE_NAMES)})")
    return names


def _with_noise(stim: np.ndarray, dt: float, noise: OUNoise | None, seed: SeedLike) -> np.ndarray:
    if noise is None:
        return stim
    if not isinstance(noise, OUNoise):
        raise ConfigError(f"noise: expected an OUNoise, got {type(noise).__name__}")
    out = noise.sample(stim.shape[0], dt, seed)
    out += stim
    return out


def _sink(shape: tuple[int, ...]) -> np.ndarray:
    """A writable array of ``shape`` whose every element is the same float64 (all strides 0)."""
    return np.lib.stride_tricks.as_strided(np.empty(1), shape=shape, strides=(0,) * len(shape))


_EMPTY1 = np.empty(0, dtype=np.float64)
_EMPTY2 = np.empty((0, 2), dtype=np.float64)
_NO_QUIET = np.empty((0, 2), dtype=np.int64)

#: Shortest stretch of zero stimulus (steps) that :func:`simulate_many` ``skip_quiet`` crosses in
#: closed form (shorter ones cost less to step than to test).
QUIET_MIN_STEPS = 4 * _kernels.FLUSH_EVERY


@dataclass(frozen=True, eq=False)
class CheckedStimulus:
    """A stimulus checked once for repeated simulation (e.g. by an optimiser).

    :func:`simulate_many` takes it in place of an array and skips the checks and the search for
    quiet stretches it would otherwise make on every call.  Build with :meth:`of`.

    Attributes
    ----------
    current
        Injected current, A: float64, C-contiguous, finite.
    quiet
        (k, 2) int64 ``[start, end)`` steps of the stretches of exactly zero current at least
        :data:`QUIET_MIN_STEPS` long.
    """

    current: np.ndarray
    quiet: np.ndarray

    @classmethod
    def of(cls, stimulus: object, name: str = "stimulus") -> CheckedStimulus:
        """Check ``stimulus`` (1-D, real, finite, A) and find its quiet stretches.

        Raises
        ------
        ConfigError
            On anything :func:`simulate_many` would refuse.
        """
        if isinstance(stimulus, CheckedStimulus):
            return stimulus
        arr = _check_stimulus(stimulus, name)
        return cls(arr, _kernels.quiet_stretches(arr, QUIET_MIN_STEPS))


def simulate(
    model: GlifModel,
    stimulus_A: np.ndarray,
    dt: float,
    *,
    record: bool | Iterable[str] = False,
    noise: OUNoise | None = None,
    seed: SeedLike = None,
) -> SimulationResult:
    """Simulate one GLIF run.

    Parameters
    ----------
    model
        The neuron (:class:`GlifModel`).
    stimulus_A
        Injected current (A), 1-D, one sample per step; finite.
    dt
        Simulation step (s), > 0.  The spike cut is ``model.cut_steps(dt)`` steps.
    record
        ``False`` (spikes only, fastest), ``True`` (all traces) or a set of names among
        ``{"voltage", "threshold", "asc"}``.
    noise, seed
        Optional :class:`OUNoise` current added to the stimulus, drawn reproducibly from ``seed``.

    Returns
    -------
    SimulationResult
        Spike steps and times, truncation flag and the requested traces (see the class).

    Examples
    --------
    >>> model = GlifModel(level=1, R_input=2e8, C=1e-10, th_inf=0.02, spike_cut_length=20)
    >>> out = simulate(model, np.full(20000, 2e-10), dt=5e-6)  # 0.1 s of 200 pA
    >>> out.n_spikes, out.spike_steps[:2].tolist()
    (7, [2772, 5565])
    """
    model = _check_model(model)
    dt = _check_dt(dt)
    stim = _with_noise(_check_stimulus(stimulus_A, "stimulus_A"), dt, noise, seed)
    names = _record_set(record)
    p, f = model._kernel_arrays(dt)
    level = model.standard_level
    n = stim.shape[0]
    if names:
        # the kernel writes every sample of each trace; an unrecorded one goes to a zero-stride
        # view of a single element (no memory; a separately compiled, cached specialisation)
        v = np.empty(n) if "voltage" in names else None
        th = np.empty(n) if "threshold" in names else None
        asc = np.empty((n, 2)) if "asc" in names else None
        spikes, trunc = _kernels.KERNELS[level, True](
            stim, p, f,
            v if v is not None else _sink((n,)),
            th if th is not None else _sink((n,)),
            asc if asc is not None else _sink((n, 2)),
        )
    else:
        v = th = asc = None
        spikes, trunc = _kernels.KERNELS[level, False](stim, p, f, _EMPTY1, _EMPTY1, _EMPTY2,
                                                       _NO_QUIET)
    return SimulationResult(
        spike_steps=spikes,
        spike_times=spikes * dt,
        dt=dt,
        n_steps=n,
        spike_cut_steps=int(f[_kernels.F_CUT_STEPS]),
        truncated=trunc >= 0,
        truncated_at=int(trunc) if trunc >= 0 else None,
        voltage=v,
        threshold=th,
        asc=asc,
    )


def forced_spike_run(model: GlifModel, stimulus_A: np.ndarray, dt: float,
                     spike_steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` reset at the given spikes instead of at its threshold crossings.

    The same step as :func:`simulate` (GLIF_SPEC §2), without the threshold test: at each of the
    sorted ``spike_steps`` the model is reset and cut exactly as after a model spike; a step
    inside the cut of an earlier one is skipped (a model cannot spike there).  Used by the
    threshold estimators and the reference objective of :mod:`glifx.fitting`.

    Parameters
    ----------
    model
        The GLIF model (SI, relative to rest).
    stimulus_A
        Injected current, A, one value per step.
    dt
        Step, s.
    spike_steps
        Steps at which the model spikes (int).

    Returns
    -------
    (margin, valid)
        ``margin``: ``V - θ_s - θ_v`` (V) at every step where the simulator tests for a spike
        (θ∞ left out, so that any θ∞ can be tried against it); ``valid``: where that is (false
        inside cuts and on reset samples, where ``margin`` is 0).
    """
    model = _check_model(model)
    dt = _check_dt(dt)
    stim = np.ascontiguousarray(stimulus_A, dtype=np.float64)
    steps = np.ascontiguousarray(spike_steps, dtype=np.int64)
    p, f = model._kernel_arrays(dt)
    margin = np.zeros(stim.shape[0])
    valid = np.zeros(stim.shape[0], dtype=np.bool_)
    _kernels.forced_margin(stim, p, f, steps, margin, valid)
    return margin, valid


#: Below this many steps in total, simulate_many runs serially (thread hand-offs cost ~10 us).
_MIN_PARALLEL_STEPS = 200_000

_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _in_pool_thread() -> bool:
    """Whether this code runs in a thread of the pools below: work submitted from there runs
    in the caller (two tasks that each waited for tasks queued behind them would deadlock)."""
    return threading.current_thread().name.startswith(_POOL_PREFIX)


_POOL_PREFIX = "glifx-glif"


def _pool(n_jobs: int) -> ThreadPoolExecutor:
    """A reusable pool of ``n_jobs`` threads (a new one in a forked child: threads do not survive)."""
    key = (os.getpid(), n_jobs)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix=_POOL_PREFIX)
            _POOLS[key] = pool
        return pool


#: Environment variable giving the threads per cell (:func:`default_n_jobs`), e.g. for the
#: workers of a cohort: ``GLIFX_THREADS=2 dask worker ...``.
THREADS_ENV = "GLIFX_THREADS"

_threads: int | None = None


def set_threads(n: int | None) -> None:
    """Set the threads each cell's simulations use (:func:`default_n_jobs`), in this process.

    Parameters
    ----------
    n
        Threads, >= 1; ``None`` goes back to the default (``$GLIFX_THREADS``, else 1 in a dask
        worker, else the usable cores).

    Raises
    ------
    ConfigError
        On anything but ``None`` or an integer >= 1.
    """
    global _threads
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ConfigError(f"set_threads: expected an integer >= 1 or None, got {n!r}")
    _threads = n


def _in_dask_worker() -> bool:
    """Whether this code runs in a task of a ``dask.distributed`` worker (without importing
    distributed when nothing imported it: then there is no worker)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except ValueError:  # "No worker found"
        return False
    return True


def default_n_jobs() -> int:
    """Worker threads used by :func:`simulate_many` by default: the threads per cell.

    The one place glifx decides how many threads a cell's simulations use, in this order:
    :func:`set_threads`; the environment variable ``GLIFX_THREADS``; 1 inside a dask worker (a
    cohort runs one cell per worker thread, :func:`glifx.fit_cohort`: more threads per cell
    would only compete with the other workers for the cores); else the usable CPU cores.

    Raises
    ------
    ConfigError
        When ``GLIFX_THREADS`` is set to anything but an integer >= 1.
    """
    if _threads is not None:
        return _threads
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:
            raise ConfigError(f"{THREADS_ENV}: expected an integer >= 1, got {env!r}")
        return n
    if _in_dask_worker():
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def map_threads(fn: Callable[[T], R], items: Sequence[T], n_jobs: int | None = None) -> list[R]:
    """``[fn(x) for x in items]``, on :func:`default_n_jobs` threads of the simulator's pool.

    For callables that spend their time in the compiled kernels (which release the GIL), e.g.
    :func:`simulate` with recorded traces of several models; results in the order of ``items``.
    """
    n_jobs = default_n_jobs() if n_jobs is None else n_jobs
    if n_jobs > 1 and len(items) > 1 and not _in_pool_thread():
        return list(_pool(n_jobs).map(fn, items))
    return [fn(x) for x in items]


def map_threads_with_caller(fn: Callable[[T], R], items: Sequence[T],
                            n_jobs: int | None = None) -> list[R]:
    """:func:`map_threads`, with the calling thread taking items too, alongside ``n_jobs - 1``
    threads of the simulator's pool, instead of waiting for them.

    For short calls (a few ms) of compiled kernels that release the GIL: one thread fewer to
    wake and wait for, which on a busy machine is worth a good part of a millisecond.  Results
    in the order of ``items``; inline with one thread, one item, or inside a pool thread.
    """
    n_jobs = default_n_jobs() if n_jobs is None else n_jobs
    if n_jobs <= 1 or len(items) <= 1 or _in_pool_thread():
        return [fn(x) for x in items]
    results: list[R | None] = [None] * len(items)
    todo = iter(range(len(items)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                k = next(todo, None)
            if k is None:
                return
            results[k] = fn(items[k])

    helpers = [_pool(n_jobs).submit(work) for _ in range(min(n_jobs, len(items)) - 1)]
    try:
        work()
    finally:
        for h in helpers:
            if not h.cancel():  # a helper still queued (pool busy elsewhere) is not waited for
                h.result()
    return results  # type: ignore[return-value]  # every slot filled


_TASK_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}


def map_tasks(fn: Callable[[T], R], items: Sequence[T], n_jobs: int | None = None) -> list[R]:
    """``[fn(x) for x in items]`` on :func:`default_n_jobs` threads, for independent tasks that
    themselves simulate or call :func:`map_threads` (the levels of a fit, per-sweep refits).

    They run on a pool of their own: a task that waited for work queued behind it on the
    simulator's pool could deadlock it.  Results in the order of ``items``; the first exception
    of a task is raised once all have finished.  Inline with one thread, one item, or inside a
    task of this pool.
    """
    n_jobs = task_threads(len(items), n_jobs)
    if n_jobs <= 1:
        return [fn(x) for x in items]
    key = (os.getpid(), n_jobs)
    with _POOLS_LOCK:
        pool = _TASK_POOLS.get(key)
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix=_TASK_PREFIX)
            _TASK_POOLS[key] = pool
    futures = [pool.submit(fn, x) for x in items]
    wait(futures)
    return [f.result() for f in futures]


_TASK_PREFIX = "glifx-task"


def task_threads(n_items: int, n_jobs: int | None = None) -> int:
    """Threads :func:`map_tasks` would use for ``n_items`` tasks (1: it runs them in order)."""
    if threading.current_thread().name.startswith(_TASK_PREFIX):
        return 1
    return max(1, min(default_n_jobs() if n_jobs is None else n_jobs, n_items))


def simulate_many(
    models_or_model: GlifModel | Sequence[GlifModel],
    stimuli: np.ndarray | Sequence[np.ndarray],
    dt: float,
    *,
    pairing: Literal["product", "zip"] = "product",
    n_jobs: int | None = None,
    noise: OUNoise | None = None,
    seed: SeedLike = None,
    return_truncated: bool = False,
    skip_quiet: bool = False,
) -> list[np.ndarray] | tuple[list[np.ndarray], np.ndarray]:
    """Simulate many runs in parallel (spikes only); the call fitting makes millions of times.

    Runs execute in a thread pool over the compiled kernel, which releases the GIL: by default
    :func:`default_n_jobs` threads (the usable cores; 1 per cell in a dask worker;
    :func:`set_threads` or ``GLIFX_THREADS`` to choose).

    Parameters
    ----------
    models_or_model
        One :class:`GlifModel` or a sequence of them (e.g. parameter sets of an optimiser).
    stimuli
        One stimulus (1-D array, A), a sequence of 1-D arrays (lengths may differ) or a 2-D array
        (one stimulus per row).  Every sample must be finite.  :class:`CheckedStimulus` objects
        may stand for arrays: they are not checked again.
    dt
        Simulation step (s), > 0.
    pairing
        ``"product"`` (default): every model on every stimulus, results ordered model-major
        (``out[i * n_stimuli + j]`` is model ``i`` on stimulus ``j``).  ``"zip"``: model ``i``
        on stimulus ``i`` (equal counts; a single model or stimulus is broadcast).
    n_jobs
        Worker threads; default :func:`default_n_jobs`.  ``1`` runs serially in the caller.
    noise, seed
        Optional :class:`OUNoise`; run ``k`` draws from ``SeedSequence(seed).spawn(n_runs)[k]``,
        so results do not depend on ``n_jobs``.
    return_truncated
        Also return an int64 array with each run's bad-reset step, -1 where none.
    skip_quiet
        Cross each stretch of zero stimulus of at least :data:`QUIET_MIN_STEPS` steps in closed
        form from the first point where the model provably cannot spike before the stretch ends
        (bounds of the state, see ``glifx.glif._kernels._spike_free``), instead of stepping
        through it: the silent gaps between the epochs of a noise protocol cost nothing.  The
        state after the jump equals the stepped one up to rounding (relative ~1e-15), so a spike
        can move by one step only when a later threshold crossing falls within that of a step
        boundary.  Off by default: the run is then step for step the reference's.  Ignored
        (everything stepped) with ``noise``, whose current is never zero.

    Returns
    -------
    list of numpy.ndarray
        int64 spike step indices of each run (and the truncation array if asked).
    """
    dt = _check_dt(dt)
    if isinstance(models_or_model, GlifModel):
        models = [models_or_model]
    else:
        try:
            models = [_check_model(m) for m in models_or_model]
        except TypeError:
            raise ConfigError(
                f"models_or_model: expected a GlifModel or a sequence of them, got "
                f"{type(models_or_model).__name__}"
            ) from None
    if isinstance(stimuli, CheckedStimulus) or isinstance(stimuli, np.ndarray) and stimuli.ndim == 1:
        stimuli = [stimuli]
        names = ["stimuli"]
    elif isinstance(stimuli, np.ndarray) and stimuli.ndim == 2 or (
        isinstance(stimuli, Sequence) and not isinstance(stimuli, str | bytes)
    ):
        names = [f"stimuli[{j}]" for j in range(len(stimuli))]
    else:
        raise ConfigError(
            f"stimuli: expected an array or a sequence of arrays, got {type(stimuli).__name__}"
        )
    checked = [s if isinstance(s, CheckedStimulus) else None for s in stimuli]
    stims = [c.current if c is not None else _as_stimulus(s, name)
             for c, s, name in zip(checked, stimuli, names, strict=True)]
    packed = [(*m._kernel_arrays(dt), _kernels.KERNELS[m.standard_level, False]) for m in models]

    if pairing == "product":
        pairs = [(i, j) for i in range(len(models)) for j in range(len(stims))]
    elif pairing == "zip":
        nm, ns = len(models), len(stims)
        if nm != ns and nm != 1 and ns != 1:
            raise ConfigError(f"pairing='zip': {nm} models but {ns} stimuli")
        count = max(nm, ns)
        pairs = [(i if nm > 1 else 0, i if ns > 1 else 0) for i in range(count)]
    else:
        raise ConfigError(f"pairing: expected 'product' or 'zip', got {pairing!r}")

    if n_jobs is None:
        n_jobs = default_n_jobs()
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ConfigError(f"n_jobs: expected an integer >= 1, got {n_jobs!r}")
    if noise is not None and not isinstance(noise, OUNoise):
        raise ConfigError(f"noise: expected an OUNoise, got {type(noise).__name__}")
    seeds = np.random.SeedSequence(seed).spawn(len(pairs)) if noise is not None else None

    def run(k: int) -> tuple[np.ndarray, int]:
        i, j = pairs[k]
        p, f, kernel = packed[i]
        stim = stims[j]
        if seeds is not None:
            stim = _with_noise(stim, dt, noise, seeds[k])
        return kernel(stim, p, f, _EMPTY1, _EMPTY1, _EMPTY2, quiet[j])

    total_steps = sum(stims[j].shape[0] for _, j in pairs)
    parallel = (n_jobs > 1 and len(pairs) > 1 and total_steps >= _MIN_PARALLEL_STEPS
                and not _in_pool_thread())
    mapper = _pool(n_jobs).map if parallel else map
    unchecked = [j for j, c in enumerate(checked) if c is None]
    for j, bad in zip(unchecked, mapper(_first_nonfinite, [stims[j] for j in unchecked]),
                      strict=True):
        _check_finite(stims[j], names[j], bad)
    if skip_quiet and noise is None:
        quiet = [c.quiet if c is not None else _kernels.quiet_stretches(st, QUIET_MIN_STEPS)
                 for c, st in zip(checked, stims, strict=True)]
    else:
        quiet = [_NO_QUIET] * len(stims)
    results = list(mapper(run, range(len(pairs))))
    spikes = [r[0] for r in results]
    if return_truncated:
        return spikes, np.array([r[1] for r in results], dtype=np.int64)
    return spikes
