"""Speed of the explained-variance metric on long sweeps (GLIF_SPEC §4).

Target (checked only when benchmarking is enabled, ``pytest benchmarks/test_bench_explained_variance.py
--benchmark-enable``): one explained-variance ratio of 3 data trains against a model train on a
25 s sweep at 200 kHz (5,000,000 samples, about 300 spikes per train) in <= 0.5 s.  Its agreement
with dense smoothing is tests/test_fitting_explained_variance.py.  In the default run
(``--benchmark-disable``) it runs once, untimed, as a smoke test.
"""

from __future__ import annotations

import numpy as np

from glifx.fitting.explained_variance import explained_variance_ratio

TARGET_S = 0.5
DT, N = 5e-6, 5_000_000


def _trains(rng: np.random.Generator, k: int, n_spikes: int) -> list[np.ndarray]:
    """``k`` jittered copies of one random train (sample indices)."""
    base = np.sort(rng.choice(N, size=n_spikes, replace=False))
    return [np.clip(base + rng.integers(-400, 401, size=base.size), 0, N - 1) for _ in range(k)]


def test_bench_explained_variance_25s_200khz(benchmark) -> None:
    benchmark.group = "explained variance 25 s at 200 kHz"
    rng = np.random.default_rng(3)
    data = _trains(rng, 3, 300)
    model = np.sort(rng.choice(N, 280, replace=False))
    explained_variance_ratio(data, model, N, DT)  # compile outside the timing
    result = benchmark.pedantic(explained_variance_ratio, args=(data, model, N, DT),
                                rounds=5, iterations=1, warmup_rounds=1)
    assert 0.0 < result.denominator <= 1.0
    if benchmark.disabled:
        return
    best = benchmark.stats.stats.min
    benchmark.extra_info.update(seconds=best, samples=N)
    assert best <= TARGET_S, f"{best:.3f} s > {TARGET_S} s"
