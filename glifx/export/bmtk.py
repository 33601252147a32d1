"""BMTK (PointNet) cell models from a :class:`~glifx.glif.GlifModel`.

BMTK's PointNet simulates point neurons in NEST.  A SONATA node type names the NEST model in
``model_template`` (``nest:glif_psc`` or ``nest:glif_cond``, ``model_type`` ``point_neuron``) and
points ``dynamics_params`` at a JSON file of that model's NEST parameters, which PointNet passes
to NEST unchanged.  :func:`to_bmtk` returns both: the node-type columns and the parameter dict of
:func:`glifx.export.to_nest` (same conversion, same units: mV, pA, pF, nS, ms).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from glifx.export.nest import to_nest
from glifx.glif import GlifModel


def to_bmtk(
    model: GlifModel,
    *,
    synapses: Literal["psc", "cond"] = "psc",
    tau_syn: Sequence[float] | float | None = None,
    E_rev: Sequence[float] | float | None = None,
    reset: Literal["exact", "clip"] = "exact",
) -> dict[str, Any]:
    """A BMTK PointNet cell model of ``model``.

    Parameters are those of :func:`glifx.export.to_nest` (``tau_syn`` in s, ``E_rev`` in V,
    ``reset`` "exact" or "clip").

    Returns
    -------
    dict
        ``{"model_type": "point_neuron", "model_template": "nest:glif_psc" | "nest:glif_cond",
        "dynamics_params": {...}, "notes": [...]}``: write ``dynamics_params`` as the JSON file a
        node type's ``dynamics_params`` column names (``glifx export CONFIG --to bmtk --out FILE``
        does); ``notes`` lists any approximation (a clipped reset slope), never written into
        ``dynamics_params`` (BMTK passes every key of that file to NEST).

    Raises
    ------
    glifx.ConfigError
        As :func:`glifx.export.to_nest`.
    """
    neuron = to_nest(model, synapses=synapses, tau_syn=tau_syn, E_rev=E_rev, reset=reset)
    return {
        "model_type": "point_neuron",
        "model_template": f"nest:{neuron.model}",
        "dynamics_params": dict(neuron.params),
        "notes": list(neuron.notes),
    }


__all__ = ["to_bmtk"]
