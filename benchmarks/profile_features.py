"""Profile feature extraction at high sampling rates (issues 20 and 22).

Not a pytest module: the profiling commands issue 22 asks for, run by hand::

    python benchmarks/profile_features.py sweep              # 20 s, 200 kHz benchmark sweep
    python benchmarks/profile_features.py cell FILE          # glifx features FILE under cProfile
    python benchmarks/profile_features.py cell FILE --top 40 --sort tottime

``sweep``: the sweep of ``benchmarks/test_bench_features.py`` (20 s at 200 kHz, ~100 spikes);
prints the best-of-10 time of each stage of :func:`glifx.features.detect_spikes` +
:func:`glifx.features.spike_train_features` (shape validation, filtered dV/dt with the block
summaries and the time-base check, detection kernels, trough details, the table, train features),
then cProfile's top functions of the whole call.

``cell``: ``glifx features FILE --out TMP`` (the command :mod:`benchmarks.features_500khz`
times; make its recording with ``python benchmarks/features_500khz.py --keep DIR``) under
cProfile after one unprofiled warm-up run, with wall and CPU time (user + sys) and the load
average, which a shared machine makes worth reading beside the times.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def profile_sweep(top: int, sort: str) -> None:
    """Stage times of spike + train features on the 20 s, 200 kHz benchmark sweep."""
    from test_bench_features import _best_of, _sweep

    from glifx.features import _kernels as K
    from glifx.features import detect_spikes, spike_train_features
    from glifx.features import spikes as S

    (t, v, i), _ = _sweep(20.0)
    start, end = 0.1, 19.9
    p = S.SpikeParams()
    rate = 1.0 / (t[1] - t[0])

    def whole():
        spikes = detect_spikes(t, v, i, start, end)
        return spikes, spike_train_features(spikes, start, end)

    whole()
    dvdt, _, _ = S.calculate_dvdt(t, v, p.filter, rate, reuse=True)
    dvdt = dvdt.copy()
    vmin, vmax, dmin, dmax = (x.copy() for x in S.block_summaries(v, dvdt))
    si, ei = K.time_index(t, start), K.time_index(t, end)
    summ = S._summary_buffers(v.size)

    def chain():
        return K.detect(t, v, dvdt, si, ei, start, p.dv_cutoff, p.min_height, p.min_peak,
                        p.thresh_frac, p.max_interval, p.reject_at_stim_start_interval, p.clip_tol,
                        vmax, dmax)

    th, pk, up, clipped = chain()
    troughs, downs = K.find_troughs(v, dvdt, th, pk, clipped, ei, vmin, dmin)
    hb, ha, hzi = S._bessel(p.heavy_filter * 1e3, rate)
    margin = int(S.HEAVY_MARGIN_PERIODS * rate / (p.heavy_filter * 1e3)) + 16

    def details():
        return K.trough_details(t, v, dvdt, hb, ha, hzi, margin, True, th, pk, clipped, ei,
                                p.term_frac, p.adp_thresh, p.trough_tol, p.flat_interval,
                                p.adp_max_delta_t, p.adp_max_delta_v, troughs, vmin, dmin)

    fast, adp, slow, kind, clipped2 = details()
    w = K.widths(t, v, th, pk, fast, clipped2)
    spikes = whole()[0]
    stages = {
        # what detect_spikes runs: shapes only (the filter validates the time base on its way)
        "validate (_validate)": lambda: S._validate(t, v, i, check_time=False),
        "dV/dt + block summaries": lambda: S._dvdt_checked(t, v, p.filter, rate, True, summ),
        "detection chain (K.detect)": chain,
        "troughs (K.find_troughs)": lambda: K.find_troughs(v, dvdt, th, pk, clipped, ei, vmin,
                                                           dmin),
        "trough details (1 thread)": details,
        "spike table (_table)": lambda: S._table(t, v, i, dvdt, th, pk, up, clipped2, troughs,
                                                 downs, fast, adp, slow, kind, w),
        "train features": lambda: spike_train_features(spikes, start, end),
        "whole call": whole,
    }
    print(f"20 s at 200 kHz, {len(spikes)} spikes; best of 10 "
          f"(load average {os.getloadavg()[0]:.1f})")
    for name, fn in stages.items():
        print(f"  {name:<34} {_best_of(fn, 10) * 1e3:8.2f} ms")
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(20):
        whole()
    prof.disable()
    pstats.Stats(prof).sort_stats(sort).print_stats(top)


def profile_cell(path: str, top: int, sort: str) -> None:
    """``glifx features FILE`` under cProfile (after a warm-up run)."""
    from glifx.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        main(["features", path, "--out", str(Path(tmp) / "warm")], standalone_mode=False)
        prof = cProfile.Profile()
        w0, c0 = time.perf_counter(), _cpu()
        prof.enable()
        main(["features", path, "--out", str(Path(tmp) / "run")], standalone_mode=False)
        prof.disable()
        wall, cpu = time.perf_counter() - w0, _cpu() - c0
    print(f"glifx features {path}: wall {wall:.2f} s, CPU {cpu:.2f} s "
          f"(profiled; load average {os.getloadavg()[0]:.1f})")
    pstats.Stats(prof).sort_stats(sort).print_stats(top)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("sweep", "cell"))
    parser.add_argument("path", nargs="?", help="the recording (for 'cell')")
    parser.add_argument("--top", type=int, default=25, help="functions to list")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key")
    args = parser.parse_args(argv)
    if args.what == "sweep":
        profile_sweep(args.top, args.sort)
    else:
        if args.path is None:
            parser.error("cell: give the recording's path")
        profile_cell(args.path, args.top, args.sort)


if __name__ == "__main__":
    main()
