"""Resident memory of ``glifx fit`` of one recording, per progress message.

Not a pytest module: the memory profile issue 22 asks for, run by hand::

    python benchmarks/memory_fit.py cell.nwb --criteria criteria.json
    python benchmarks/memory_fit.py data_samples/rs_cell.nwb --interval 0.005

It runs :func:`glifx.process_cell` as ``glifx fit`` does (outputs to a temporary folder) while
a thread reads this process's resident set size (``VmRSS``) every ``--interval`` seconds, and
prints, at each progress message, the RSS then and the largest RSS sampled since the previous
message, in MB; a last line after the run covers the writing stage, which sends no message
after its first.  Only the main process is measured: the forked helpers of
:mod:`glifx.report._forked` share its pages and are measured by
``benchmarks/test_bench_fit_cli.py`` (largest RSS of any one process).  Samples can miss a
peak shorter than the interval; the kernel's own peak (``VmHWM``) is printed at the end.
Run it twice on a fresh checkout: the first run compiles the numba kernels, which takes memory
of its own.  What is alive at a peak is the business of a heap profiler (e.g. ``python -m memray
run benchmarks/memory_fit.py ...``).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time


def _status_mb(key: str) -> float:
    """``VmRSS`` or ``VmHWM`` of this process, MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="recording (NWB2, Allen NWB1, ABF)")
    parser.add_argument("--criteria", default=None, help="QC criteria (JSON/YAML file)")
    parser.add_argument("--interval", type=float, default=0.01, help="sampling interval, s")
    args = parser.parse_args(argv)

    from glifx.process import process_cell

    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _status_mb("VmRSS"))
            time.sleep(args.interval)

    def report(message: str) -> None:
        now = _status_mb("VmRSS")
        print(f"{now:7.0f} MB (peak since last {max(peak[0], now):7.0f})  {message[:100]}",
              flush=True)
        peak[0] = 0.0

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory() as out:
        process_cell(args.path, out, criteria=args.criteria, progress=report)
        report("done (writing included)")
    done.set()
    print(f"largest RSS of this process (VmHWM): {_status_mb('VmHWM'):.0f} MB")


if __name__ == "__main__":
    main()
