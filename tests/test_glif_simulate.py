"""The GLIF simulator: parity with the Allen reference outputs, a slow reference loop, semantics."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from glif_reference import slow_glif

import glifx
from glifx.errors import ConfigError
from glifx.glif import (
    GlifModel,
    OUNoise,
    SimulationResult,
    forced_spike_run,
    simulate,
    simulate_many,
)

DT = 5e-6
CV = 0.2


# ---------------------------------------------------------------- reference data helpers
@pytest.fixture(scope="module")
def allen(shared_data: Path) -> dict:
    root = shared_data / "allen_glif"
    return {
        "root": root,
        "runs": json.loads((root / "reference_spikes.json").read_text())["runs"],
        "x": np.load(root / "noise_x.npy"),
    }


def _stimulus(run: dict, x: np.ndarray) -> np.ndarray:
    # exactly as shared/data/README.md says
    amp_A = float.fromhex(run["amp_A"])
    return amp_A * (1.0 + CV * x.astype(np.float64))


def _model(root: Path, run: dict) -> GlifModel:
    config = json.loads((root / "configs" / run["cell"] / run["config"]).read_text())
    return GlifModel.from_allen_config(config)  # spike_cut_length kept in steps (the default)


# ---------------------------------------------------------------- parity with the Allen reference
@pytest.mark.shared_data
def test_spike_steps_equal_reference_for_every_run(allen: dict) -> None:
    runs = allen["runs"]
    assert len(runs) == 96
    models = [_model(allen["root"], run) for run in runs]
    levels = {run["level"] for run in runs}
    assert levels == {f"GLIF{n}" for n in range(1, 6)}
    mismatches = []
    for run, model in zip(runs, models, strict=True):
        assert run["dt"] == DT
        out = simulate(model, _stimulus(run, allen["x"]), DT)
        expected = np.asarray(run["spike_steps"], dtype=np.int64)
        if not np.array_equal(out.spike_steps, expected):
            mismatches.append((run["cell"], run["level"], run["scale"], out.n_spikes, expected.size))
        assert out.spike_steps.dtype == np.int64
        np.testing.assert_array_equal(out.spike_times, out.spike_steps * DT)
        assert not out.truncated
    assert mismatches == []


@pytest.mark.shared_data
def test_last_valid_index_matches_reference(allen: dict) -> None:
    # runs whose last spike cut runs past the end: voltage NaN up to the end, as in the reference
    runs = [r for r in allen["runs"] if r["last_valid_index"] != len(allen["x"]) - 1]
    assert runs
    for run in runs:
        out = simulate(_model(allen["root"], run), _stimulus(run, allen["x"]), DT, record={"voltage"})
        finite = np.flatnonzero(np.isfinite(out.voltage))
        assert finite[-1] == run["last_valid_index"]
        assert out.threshold is None and out.asc is None


@pytest.mark.shared_data
@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_traces_equal_reference(allen: dict, level: int) -> None:
    cell = "579611597_Ndnf-IRES2-dgCre"
    run = next(r for r in allen["runs"] if r["cell"] == cell and r["level"] == f"GLIF{level}"
               and r["scale"] == 0.9)
    with np.load(allen["root"] / f"traces_{cell}.npz") as z:
        ref = {k: z[f"GLIF{level}_{k}"] for k in ("voltage", "threshold", "AScurrents")}
    out = simulate(_model(allen["root"], run), _stimulus(run, allen["x"]), DT, record=True)
    np.testing.assert_array_equal(out.spike_steps, run["spike_steps"])
    n = ref["voltage"].shape[0]
    assert n == 100_000
    for mine, theirs in ((out.voltage, ref["voltage"]), (out.threshold, ref["threshold"]),
                         (out.asc, ref["AScurrents"])):
        mine = mine[:n]
        assert mine.shape == theirs.shape
        np.testing.assert_array_equal(np.isnan(mine), np.isnan(theirs))
        assert np.isnan(theirs).any()  # there are spike cuts in the window
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-12, equal_nan=True)


# ---------------------------------------------------------------- slow, obviously-correct reference
def _slow(model: GlifModel, stim: np.ndarray, dt: float) -> tuple[list[int], np.ndarray, np.ndarray,
                                                                   np.ndarray, int | None]:
    """GLIF_SPEC.md section 2, one step at a time in plain Python (tests/glif_reference.py)."""
    run = slow_glif(model, stim, dt)
    return run.spikes, run.voltage, run.threshold, run.asc, run.truncated_at


def _random_model(rng: np.random.Generator, level: int | None) -> GlifModel:
    kw = dict(
        R_input=rng.uniform(1e8, 3e8), C=rng.uniform(5e-11, 1.5e-10), th_inf=rng.uniform(0.015, 0.03),
        spike_cut_length=int(rng.integers(0, 150)), asc_amp_array=tuple(rng.uniform(-1e-10, 2e-11, 2)),
        asc_tau_array=tuple(1.0 / rng.choice([3.0, 10.0, 30.0, 100.0, 300.0], 2)),
        asc_r=tuple(rng.uniform(0.5, 1.0, 2)), a=rng.uniform(0.2, 0.7), b=rng.uniform(0.0, 0.01),
        a_spike=rng.uniform(0.0, 0.005), b_spike=rng.uniform(10, 500), a_voltage=rng.uniform(-5, 30),
        b_voltage=rng.uniform(10, 120), coeff_th_inf=rng.uniform(0.8, 1.2),
        coeff_C=rng.uniform(0.9, 1.1),
        coeff_G=rng.uniform(0.9, 1.1), coeff_a=rng.uniform(0.9, 1.1), coeff_b=rng.uniform(0.9, 1.1),
        coeff_asc_amp=tuple(rng.uniform(0.8, 1.2, 2)), init_voltage=rng.uniform(-0.005, 0.005),
        El=rng.uniform(-0.002, 0.002),
        init_AScurrents=tuple(rng.uniform(-1e-11, 1e-11, 2)),
    )
    if level is None:  # a non-standard combination: runs through the generic kernel
        kw.update(voltage_reset_method=str(rng.choice(["zero", "v_before"])),
                  threshold_dynamics_method=str(rng.choice(["inf", "spike_component",
                                                            "three_components_exact"])),
                  threshold_reset_method=str(rng.choice(["inf", "three_components"])),
                  asc_dynamics_method=str(rng.choice(["none", "exp"])),
                  asc_reset_method=str(rng.choice(["none", "sum"])))
    return GlifModel(level=level, **kw)


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5, None])
def test_kernel_equals_slow_reference_on_random_models(level: int | None) -> None:
    rng = np.random.default_rng(17 + (level or 0))
    n = 30_000
    base = np.convolve(rng.normal(0, 1, n), np.ones(200) / 200, mode="same")
    base /= base.std()
    spikes_seen = 0
    for _ in range(4):
        model = _random_model(rng, level)
        stim = rng.uniform(1.2, 3.0) * model.th_inf / model.R_input * (1 + 0.3 * base)
        spikes, V, th, I, trunc = _slow(model, stim, DT)
        out = simulate(model, stim, DT, record=True)
        np.testing.assert_array_equal(out.spike_steps, spikes)
        assert out.truncated_at == trunc and out.truncated == (trunc is not None)
        np.testing.assert_allclose(out.voltage, V, rtol=0, atol=1e-15, equal_nan=True)
        np.testing.assert_allclose(out.threshold, th, rtol=0, atol=1e-15, equal_nan=True)
        np.testing.assert_allclose(out.asc, I, rtol=0, atol=1e-22, equal_nan=True)
        np.testing.assert_array_equal(simulate(model, stim, DT).spike_steps, spikes)
        spikes_seen += len(spikes)
    assert spikes_seen >= 10


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5, None])
def test_forced_run_equals_slow_reference(level: int | None) -> None:
    """The forced-spike run (reset at given steps, no threshold test) against the slow step
    forced the same way, at spikes that include some inside earlier cuts (skipped by both)."""
    rng = np.random.default_rng(41 + (level or 0))
    n = 20_000
    for _ in range(3):
        model = _random_model(rng, level)
        stim = 1.5 * model.th_inf / model.R_input * (1 + 0.3 * rng.standard_normal(n))
        forced = np.sort(rng.choice(n, size=40, replace=False))
        ref = slow_glif(model, stim, DT, forced_spikes=forced)
        margin, valid = forced_spike_run(model, stim, DT, forced)
        np.testing.assert_array_equal(valid, ref.valid)
        np.testing.assert_allclose(margin, ref.margin, rtol=0, atol=1e-15)
        assert 0 < len(ref.spikes) <= forced.size


# ---------------------------------------------------------------- semantics
def _lif(**kw) -> GlifModel:
    base = dict(level=1, R_input=2e8, C=1e-10, th_inf=0.02, spike_cut_length=10)
    base.update(kw)
    return GlifModel(**base)


def test_spike_cut_semantics_nan_then_reset_state() -> None:
    model = _lif()
    out = simulate(model, np.full(20000, 3e-10), DT, record=True)
    t = int(out.spike_steps[0])
    n = 10
    assert np.isnan(out.voltage[t:t + n]).all() and np.isnan(out.asc[t:t + n]).all()
    assert out.voltage[t + n] == 0.0 and out.threshold[t + n] == pytest.approx(0.02)
    assert np.isfinite(out.voltage[t + n:out.spike_steps[1]]).all()
    assert (np.diff(out.spike_steps) > n).all()


def test_glif1_trains_depend_on_the_membrane_through_tau_alone() -> None:
    # V' = V + dt/C (I - V/R): with R -> kR, C -> C/k, V -> kV the step is the same equation,
    # so a threshold k θ∞ crosses at the same steps (the reset to 0 scales too).  With k a
    # power of two every product is exact.  Why it matters: GLIF1 optimises θ∞ alone, so its
    # fit sees the membrane only through τ = RC (README, the conductance cells' GLIF1).
    stim = 2.2e-10 * (1.0 + 0.4 * np.random.default_rng(3).standard_normal(40000))
    ref = simulate(_lif(), stim, DT).spike_steps
    assert ref.size > 5
    for k in (2.0, 0.5):
        same_tau = _lif(R_input=2e8 * k, C=1e-10 / k, th_inf=0.02 * k)
        np.testing.assert_array_equal(simulate(same_tau, stim, DT).spike_steps, ref)
    other_tau = _lif(R_input=2e8 * 2.0, th_inf=0.02 * 2.0)  # τ doubled, same scale
    assert not np.array_equal(simulate(other_tau, stim, DT).spike_steps, ref)


def test_cut_policy_steps_vs_seconds() -> None:
    steps = _lif(spike_cut_length=20, dt=5e-5)
    seconds = steps.with_cut_in_seconds()  # 20 steps of 5e-5 s = 1 ms
    assert seconds.spike_cut_s == pytest.approx(1e-3)
    stim = np.full(20000, 3e-10)
    assert simulate(steps, stim, DT).spike_cut_steps == 20
    assert simulate(seconds, stim, DT).spike_cut_steps == 200
    assert simulate(seconds, stim[::10], 5e-5).spike_cut_steps == 20


def test_bad_reset_truncates_and_says_so() -> None:
    # v_before reset to b = 30 mV, above the 20 mV threshold: every reset is bad
    model = GlifModel(level=2, R_input=2e8, C=1e-10, th_inf=0.02, spike_cut_length=10,
                      a=0.0, b=0.03, a_spike=0.0, b_spike=10.0)
    out = simulate(model, np.full(5000, 3e-10), DT, record=True)
    assert out.truncated and out.n_spikes == 1
    t = int(out.spike_steps[0])
    assert out.truncated_at == t + 10
    assert np.isnan(out.voltage[t:]).all() and np.isfinite(out.voltage[:t]).all()
    spikes, V, _, _, trunc = _slow(model, np.full(5000, 3e-10), DT)
    assert spikes == [t] and trunc == t + 10
    np.testing.assert_array_equal(out.voltage, V)
    many, trunc = simulate_many(model, [np.full(5000, 3e-10), np.zeros(100)], DT, return_truncated=True)
    assert trunc.tolist() == [t + 10, -1]


def test_decayed_state_is_flushed_not_subnormal() -> None:
    """After spikes and a long silence, decaying state reaches exactly 0 instead of sticking at
    the smallest subnormal (x * decay rounds it back to itself; subnormal arithmetic made whole
    Noise sweeps 4x slower).  Before that, the traces equal the slow reference."""
    model = GlifModel(level=5, R_input=2e8, C=2e-11, th_inf=0.02, spike_cut_length=20,
                      a=0.5, b=0.002, a_spike=0.003, b_spike=2000.0, a_voltage=5.0,
                      b_voltage=3000.0, asc_amp_array=(-5e-11, -1e-11),
                      asc_tau_array=(5e-4, 2e-3))
    stim = np.zeros(700_000)
    stim[:20_000] = 3e-10
    out = simulate(model, stim, DT, record=True)
    assert out.n_spikes > 3
    tiny = np.finfo(np.float64).tiny
    for trace in (out.voltage, out.threshold - model.th_inf, out.asc[:, 0], out.asc[:, 1]):
        x = np.abs(trace[np.isfinite(trace)])
        assert not np.any((x > 0) & (x < tiny))
    assert out.voltage[-1] == 0.0 and out.threshold[-1] == model.th_inf
    assert (out.asc[-1] == 0.0).all()
    spikes, V, th, I, _ = _slow(model, stim[:60_000], DT)
    np.testing.assert_array_equal(out.spike_steps, spikes)
    np.testing.assert_allclose(out.voltage[:60_000], V, rtol=0, atol=1e-15, equal_nan=True)


def test_no_input_no_spike_and_record_subsets() -> None:
    out = simulate(_lif(), np.zeros(100), DT, record={"threshold"})
    assert out.n_spikes == 0 and out.voltage is None and out.asc is None
    np.testing.assert_array_equal(out.threshold, 0.02)
    assert isinstance(out, SimulationResult) and out.spike_steps.dtype == np.int64
    assert simulate(_lif(), np.zeros(0), DT).n_spikes == 0


def test_recorded_subsets_equal_full_record() -> None:
    model = GlifModel(level=4, R_input=2e8, C=1e-10, th_inf=0.02, spike_cut_length=30,
                      asc_amp_array=(-5e-11, -1e-11), asc_tau_array=(0.01, 0.1),
                      a=0.5, b=0.005, a_spike=0.002, b_spike=50.0)
    stim = np.full(20000, 3e-10)
    full = simulate(model, stim, DT, record=True)
    assert full.n_spikes > 3
    for names in ({"voltage"}, {"asc"}, {"voltage", "threshold"}):
        part = simulate(model, stim, DT, record=names)
        np.testing.assert_array_equal(part.spike_steps, full.spike_steps)
        for name in ("voltage", "threshold", "asc"):
            if name in names:
                np.testing.assert_array_equal(getattr(part, name), getattr(full, name))
            else:
                assert getattr(part, name) is None


def test_public_names() -> None:
    assert glifx.GlifModel is GlifModel and glifx.simulate is simulate
    assert glifx.simulate_many is simulate_many


# ---------------------------------------------------------------- bad input
def test_bad_inputs_raise_config_error() -> None:
    model = _lif()
    stim = np.full(100, 1e-10)
    stim_nan = stim.copy()
    stim_nan[42] = np.nan
    with pytest.raises(ConfigError, match="sample 42 is nan"):
        simulate(model, stim_nan, DT)
    with pytest.raises(ConfigError, match="stimuli\\[1\\]: sample 42"):
        simulate_many(model, [stim, stim_nan], DT, n_jobs=1)
    with pytest.raises(ConfigError, match="stimuli\\[1\\]: sample 42"):
        simulate_many(model, np.stack([stim, stim_nan] * 2000), DT, n_jobs=2)  # 400k steps: pool
    stim_inf = stim.copy()
    stim_inf[7] = -np.inf
    with pytest.raises(ConfigError, match="sample 7 is -inf"):
        simulate(model, stim_inf, DT)
    huge = np.full(10, 1e308)  # finite samples whose sum overflows: accepted
    assert simulate(_lif(), huge, DT).n_spikes >= 1
    for dt in (0.0, -1e-5, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="dt: must be a finite time step > 0"):
            simulate(model, stim, dt)
    with pytest.raises(ConfigError, match="dt: expected a number"):
        simulate(model, stim, "5e-6")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="1-D"):
        simulate(model, np.zeros((2, 3)), DT)
    with pytest.raises(ConfigError, match="record: unknown trace"):
        simulate(model, stim, DT, record={"voltage", "spikes"})
    with pytest.raises(ConfigError, match="expected a GlifModel"):
        simulate({"C": 1}, stim, DT)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="pairing='zip': 2 models but 3 stimuli"):
        simulate_many([model, model], [stim] * 3, DT, pairing="zip")
    with pytest.raises(ConfigError, match="n_jobs"):
        simulate_many(model, stim, DT, n_jobs=0)


# ---------------------------------------------------------------- batch and noise
@pytest.fixture
def always_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the thread pool even for the small inputs of these tests."""
    import sys

    monkeypatch.setattr(sys.modules["glifx.glif.simulator"], "_MIN_PARALLEL_STEPS", 0)


