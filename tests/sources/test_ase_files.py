"""ASE importer: extxyz (and traj, db) frames written with ase.io from real VASP runs, read back in schema units."""

from __future__ import annotations

import gzip
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.units import GPa
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.configuration import Configuration, Rejected
from curate.dataset.store import Dataset
from curate.errors import InputError
from curate.sources.ase_files import AseImporter, parse_hubbard_u, stress_gpa_from_ase
from curate.sources.base import ImportOptions
from curate.sources.ingest import import_paths

from .test_vasp import raw_vasprun_steps

MD = "vasp/pymatgen_core/outputs__vasprun.md.xml.gz"  # Si64, 10 steps, PBE
LU = "vasp/r2scan_relax_Lu3/vasprun.xml.gz"  # 6 steps, r2SCAN, a non-zero xz stress


def read_all(path: Path, functional: str | None = None) -> list[Configuration | Rejected]:
    options = ImportOptions(functional=functional)
    return list(AseImporter().read(path, display_name=str(path), options=options))


def frames_with_calculator(shared_data: Path, relative: str, **info: object) -> list[Atoms]:
    """The run's frames as ASE reads them, labelled with a SinglePointCalculator (free energy, forces, stress)."""
    frames = ase.io.read(shared_data / relative, index=":", format="vasp-xml")
    for atoms in frames:
        results = atoms.calc.results
        atoms.calc = SinglePointCalculator(
            atoms, energy=results["free_energy"], forces=results["forces"], stress=results["stress"]
        )
        atoms.info.update(info)
    return frames


def test_calculator_labels_come_back_in_ev_and_gpa(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "md.extxyz"
    ase.io.write(path, frames_with_calculator(shared_data, MD, functional="PBE"))
    rows, raw = read_all(path), raw_vasprun_steps(shared_data / MD)
    assert len(rows) == len(raw) == 10
    for index, (cfg, (energy, forces, stress_kbar)) in enumerate(zip(rows, raw, strict=True)):
        assert isinstance(cfg, Configuration) and cfg.functional == "PBE" and cfg.pbc == (1, 1, 1)
        assert cfg.energy == pytest.approx(energy, abs=1e-8) and cfg.energy_field == "energy"
        np.testing.assert_allclose(cfg.forces, forces, atol=1e-8)
        # ASE's Voigt 6 keeps the upper triangle of VASP's slightly asymmetric tensor (xy 8.7211e-4 vs yx
        # 8.7168e-4 kBar in step 0); eV/A^3 -> GPa keeps the ASE sign
        upper = np.triu(stress_kbar) + np.triu(stress_kbar, 1).T
        np.testing.assert_allclose(cfg.stress, -0.1 * upper, atol=1e-12)
        assert (cfg.source, cfg.source_file, cfg.source_record) == ("ase", str(path), f"frame {index}")


@pytest.mark.parametrize("layout", ["voigt6", "matrix3x3"])
def test_ref_keys_win_over_a_calculator(shared_data: Path, tmp_path: Path, layout: str) -> None:
    frames = frames_with_calculator(shared_data, LU, functional="r2SCAN")
    for atoms in frames:
        results = atoms.calc.results  # ASE Voigt order xx yy zz yz xz xy, eV/A^3
        atoms.info["REF_energy"] = results["energy"]
        atoms.info["REF_stress"] = results["stress"] if layout == "voigt6" else atoms.get_stress(voigt=False)
        atoms.arrays["REF_forces"] = results["forces"].copy()
        atoms.arrays["REF_magmoms"] = np.full(len(atoms), -0.38)
        # a calculator with other numbers (say a model's prediction) must not be read
        atoms.calc = SinglePointCalculator(atoms, energy=0.0, forces=np.zeros((len(atoms), 3)), stress=np.zeros(6))
    ase.io.write(tmp_path / "lu.extxyz", frames)
    rows, raw = read_all(tmp_path / "lu.extxyz"), raw_vasprun_steps(shared_data / LU)
    assert len(rows) == 6 and all(c.energy_field == "REF_energy" for c in rows)
    for cfg, (energy, forces, stress_kbar) in zip(rows, raw, strict=True):
        assert cfg.energy == pytest.approx(energy, abs=1e-8) and cfg.functional == "r2SCAN"
        np.testing.assert_allclose(cfg.forces, forces, atol=1e-8)
        np.testing.assert_allclose(cfg.stress, -0.1 * stress_kbar, atol=1e-8)
        np.testing.assert_array_equal(cfg.magmoms, np.full(3, -0.38))
    assert rows[0].stress[0, 2] == rows[0].stress[2, 0] == pytest.approx(-0.1499065, abs=1e-7)  # ZX 1.49906497 kBar


def test_stress_layouts_and_units() -> None:
    voigt = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) * GPa  # xx yy zz yz xz xy
    expected = np.array([[1.0, 6.0, 5.0], [6.0, 2.0, 4.0], [5.0, 4.0, 3.0]])
    np.testing.assert_allclose(stress_gpa_from_ase(voigt, "stress"), expected)
    np.testing.assert_allclose(stress_gpa_from_ase(expected.reshape(9) * GPa, "stress"), expected)
    assert stress_gpa_from_ase(None, "stress") is None
    with pytest.raises(InputError, match="shape"):
        stress_gpa_from_ase(np.zeros(4), "stress")


