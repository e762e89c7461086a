"""Property-level validation: the reference loader and pick, matcalc's import, and the linear correction's
known answer (moduli and squared phonon frequencies x s) with ASE's EMT on real fcc Cu (no uMLIP)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from click.testing import CliRunner
from pymatgen.io.ase import AseAtomsAdaptor

from curate.cli import main
from curate.diagnostics.properties import ModelVariant, PropertySettings, ScaledCalculator
from curate.diagnostics.properties_report import modulus_errors, summarise
from curate.diagnostics.properties_run import compute_properties
from curate.diagnostics.property_inputs import (
    PropertyInput,
    load_elasticity_reference,
    pick_materials,
    select_materials,
)
from curate.errors import ConfigurationError, InputError

REFERENCE = "matcalc/mp-binary-pbe-elasticity-2025.1.json.gz"


@pytest.fixture(scope="module")
def reference(shared_data: Path) -> list[PropertyInput]:
    return load_elasticity_reference(shared_data / REFERENCE)


def test_reference_loads_every_binary_with_its_dft_moduli(reference: list[PropertyInput]) -> None:
    assert len(reference) == 3953
    (mgo,) = select_materials(reference, ["mp-1265"])
    assert mgo.formula == "MgO" and mgo.nsites == 2
    assert mgo.bulk_modulus_dft_gpa == pytest.approx(150, rel=0.1)  # MgO, PBE: ~150 GPa
    assert all(len({s["species"][0]["element"] for s in m.structure["sites"]}) == 2 for m in reference[:200])


def test_pick_is_seeded_capped_and_independent_of_file_order(reference: list[PropertyInput]) -> None:
    picked = pick_materials(reference, count=50, seed=0, max_sites=8)
    assert len({m.id for m in picked}) == 50 and all(m.nsites <= 8 for m in picked)
    assert [m.id for m in picked] == sorted(m.id for m in picked)
    assert [m.id for m in pick_materials(list(reversed(reference)), count=50, seed=0)] == [m.id for m in picked]
    assert [m.id for m in pick_materials(reference, count=50, seed=1)] != [m.id for m in picked]
    with pytest.raises(ConfigurationError, match="only"):
        pick_materials(reference, count=700, max_sites=2)


def test_a_record_without_a_modulus_is_named(tmp_path: Path, shared_data: Path) -> None:
    with gzip.open(shared_data / REFERENCE, "rt") as handle:
        records = json.load(handle)[:3]
    del records[2]["shear_modulus_vrh"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(records))
    with pytest.raises(InputError, match=r"broken.json: record 2: field 'shear_modulus_vrh'"):
        load_elasticity_reference(broken)


@pytest.mark.slow  # a fresh interpreter importing torch, pymatgen, phonopy and matcalc: ~25 s on 2 busy cores
def test_matcalc_imports_without_asking_the_hub() -> None:
    code = (
        "import sys; from curate.diagnostics.properties import matcalc_module; m = matcalc_module(); "
        "import matcalc.utils as u; print('matgl' in sys.modules, u._MATGL_AVAILABLE, m.ElasticityCalc.__name__)"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "set()", "ElasticityCalc"]
    assert "Hugging Face" not in done.stderr


def test_modulus_errors_known_numbers() -> None:
    errors = modulus_errors(np.array([100.0, 50.0, 10.0, 30.0]), np.array([80.0, 55.0, 5.0, -900.0]))
    assert errors["n"] == 3 and errors["n_unstable"] == 1
    assert errors["median_abs_error_gpa"] == pytest.approx(5.0)
    assert errors["mae_gpa"] == pytest.approx((20 + 5 + 5) / 3)
    assert errors["mean_error_gpa"] == pytest.approx((-20 + 5 - 5) / 3)
    assert errors["share_under_predicted"] == pytest.approx(2 / 3)
    assert errors["median_ratio"] == pytest.approx(0.8)


def test_scaled_calculator_scales_forces_and_stress() -> None:
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True)
    atoms.positions[0] += [0.05, -0.02, 0.03]
    atoms.calc = EMT()
    forces, stress = atoms.get_forces(), atoms.get_stress()
    scaled = atoms.copy()
    scaled.calc = ScaledCalculator(EMT(), 1.7)
    np.testing.assert_allclose(scaled.get_forces(), 1.7 * forces, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(scaled.get_stress(), 1.7 * stress, rtol=1e-12, atol=1e-14)


def _copper() -> PropertyInput:
    structure = AseAtomsAdaptor.get_structure(bulk("Cu", "fcc", a=3.62))
    return PropertyInput("Cu-fcc", "Cu", structure.as_dict(), bulk_modulus_dft_gpa=140.0, shear_modulus_dft_gpa=48.0)


@pytest.mark.slow  # ~50 s on 2 busy cores (EOS relaxations and phonon supercells, even with EMT)
def test_linear_correction_scales_moduli_and_squared_phonon_frequencies_by_s() -> None:
    """Known answer: forces and stress x s on one relaxed structure -> elastic constants, B0 and omega^2 x s."""
    s = 1.3
    variants = [ModelVariant("emt", "emt"), ModelVariant("emt x 1.3", "emt", s)]
    settings = PropertySettings(properties=("elasticity", "eos", "phonon"), fmax_ev_per_ang=0.01)
    (record,) = compute_properties([_copper()], variants, settings)
    base, scaled = (record["variants"][v.label]["values"] for v in variants)
    assert record["variants"]["emt"]["errors"] == {}
    assert base["bulk_modulus_vrh_gpa"] == pytest.approx(134, rel=0.05)  # EMT Cu: ~134 GPa
    assert base["bulk_modulus_eos_gpa"] == pytest.approx(base["bulk_modulus_vrh_gpa"], rel=0.05)
    assert base["phonon_max_thz"] == pytest.approx(7.5, rel=0.15)  # Cu's top phonon ~7.3 THz
    for key in ("bulk_modulus_vrh_gpa", "shear_modulus_vrh_gpa", "bulk_modulus_eos_gpa"):
        assert scaled[key] / base[key] == pytest.approx(s, rel=1e-3), key
    square = "phonon_mean_signed_square_thz2"
    assert scaled[square] / base[square] == pytest.approx(s, rel=1e-3)
    assert (scaled["phonon_max_thz"] / base["phonon_max_thz"]) ** 2 == pytest.approx(s, rel=1e-3)
    summary = summarise([record], [v.label for v in variants])
    assert summary["emt x 1.3"]["ratio_to_base"]["shear_modulus_vrh_gpa"]["median"] == pytest.approx(s, rel=1e-3)
    assert summary["emt"]["against_dft"]["K_VRH"]["share_under_predicted"] == 1.0  # 134 < 140


def test_cli_writes_table_json_and_parity_plot(tmp_path: Path) -> None:
    cif = tmp_path / "Cu.cif"
    AseAtomsAdaptor.get_structure(bulk("Cu", "fcc", a=3.62)).to(filename=str(cif))
    out = tmp_path / "props"
    result = CliRunner().invoke(
        main,
        ["properties", str(cif), "-m", "emt", "--energy-scale", "0.8", "--property", "elasticity", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "properties.json").read_text())
    assert [m["label"] for m in report["models"]] == ["emt", "emt x 0.8"]
    ratio = report["summary"]["emt x 0.8"]["ratio_to_base"]["bulk_modulus_vrh_gpa"]["median"]
    assert ratio == pytest.approx(0.8, rel=1e-3)
    assert (out / "properties_parity.png").stat().st_size > 0
    assert "| emt x 0.8 |" in result.output


def test_cli_refuses_an_unknown_model(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["properties", "-m", "nonsense", "-o", str(tmp_path / "x")])
    assert result.exit_code == 2 and "unknown model" in result.output
