"""The schema file is the single source of truth and its units reach Arrow metadata."""

from __future__ import annotations

import json

import pyarrow as pa

from curate.dataset.schema import SCHEMA_VERSION_KEY, row_schema

from .conftest import REPO_ROOT


def test_arrow_schema_has_every_declared_field_with_units() -> None:
    declared = json.loads((REPO_ROOT / "schemas" / "configuration.v1.json").read_text())
    schema = row_schema()
    assert schema.names == [f["name"] for f in declared["fields"]]
    assert schema.arrow.metadata[SCHEMA_VERSION_KEY] == declared["version"].encode()
    assert schema.arrow.field("forces").metadata[b"unit"] == b"eV/angstrom"
    assert schema.arrow.field("stress").metadata[b"unit"] == b"GPa"
    assert schema.arrow.field("energy").metadata[b"unit"] == b"eV"
    assert json.loads(schema.arrow.metadata[b"curate.units"])["cartesian_site_positions"] == "angstrom"


def test_optimade_names_and_shapes() -> None:
    schema = row_schema()
    optimade = {f.optimade for f in schema.fields if f.optimade}
    assert {
        "lattice_vectors",
        "cartesian_site_positions",
        "species_at_sites",
        "nsites",
        "elements",
        "chemical_formula_reduced",
        "dimension_types",
    } <= optimade
    assert schema.arrow.field("lattice_vectors").type == pa.list_(pa.list_(pa.float64(), 3), 3)
    assert schema.arrow.field("forces").type == pa.list_(pa.list_(pa.float64(), 3))
    assert not schema.arrow.field("id").nullable
