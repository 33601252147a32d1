"""Profile ``glifx fit`` of one recording: wall and CPU time per stage, then the top functions.

Not a pytest module: the profiling command issue 22 asks for, run by hand::

    python benchmarks/profile_fit.py data_samples/rs_cell.nwb
    python benchmarks/profile_fit.py data_samples/rs_cell.nwb --stage writing --top 30
    python benchmarks/profile_fit.py cell.nwb --levels 1,3 --sort tottime --out /tmp/prof

It runs :func:`glifx.process_cell` exactly as ``glifx fit`` does (same stages, same progress
messages, outputs written to a temporary folder unless ``--out``) under :mod:`cProfile`, and
prints one line per stage (``STAGES`` of :mod:`glifx.process`) with wall seconds and process CPU
seconds (user + sys of every thread: on a loaded machine CPU time is the steadier figure), each
level's own wall time (the levels run on several threads at once, so they overlap and have no
CPU time of their own: ``GLIFX_THREADS=1`` runs them one after the other), then the ``--top``
functions by cumulative time, of the whole run or of one ``--stage`` (the profile is then
enabled only while that stage runs; cProfile sees the main thread only, so with several threads
a stage's profile misses the levels' work: profile the fitting stage with ``GLIFX_THREADS=1``).

Run it twice: the first run of a fresh checkout compiles the numba kernels (the ``compiling``
line of ``glifx fit`` says which).  Compilation inside a profiled stage shows up as
``numba``/``llvmlite`` functions.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time


def _cpu() -> float:
    """CPU seconds of this process so far (all threads, user + sys)."""
    t = os.times()
    return t.user + t.system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="recording to fit (e.g. data_samples/rs_cell.nwb)")
    parser.add_argument("--levels", default="1,2,3,4,5", help="GLIF levels, comma-separated")
    parser.add_argument("--method", default="select")
    parser.add_argument("--criteria", default=None,
                        help="QC criteria file (JSON/YAML), as glifx fit --criteria")
    parser.add_argument("--stage", default=None,
                        help="profile only this stage (a prefix of glifx.process.STAGES: loading, "
                             "QC, compiling, features, pre, GLIF, writing)")
    parser.add_argument("--top", type=int, default=25, help="functions to list")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key")
    parser.add_argument("--out", default=None, help="output folder (default: a temporary one)")
    parser.add_argument("--save", default=None, help="also write the raw profile to this file")
    args = parser.parse_args(argv)

    from glifx.process import STAGES, process_cell

    prefixes = [prefix for prefix, _ in STAGES]
    if args.stage is not None and args.stage not in prefixes:
        parser.error(f"--stage: one of {', '.join(prefixes)}")
    profile = cProfile.Profile()
    rows: list[tuple[str, float, float]] = []
    state = {"stage": None, "t": time.perf_counter(), "cpu": _cpu()}

    def switch(stage: str | None) -> None:
        now, cpu = time.perf_counter(), _cpu()
        if state["stage"] is not None:
            rows.append((state["stage"], now - state["t"], cpu - state["cpu"]))
            if state["stage"] == args.stage:
                profile.disable()
        state.update(stage=stage, t=now, cpu=cpu)
        if stage is not None and stage == args.stage:
            profile.enable()

    def progress(message: str) -> None:
        if message.startswith("warning:"):
            return
        k = max((j for j, p in enumerate(prefixes) if message.startswith(p)), default=None)
        stage = prefixes[k] if k is not None else state["stage"]
        if stage != state["stage"] and (state["stage"] is None or k is not None and
                                        prefixes.index(stage) > prefixes.index(state["stage"])):
            switch(stage)

    levels = tuple(int(x) for x in args.levels.split(","))
    out = args.out or tempfile.mkdtemp(prefix="glifx_profile_")
    t0, cpu0 = time.perf_counter(), _cpu()
    if args.stage is None:
        profile.enable()
    result = process_cell(args.path, out, levels=levels, method=args.method,
                          criteria=args.criteria, progress=progress)
    switch(None)
    profile.disable()
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0

    print(f"{'stage':<12} {'wall s':>8} {'cpu s':>8}")
    for name, w, c in rows:
        print(f"{name:<12} {w:8.2f} {c:8.2f}")
        if name == "GLIF":
            for lf in result.fit:
                print(f"  GLIF{lf.level:<6} {lf.wall_time:8.2f}")
    print(f"{'total':<12} {wall:8.2f} {cpu:8.2f}   (load average {_loadavg()}, output {out})")
    if args.save:
        profile.dump_stats(args.save)
    print(f"\ntop {args.top} functions ({args.stage or 'whole run'}, by {args.sort}):")
    stats = pstats.Stats(profile, stream=sys.stdout)
    stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)
    return 0


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:  # pragma: no cover - not Linux
        return "n/a"


if __name__ == "__main__":
    sys.exit(main())
