"""The one definition of a committee: at least two distinct members, predictions as (M, N) and (M, A, 3) arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from curate.dataset.configuration import Configuration
from curate.errors import ConfigurationError
from curate.models.committee import DEFAULT_COMMITTEE, Committee


def test_a_committee_has_two_distinct_members_checked_before_loading() -> None:
    assert DEFAULT_COMMITTEE == ("chgnet@0.3.0", "chgnet@0.2.0", "chgnet@r2scan")
    with pytest.raises(ConfigurationError, match="at least 2 models, got 1"):
        Committee.load(["chgnet@0.3.0"])
    with pytest.raises(ConfigurationError, match=r"given more than once: \['chgnet@0.3.0'\]"):
        Committee.load(["chgnet", "chgnet@0.3.0"])  # the same model under two spellings
    with pytest.raises(ConfigurationError, match="unknown model 'lj'"):
        Committee.load(["chgnet@0.3.0", "lj"])


@pytest.mark.slow
@pytest.mark.model
def test_committee_arrays_hold_each_members_predictions(
    mace_file: Path, matgl_dir: Path, real_structures: list[Configuration]
) -> None:
    committee = Committee.load([f"mace:{mace_file}", f"matgl:{matgl_dir}"], device="cpu")
    predictions = committee.predict(real_structures, max_atoms_per_batch=100)
    nsites = [c.nsites for c in real_structures]
    assert predictions.energy_ev.shape == (2, len(real_structures))
    assert predictions.forces_ev_per_ang.shape == (2, sum(nsites), 3)
    assert [m["architecture"] for m in predictions.members] == ["mace", "matgl"]
    for m, model in enumerate(committee.models):
        alone = model.predict(real_structures, max_atoms_per_batch=100)
        np.testing.assert_allclose(predictions.energy_ev[m], [p.energy for p in alone], atol=1e-6)
        np.testing.assert_allclose(
            predictions.forces_ev_per_ang[m], np.concatenate([p.forces for p in alone]), atol=1e-6
        )
    # take() reorders structures together with their ragged atoms
    order = [4, 0, 3]
    taken = predictions.take(order)
    assert list(taken.nsites) == [nsites[k] for k in order]
    np.testing.assert_array_equal(taken.energy_ev, predictions.energy_ev[:, order])
    start = int(predictions.atom_starts[3])
    np.testing.assert_array_equal(
        taken.forces_ev_per_ang[:, nsites[4] + nsites[0] :], predictions.forces_ev_per_ang[:, start : start + nsites[3]]
    )
