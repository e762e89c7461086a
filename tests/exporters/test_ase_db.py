"""ASE database export: calculator labels in ASE units, metadata as key-value pairs, and the round trip."""

from __future__ import annotations

from pathlib import Path

import ase.db
import numpy as np
import pytest
from ase.units import GPa

from curate.dataset.store import Dataset
from curate.exporters import export_dataset
from curate.sources.ingest import import_paths

from .roundtrip import (
    METADATA_COLUMNS,
    assert_same_labels,
    every_column_configuration,
    rows_by_id,
    write_dataset,
)


def test_labels_are_calculator_results_in_ase_units(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "magnetism.db"
    report = export_dataset(real_datasets["magnetism"], format_name="ase-db", out=out)
    rows = Dataset.open(real_datasets["magnetism"]).read().to_pylist()
    assert report.rows_written == len(rows) == 4
    with ase.db.connect(out) as db:
        assert db.count() == 4 and db.count(functional="PBE+U") == 1
        for db_row, row in zip(db.select(sort="id"), rows, strict=True):
            atoms = db_row.toatoms()
            assert atoms.get_potential_energy() == row["energy"]
            np.testing.assert_array_equal(atoms.get_forces(), row["forces"])
            np.testing.assert_array_equal(atoms.get_magnetic_moments(), row["magmoms"])
            s = np.asarray(row["stress"]) * GPa  # eV/A^3, ASE sign, Voigt xx yy zz yz xz xy
            np.testing.assert_array_equal(atoms.get_stress(), [s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
            np.testing.assert_array_equal(db_row.data["REF_stress"], s)  # the full tensor, asymmetry included
            assert db_row.key_value_pairs["task_id"] == row["task_id"]
            assert db_row.key_value_pairs["curate_id"] == row["id"]  # ASE's own "id" is the row number
            assert db_row.key_value_pairs["functional"] == row["functional"]
        assert db.get(functional="PBE+U").hubbard_u == "Co=3.32"


def test_strings_ase_would_refuse_go_to_data(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "d", [every_column_configuration()])
    export_dataset(dataset, format_name="ase-db", out=tmp_path / "one.db")
    with ase.db.connect(tmp_path / "one.db") as db:
        (row,) = db.select()
    assert "task_id" not in row.key_value_pairs and row.data["task_id"] == "1234"
    assert row.key_value_pairs["seed"] == 20251121 and row.key_value_pairs["split"] == "validation"
    (row_id,) = rows_by_id(dataset)
    assert row.key_value_pairs["curate_id"] == row_id


@pytest.mark.parametrize("name", ["as2so6", "magnetism", "matpes_r2scan"])
def test_round_trip_through_ase_import_is_exact(real_datasets: dict[str, Path], tmp_path: Path, name: str) -> None:
    out = tmp_path / f"{name}.db"
    export_dataset(real_datasets[name], format_name="ase-db", out=out)
    back = import_paths([out], format_name="ase", out=tmp_path / "back")
    before, after = rows_by_id(real_datasets[name]), rows_by_id(tmp_path / "back")
    assert back.quarantined == 0 and set(after) == set(before)
    for row_id, row in before.items():
        assert_same_labels(row, after[row_id], stress_max_ulp=1)
        for column in METADATA_COLUMNS:
            assert after[row_id][column] == row[column], column
        assert after[row_id]["source_record"].endswith(f"({row['source_record']})")  # the importer adds the row


def test_every_metadata_column_round_trips(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "d", [every_column_configuration()])
    export_dataset(dataset, format_name="ase-db", out=tmp_path / "one.db")
    import_paths([tmp_path / "one.db"], format_name="ase", out=tmp_path / "back")
    (before,), (after,) = rows_by_id(dataset).values(), rows_by_id(tmp_path / "back").values()
    assert after["id"] == before["id"]
    assert_same_labels(before, after, stress_max_ulp=1)
    for column in METADATA_COLUMNS:
        assert after[column] == before[column], column