def test_simulate_many_matches_simulate_and_orders_results(always_parallel: None) -> None:
    rng = np.random.default_rng(3)
    models = [_random_model(rng, level) for level in (1, 3, 5)]
    stims = [m.th_inf / m.R_input * rng.uniform(1.2, 2.0, 4000) for m in models[:2]]
    expected = [simulate(m, s, DT).spike_steps for m in models for s in stims]
    for n_jobs in (1, 2, 3):
        got = simulate_many(models, stims, DT, n_jobs=n_jobs)
        assert len(got) == 6
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a, b)
    zipped = simulate_many(models[:2], np.stack(stims), DT, pairing="zip")
    np.testing.assert_array_equal(zipped[1], simulate(models[1], stims[1], DT).spike_steps)
    single = simulate_many(models[2], stims[0], DT)
    assert len(single) == 1


def test_noise_is_seeded_and_reproducible(always_parallel: None) -> None:
    model = _lif()
    stim = np.full(20000, 1.05e-10)  # just above rheobase (1e-10 A)
    noise = OUNoise(tau_s=5e-3, sigma_A=2e-11)
    a = simulate(model, stim, DT, noise=noise, seed=7)
    b = simulate(model, stim, DT, noise=noise, seed=7)
    c = simulate(model, stim, DT, noise=noise, seed=8)
    np.testing.assert_array_equal(a.spike_steps, b.spike_steps)
    assert not np.array_equal(a.spike_steps, c.spike_steps)
    x = noise.sample(200_000, DT, seed=1)
    assert x.std() == pytest.approx(2e-11, rel=0.1) and abs(x.mean()) < 5e-12
    lag = int(5e-3 / DT)
    r = np.corrcoef(x[:-lag], x[lag:])[0, 1]
    assert r == pytest.approx(math.exp(-1), abs=0.1)
    runs1 = simulate_many(model, [stim, stim], DT, noise=noise, seed=5, n_jobs=1)
    runs2 = simulate_many(model, [stim, stim], DT, noise=noise, seed=5, n_jobs=2)
    for p, q in zip(runs1, runs2, strict=True):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(runs1[0], runs1[1])
    with pytest.raises(ConfigError, match="tau_s"):
        OUNoise(tau_s=0.0, sigma_A=1e-11)
    with pytest.raises(ConfigError, match="sigma_A"):
        OUNoise(tau_s=1e-3, sigma_A=-1.0)


