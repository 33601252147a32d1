"""Generate the sample cells of ``data_samples/`` (run from anywhere; takes ~20 s).

    python data_samples/make_samples.py            # writes rs_cell.nwb and fs_cell.nwb beside this file
    python data_samples/make_samples.py --out DIR  # elsewhere

Each file is a synthetic experiment (glifx.synth): a Pospischil et al. (2008) conductance-based
neuron (the paper's RS or FS parameters, with the M-type K+ conductance at
:data:`M_CURRENT_SCALE` of the paper's, the RS cell with a spike-triggered AHP K+ conductance,
:data:`AHP`) with intrinsic Ornstein-Uhlenbeck current noise and
depolarisation-gated conductance noise, driven by the full Allen-like protocol set
(glifx.protocols.protocol_set) scaled to the model's own noise-free rheobase and short-square
threshold, recorded with white + 1/f voltage noise and a digitiser of 1/32 mV and 1/64 pA
resolution, and written as NWB 2 by glifx.io.write_nwb.  Everything is seeded: the same code gives
the same data.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from glifx import synth
from glifx.io import write_nwb

#: sampling rate of the sample files, Hz (20 kHz keeps each file well under 10 MB)
SAMPLING_RATE = 20e3
#: intrinsic noise: OU current std (pA), OU conductance-fluctuation std (nS, reversal = E_leak) and
#: their correlation time (ms).  The conductance fluctuation is gated by depolarisation (Boltzmann
#: curve, half-activation NOISE_GATE_V_HALF_MV, slope NOISE_GATE_K_MV): absent at rest and on the
#: hyperpolarising Long Squares (0.1-0.2 mV SD there, as in real recordings; ungated it swung them
#: by 2-4 mV SD, biasing the Long Square input resistance and tau), jittery when depolarised
#: (explained-variance denominator of the Noise sweeps about 0.75-0.9)
NOISE_SIGMA_PA = 1.5
NOISE_SIGMA_NS = 0.7
NOISE_TAU_MS = 5.0
NOISE_GATE_V_HALF_MV = -72.0
NOISE_GATE_K_MV = 4.0
#: M-type K+ conductance as a fraction of the paper's.  The paper's g_M (3.7 x the leak in the RS
#: cell, 2.1 x in the FS cell) half-activates at -35 mV with a 10 mV slope, so 0.2-1 nS of it is
#: open between rest and threshold: the cell's resistance then depends on the potential, and the
#: Long Square input resistance and tau (measured at rest and below) exceeded the GLIF fit's R and
#: tau_m (measured on the depolarised Noise sweeps) by 45 % and 52 % (RS) even without noise.  At
#: 15 % they agree within 10 % (data_samples/README.md).  The price: this M current is also what
#: made the paper's cells adapt, and at 15 % they hardly do (Long Square adaptation index ~0.005):
#: the RS cell gets its adaptation back from :data:`AHP`.
M_CURRENT_SCALE = 0.15
#: spike-triggered AHP K+ conductance (Ca2+-activated sAHP/mAHP) per cell: increment per spike (nS)
#: and decay time constant (ms).  It is 0 until the cell fires, so it adapts the firing without
#: touching the passive properties measured on the Long Squares: with it the RS cell's Long Square
#: adaptation index is back to about 0.02-0.08 and its Noise sweeps fire 20-22 spikes
#: (data_samples/README.md).  The FS cell, which adapts little, has none.
AHP = {"rs_cell": (0.4, 200.0)}
#: repeats of each of Noise 1 and Noise 2
NOISE_REPEATS = 3
RECORDING = synth.RecordingModel(
    white_noise_mv=0.03, pink_noise_mv=0.02, adc_step_mv=1 / 32, adc_step_pa=1 / 64, float32=True
)
CELLS = {
    "rs_cell": (synth.pospischil_rs, 20260601),
    "fs_cell": (synth.pospischil_fs, 20260602),
}
SESSION_START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def neuron(cell_id: str) -> synth.ConductanceModel:
    """The neuron of sample cell ``cell_id`` (a key of :data:`CELLS`), with its intrinsic noise."""
    factory, _ = CELLS[cell_id]
    paper = factory()
    dg_ns, tau_ms = AHP.get(cell_id, (0.0, 100.0))
    model = replace(paper, g_m=paper.g_m * M_CURRENT_SCALE, noise_v_half=NOISE_GATE_V_HALF_MV,
                    noise_k_mv=NOISE_GATE_K_MV, ahp_dg_ns=dg_ns, ahp_tau_ms=tau_ms)
    return model.with_noise(NOISE_SIGMA_PA, NOISE_TAU_MS, NOISE_SIGMA_NS)


def make(out: Path) -> list[Path]:
    """Write every sample cell into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for cell_id, (_, seed) in CELLS.items():
        model = neuron(cell_id)
        cell, plan = synth.synthetic_experiment(
            model, SAMPLING_RATE, recording=RECORDING, seed=seed, cell_id=cell_id,
            noise_repeats=NOISE_REPEATS,
        )
        path = write_nwb(cell, out / f"{cell_id}.nwb", session_start_time=SESSION_START)
        size = path.stat().st_size / 1e6
        print(f"{path}: {len(cell)} sweeps, rheobase {plan.rheobase_pa:g} pA, "
              f"short-square threshold {plan.short_square_threshold_pa:g} pA, {size:.1f} MB")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    make(parser.parse_args().out)


if __name__ == "__main__":
    main()
