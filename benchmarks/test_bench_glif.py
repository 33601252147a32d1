"""Speed, parallel scaling, compile time and memory of the GLIF simulator (issue 3 targets).

Run the targets with ``pytest benchmarks/test_bench_glif.py --benchmark-enable``.  Targets (checked
only when benchmarking is enabled; figures go into each benchmark's ``extra_info``):

* 20 s at dt = 5e-6 (4,000,000 steps), spikes only: <= 15 ns/step GLIF1, <= 40 ns/step GLIF5;
  with all traces recorded: <= 2x that.
* ``simulate_many`` of 64 x 3 s stimuli: >= 1.7x faster with 2 threads than with 1.
* a fresh process with a warm numba cache: import + first ``simulate`` < 2 s.
* peak numpy memory of a 20 s GLIF5 run with traces <= 1.5x the returned arrays (always checked;
  2 s in the default run).

In the default run (``--benchmark-disable``) each benchmark runs once as a test, on shorter inputs.
"""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

from glifx.glif import GlifModel, OUNoise, simulate, simulate_many

DT = 5e-6
NS_PER_STEP = {1: 15.0, 5: 40.0}


def _model(level: int) -> GlifModel:
    """Typical parameters (GLIF_SPEC.md medians)."""
    return GlifModel(
        level=level, R_input=1.9e8, C=9e-11, th_inf=0.027, spike_cut_length=76,
        asc_amp_array=(-1.3e-10, -1.4e-11), asc_tau_array=(0.01, 1.0 / 3.0),
        a=0.45, b=0.006, a_spike=0.0025, b_spike=140.0, a_voltage=19.0, b_voltage=66.0,
    )


def _stimulus(seconds: float, seed: int = 0) -> np.ndarray:
    """1.5x rheobase DC with 20 % Ornstein-Uhlenbeck fluctuations (A, float64)."""
    n = int(round(seconds / DT))
    dc = 1.5 * 0.027 / 1.9e8
    return dc + OUNoise(tau_s=5e-3, sigma_A=0.2 * dc).sample(n, DT, seed=seed)


def _seconds(benchmark, full: float, short: float) -> float:
    return short if benchmark.disabled else full


@pytest.mark.parametrize("record", [False, True], ids=["spikes", "traces"])
@pytest.mark.parametrize("level", [1, 5])
def test_bench_simulate_20s(benchmark, level: int, record: bool) -> None:
    benchmark.group = "simulate 20 s"
    model = _model(level)
    stim = _stimulus(_seconds(benchmark, 20.0, 1.0))
    simulate(model, stim[:1000], DT, record=record)  # compile / load outside the timing
    out = benchmark.pedantic(simulate, args=(model, stim, DT), kwargs={"record": record},
                             rounds=5, iterations=1, warmup_rounds=1)
    assert out.n_spikes > 0
    if benchmark.disabled:
        return
    ns = benchmark.stats.stats.min / stim.size * 1e9
    benchmark.extra_info.update(ns_per_step=ns, spikes=out.n_spikes, steps=stim.size)
    target = NS_PER_STEP[level] * (2 if record else 1)
    assert ns <= target, f"GLIF{level} record={record}: {ns:.1f} ns/step > {target} ns/step"


def _many_inputs(benchmark) -> tuple[list[GlifModel], list[np.ndarray]]:
    n_stimuli = 8 if benchmark.disabled else 64
    seconds = 0.3 if benchmark.disabled else 3.0
    return [_model(5)], [_stimulus(seconds, seed=k) for k in range(n_stimuli)]


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_bench_simulate_many(benchmark, n_jobs: int) -> None:
    benchmark.group = "simulate_many 64 x 3 s"
    models, stims = _many_inputs(benchmark)
    simulate_many(models, stims[:2], DT, n_jobs=n_jobs)
    out = benchmark.pedantic(simulate_many, args=(models, stims, DT), kwargs={"n_jobs": n_jobs},
                             rounds=3, iterations=1)
    assert len(out) == len(stims)


def test_bench_simulate_many_speedup(benchmark) -> None:
    """Parallel (2 threads) timed by pytest-benchmark, serial timed the same way; ratio >= 1.7."""
    benchmark.group = "simulate_many speedup"
    models, stims = _many_inputs(benchmark)
    serial = simulate_many(models, stims, DT, n_jobs=1)
    parallel = benchmark.pedantic(simulate_many, args=(models, stims, DT), kwargs={"n_jobs": 2},
                                  rounds=3, iterations=1)
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)
    if benchmark.disabled:
        return
    serial_times = []
    for _ in range(3):
        t0 = time.perf_counter()
        simulate_many(models, stims, DT, n_jobs=1)
        serial_times.append(time.perf_counter() - t0)
    speedup = min(serial_times) / benchmark.stats.stats.min
    benchmark.extra_info.update(serial_s=min(serial_times), speedup=speedup)
    assert speedup >= 1.7, f"simulate_many speedup on 2 threads {speedup:.2f}x < 1.7x"


