"""GLIF1-5 models: parameters, Allen neuron_config I/O and the compiled simulator."""

from glifx.glif.model import LEVEL_METHODS, METHOD_NAMES, GlifModel, load_allen_config
from glifx.glif.simulator import (
    CheckedStimulus,
    OUNoise,
    SimulationResult,
    default_n_jobs,
    forced_spike_run,
    set_threads,
    simulate,
    simulate_many,
)

__all__ = [
    "CheckedStimulus",
    "forced_spike_run",
    "LEVEL_METHODS",
    "METHOD_NAMES",
    "GlifModel",
    "OUNoise",
    "SimulationResult",
    "default_n_jobs",
    "load_allen_config",
    "set_threads",
    "simulate",
    "simulate_many",
]
