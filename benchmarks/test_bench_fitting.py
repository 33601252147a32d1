"""Speed and memory of a whole GLIF fit (issue 7 target).

A ground-truth cell (:func:`glifx.testing.validation.ground_truth_cell`: a published GLIF5 config
from ``../shared/data/allen_glif/configs``, or a typical synthetic GLIF5 when those are absent)
recorded through the full protocol set at 200 kHz with 3 Noise 1 + 3 Noise 2 sweeps of 25 s, is
written to NWB; a fresh process then loads it and runs data preparation, preprocessing, all five
levels and their explained-variance scoring.  Targets (checked only when benchmarking is enabled):

* wall time of preparation + preprocessing + five levels <= 60 s on the 2-core machine;
* peak resident memory of that process (``ru_maxrss``, loading the file included) <= 2 GB.

These are the asserted ceilings (issue 7).  Issue 22's **goals** for the same cell, printed and
recorded in ``extra_info["goals_met"]`` but not asserted until the code meets them: the fit
stages alone <= 10 s (:data:`GOAL_FIT_S`), and end to end (``glifx fit``, see
``test_bench_fit_cli.py``) <= 15 s wall and <= 1 GB peak RSS (:data:`GOAL_RSS_MB`).

On this GLIF cell the default method's cross-validation at GLIF3 keeps the EV optimiser, so
GLIF4/5 run no cross-validation.  The ``most_work`` variant makes every cross-validation choose
the reference, so that GLIF4/5 cross-validate too: the most work ``method="select"`` can do (a
conductance-based or real cell may take that path).

Per-stage times go into ``benchmark.extra_info``.  Run the targets with
``pytest benchmarks/test_bench_fitting.py --benchmark-enable``; in the default run
(``--benchmark-disable``) the same code runs once on a small cell (50 kHz, 2 + 2 short Noise
sweeps) as a smoke test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WALL_TARGET_S = 60.0
RSS_TARGET_MB = 2048.0
#: Issue 22's goals (reported, not asserted): the fit stages <= 10 s, peak RSS <= 1 GB.
GOAL_FIT_S = 10.0
GOAL_RSS_MB = 1024.0
#: 25 s Noise sweeps (three 3 s epochs 7 s apart), as the Allen protocol.
FULL = dict(sampling_rate=200e3, noise_repeats=3, protocol_kwargs={"noise_kwargs": {"gap": 7.0}})
SMALL = dict(sampling_rate=50e3, noise_repeats=2,
             protocol_kwargs={"noise_kwargs": {"epoch_duration": 2.0, "gap": 1.0},
                              "long_square_start_pa": -50, "long_square_step_pa": 40})


def _config(shared: Path | None):
    """A published GLIF5 config, or a typical GLIF5 model (GLIF_SPEC medians)."""
    if shared is not None:
        found = sorted((shared / "allen_glif" / "configs").glob("*/*_GLIF5_neuron_config.json"))
        if found:
            return json.loads(found[0].read_text())
    from glifx.glif import GlifModel

    return GlifModel(level=5, R_input=190e6, C=90e-12, th_inf=0.027, spike_cut_s=3.8e-3,
                     spike_cut_length=76, El_reference=-0.07, a=0.45, b=0.006, a_spike=0.0025,
                     b_spike=140.0, a_voltage=19.0, b_voltage=66.0,
                     asc_amp_array=(-14e-12, -130e-12), asc_tau_array=(1 / 3.0, 1 / 100.0))


def _worker(nwb: str, out: str, most_work: bool = False) -> None:
    """Load ``nwb``, fit GLIF1-5 with per-stage timing, write the figures to ``out`` (JSON).

    ``most_work``: every cross-validation of ``fit_cell`` chooses the reference (its scores are
    computed as usual), so GLIF4/5 are cross-validated as well.
    """
    import resource
    import time
    from dataclasses import replace

    import glifx.fitting.pipeline as pipeline

    if most_work:
        real = pipeline.cross_validate
        pipeline.cross_validate = lambda fitters, folds: replace(real(fitters, folds),
                                                                  choice="reference")
        # and GLIF4/5 wait for it even where their θ∞ is measured (pipeline._gated)
        pipeline._gated = lambda level, method, _ctx: pipeline.needs_gate(level, method)

    from glifx.fitting import fit_cell
    from glifx.fitting.data import prepare
    from glifx.io import load_cell

    t0 = time.perf_counter()
    cell = load_cell(nwb)
    t1 = time.perf_counter()
    data = prepare(cell, long_square=True)
    t2 = time.perf_counter()
    fit = fit_cell(cell, data=data)
    t3 = time.perf_counter()
    pre = fit.preprocessing.times
    figures = {
        "load_s": t1 - t0,
        "prepare_s": t2 - t1,
        "preprocessing_s": sum(pre.values()),
        "preprocessing_detail_s": pre,
        "levels_s": {f"GLIF{lf.level}": lf.wall_time for lf in fit},
        "fit_s": t3 - t2,
        "total_fit_s": t3 - t1,  # preparation + preprocessing + levels (+ EV scoring)
        "test_ev": {f"GLIF{lf.level}": lf.test_ev for lf in fit},
        "reasons": {f"GLIF{lf.level}": lf.reason for lf in fit if not lf.ok},
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "noise_samples": int(data.train[0].n_samples),
        "cross_validated": [lf.level for lf in fit if lf.selection is not None],
    }
    # the EV evaluation alone: score every fitted model on training and test sweeps once more
    from glifx.fitting.scoring import SpikeTrainData

    t4 = time.perf_counter()
    tr, te = SpikeTrainData.from_sweeps(data.train), SpikeTrainData.from_sweeps(data.test)
    for lf in fit:
        if lf.ok:
            tr.score(lf.model), te.score(lf.model)
    figures["ev_evaluation_s"] = time.perf_counter() - t4
    Path(out).write_text(json.dumps(figures))


def _make_cell(shared: Path | None, path: Path, kwargs: dict) -> None:
    """Synthesise the ground-truth cell in a separate process (its memory is not the fit's)."""
    from glifx.io import write_nwb
    from glifx.testing.validation import ground_truth_cell

    cell, _ = ground_truth_cell(_config(shared), seed=0, cell_id="bench_gt", **kwargs)
    write_nwb(cell, path)


@pytest.fixture(scope="module")
def bench_cell(request, tmp_path_factory) -> Path:
    """The ground-truth cell written to NWB (full size when benchmarking, else small)."""
    from conftest import shared_data_dir

    opt = request.config.getoption
    full = opt("benchmark_enable") or not opt("benchmark_disable")  # as pytest-benchmark decides
    shared = shared_data_dir()
    nwb = tmp_path_factory.mktemp("bench_fit") / "cell.nwb"
    code = ("import sys, json; from pathlib import Path; sys.path[:0] = sys.argv[1:3]; "
            "from test_bench_fitting import _make_cell; "
            "_make_cell(None if sys.argv[3] == '-' else Path(sys.argv[3]), Path(sys.argv[4]), "
            "json.loads(sys.argv[5]))")
    here, root = str(Path(__file__).parent), str(Path(__file__).parent.parent)
    subprocess.run([sys.executable, "-c", code, here, root, str(shared or "-"), str(nwb),
                    json.dumps(FULL if full else SMALL)], check=True)
    return nwb


# It reads the shared data (a published config) when present: marked like every such test, so
# that -m "not shared_data" leaves it out.  Without the data it does not skip but runs on the
# typical GLIF5 of _config: the cost of a fit does not depend on which GLIF5 is recorded.
@pytest.mark.shared_data
@pytest.mark.parametrize("variant", ["default", "most_work"])
def test_bench_fit_all_levels(benchmark, bench_cell, variant) -> None:
    benchmark.group = "fit_cell"
    full = not benchmark.disabled
    nwb, out = bench_cell, bench_cell.with_name(f"figures_{variant}.json")
    here, root = str(Path(__file__).parent), str(Path(__file__).parent.parent)
    worker = ("import sys; sys.path[:0] = sys.argv[1:3]; from test_bench_fitting import _worker; "
              "_worker(sys.argv[3], sys.argv[4], sys.argv[5] == 'most_work')")

    def run() -> None:
        subprocess.run([sys.executable, "-c", worker, here, root, str(nwb), str(out), variant],
                       check=True)

    benchmark.pedantic(run, rounds=1, iterations=1)
    figures = json.loads(out.read_text())
    benchmark.extra_info.update(figures)
    print(f"\nfit_cell GLIF1-5 ({'200 kHz, 3+3 x 25 s' if full else 'smoke'}, {variant}, "
          f"cross-validated at {figures['cross_validated']}): "
          f"{figures['total_fit_s']:.1f} s (prepare {figures['prepare_s']:.1f}, preprocessing "
          f"{figures['preprocessing_s']:.1f}, levels {figures['levels_s']}), EV scoring "
          f"{figures['ev_evaluation_s']:.2f} s, peak RSS {figures['max_rss_mb']:.0f} MB")
    goals = {"total_fit_s <= 10": figures["total_fit_s"] <= GOAL_FIT_S,
             "max_rss_mb <= 1024": figures["max_rss_mb"] <= GOAL_RSS_MB}
    benchmark.extra_info["goals_met"] = goals
    print("issue 22 goals (not asserted): " + ", ".join(
        f"{name} {'met' if ok else 'NOT met'}" for name, ok in goals.items())
        + f"; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    assert not figures["reasons"], figures["reasons"]
    if variant == "most_work":
        assert figures["cross_validated"] == [3, 4, 5]
    if full:
        assert figures["noise_samples"] >= 25 * 200e3
        assert figures["total_fit_s"] <= WALL_TARGET_S
        assert figures["max_rss_mb"] <= RSS_TARGET_MB


if __name__ == "__main__":  # pragma: no cover - manual use: python test_bench_fitting.py CELL.nwb
    _worker(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "/dev/stdout")
