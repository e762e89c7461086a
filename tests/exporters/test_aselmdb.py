"""fairchem's .aselmdb export, read back by ase-db-backends and `curate import ase`: units, sid, ids, metadata."""

from __future__ import annotations

from pathlib import Path

import ase.db
import numpy as np
import pytest
from ase.units import GPa

from curate.dataset.store import Dataset
from curate.errors import ConfigurationError
from curate.exporters import export_dataset
from curate.sources.ingest import import_paths

from .roundtrip import (
    METADATA_COLUMNS,
    assert_same_labels,
    every_column_configuration,
    rows_by_id,
    write_dataset,
)


def _rows(path: Path) -> list:
    db = ase.db.connect(str(path), type="aselmdb", readonly=True, use_lock_file=False)  # as fairchem opens it
    try:
        return [db.get(id=i) for i in db.ids]
    finally:
        db.close()


@pytest.mark.parametrize("name", ["as2so6", "magnetism"])
def test_labels_units_and_ids_read_back(real_datasets: dict[str, Path], tmp_path: Path, name: str) -> None:
    out = tmp_path / f"{name}.aselmdb"
    report = export_dataset(real_datasets[name], format_name="aselmdb", out=out)
    rows = Dataset.open(real_datasets[name]).read().to_pylist()
    db_rows = _rows(out)
    assert report.rows_written == len(db_rows) == len(rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no LMDB -lock file left behind
    for db_row, row in zip(db_rows, rows, strict=True):
        atoms = db_row.toatoms()
        assert atoms.get_potential_energy() == row["energy"]  # eV, raw DFT total energy as OMat24 stores it
        np.testing.assert_array_equal(atoms.get_forces(), row["forces"])  # eV/A
        # eV/A^3 with the ASE sign (positive = tensile): the stored GPa x ase.units.GPa, Voigt xx yy zz yz xz xy
        s = np.asarray(row["stress"]) * GPa
        np.testing.assert_array_equal(atoms.get_stress(), [s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
        np.testing.assert_array_equal(db_row.data["REF_stress"], s)  # the full tensor, asymmetry included
        np.testing.assert_array_equal(atoms.positions, row["cartesian_site_positions"])
        assert db_row.data["sid"] == db_row.key_value_pairs["curate_id"] == row["id"]
        assert db_row.key_value_pairs["functional"] == row["functional"]
    if name == "magnetism":
        la2coo4 = next(r for r in db_rows if r.key_value_pairs["functional"] == "PBE+U")
        assert la2coo4.key_value_pairs["hubbard_u"] == "Co=3.32"
        np.testing.assert_array_equal(la2coo4.toatoms().get_magnetic_moments(), rows[1]["magmoms"])


def test_metadata_split_and_select(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "d", [every_column_configuration()])
    out = tmp_path / "one.aselmdb"
    export_dataset(dataset, format_name="aselmdb", out=out)
    (row_id,) = rows_by_id(dataset)
    (row,) = _rows(out)
    assert row.key_value_pairs["split"] == "validation" and row.key_value_pairs["seed"] == 20251121
    assert row.data["task_id"] == "1234"  # a string ASE would read as a number goes to data, as in ase-db
    assert row.data["sid"] == row_id
    import_paths([out], format_name="ase", out=tmp_path / "back")
    (back,) = rows_by_id(tmp_path / "back").values()
    assert back["id"] == row_id and all(back[c] == rows_by_id(dataset)[row_id][c] for c in METADATA_COLUMNS)
    db = ase.db.connect(str(out), type="aselmdb")
    try:
        # select, not count: this backend's count() ignores keyword selections
        assert len(list(db.select(split="validation"))) == 1 and list(db.select(split="train")) == []
    finally:
        db.close()


def test_output_must_end_in_aselmdb(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"aselmdb files must end in \.aselmdb"):
        export_dataset(real_datasets["magnetism"], format_name="aselmdb", out=tmp_path / "x.lmdb")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["as2so6", "magnetism", "matpes_r2scan"])
def test_round_trip_through_ase_import_keeps_ids(real_datasets: dict[str, Path], tmp_path: Path, name: str) -> None:
    out = tmp_path / f"{name}.aselmdb"
    export_dataset(real_datasets[name], format_name="aselmdb", out=out)
    back = import_paths([out], format_name="ase", out=tmp_path / "back")
    before, after = rows_by_id(real_datasets[name]), rows_by_id(tmp_path / "back")
    assert back.quarantined == 0 and set(after) == set(before)  # ids are content hashes: same content, same id
    for row_id, row in before.items():
        # Voigt stress plus data.REF_stress: the full tensor comes back, one float64 step off (eV/A^3 -> GPa)
        assert_same_labels(row, after[row_id], stress_max_ulp=1)
        for column in METADATA_COLUMNS:
            assert after[row_id][column] == row[column], column
