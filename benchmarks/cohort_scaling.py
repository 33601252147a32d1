"""Scaling of ``glifx.fit_cohort`` (issue 18): cells per hour with 1, 2, ... workers, peak memory
and CPU time per worker, and the extrapolated CPU-hours of the 645-cell Allen GLIF set.

Not a pytest module (it takes many minutes): run it by hand, on an otherwise idle machine if the
figures are to mean anything::

    python benchmarks/cohort_scaling.py --cells /tmp/glifx_scaling --workers 1 2 --levels 1,3

The cells are 200 kHz ground-truth cells (:func:`glifx.testing.validation.ground_truth_cell`) of
the first ``--n-cells`` Allen GLIF5 configs in ``../shared/data/allen_glif/configs`` (or
``$GLIFX_SHARED_DATA``), written once as NWB 2 into ``--cells`` and reused.  Each run refits
every cell (``force=True``) on an embedded-style ``LocalCluster`` (one thread per worker,
loopback only); one JSON object per worker count is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

#: Cells in the published GLIF set (Teeter et al. 2018).
ALLEN_SET_CELLS = 645
#: The ground-truth cells carry 0.1 mV white + 0.1 mV 1/f recording noise and 10 pA intrinsic
#: noise, above the Allen baseline-noise limits (0.07 / 0.07 / 0.5 mV, Vm drift 1 mV): relaxed
#: so that every sweep is fitted, as the Allen pipeline fitted the cells that passed.
CRITERIA = {"pre_noise_rms_mv_max": 0.5, "post_noise_rms_mv_max": 0.5,
            "slow_noise_rms_mv_max": 5.0, "vm_delta_mv_max": 5.0}


def make_cells(folder: Path, n_cells: int) -> list[Path]:
    """Write (once) ``n_cells`` 200 kHz ground-truth cells of Allen GLIF5 configs into ``folder``."""
    import glifx
    from glifx.testing.validation import ground_truth_cell

    shared = Path(os.environ.get("GLIFX_SHARED_DATA", Path(__file__).resolve().parents[2]
                                 / "shared" / "data"))
    configs = [d for d in sorted((shared / "allen_glif" / "configs").iterdir())
               if list(d.glob("*_GLIF5_neuron_config.json"))][:n_cells]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed, config_dir in enumerate(configs):
        path = folder / f"{config_dir.name}.nwb"
        if not path.exists():
            config = json.loads(next(config_dir.glob("*_GLIF5_neuron_config.json")).read_text())
            cell, _ = ground_truth_cell(config, sampling_rate=200e3, seed=seed,
                                        cell_id=config_dir.name)
            glifx.write_nwb(cell, path)
        paths.append(path)
    return paths


def _worker_usage() -> dict[str, float]:
    """Peak resident memory (MB) and CPU time (s) of the calling worker process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"peak_rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}


def measure(cells: list[Path], out_dir: Path, n_workers: int, levels: tuple[int, ...]) -> dict:
    """Fit ``cells`` with ``n_workers`` fresh worker processes; wall time, rate, memory, CPU."""
    from distributed import Client, LocalCluster

    import glifx

    load_before = os.getloadavg()
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None,
                           scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
    with cluster, Client(cluster) as client:
        t0 = time.perf_counter()
        frame = glifx.fit_cohort(cells, out_dir, client=client, levels=levels, force=True,
                                 criteria=CRITERIA)
        wall = time.perf_counter() - t0
        workers = client.run(_worker_usage)
    cpu = sum(w["cpu_s"] for w in workers.values())
    return {
        "workers": n_workers, "levels": list(levels), "cells": len(frame),
        "fitted": int((frame["status"] == "fitted").sum()), "wall_s": round(wall, 1),
        "cells_per_hour": round(len(frame) / wall * 3600, 2),
        "peak_rss_mb_per_worker": [round(w["peak_rss_mb"]) for w in workers.values()],
        "cpu_s_total": round(cpu, 1),
        "cpu_hours_for_allen_set": round(cpu / len(frame) * ALLEN_SET_CELLS / 3600, 1),
        "cell_wall_s": frame["wall_time_s"].round(1).tolist(),
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=Path, default=Path("/tmp/glifx_scaling"))
    parser.add_argument("--n-cells", type=int, default=6)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--levels", default="1,2,3,4,5")
    args = parser.parse_args()
    levels = tuple(int(x) for x in args.levels.split(","))
    cells = make_cells(args.cells / "cells", args.n_cells)
    for n in args.workers:
        print(json.dumps(measure(cells, args.cells / f"out_{n}", n, levels)), flush=True)


if __name__ == "__main__":
    main()
