"""Helpers for the exporter round trips: rows keyed by id, label comparison, a row with every column set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from curate.dataset.configuration import Configuration, configurations_to_batch
from curate.dataset.store import Dataset

METADATA_COLUMNS = (
    "functional",
    "hubbard_u",
    "material_id",
    "task_id",
    "calc_index",
    "ionic_step",
    "energy_field",
    "scf_converged",
    "parent_id",
    "generator",
    "generator_params",
    "seed",
    "pair_id",
    "split",
)


def rows_by_id(dataset_dir: Path) -> dict[str, dict[str, Any]]:
    """Every row of a dataset keyed by id."""
    return {row["id"]: row for row in Dataset.open(dataset_dir).read().to_pylist()}


def assert_same_labels(before: dict[str, Any], after: dict[str, Any], *, stress_max_ulp: int = 0) -> None:
    """Energy, forces, magmoms, positions and lattice bit for bit; stress to ``stress_max_ulp`` float64 steps."""
    assert after["energy"] == before["energy"]
    assert after["energy_corrected"] == before["energy_corrected"]
    for column in ("forces", "magmoms", "cartesian_site_positions", "lattice_vectors"):
        if before[column] is None:
            assert after[column] is None, column
        else:
            np.testing.assert_array_equal(np.asarray(after[column]), np.asarray(before[column]), err_msg=column)
    assert after["species_at_sites"] == before["species_at_sites"]
    if before["stress"] is None:
        assert after["stress"] is None
    elif stress_max_ulp == 0:
        np.testing.assert_array_equal(np.asarray(after["stress"]), np.asarray(before["stress"]))
    else:
        np.testing.assert_array_max_ulp(
            np.asarray(after["stress"]), np.asarray(before["stress"]), maxulp=stress_max_ulp
        )


def every_column_configuration() -> Configuration:
    """A small real-looking row with every optional column set (metadata round trips need them all)."""
    return Configuration(
        species=["Fe", "Co", "O", "O"],
        lattice=np.array([[4.01, 0.0, 0.0], [0.3, 4.02, 0.0], [0.1, 0.2, 4.03]]),
        positions=np.array([[0.0, 0.0, 0.0], [2.0, 2.0, 2.0], [2.0, 0.1, 0.0], [0.0, 2.0, 2.1]]),
        energy=-30.123456789012345,
        energy_field="e_fr_energy",
        energy_corrected=-31.98765432109876,
        forces=np.array([[0.1, -0.2, 0.3], [-0.1, 0.2, -0.3], [1e-9, 0.0, -0.0], [-1e-9, 0.0, 0.0]]),
        stress=np.array([[1.2345678, 0.01, 0.02], [0.011, -0.5, 0.03], [0.02, 0.03, 0.7]]),
        magmoms=np.array([3.9, 2.7, 0.01, -0.01]),
        functional="PBE+U",
        hubbard_u={"Fe": 5.3, "Co": 3.32},
        source="generated",
        source_record="rattle of mp-1234 #0",
        material_id="mp-1234",
        task_id="1234",
        calc_index=2,
        ionic_step=7,
        parent_id="ab" * 32,
        generator="rattle",
        generator_params='{"amplitude_ang":0.05,"note":"a \\"quoted\\" word"}',
        seed=20251121,
        pair_id="pair-7",
        split="validation",
    )


def write_dataset(path: Path, configurations: list[Configuration]) -> Path:
    """A dataset at ``path`` holding exactly ``configurations``."""
    with Dataset.create(path).writer() as writer:
        writer.append(configurations_to_batch(configurations))
    return path
