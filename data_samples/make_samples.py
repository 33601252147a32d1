"""Generate the sample cells of ``data_samples/`` (run from anywhere; takes ~20 s).

    python data_samples/make_samples.py            # writes rs_cell.nwb and fs_cell.nwb beside this file
    python data_samples/make_samples.py --out DIR  # elsewhere

Each file is a synthetic experiment (glifx.synth): a Pospischil et al. (2008) conductance-based
neuron with intrinsic Ornstein-Uhlenbeck current and conductance noise, driven by the full
Allen-like protocol set (glifx.protocols.protocol_set) scaled to the model's own noise-free
rheobase and short-square threshold, recorded with white + 1/f voltage noise and a digitiser of
1/32 mV and 1/64 pA resolution, and written as NWB 2 by glifx.io.write_nwb.  Everything is
seeded: the same code gives the same data.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from glifx import synth
from glifx.io import write_nwb

#: sampling rate of the sample files, Hz (20 kHz keeps each file well under 10 MB)
SAMPLING_RATE = 20e3
#: intrinsic noise: OU current std (pA), OU shunting-conductance std (nS, reversal = E_leak) and
#: their correlation time (ms): quiet at rest (passes the Allen baseline-noise QC), jittery when
#: depolarised (explained-variance denominator of the Noise sweeps ≈ 0.7-0.8)
NOISE_SIGMA_PA = 1.5
NOISE_SIGMA_NS = 1.0
NOISE_TAU_MS = 5.0
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


def make(out: Path) -> list[Path]:
    """Write every sample cell into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for cell_id, (factory, seed) in CELLS.items():
        model = factory().with_noise(NOISE_SIGMA_PA, NOISE_TAU_MS, NOISE_SIGMA_NS)
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
