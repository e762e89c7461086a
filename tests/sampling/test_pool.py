"""Candidate pools: the offline default is the sample-pool recipe run on four built-in cells, as rows."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from ase.data import atomic_numbers, reference_states

from curate.dataset.configuration import row_hashes
from curate.errors import ConfigurationError
from curate.sources.builtin import BUILTIN_STRUCTURES, builtin_configuration
from sampling.pool import builtin_pool, recipe_candidates
from sampling.recipe import recipe_from_mapping


def test_builtin_elements_use_ases_reference_lattice_constants() -> None:
    for name, kwargs in BUILTIN_STRUCTURES.items():
        if kwargs["name"] in atomic_numbers:
            reference = reference_states[atomic_numbers[kwargs["name"]]]
            assert (reference["symmetry"], reference["a"]) == (kwargs["crystalstructure"], kwargs["a"]), name
    silicon = builtin_configuration("Si-diamond")
    assert silicon.nsites == 8 and np.allclose(silicon.lattice, 5.43 * np.eye(3))


def test_default_pool_rattles_and_strains_four_cells_reproducibly() -> None:
    pool = builtin_pool(seed=0)
    rows = pool.rows.to_pylist()
    assert len(rows) == 48 and not pool.rejected
    parents = [builtin_configuration(n) for n in ("Si-diamond", "Cu-fcc", "NaCl-rocksalt", "MgO-rocksalt")]
    parent_ids = row_hashes(parents)[0]
    # per parent: 3 std x 2 rattles and 2 strains x 3 lattice vectors, parents in recipe order
    assert [r["parent_id"] for r in rows] == [p for p in parent_ids for _ in range(12)]
    assert Counter(r["generator"] for r in rows) == {"gaussian-rattle": 24, "strain": 24}
    rattles = [r for r in rows if r["generator"] == "gaussian-rattle"]
    assert len({r["seed"] for r in rattles}) == 24, "every rattle has its own seed"
    assert sorted({json.loads(r["generator_params"])["std_ang"] for r in rattles}) == [0.05, 0.1, 0.2]
    assert all(r["energy"] is None for r in rows)
    assert builtin_pool(seed=0).rows.equals(pool.rows)
    assert builtin_pool(seed=1).rows.column("id").to_pylist() != pool.rows.column("id").to_pylist()


def test_a_recipe_without_built_in_structures_is_no_pool() -> None:
    recipe = recipe_from_mapping({"steps": [{"generator": "vacancy"}]}, origin="recipe.yaml")
    with pytest.raises(ConfigurationError, match="names no built-in structures"):
        recipe_candidates(recipe)
