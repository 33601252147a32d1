"""Long traces reduced to what a figure shows: each block's minimum and maximum.

Plain numpy and compiled kernels, no matplotlib: the report's views of the recording are
reduced with these while the cell is processed (:func:`glifx.report.from_fit.recorded_views`),
before anything is drawn.
"""

from __future__ import annotations

import math

import numpy as np

from glifx.report._kernels import block_extrema, block_minmax_gaps

#: Default number of points a long trace is reduced to for plotting (min/max per block).
MAX_TRACE_POINTS = 4000


def downsample_minmax(t: np.ndarray, y: np.ndarray, max_points: int = MAX_TRACE_POINTS
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Reduce a trace to at most ``max_points`` points, keeping each block's minimum and maximum.

    Spikes and spike-cut gaps survive: each block contributes its extremes in time order, then a
    NaN if it holds any NaN (so a line plot breaks at every spike cut, however short), else its
    maximum-or-minimum again; an all-NaN block contributes only NaN.

    Parameters
    ----------
    t, y
        Time (s) and values (any unit), same length.
    max_points
        Upper bound on the output length (≥ 6).

    Returns
    -------
    t, y
        The reduced trace (the input itself when it is already short enough).
    """
    t, y = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    n = y.size
    if n <= max_points:
        return t, y
    block = int(math.ceil(n / (max(max_points, 6) // 3)))
    # one compiled pass (the last block, if short, counts as holding a NaN: padded, as it was)
    first, second, gap, empty = block_minmax_gaps(np.ascontiguousarray(y), block)
    t_out = np.stack([t[first], t[second], t[second]], axis=1).ravel()
    y_out = np.stack([y[first], y[second], y[second]], axis=1)
    y_out[gap, 2] = np.nan
    y_out[empty] = np.nan
    return t_out, y_out.ravel()


def envelope_indices(max_points: int, *traces: np.ndarray) -> np.ndarray:
    """Sample indices that keep every trace's minimum and maximum in each of ``max_points // 2``
    blocks (NaN ignored): a common reduction of several traces sampled on one clock.

    Parameters
    ----------
    max_points
        Blocks are ``max_points // 2`` (≥ 1); at most ``2 · len(traces)`` indices per block.
    traces
        Same-length 1-D arrays (any unit).

    Returns
    -------
    numpy.ndarray
        Sorted, unique int64 indices; all of them when the traces are at most ``max_points`` long.
    """
    n = traces[0].size
    if n <= max_points:
        return np.arange(n)
    block = int(math.ceil(n / max(max_points // 2, 1)))
    nb = int(math.ceil(n / block))
    keep = [np.arange(nb) * block]
    for y in traces:  # one compiled pass per trace (a 200 kHz Noise sweep has 5 million samples)
        keep.extend(block_extrema(np.ascontiguousarray(y, dtype=np.float64), block))
    return np.unique(np.minimum(np.concatenate(keep), n - 1))


__all__ = ["MAX_TRACE_POINTS", "downsample_minmax", "envelope_indices"]
