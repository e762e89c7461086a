"""extxyz export: full precision, REF_ keys that ASE leaves alone, MACE's loader reads the right numbers,
and `curate import ase` gives back the same rows."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.units import GPa

from curate.dataset.configuration import Configuration
from curate.dataset.store import Dataset
from curate.errors import InputError
from curate.exporters import export_dataset
from curate.exporters.extxyz import frame_text
from curate.sources.ingest import import_paths

from .roundtrip import (
    METADATA_COLUMNS,
    assert_same_labels,
    every_column_configuration,
    rows_by_id,
    write_dataset,
)


@pytest.mark.parametrize("name", ["as2so6", "magnetism", "matpes_r2scan"])
def test_round_trip_through_ase_import_is_exact(real_datasets: dict[str, Path], tmp_path: Path, name: str) -> None:
    out = tmp_path / f"{name}.extxyz"
    report = export_dataset(real_datasets[name], format_name="extxyz", out=out)
    back = import_paths([out], format_name="ase", out=tmp_path / "back")
    before, after = rows_by_id(real_datasets[name]), rows_by_id(tmp_path / "back")
    assert report.rows_written == len(before) and back.quarantined == 0
    assert set(after) == set(before)
    for row_id, row in before.items():
        again = after[row_id]
        # GPa -> eV/A^3 -> GPa is a multiplication and a division: at most one float64 step apart
        assert_same_labels(row, again, stress_max_ulp=1)
        for column in METADATA_COLUMNS:
            assert again[column] == row[column], column
        assert again["source_record"].endswith(f"({row['source_record']})")  # the importer adds the frame


def test_matpes_labels_survive_to_one_float64_step(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "matpes.extxyz"
    export_dataset(real_datasets["matpes_r2scan"], format_name="extxyz", out=out)
    import_paths([out], format_name="ase", out=tmp_path / "back")
    before = {r["geometry_hash"]: r for r in rows_by_id(real_datasets["matpes_r2scan"]).values()}
    after = {r["geometry_hash"]: r for r in rows_by_id(tmp_path / "back").values()}
    assert set(after) == set(before) and len(before) == 89
    for key, row in before.items():
        assert_same_labels(row, after[key], stress_max_ulp=1)
        assert after[key]["functional"] == "r2SCAN" and after[key]["material_id"] == row["material_id"]


def test_every_metadata_column_round_trips(tmp_path: Path) -> None:
    dataset = write_dataset(tmp_path / "d", [every_column_configuration()])
    export_dataset(dataset, format_name="extxyz", out=tmp_path / "one.extxyz")
    import_paths([tmp_path / "one.extxyz"], format_name="ase", out=tmp_path / "back")
    (before,), (after,) = rows_by_id(dataset).values(), rows_by_id(tmp_path / "back").values()
    assert after["id"] == before["id"]
    assert_same_labels(before, after, stress_max_ulp=1)
    for column in METADATA_COLUMNS:
        assert after[column] == before[column], column
    info = ase.io.read(tmp_path / "one.extxyz").info
    # the id written is the id the importer computes again from the content: a trainer's frame is traceable
    assert info["curate_id"] == before["id"] == after["id"] and info["split"] == "validation"


def test_ase_reads_every_float_back_and_makes_no_calculator(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "as2so6.extxyz"
    export_dataset(real_datasets["as2so6"], format_name="extxyz", out=out)
    rows = Dataset.open(real_datasets["as2so6"]).read().to_pylist()
    frames = ase.io.read(out, index=":")
    assert len(frames) == len(rows) == 193
    for atoms, row in zip(frames, rows, strict=True):
        assert atoms.calc is None  # labels stay REF_ data, never a calculator named energy/forces
        np.testing.assert_array_equal(atoms.positions, row["cartesian_site_positions"])
        np.testing.assert_array_equal(atoms.cell.array, row["lattice_vectors"])
        np.testing.assert_array_equal(atoms.arrays["REF_forces"], row["forces"])
        assert atoms.info["REF_energy"] == row["energy"]
        np.testing.assert_array_equal(atoms.info["REF_stress"], (np.asarray(row["stress"]) * GPa).reshape(9))
        assert atoms.info["task_id"] == row["task_id"] and atoms.info["functional"] == "PBE"
        assert atoms.info["curate_id"] == row["id"]  # the frame traces back to its dataset row


def test_strings_that_look_like_numbers_stay_strings(tmp_path: Path) -> None:
    cfg = Configuration(
        species=["Fe"],
        lattice=np.eye(3) * 2.87,
        positions=np.zeros((1, 3)),
        energy=-8.3,
        functional="PBE+U",
        hubbard_u={"Fe": 5.3, "Co": 3.32},
        task_id="1234",
        material_id="T",
        split="1 2",
        generator_params='{"amplitude_ang":0.1,"note":"say \\"hi\\""}',
        source_record="0",
    )
    (tmp_path / "one.extxyz").write_text(frame_text(cfg))
    info = ase.io.read(tmp_path / "one.extxyz").info
    assert info["task_id"] == "1234" and info["material_id"] == "T" and info["split"] == "1 2"
    assert info["source_record"] == "0" and info["generator_params"] == cfg.generator_params
    assert info["hubbard_u"] == "Co=3.32,Fe=5.3" and info["REF_energy"] == -8.3


def test_mace_loader_reads_energy_forces_and_stress(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    # mace first: its import sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD, without which e3nn 0.4.4 cannot torch.load
    # its own constants on this torch
    import mace  # noqa: F401
    import torch
    from mace.data.utils import KeySpecification, load_from_xyz
    from mace.tools.torch_tools import voigt_to_matrix

    out = tmp_path / "magnetism.extxyz"
    export_dataset(real_datasets["magnetism"], format_name="extxyz", out=out)
    # mace_run_train's defaults (REF_energy, REF_forces, REF_stress): no --*_key option is needed
    keys = KeySpecification.from_defaults()
    assert keys.info_keys["energy"] == "REF_energy" and keys.arrays_keys["forces"] == "REF_forces"
    _, configs = load_from_xyz(str(out), key_specification=keys)
    rows = Dataset.open(real_datasets["magnetism"]).read().to_pylist()
    assert len(configs) == len(rows) == 4
    for config, row in zip(configs, rows, strict=True):
        assert config.properties["energy"] == row["energy"]
        np.testing.assert_array_equal(config.properties["forces"], row["forces"])
        # MACE wants eV/A^3 with the ASE sign and reads a 9-vector row by row
        stress = voigt_to_matrix(torch.tensor(config.properties["stress"], dtype=torch.float64)).numpy()
        np.testing.assert_allclose(stress / GPa, row["stress"], rtol=1e-14, atol=0)
        assert config.property_weights["stress"] == 1.0 and config.property_weights["energy"] == 1.0
        np.testing.assert_array_equal(config.cell, row["lattice_vectors"])
    la2coo4 = np.asarray(rows[1]["stress"])
    assert la2coo4[0, 2] != la2coo4[2, 0]  # an asymmetric real tensor: proves the row-major orientation


def test_a_failed_export_leaves_no_file_behind(tmp_path: Path) -> None:
    broken = every_column_configuration()
    broken.source_record = "two\nlines"
    broken.energy = -29.0  # a different row, not a duplicate id
    dataset = write_dataset(tmp_path / "d", [every_column_configuration(), broken])
    with pytest.raises(InputError, match="line break") as caught:
        export_dataset(dataset, format_name="extxyz", out=tmp_path / "out" / "x.extxyz")
    assert caught.value.field == "source_record"
    assert list((tmp_path / "out").iterdir()) == []  # neither the output nor its temporary file


@pytest.mark.slow
def test_matgl_loader_reads_energy_forces_and_stress_in_gpa(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    from matgl.utils.training import MGLDatasetLoader  # slow import (~20 s): the test is marked slow

    out = tmp_path / "magnetism.extxyz"
    export_dataset(real_datasets["magnetism"], format_name="extxyz", out=out)
    dataset = MGLDatasetLoader.from_extxyz(
        out,
        energy_key="REF_energy",
        forces_key="REF_forces",
        stress_key="REF_stress",
        stress_unit="eV/A3",  # matgl's default for extxyz; converted to GPa, ASE sign, as curate stores it
        save_cache=False,
        root=str(tmp_path / "matgl"),
    )
    rows = Dataset.open(real_datasets["magnetism"]).read().to_pylist()
    labels = dataset.labels
    assert len(labels["energies"]) == len(rows) == 4
    for k, row in enumerate(rows):
        assert float(labels["energies"][k]) == row["energy"]  # eV, total
        np.testing.assert_array_equal(np.asarray(labels["forces"][k]), row["forces"])  # eV/A
        # matgl's eV/A^3 -> GPa factor is its own constant: equal to ASE's to ~1e-9 relative
        np.testing.assert_allclose(np.asarray(labels["stresses"][k]), row["stress"], rtol=1e-8, atol=1e-12)
