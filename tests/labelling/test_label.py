"""The DFT bridge: inputs equal pymatgen's own input sets, and results come back linked to their candidate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pymatgen.io.vasp import Incar, Kpoints, Poscar

from curate.cli import main
from curate.dataset.configuration import batch_to_configurations
from curate.dataset.store import Dataset
from curate.labelling.vasp_inputs import input_set_for, to_pymatgen
from curate.sources.ingest import import_paths


@pytest.fixture()
def la2coo4(shared_data: Path, tmp_path: Path) -> Path:
    """The real GGA+U La2CoO4 static as a one-row dataset."""
    import_paths([shared_data / "emmet" / "magnetism_task_docs.json.gz"], format_name="mp-tasks", out=tmp_path / "all")
    rows = Dataset.open(tmp_path / "all").read()
    keep = [i for i, f in enumerate(rows.column("chemical_formula_reduced").to_pylist()) if f == "CoLa2O4"]
    picked = Dataset.create(tmp_path / "picked")
    with picked.writer() as writer:
        writer.append(rows.take(keep).to_batches()[0])
    return tmp_path / "picked"


@pytest.mark.parametrize(("functional", "input_set"), [("pbe", "mp"), ("r2scan", "mp"), ("r2scan", "matpes")])
def test_inputs_equal_pymatgens_input_set(la2coo4: Path, tmp_path: Path, functional: str, input_set: str) -> None:
    out = tmp_path / "vasp"
    result = CliRunner().invoke(
        main, ["label", str(la2coo4), "--vasp-inputs", str(out), "--functional", functional, "--input-set", input_set]
    )
    assert result.exit_code == 0, result.output
    assert "POTCAR.spec" in result.output  # no POTCAR library on this machine: said clearly
    (folder,) = out.iterdir()
    row_id = Dataset.open(la2coo4).read(columns=["id"]).column(0)[0].as_py()
    assert folder.name == row_id[:16]
    cfg = batch_to_configurations(Dataset.open(la2coo4).read())[0]
    expected = input_set_for(to_pymatgen(cfg), functional=functional, input_set=input_set)  # type: ignore[arg-type]
    assert Incar.from_file(folder / "INCAR") == expected.incar
    if expected.kpoints is not None:
        assert str(Kpoints.from_file(folder / "KPOINTS")) == str(expected.kpoints)
    assert (folder / "POTCAR.spec").read_text().split() == expected.potcar_symbols
    poscar = Poscar.from_file(folder / "POSCAR").structure
    np.testing.assert_allclose(poscar.cart_coords, cfg.positions, atol=1e-6)
    incar = Incar.from_file(folder / "INCAR")
    if functional == "pbe":
        assert (
            incar["LDAU"] is True and dict(zip(expected.poscar.site_symbols, incar["LDAUU"], strict=True))["Co"] == 3.32
        )
    else:
        assert incar["METAGGA"].lower() == "r2scan"
    sidecar = json.loads((folder / "curate.json").read_text())
    assert sidecar["candidate_id"] == row_id and sidecar["requested_functional"] == functional


def test_a_finished_calculation_comes_back_linked_to_its_row(shared_data: Path, tmp_path: Path) -> None:
    import_paths([shared_data / "vasp" / "GaAs_r2scan_static"], format_name="vasp", out=tmp_path / "gaas")
    row_id = Dataset.open(tmp_path / "gaas").read(columns=["id"]).column(0)[0].as_py()
    runner = CliRunner()
    result = runner.invoke(
        main, ["label", str(tmp_path / "gaas"), "--vasp-inputs", str(tmp_path / "calcs"), "--functional", "r2scan"]
    )
    assert result.exit_code == 0, result.output
    folder = tmp_path / "calcs" / row_id[:16]
    # VASP "runs" in the folder: the real r2SCAN result of this very structure lands there
    shutil.copy(shared_data / "vasp" / "GaAs_r2scan_static" / "vasprun.xml.gz", folder / "vasprun.xml.gz")
    result = runner.invoke(main, ["import", "vasp", str(tmp_path / "calcs"), "--out", str(tmp_path / "labelled")])
    assert result.exit_code == 0, result.output
    (row,) = Dataset.open(tmp_path / "labelled").read().to_pylist()
    assert row["parent_id"] == row_id
    assert row["functional"] == "r2SCAN"
    original = Dataset.open(tmp_path / "gaas").read().to_pylist()[0]
    assert row["energy"] == original["energy"]


def test_calculator_labels_are_emt_and_linked(tmp_path: Path) -> None:
    from ase.build import bulk
    from ase.calculators.emt import EMT

    runner = CliRunner()
    runner.invoke(main, ["demo", "--out", str(tmp_path / "demo")])
    result = runner.invoke(main, ["label", str(tmp_path / "demo"), "--model", "emt", "--out", str(tmp_path / "l")])
    assert result.exit_code == 0, result.output
    demo = {r["id"]: r for r in Dataset.open(tmp_path / "demo").read().to_pylist()}
    labelled = Dataset.open(tmp_path / "l").read().to_pylist()
    assert len(labelled) == len(demo) == 30
    assert {r["functional"] for r in labelled} == {"EMT"}
    assert {r["parent_id"] for r in labelled} == set(demo)
    for row in labelled:
        assert row["energy"] == pytest.approx(demo[row["parent_id"]]["energy"], abs=1e-9)
        assert row["generator"] == demo[row["parent_id"]]["generator"]
    copper = bulk("Cu", "fcc", cubic=True) * (2, 2, 2)
    copper.calc = EMT()
    equilibrium = next(r for r in labelled if r["material_id"] == "Cu-fcc" and r["generator"] is None)
    assert equilibrium["energy"] == pytest.approx(copper.get_potential_energy(), abs=1e-9)


def test_label_needs_exactly_one_target(tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["demo", "--out", str(tmp_path / "demo")])
    result = runner.invoke(main, ["label", str(tmp_path / "demo")])
    assert result.exit_code == 2 and "exactly one of --vasp-inputs" in result.output
