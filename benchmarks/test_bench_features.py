"""Speed of feature extraction against ipfx 2.1.2, measured in the same run (issue 4 targets).

Run the targets with ``pytest benchmarks/test_bench_features.py --benchmark-enable``.  Targets
(checked only when benchmarking is enabled; ratios go into each benchmark's ``extra_info`` and are
printed):

* spike + spike-train features of a 20 s, 200 kHz sweep with ~100 spikes (default 10 kHz filter):
  >= 10x faster than ipfx's SpikeFeatureExtractor + SpikeTrainFeatureExtractor (issue 22 asks
  for 20x; not met: 8-11x measured at load 2-4.6 on the 2-core development machine, 12-17x
  after the blocked filter at load 5.3-5.5, see the README's Speed table, and
  ``python benchmarks/profile_features.py sweep`` for where the time goes);
* a whole Long Square cell summary (171116sh_0018.abf, 17 sweeps, filter off as ipfx must):
  >= 5x faster than ipfx's LongSquareAnalysis.

In the default run (``--benchmark-disable``) each benchmark runs once as a test, on a 2 s sweep.
"""

from __future__ import annotations

import os
import time
import warnings

import ipfx.feature_extractor as fe
import numpy as np
import pytest

from glifx.features import detect_spikes, long_square_summary, spike_train_features, step_window
from glifx.testing.sweeps import spike_train_sweep


def _best_of(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _sweep(duration):
    rng = np.random.default_rng(7)
    n = int(100 * duration / 20)
    st = np.sort(rng.uniform(0.2, duration - 0.2, n))
    st = st[np.r_[True, np.diff(st) > 0.01]]
    return spike_train_sweep(duration, 200e3, st, step=(0.1, duration - 0.1, 100.0)), st


def test_bench_spike_and_train_features(benchmark):
    duration = 2.0 if benchmark.disabled else 20.0
    (t, v, i), st = _sweep(duration)
    start, end = 0.1, duration - 0.1

    def ours():
        spikes = detect_spikes(t, v, i, start, end)
        return spikes, spike_train_features(spikes, start, end)

    def theirs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spikes = fe.SpikeFeatureExtractor(start=start, end=end).process(t, v, i)
            return spikes, fe.SpikeTrainFeatureExtractor(start, end).process(t, v, i, spikes)

    ours()  # compile / warm up
    spikes, _ = benchmark.pedantic(ours, rounds=1 if benchmark.disabled else 5, iterations=1)
    assert len(spikes) == st.size
    if benchmark.disabled:
        return
    t_ours = _best_of(ours, 5)
    t_ipfx = _best_of(theirs, 3)
    ratio = t_ipfx / t_ours
    load = os.getloadavg()[0]
    benchmark.extra_info.update(glifx_s=t_ours, ipfx_s=t_ipfx, speedup=ratio, spikes=len(spikes),
                                load_average=load)
    print(f"\nspike+train 20 s @ 200 kHz, {len(spikes)} spikes: glifx {t_ours * 1e3:.1f} ms, "
          f"ipfx {t_ipfx * 1e3:.1f} ms, {ratio:.1f}x (load average {load:.1f})")
    assert ratio >= 10


@pytest.mark.shared_data
def test_bench_long_square_cell(benchmark, shared_data):
    from ipfx.stimulus_protocol_analysis import LongSquareAnalysis
    from ipfx.sweep import Sweep as IpfxSweep
    from ipfx.sweep import SweepSet

    import glifx

    cell = glifx.load_cell(shared_data / "real" / "pyabf" / "171116sh_0018.abf")
    sweeps = list(cell)
    start, end = step_window(sweeps)
    ss = SweepSet([IpfxSweep(np.array(s.t), np.array(s.v), np.array(s.i), "CurrentClamp",
                             s.sampling_rate, s.sweep_number) for s in sweeps])

    def ours():
        return long_square_summary(sweeps, start, end, filter=None)[0]

    def theirs():
        spx = fe.SpikeFeatureExtractor(start=start, end=end, filter=None)
        sptx = fe.SpikeTrainFeatureExtractor(start=start, end=end)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return LongSquareAnalysis(spx, sptx, subthresh_min_amp=-100.0).analyze(ss)

    ours()
    rec = benchmark.pedantic(ours, rounds=1 if benchmark.disabled else 5, iterations=1)
    assert rec["rheobase_i"] == 50.0
    if benchmark.disabled:
        return
    t_ours = _best_of(ours, 5)
    t_ipfx = _best_of(theirs, 3)
    ratio = t_ipfx / t_ours
    benchmark.extra_info.update(glifx_s=t_ours, ipfx_s=t_ipfx, speedup=ratio)
    print(f"\nLong Square cell (17 sweeps): glifx {t_ours * 1e3:.1f} ms, ipfx {t_ipfx * 1e3:.1f} ms, "
          f"{ratio:.1f}x")
    assert ratio >= 5
