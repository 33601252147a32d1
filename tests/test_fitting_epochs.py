"""glifx.fitting._kernels.away_runs against its numpy reference (the mask's diff)."""

from __future__ import annotations

import numpy as np
import pytest

from glifx.fitting._kernels import away_runs


def _reference(x: np.ndarray, base: float, tol: float) -> tuple[np.ndarray, np.ndarray]:
    active = np.abs(x - base) > tol
    edges = np.flatnonzero(np.diff(np.concatenate(([0], active.astype(np.int8), [0]))))
    return edges[::2], edges[1::2]


@pytest.mark.parametrize("seed", range(5))
def test_away_runs_match_the_mask_edges(seed):
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(5000) < 0.5, 0.0, rng.normal(0.0, 2e-12, 5000))
    x[rng.integers(0, x.size, 20)] = np.nan  # NaN is never "away"
    base = float(rng.choice([0.0, 1e-12]))
    for y in (x, x[:1], np.zeros(0), np.full(10, 5e-12), x[::7].copy()):
        starts, stops = away_runs(np.ascontiguousarray(y), base, 1e-12)
        ref = _reference(y, base, 1e-12)
        assert np.array_equal(starts, ref[0]) and np.array_equal(stops, ref[1])
        assert starts.dtype == np.int64 and stops.dtype == np.int64
