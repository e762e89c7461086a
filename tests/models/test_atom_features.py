"""CHGNet's per-atom features in describe(): what the trainable part of a ``heads`` fine-tune reads."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from curate.dataset.configuration import Configuration
from curate.models import load_model
from curate.models.base import DescribesStructures


@pytest.mark.slow
@pytest.mark.model
def test_chgnet_atom_features_follow_the_atoms_and_ignore_rigid_translation(
    real_structures: list[Configuration],
) -> None:
    model = load_model("chgnet@0.3.0", device="cpu")
    assert isinstance(model, DescribesStructures)
    described = model.describe(real_structures, max_atoms_per_batch=128)
    assert [f.shape for f in described.atom_features] == [(c.nsites, 64) for c in real_structures]
    assert all(np.all(np.isfinite(f)) for f in described.atom_features)
    frame = real_structures[0]  # a Si64 MD frame at 2000 K: no two atoms share an environment
    order = np.random.default_rng(0).permutation(frame.nsites)
    positions = np.asarray(frame.positions)
    permuted = dataclasses.replace(
        frame, positions=positions[order], species=[frame.species[i] for i in order], forces=None, magmoms=None
    )
    moved = dataclasses.replace(frame, positions=positions + np.array([0.37, -1.1, 2.3]))
    again = model.describe([permuted, moved], max_atoms_per_batch=128).atom_features
    assert np.allclose(again[0], described.atom_features[0][order], atol=1e-4), "features follow their atoms"
    assert np.allclose(again[1], described.atom_features[0], atol=1e-4), "a rigid translation changes nothing"
    spread = np.linalg.norm(described.atom_features[0] - described.atom_features[0].mean(axis=0), axis=1)
    assert spread.min() > 1e-3, "hot MD atoms have distinct environments"
