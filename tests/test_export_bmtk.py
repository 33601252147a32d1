"""A glifx export loads and runs through BMTK's own PointNet reader.

Each fitted level of both sample cells (``tests/reference_cells``; reset slope clipped into NEST's
[0, 1] where needed) is written with :func:`glifx.export.to_bmtk` as the ``dynamics_params`` file
of a one-node SONATA network built with BMTK's ``NetworkBuilder`` (``model_type point_neuron``,
``model_template nest:glif_psc``), driven by BMTK's ``IClamp`` input and run by BMTK's
``PointSimulator`` in NEST.  The NEST neuron BMTK creates holds every exported parameter, and its
spikes are glifx's on the same current (counts within 3 % or 2 spikes, first spike within 0.5 ms).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("nest", reason="NEST is not installed (pip install nest-simulator)")
pytest.importorskip("bmtk", reason="BMTK is not installed (pip install bmtk)")

import nest  # noqa: E402
from bmtk.builder import NetworkBuilder  # noqa: E402
from bmtk.simulator import pointnet  # noqa: E402

from glifx.export import clip_reset, to_bmtk  # noqa: E402
from glifx.glif import GlifModel, load_allen_config, simulate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DELAY_MS, DURATION_MS, TSTOP_MS = 100.0, 1000.0, 1200.0
SCALE = 1.5  # step amplitude = 1.5 x the DC rheobase of theta_inf


def _rheobase_A(model: GlifModel) -> float:
    # the threshold-only rheobase; GLIF5's voltage-dependent threshold raises it (steady state)
    g = model.coeff_G / model.R_input
    th = model.coeff_th_inf * model.th_inf
    if model.standard_level == 5:
        return g * th / (1.0 - model.coeff_a * model.a_voltage / (model.coeff_b * model.b_voltage))
    return g * th


def _run_pointnet(root: Path, cell: dict, amp_pA: float, dt_ms: float) -> tuple[dict, np.ndarray]:
    """One node of ``cell`` (a :func:`to_bmtk` result) in a BMTK PointNet network under an IClamp
    step; returns the created NEST neuron's status and its spike times (ms)."""
    models = root / "point_neuron_models"
    models.mkdir()
    (models / "glif.json").write_text(json.dumps(cell["dynamics_params"]))
    net = NetworkBuilder("cells")
    net.add_nodes(N=1, model_type=cell["model_type"], model_template=cell["model_template"],
                  dynamics_params="glif.json")
    net.build()
    net.save_nodes(output_dir=str(root / "network"))
    config = {
        "run": {"tstop": TSTOP_MS, "dt": dt_ms},
        "target_simulator": "NEST",
        "inputs": {"step": {"input_type": "current_clamp", "module": "IClamp", "node_set": "cells",
                            "amp": amp_pA, "delay": DELAY_MS, "duration": DURATION_MS}},
        "output": {"output_dir": str(root / "output"), "spikes_file_csv": "spikes.csv",
                   "log_file": "log.txt", "overwrite_output_dir": True},
        "components": {"point_neuron_models_dir": str(models)},
        "networks": {"nodes": [{"nodes_file": str(root / "network" / "cells_nodes.h5"),
                                "node_types_file": str(root / "network" / "cells_node_types.csv")}]},
    }
    conf = pointnet.Config.from_dict(config, validate=True)
    conf.build_env()
    graph = pointnet.PointNetwork.from_config(conf)
    sim = pointnet.PointSimulator.from_config(conf, graph)
    [neuron] = nest.GetNodes({"model": cell["model_template"].removeprefix("nest:")})
    status = neuron.get()
    sim.run()
    rows = (root / "output" / "spikes.csv").read_text().split("\n")[1:]
    return status, np.array([float(r.split()[0]) for r in rows if r.strip()])


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("cell_name", ["rs_cell", "fs_cell"])
def test_fitted_model_runs_in_bmtk_pointnet(tmp_path: Path, cell_name: str, level: int) -> None:
    model = load_allen_config(ROOT / "tests" / "reference_cells" / cell_name
                              / f"GLIF{level}_neuron_config.json")
    cell = to_bmtk(model, reset="clip")
    assert "notes" not in cell["dynamics_params"]  # BMTK hands every key of the file to NEST
    dt_ms = model.dt * 1e3
    amp_pA = SCALE * _rheobase_A(model) * 1e12
    status, nest_ms = _run_pointnet(tmp_path, cell, amp_pA, dt_ms)
    for key, value in cell["dynamics_params"].items():  # BMTK's reader kept every parameter
        np.testing.assert_allclose(status[key], value, rtol=1e-12, err_msg=key)

    # glifx on the same current: an IClamp change at T reaches the neuron one delay (dt) later
    # and is applied from the next step, i.e. glifx's sample T/dt + 2 (glifx.export.step_current)
    n = int(round(TSTOP_MS / dt_ms))
    on, off = (int(round(t / dt_ms)) + 2 for t in (DELAY_MS, DELAY_MS + DURATION_MS))
    stim = np.zeros(n)
    stim[on:off] = amp_pA * 1e-12
    ours = simulate(clip_reset(model)[0], stim, model.dt).spike_times * 1e3
    print(f"\n{cell_name} GLIF{level} via BMTK: glifx {ours.size} NEST {nest_ms.size} spikes, first "
          f"spike {nest_ms[0] - ours[0]:+.2f} ms" if nest_ms.size and ours.size else "no spikes")
    assert ours.size >= 5
    assert abs(ours.size - nest_ms.size) <= max(2, 0.03 * ours.size), (ours.size, nest_ms.size)
    assert abs(ours[0] - nest_ms[0]) <= 0.5, (ours[0], nest_ms[0])