def test_replace_then_simulate() -> None:
    model = _lif()
    stim = np.full(20000, 3e-10)
    lower = dataclasses.replace(model, coeff_th_inf=0.5)
    assert simulate(lower, stim, DT).n_spikes > simulate(model, stim, DT).n_spikes


def test_threads_per_cell_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """One setting decides simulate_many's threads: set_threads > $GLIFX_THREADS > 1 in a dask
    worker > the usable cores."""
    import sys
    import types

    from glifx.glif import default_n_jobs, set_threads

    monkeypatch.delenv("GLIFX_THREADS", raising=False)
    monkeypatch.delitem(sys.modules, "distributed", raising=False)
    cores = len(os.sched_getaffinity(0))
    assert default_n_jobs() == cores
    worker = types.ModuleType("distributed")
    worker.get_worker = lambda: object()  # type: ignore[attr-defined]  # inside a task
    monkeypatch.setitem(sys.modules, "distributed", worker)
    assert default_n_jobs() == 1
    monkeypatch.setenv("GLIFX_THREADS", "3")
    assert default_n_jobs() == 3
    try:
        set_threads(2)
        assert default_n_jobs() == 2
        with pytest.raises(ConfigError, match="set_threads"):
            set_threads(0)
    finally:
        set_threads(None)
    assert default_n_jobs() == 3
    monkeypatch.setenv("GLIFX_THREADS", "all")
    with pytest.raises(ConfigError, match="GLIFX_THREADS"):
        default_n_jobs()
    monkeypatch.delenv("GLIFX_THREADS")

    def no_worker() -> object:
        raise ValueError("No worker found")

    worker.get_worker = no_worker  # type: ignore[attr-defined]  # distributed imported, no task
    assert default_n_jobs() == cores


