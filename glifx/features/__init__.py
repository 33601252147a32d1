"""Spike detection, spike / train / subthreshold features and cell summaries (ipfx definitions).

>>> spikes = glifx.features.detect_spikes(t, v, i, start=0.1, end=1.1)   # doctest: +SKIP
>>> feats = glifx.extract_features(cell, qc=qc)                           # doctest: +SKIP

Units: t s, v mV, i pA, dV/dt V/s, widths s, rates Hz, resistance MΩ.
"""

from __future__ import annotations

from glifx.features.cell import (
    long_square_summary,
    noise_summary,
    ramp_summary,
    short_square_summary,
    step_window,
)
from glifx.features.efel_names import EFEL_MAPPING, efel_features
from glifx.features.extract import CellFeatures, extract_features
from glifx.features.spikes import (
    SPIKE_COLUMNS,
    SpikeParams,
    adjusted_detection_params,
    calculate_dvdt,
    detect_spikes,
    detect_sweep_spikes,
)
from glifx.features.train import burst, delay, pause, spike_train_features

__all__ = [
    "SPIKE_COLUMNS",
    "CellFeatures",
    "EFEL_MAPPING",
    "SpikeParams",
    "adjusted_detection_params",
    "burst",
    "calculate_dvdt",
    "delay",
    "detect_spikes",
    "detect_sweep_spikes",
    "efel_features",
    "extract_features",
    "long_square_summary",
    "noise_summary",
    "pause",
    "ramp_summary",
    "short_square_summary",
    "spike_train_features",
    "step_window",
]
