"""uMLIP adapters behind one interface (:class:`~curate.models.base.Model`), loaded from a model spec.

A spec is what a user types after ``--model``:

* ``chgnet@0.3.0``, ``chgnet@0.2.0``, ``chgnet@r2scan`` -- the three models shipped in the chgnet wheel;
* ``mace:<file>`` -- a MACE model saved with ``torch.save`` (what ``mace_run_train`` writes);
* ``matgl:<directory>`` -- a matgl potential saved with ``Potential.save``.

Each adapter imports its library only when a model of that kind is loaded.
"""

from __future__ import annotations

from curate.models.base import (
    Device,
    Model,
    ModelInfo,
    Prediction,
    SharesGraphs,
    atom_batches,
    default_max_atoms_per_batch,
    max_atoms_for,
    select_device,
)
from curate.models.registry import ARCHITECTURES, CHGNET_SPECS, ModelSpec, load_model, parse_spec

__all__ = [
    "ARCHITECTURES",
    "CHGNET_SPECS",
    "Device",
    "Model",
    "ModelInfo",
    "ModelSpec",
    "Prediction",
    "SharesGraphs",
    "atom_batches",
    "default_max_atoms_per_batch",
    "load_model",
    "max_atoms_for",
    "parse_spec",
    "select_device",
]