def test_work_submitted_from_a_pool_thread_runs_inline() -> None:
    # two outer tasks that each wait for inner tasks queued behind them on the same 2-thread
    # pool would wait for ever; from a pool thread the inner ones run in the caller
    import threading

    from glifx.glif.simulator import map_threads

    def outer(k: int) -> int:
        return sum(map_threads(lambda x: x + k, list(range(4)), 2))

    result: list[list[int]] = []
    worker = threading.Thread(target=lambda: result.append(map_threads(outer, [0, 1, 2, 3], 2)),
                              daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert result == [[6, 10, 14, 18]]


def test_map_threads_with_caller() -> None:
    """Results in order whoever runs them; the caller takes items too; inside a pool thread
    (and with one thread) everything runs inline; a busy pool does not hold the caller up."""
    import threading

    from glifx.glif.simulator import map_threads, map_threads_with_caller

    me = threading.get_ident()
    ran_by: list[int] = []

    def f(x: int) -> int:
        ran_by.append(threading.get_ident())
        return x * x

    assert map_threads_with_caller(f, list(range(50)), 2) == [x * x for x in range(50)]
    assert me in ran_by
    assert map_threads_with_caller(f, [3], 2) == [9]
    assert map_threads_with_caller(f, [1, 2], 1) == [1, 4]
    assert map_threads_with_caller(f, [], 2) == []

    def outer(k: int) -> int:
        return sum(map_threads_with_caller(lambda x: x + k, list(range(4)), 2))

    assert map_threads(outer, [0, 1, 2, 3], 2) == [6, 10, 14, 18]

    # both pool threads blocked: the caller does every item itself and returns
    release = threading.Event()
    blockers = [threading.Thread(target=lambda: map_threads(lambda _: release.wait(30), [0, 1], 2))]
    blockers[0].start()
    try:
        assert map_threads_with_caller(f, list(range(10)), 2) == [x * x for x in range(10)]
    finally:
        release.set()
        blockers[0].join(timeout=30)