def _noise_sweep(benchmark) -> np.ndarray:
    """A Noise 1 sweep's layout (the benchmark cell's): 1 s of rest, three 3 s epochs of the
    stimulus above 7 s apart, 1 s of rest (25 s, 64 % zero current; a fifth in the default
    run)."""
    scale = 0.2 if benchmark.disabled else 1.0
    parts = []
    for k, rest in enumerate((7.0, 7.0, 1.0)):
        parts += [_stimulus(3.0 * scale, seed=k), np.zeros(int(round(rest * scale / DT)))]
    return np.concatenate([np.zeros(int(round(scale / DT))), *parts])


@pytest.mark.parametrize("skip_quiet", [False, True], ids=["stepped", "skip_quiet"])
def test_bench_noise_sweep_quiet_gaps(benchmark, skip_quiet: bool) -> None:
    """GLIF5 on a Noise sweep, its silent gaps stepped or crossed in closed form (the scorer's
    setting, :class:`glifx.glif.CheckedStimulus`): same spikes; the time per run in
    ``extra_info``."""
    from glifx.glif import CheckedStimulus

    benchmark.group = "GLIF5 on a 25 s Noise sweep"
    model = _model(5)
    stim = CheckedStimulus.of(_noise_sweep(benchmark))
    reference = simulate(model, stim.current, DT).spike_steps
    out = benchmark.pedantic(simulate_many, args=(model, stim, DT),
                             kwargs={"skip_quiet": skip_quiet, "n_jobs": 1},
                             rounds=5, iterations=1, warmup_rounds=1)
    np.testing.assert_array_equal(out[0], reference)
    assert reference.size > 0
    if not benchmark.disabled:
        benchmark.extra_info.update(ms_per_run=benchmark.stats.stats.min * 1e3,
                                    steps=stim.current.size)


_FRESH = """
import time
t0 = time.perf_counter()
import numpy as np
from glifx.glif import GlifModel, simulate
m = GlifModel(level={level}, R_input=1.9e8, C=9e-11, th_inf=0.027, spike_cut_length=76,
              asc_amp_array=(-1.3e-10, -1.4e-11), asc_tau_array=(0.01, 0.33),
              a=0.45, b=0.006, a_spike=0.0025, b_spike=140.0, a_voltage=19.0, b_voltage=66.0)
simulate(m, np.full(1000, 2e-10), 5e-6)
print(time.perf_counter() - t0)
"""


def _fresh_process_first_call(level: int = 5) -> float:
    done = subprocess.run([sys.executable, "-c", _FRESH.format(level=level)], capture_output=True,
                          text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def test_bench_fresh_process_first_simulate(benchmark) -> None:
    """Import + first simulate in a new interpreter, numba cache warm (warmed by a first process)."""
    benchmark.group = "compile / cache load"
    if not benchmark.disabled:
        _fresh_process_first_call()  # fills the on-disk cache if it was cold
    times: list[float] = []
    rounds = 1 if benchmark.disabled else 3
    benchmark.pedantic(lambda: times.append(_fresh_process_first_call()), rounds=rounds, iterations=1)
    first_call_s = min(times)
    benchmark.extra_info["import_and_first_simulate_s"] = first_call_s
    if not benchmark.disabled:
        assert first_call_s < 2.0, f"first simulate in a fresh process took {first_call_s:.2f} s"


def test_peak_memory_of_traced_run(benchmark) -> None:
    """Peak numpy allocation of a 20 s GLIF5 run with traces <= 1.5x the returned arrays."""
    benchmark.group = "memory"
    model = _model(5)
    stim = _stimulus(_seconds(benchmark, 20.0, 2.0))
    simulate(model, stim[:1000], DT, record=True)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = simulate(model, stim, DT, record=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    returned = out.voltage.nbytes + out.threshold.nbytes + out.asc.nbytes + out.spike_steps.nbytes
    ratio = peak / returned
    benchmark.extra_info.update(peak_MB=peak / 1e6, returned_MB=returned / 1e6, ratio=ratio)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    assert ratio <= 1.5, f"peak {peak / 1e6:.1f} MB is {ratio:.2f}x the returned {returned / 1e6:.1f} MB"
