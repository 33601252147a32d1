"""End to end: ``glifx fit`` of the 200 kHz benchmark cell, wall and CPU time, peak memory (issue 22).

The cell is :mod:`test_bench_fitting`'s ground-truth cell (a published GLIF5 config recorded
through the full protocol set at 200 kHz, 3 + 3 Noise sweeps of 25 s; a small 50 kHz one in the
default ``--benchmark-disable`` run, as a smoke test).  Its recording noise is above Allen's
baseline-noise limits, so QC runs with the cohort benchmark's relaxed criteria
(:data:`CRITERIA`).  The command runs once untimed first, so that numba's cache is warm, then
once timed, in a child process whose resource usage is read (``os.wait4``: its CPU time and
that of the helper processes it forks and waits for; peak RSS is the largest of any one of them,
not their sum, as the helpers share the main process's pages copy-on-write).  The fit's
regressions wait for the features' helper (``glifx.process``) while its thresholds go on: the
fit stages leave out only the part of that wait in which the fit did nothing (``waiting`` of the
preprocessing's times in ``fit_summary.json``); the whole wait is ``waited_for_features_s``.

Issue 22's acceptance targets, **goals** reported in ``extra_info`` and printed with the
figures, not asserted (a wall time is the machine's as much as the code's: met on one
machine of this kind, at the line on a slower one; README, Speed)::

    wall <= 15 s, peak RSS <= 1 GB, fit stages (preparing + preprocessing + fitting) <= 10 s,
    both cores busy where the work allows (user + sys CPU / wall reported).

Run with ``pytest benchmarks/test_bench_fit_cli.py --benchmark-enable``; on a shared machine
read the CPU time and the load average printed next to it, not the wall time alone.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from test_bench_fitting import bench_cell  # noqa: F401 - the shared cell fixture

#: Issue 22's targets for the 200 kHz cell, warm cache (goals: reported, not asserted).
GOAL_WALL_S = 15.0
GOAL_RSS_MB = 1024.0
GOAL_FIT_STAGES_S = 10.0
#: The ground-truth cells' noise is above Allen's baseline-noise limits (as in
#: benchmarks/cohort_scaling.py): relaxed so that every sweep is fitted.
CRITERIA = {"pre_noise_rms_mv_max": 0.5, "post_noise_rms_mv_max": 0.5,
            "slow_noise_rms_mv_max": 5.0, "vm_delta_mv_max": 5.0}
#: The stages of ``glifx fit`` that are the fit itself (glifx.process.STAGES titles).
FIT_STAGES = ("preparing sweeps", "fitting GLIF")
_HEADER = re.compile(r"^\[\d+/\d+\] (?P<title>.+) \.\.\.$")
#: ``glifx fit``'s note of the time its regressions waited for the features' helper process
#: (glifx.process; the thresholds went on meanwhile).
_WAITED = re.compile(r"waited (?P<s>[0-9.]+) s for it\b")
_FOOTER = re.compile(r"^ {6}(?P<s>[0-9.]+) s\b")


def stage_times(stderr: str) -> dict[str, float]:
    """Stage title -> seconds, from the stage headers and footers ``glifx fit`` prints."""
    times, title = {}, None
    for line in stderr.splitlines():
        if (m := _HEADER.match(line)) is not None:
            title = m["title"]
        elif title is not None and (m := _FOOTER.match(line)) is not None:
            times[title], title = float(m["s"]), None
    return times


def run_fit(nwb: Path, out: Path, criteria: Path) -> dict:
    """``glifx fit`` in a child process: its stage times, wall, CPU and peak RSS."""
    import time

    cmd = [sys.executable, "-m", "glifx", "fit", str(nwb), "--out", str(out), "--criteria",
           str(criteria)]
    logs = out.with_name(out.name + "_stdout.txt"), out.with_name(out.name + "_stderr.txt")
    with logs[0].open("w") as so, logs[1].open("w") as se:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=so, stderr=se)
        _, status, usage = os.wait4(proc.pid, 0)  # CPU time and peak RSS, helpers included
        wall = time.perf_counter() - t0
    stdout, stderr = logs[0].read_text(), logs[1].read_text()
    assert os.waitstatus_to_exitcode(status) == 0, stderr[-2000:]
    times = stage_times(stderr)
    waited = sum(float(m["s"]) for m in map(_WAITED.search, stderr.splitlines()) if m)
    (summary,) = out.glob("*/fit_summary.json")
    idle = json.loads(summary.read_text())["preprocessing"]["wall_time_s"].get("waiting", 0.0)
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall_s": wall, "cpu_s": cpu, "cpu_per_wall": cpu / wall,
            "peak_rss_mb": usage.ru_maxrss / 1024.0, "stages_s": times,
            "fit_stages_s": sum(s for t, s in times.items() if t.startswith(FIT_STAGES)) - idle,
            "waited_for_features_s": waited, "fit_idle_in_wait_s": idle,
            "table": stdout, "load_average": os.getloadavg()}


def test_bench_glifx_fit_end_to_end(benchmark, bench_cell, tmp_path) -> None:  # noqa: F811
    benchmark.group = "glifx fit end to end"
    full = not benchmark.disabled
    criteria = tmp_path / "criteria.json"
    criteria.write_text(json.dumps(CRITERIA))
    run_fit(bench_cell, tmp_path / "warm", criteria)  # warm numba's cache (untimed)
    figures: dict = {}
    benchmark.pedantic(lambda: figures.update(run_fit(bench_cell, tmp_path / "out", criteria)),
                       rounds=1, iterations=1)
    goals = {"wall_s <= 15": figures["wall_s"] <= GOAL_WALL_S,
             "peak_rss_mb <= 1024": figures["peak_rss_mb"] <= GOAL_RSS_MB,
             "fit_stages_s <= 10": figures["fit_stages_s"] <= GOAL_FIT_STAGES_S}
    benchmark.extra_info.update({k: v for k, v in figures.items() if k != "table"},
                                goals_met=goals)
    load = " ".join(f"{x:.2f}" for x in figures["load_average"])
    print(f"\nglifx fit ({'200 kHz, 3+3 x 25 s' if full else 'smoke'}), warm cache: wall "
          f"{figures['wall_s']:.1f} s, CPU {figures['cpu_s']:.1f} s (user+sys; "
          f"{figures['cpu_per_wall']:.2f} cores busy), peak RSS {figures['peak_rss_mb']:.0f} MB, "
          f"fit stages {figures['fit_stages_s']:.1f} s; stages {figures['stages_s']}; load "
          f"average {load}")
    print("issue 22 goals (not asserted): " + ", ".join(
        f"{name} {'met' if ok else 'NOT met'}" for name, ok in goals.items()))
    assert "5 of 5 level(s) fitted" in figures["table"] or not full, figures["table"][:500]
