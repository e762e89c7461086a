"""A model's own description of structures: predictions, features and reference energies in one pass."""

from __future__ import annotations

import numpy as np
import pytest

from curate.dataset.configuration import Configuration
from curate.models import load_model
from curate.models.base import DescribesStructures


@pytest.mark.slow
@pytest.mark.model
def test_chgnet_describes_with_the_same_predictions_its_crystal_features_and_atomref(
    real_structures: list[Configuration],
) -> None:
    model = load_model("chgnet@0.3.0", device="cpu")
    assert isinstance(model, DescribesStructures)
    described = model.describe(real_structures, max_atoms_per_batch=128)
    plain = model.predict(real_structures, max_atoms_per_batch=128)
    for a, b in zip(described.predictions, plain, strict=True):
        assert a.energy == b.energy
        assert np.array_equal(a.forces, b.forces) and np.array_equal(a.stress, b.stress)
    assert described.features.shape == (len(real_structures), 64)
    assert np.all(np.isfinite(described.features))
    # Si only: the AtomRef energy is nsites x CHGNet's fitted Si reference
    per_atom = described.reference_energies_ev / np.array([c.nsites for c in real_structures])
    assert np.allclose(per_atom, per_atom[0], atol=1e-5) and -8.0 < per_atom[0] < -2.0
    # the same structure described alone and in a batch: features agree (pooled per structure)
    alone = model.describe(real_structures[:1], max_atoms_per_batch=128)
    assert np.allclose(alone.features[0], described.features[0], atol=1e-5)
