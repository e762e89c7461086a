"""SOAP descriptors of record batches: equal to dscribe called directly, invariant where physics says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dscribe.descriptors import SOAP

from curate.dataset.store import Dataset
from curate.descriptors.soap import (
    DESCRIPTOR_COLUMNS,
    SoapDescriptor,
    SoapParams,
    atoms_from_batch,
    resolve_compression,
    uncompressed_feature_count,
)
from curate.errors import ConfigurationError
from curate.sources.ingest import import_paths


@pytest.fixture(scope="module")
def as2so6_batch(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("soap") / "as2so6"
    import_paths([shared_data / "emmet" / "test_As2SO6_tasks.json.gz"], format_name="mp-tasks", out=out)
    return Dataset.open(out).read(columns=[*DESCRIPTOR_COLUMNS, "nsites"]).slice(0, 20)


def test_atoms_from_batch_round_trips_geometry(as2so6_batch) -> None:  # type: ignore[no-untyped-def]
    atoms = atoms_from_batch(as2so6_batch)
    rows = as2so6_batch.to_pylist()
    assert len(atoms) == 20
    for a, row in zip(atoms, rows, strict=True):
        assert a.get_chemical_symbols() == row["species_at_sites"]
        np.testing.assert_array_equal(a.positions, np.asarray(row["cartesian_site_positions"]))
        np.testing.assert_array_equal(a.cell.array, np.asarray(row["lattice_vectors"]))
        assert a.pbc.tolist() == [True, True, True]


def test_features_equal_dscribe_normalised(as2so6_batch) -> None:  # type: ignore[no-untyped-def]
    descriptor = SoapDescriptor(["As", "O", "S"])
    environments = descriptor.from_batch(as2so6_batch)
    direct = SOAP(species=["O", "S", "As"], r_cut=5.0, n_max=4, l_max=3, sigma=0.5, periodic=True, dtype="float32")
    raw = np.concatenate(direct.create(atoms_from_batch(as2so6_batch)))
    expected = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    assert environments.features.shape == (20 * 18, 312)
    np.testing.assert_allclose(environments.features, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(environments.features, axis=1), 1.0, atol=1e-6)
    assert environments.row_index.tolist() == np.repeat(np.arange(20), 18).tolist()
    assert environments.center_z[:18].tolist() == atoms_from_batch(as2so6_batch)[0].numbers.tolist()


def test_features_invariant_to_translation_and_permutation(as2so6_batch) -> None:  # type: ignore[no-untyped-def]
    descriptor = SoapDescriptor(["As", "O", "S"])
    atoms = atoms_from_batch(as2so6_batch.slice(0, 1))[0]
    base = descriptor.create([atoms])
    moved = atoms.copy()
    moved.translate([0.37, -1.2, 2.9])
    moved.wrap()
    np.testing.assert_allclose(descriptor.create([moved]), base, atol=1e-5)
    order = np.random.default_rng(0).permutation(len(atoms))
    np.testing.assert_allclose(descriptor.create([atoms[order]]), base[order], atol=1e-6)


def test_extra_species_do_not_change_distances(as2so6_batch) -> None:  # type: ignore[no-untyped-def]
    atoms = atoms_from_batch(as2so6_batch.slice(0, 4))
    small = SoapDescriptor(["As", "O", "S"]).create(atoms)
    large = SoapDescriptor(["As", "O", "S", "Fe", "Li"]).create(atoms)
    d_small = np.linalg.norm(small[:, None] - small[None], axis=-1)
    d_large = np.linalg.norm(large[:, None] - large[None], axis=-1)
    np.testing.assert_allclose(d_large, d_small, atol=1e-5)


def test_auto_compression_switches_to_mu1nu1_for_many_species() -> None:
    assert uncompressed_feature_count(4, 4, 3) == 544
    assert resolve_compression(SoapParams(), 4) == "off"
    assert resolve_compression(SoapParams(), 89) == "mu1nu1"
    assert resolve_compression(SoapParams(compression="crossover"), 89) == "crossover"
    many = SoapDescriptor(["H", "Li", "C", "N", "O", "Fe", "Co", "Ni", "Cu"])
    assert many.compression == "mu1nu1"
    assert many.n_features == 9 * 4 * 4 * 4  # species x n_max^2 x (l_max + 1)


def test_unknown_or_unlisted_species_are_refused(as2so6_batch) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError, match="not chemical elements"):
        SoapDescriptor(["Xx"])
    with pytest.raises(ConfigurationError, match=r"elements \['As', 'S'\] are not in the SOAP species list"):
        SoapDescriptor(["O"]).from_batch(as2so6_batch)


def test_molecules_without_cell_match_a_large_periodic_box(as2so6_batch) -> None:  # type: ignore[no-untyped-def]
    from ase.build import molecule

    water = molecule("H2O")
    boxed = water.copy()
    boxed.set_cell([20.0, 20.0, 20.0])
    boxed.center()
    boxed.pbc = True
    crystal = atoms_from_batch(as2so6_batch.slice(0, 1))[0]
    descriptor = SoapDescriptor(["H", "O", "S", "As"])
    mixed = descriptor.create([water, crystal, water])
    np.testing.assert_allclose(mixed[:3], descriptor.create([boxed]), atol=1e-6)
    np.testing.assert_allclose(mixed[3:21], descriptor.create([crystal]), atol=1e-6)
    np.testing.assert_allclose(mixed[21:], mixed[:3], atol=0)
