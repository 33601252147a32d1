"""Synthetic current-clamp sweeps with spike-shaped events, for tests, benchmarks and examples.

The voltage is a resting level, a passive step response, and one stereotyped action potential per
requested spike time (Gaussian rise, exponential fall, after-hyperpolarisation), plus white noise.
Not a neuron model: its only purpose is a trace whose spikes any detector must find.
"""

from __future__ import annotations

import numpy as np


def spike_train_sweep(
    duration: float = 1.0,
    rate: float = 200e3,
    spike_times: np.ndarray | list[float] | None = None,
    *,
    v_rest: float = -70.0,
    step: tuple[float, float, float] | None = (0.1, 0.9, 100.0),
    r_input: float = 0.1,
    tau_m: float = 0.02,
    peak: float = 100.0,
    noise: float = 0.05,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A synthetic sweep ``(t, v, i)``: ``t`` s, ``v`` mV, ``i`` pA.

    Parameters
    ----------
    duration
        Sweep length, s.
    rate
        Sampling rate, Hz.
    spike_times
        Times of the action-potential peaks, s.
    v_rest
        Resting potential, mV.
    step
        ``(start s, end s, amplitude pA)`` of a current step, or ``None``.
    r_input
        Input resistance, GΩ (mV per pA), of the passive response.
    tau_m
        Membrane time constant of the passive response, s.
    peak
        Spike amplitude above the local potential, mV.
    noise
        Standard deviation of added white noise, mV.
    seed
        Seed of the noise generator.
    """
    n = int(round(duration * rate))
    t = np.arange(n) / rate
    i = np.zeros(n)
    v = np.full(n, v_rest, dtype=np.float64)
    if step is not None:
        s0, s1, amp = step
        on = (t >= s0) & (t < s1)
        i[on] = amp
        dv = amp * r_input
        rise = 1 - np.exp(-np.maximum(t - s0, 0.0) / tau_m)
        fall = 1 - np.exp(-np.maximum(t - s1, 0.0) / tau_m)
        v += dv * (rise - fall)
    for tk in spike_times if spike_times is not None else []:
        a = int(tk * rate)
        lo, hi = max(0, a - int(0.004 * rate)), min(n, a + int(0.03 * rate))
        tau = t[lo:hi] - tk
        shape = np.where(
            tau < 0,
            peak * np.exp(-((tau / 0.00025) ** 2)),
            peak * np.exp(-tau / 0.0004)
            - 12.0 * (np.exp(-tau / 0.008) - np.exp(-tau / 0.0006)),
        )
        # a slow pre-spike depolarisation so that the threshold lies on a visible ramp
        shape += np.where(tau < 0, 4.0 * np.exp(tau / 0.0015), 0.0)
        v[lo:hi] += shape
    v += np.random.default_rng(seed).normal(0.0, noise, n)
    return t, v, i
