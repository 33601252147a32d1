"""Public testing and validation helpers (no pipeline stage imports this package).

- :mod:`glifx.testing.validation`: ground-truth cells recorded from any GLIF config through the
  standard protocol set (:func:`~glifx.testing.validation.ground_truth_cell`), parameter recovery
  (:func:`~glifx.testing.validation.recovery`) and held-out Noise stimuli
  (:func:`~glifx.testing.validation.held_out_noise_sets`, :func:`~glifx.testing.validation.held_out_ev`).
- :mod:`glifx.testing.bench`: the validation bench (``python -m glifx.testing.bench``):
  ground-truth cells from Allen configs (every level as truth) and conductance cells under
  documented recording conditions, fitted and compared with their truth; the fixed development /
  check split of the configs.
- :mod:`glifx.testing.sweeps`: synthetic current-clamp sweeps with spike-shaped events
  (:func:`~glifx.testing.sweeps.spike_train_sweep`), for detector tests and benchmarks.
"""