def test_labels_without_a_functional_are_refused_never_guessed(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "md.extxyz"
    ase.io.write(path, frames_with_calculator(shared_data, MD))
    with pytest.raises(InputError) as error:
        read_all(path)
    assert (error.value.file, error.value.record, error.value.field) == (str(path), "frame 0", "functional")
    assert "give the functional import option, e.g. PBE" in error.value.reason
    assert {c.functional for c in read_all(path, functional="PBE")} == {"PBE"}
    unlabelled = tmp_path / "structures.extxyz"
    ase.io.write(unlabelled, [Atoms(a.symbols, a.positions, cell=a.cell, pbc=True) for a in ase.io.read(path, ":")])
    assert [c.functional for c in read_all(unlabelled)] == [None] * 10


def test_curate_metadata_is_read_back(shared_data: Path, tmp_path: Path) -> None:
    atoms = frames_with_calculator(shared_data, LU)[-1]
    atoms.info.update(
        functional="PBE+U",
        material_id="mp-1234",
        task_id="1234",
        calc_index=2,
        ionic_step=5,
        energy_field="e_fr_energy",
        REF_energy_corrected=-115.5,
        parent_id="ab" * 32,
        generator="rattle",
        generator_params={"amplitude_ang": 0.05},
        seed=7,
        pair_id="pair-7",
        split="train",
        hubbard_u="Co=3.32,Fe=5.3",
        source_record="vasprun.xml.gz step 5",
    )
    bad = atoms.copy()
    bad.calc = SinglePointCalculator(bad, **atoms.calc.results)
    bad.info["hubbard_u"] = "Co:3.32"
    ase.io.write(tmp_path / "meta.extxyz", [atoms, bad])
    cfg, rejected = read_all(tmp_path / "meta.extxyz")
    assert isinstance(cfg, Configuration) and isinstance(rejected, Rejected)
    assert (cfg.functional, cfg.hubbard_u, cfg.energy_field) == ("PBE+U", {"Co": 3.32, "Fe": 5.3}, "e_fr_energy")
    assert (cfg.material_id, cfg.task_id, cfg.calc_index, cfg.ionic_step, cfg.seed) == ("mp-1234", "1234", 2, 5, 7)
    assert (cfg.parent_id, cfg.generator, cfg.pair_id, cfg.split) == ("ab" * 32, "rattle", "pair-7", "train")
    assert cfg.generator_params == '{"amplitude_ang":0.05}' and cfg.energy_corrected == -115.5
    assert cfg.source_record == "frame 0 (vasprun.xml.gz step 5)"
    assert (rejected.record, rejected.field) == ("frame 1", "hubbard_u")
    assert parse_hubbard_u("") is None


def test_a_molecule_keeps_its_zero_cell_and_passes_the_gate(tmp_path: Path) -> None:
    water = molecule("H2O")
    water.calc = SinglePointCalculator(water, energy=-14.22, forces=np.zeros((3, 3)))
    ase.io.write(tmp_path / "water.extxyz", water)
    report = import_paths(
        [tmp_path / "water.extxyz"], format_name="ase", out=tmp_path / "ds", options=ImportOptions(functional="PBE")
    )
    assert (report.rows_added, report.quarantined) == (1, 0)
    (row,) = Dataset.open(tmp_path / "ds").read().to_pylist()
    assert row["dimension_types"] == [0, 0, 0] and np.all(np.asarray(row["lattice_vectors"]) == 0.0)
    np.testing.assert_array_equal(row["cartesian_site_positions"], water.positions)


def write_md(shared_data: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    path = tmp_path / "md.extxyz"
    ase.io.write(path, frames_with_calculator(shared_data, MD, functional="PBE")[:3])
    return path, path.read_text().splitlines(keepends=True)  # 3 frames of 66 lines


@pytest.mark.parametrize(
    ("cut", "record", "message"),
    [
        (66 + 30, "frame 1", "file ends inside the frame: 28 of 64 atom lines"),
        (66 + 1, "frame 1", "file ends inside the frame: 0 of 64"),
    ],
)
def test_a_truncated_extxyz_names_the_file_and_frame(
    shared_data: Path, tmp_path: Path, cut: int, record: str, message: str
) -> None:
    path, lines = write_md(shared_data, tmp_path)
    path.write_text("".join(lines[:cut]))
    items: list[Configuration | Rejected] = []
    with pytest.raises(InputError, match=message) as error:
        for item in AseImporter().read(path, display_name=str(path), options=ImportOptions()):
            items.append(item)
    assert len(items) == 1 and (error.value.file, error.value.record) == (str(path), record)


def test_a_garbled_count_line_stops_the_file_a_garbled_number_only_its_frame(shared_data: Path, tmp_path: Path) -> None:
    path, lines = write_md(shared_data, tmp_path)
    path.write_text("".join([*lines[:66], "sixty-four\n", *lines[67:]]))
    with pytest.raises(InputError, match="atom count line") as error:
        read_all(path)
    assert error.value.record == "frame 1"
    garbled = [*lines[:70], lines[70].replace(lines[70].split()[1], "1.2.3", 1), *lines[71:]]
    path.write_text("".join(garbled))
    first, second, third = read_all(path)
    assert isinstance(second, Rejected) and second.record == "frame 1" and "1.2.3" in second.reason
    assert isinstance(first, Configuration) and isinstance(third, Configuration)


def test_a_truncated_gzip_names_the_frame(shared_data: Path, tmp_path: Path) -> None:
    path, _ = write_md(shared_data, tmp_path)
    packed = gzip.compress(path.read_bytes())
    cut = tmp_path / "md.extxyz.gz"
    cut.write_bytes(packed[: len(packed) * 2 // 3])
    items: list[Configuration | Rejected] = []
    with pytest.raises(InputError, match="damaged or truncated") as error:
        for item in AseImporter().read(cut, display_name=str(cut), options=ImportOptions()):
            items.append(item)
    assert 0 < len(items) < 3 and (error.value.file, error.value.record) == (str(cut), f"frame {len(items)}")


@pytest.mark.parametrize("suffix", [".traj", ".db"])
def test_other_ase_formats(shared_data: Path, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"lu{suffix}"
    ase.io.write(path, frames_with_calculator(shared_data, LU))
    rows = read_all(path, functional="r2SCAN")
    assert [c.source_record for c in rows] == [f"frame {i}" for i in range(6)]
    assert [c.energy for c in rows] == pytest.approx([e for e, _, _ in raw_vasprun_steps(shared_data / LU)])


def test_an_unknown_format_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "notes.weird").write_text("hello\n")
    with pytest.raises(InputError, match="no reader"):
        read_all(tmp_path / "notes.weird")


def test_cli_imports_with_functional_and_refuses_without(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "md.extxyz"
    ase.io.write(path, frames_with_calculator(shared_data, MD))
    refused = CliRunner().invoke(main, ["import", "ase", str(path), "--out", str(tmp_path / "ds")])
    assert refused.exit_code == 1 and "functional import option, e.g. PBE" in refused.stderr
    args = ["import", "ase", str(path), "--out", str(tmp_path / "ds"), "--functional", "PBE"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("10 rows added") and Dataset.open(tmp_path / "ds").num_rows == 10
