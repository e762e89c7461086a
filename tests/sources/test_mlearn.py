"""mlearn JSON: the real Ge/Li benchmark files, stress order xx yy zz xy yz zx in kBar (VASP sign) to GPa (ASE)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.store import Dataset
from curate.errors import InputError
from curate.sources.base import ImportOptions
from curate.sources.ingest import import_paths
from curate.sources.mlearn import MlearnImporter, virial_stress_gpa

GE_TRAINING = "mlearn/Ge_training.json"
GE_TEST = "mlearn/Ge_test.json"


def _raw(shared_data: Path, relative: str) -> list[dict]:
    return json.loads((shared_data / relative).read_text())


def _index(row: dict) -> int:
    """Record index from ``source_record`` ("#173 [train] Elastic: ...")."""
    return int(row["source_record"].split()[0].lstrip("#"))


def test_ge_training_lands_whole_with_the_files_forces_and_gpa_stress(shared_data: Path, tmp_path: Path) -> None:
    report = import_paths([shared_data / GE_TRAINING], format_name="mlearn", out=tmp_path / "d")
    assert (report.rows_added, report.quarantined, report.failed_files) == (228, 0, [])
    rows = Dataset.open(tmp_path / "d").read().to_pylist()
    assert len(rows) == 228
    raw = _raw(shared_data, GE_TRAINING)
    assert sorted(_index(r) for r in rows) == list(range(228))
    for row in rows:
        doc = raw[_index(row)]
        outputs = doc["outputs"]
        assert row["energy"] == outputs["energy"] and row["energy_field"] == "outputs.energy"
        assert np.array_equal(np.asarray(row["forces"]), np.asarray(outputs["forces"]))  # bit for bit
        xx, yy, zz, xy, yz, zx = outputs["virial_stress"]  # kBar, VASP sign, VASP's OUTCAR order
        expected = -0.1 * np.array([[xx, xy, zx], [xy, yy, yz], [zx, yz, zz]])
        np.testing.assert_allclose(np.asarray(row["stress"]), expected, rtol=0, atol=1e-12)
        assert (row["functional"], row["source"], row["nsites"]) == ("PBE", "mlearn", doc["num_atoms"])
        assert row["source_record"] == f"#{_index(row)} [train] {doc['group']}: {doc['description']}"
    # 2x2x2 diamond Ge compressed 10 % along x (mode 0): compressive, so negative with the ASE sign, in GPa
    mode0 = next(r for r in rows if r["source_record"].endswith("mode 0, strain -0.1"))
    assert np.asarray(mode0["stress"])[0, 0] == pytest.approx(-13.7466, abs=1e-4)
    # forces on every structure sum to ~0 (Newton's third law in a periodic cell)
    assert max(np.abs(np.asarray(r["forces"]).sum(axis=0)).max() for r in rows) < 0.05


def test_each_shear_lands_in_the_off_diagonal_of_its_tilted_cell(shared_data: Path) -> None:
    """In the 'Elastic' cells a tilted lattice vector (a_ij != 0, i != j) makes the shear stress sigma_ij.

    Reading mlearn's 4th-6th components in ASE's Voigt order (yz, xz, xy) would put every shear in the wrong
    slot: the xy shear of the mode-3 cells would land in yz.
    """
    raw = _raw(shared_data, GE_TRAINING)
    sheared = 0
    for index, doc in enumerate(raw):
        if doc["group"] != "Elastic":
            continue
        lattice = np.asarray(doc["structure"]["lattice"]["matrix"])
        stress = virial_stress_gpa(doc["outputs"]["virial_stress"])
        tilt = {frozenset((i, j)) for i in range(3) for j in range(3) if i != j and abs(lattice[i, j]) > 1e-6}
        shear = {frozenset((i, j)) for i in range(3) for j in range(3) if i != j and abs(stress[i, j]) > 0.1}
        assert tilt == shear, f"record #{index}: tilt {tilt}, shear stress {shear}"
        sheared += bool(tilt)
        np.testing.assert_array_equal(stress, stress.T)
    assert sheared == 27  # modes 3, 4, 5 (xy, xz, yz) at 9 strains each
    # strain +0.1 of mode 3 tilts b towards +x: positive (tensile-sense) xy shear with the ASE sign
    mode3 = virial_stress_gpa(raw[208]["outputs"]["virial_stress"])
    assert raw[208]["description"].endswith("mode 3, strain 0.1")
    assert mode3[0, 1] == pytest.approx(16.0828, abs=1e-4) and mode3[1, 2] == 0.0


def test_li_test_file_and_functional_override(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "mlearn" / "Li_test.json"
    args = ["import", "mlearn", str(path), "--out", str(tmp_path / "d"), "--functional", "r2SCAN"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "29 rows added, 0 already present, 0 quarantined" in result.output
    rows = Dataset.open(tmp_path / "d").read(columns=["functional", "source_record"]).to_pylist()
    assert {r["functional"] for r in rows} == {"r2SCAN"}
    assert all(" [test] " in r["source_record"] for r in rows)


@pytest.mark.parametrize(
    ("damage", "field", "reason"),
    [
        (lambda d: d["outputs"]["forces"].pop(), "outputs.forces", "(64, 3) in eV/A, found shape (63, 3)"),
        (lambda d: d["outputs"]["virial_stress"].pop(), "outputs.virial_stress", "found shape (5,)"),
        (lambda d: d.update(num_atoms=65), "num_atoms", "num_atoms says 65 but the structure has 64 sites"),
        (lambda d: d["outputs"].update(energy="n/a"), "outputs.energy", "found 'n/a'"),
        (lambda d: d["outputs"]["forces"][3].__setitem__(1, math.nan), "forces", "non-finite"),
    ],
    ids=["short-forces", "five-stress-components", "num-atoms", "energy-text", "nan-force"],
)
def test_one_damaged_record_is_quarantined_the_others_land(
    shared_data: Path, tmp_path: Path, damage, field: str, reason: str
) -> None:
    docs = _raw(shared_data, GE_TEST)
    bad = copy.deepcopy(docs)
    damaged = 21  # "Ge 2x2x2 cell, mode 2, strain -0.06", 64 atoms
    damage(bad[damaged])
    path = tmp_path / "Ge_test_damaged.json"
    path.write_text(json.dumps(bad))  # Python's json writes the NaN literal
    result = CliRunner().invoke(main, ["import", "mlearn", str(path), "--out", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "24 rows added, 0 already present, 1 quarantined" in result.output
    (entry,) = Dataset.open(tmp_path / "d").quarantine_records()
    assert entry["file"] == str(path) and entry["record"].startswith(f"#{damaged}") and entry["field"] == field
    assert reason in entry["reason"]
    strict = CliRunner().invoke(main, ["import", "mlearn", str(path), "--out", str(tmp_path / "e"), "--strict"])
    assert strict.exit_code == 1


def test_a_top_level_object_is_refused(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "keyed.json"
    path.write_text(json.dumps({"first": _raw(shared_data, GE_TEST)[0]}))
    with pytest.raises(InputError, match="expected a JSON list of mlearn records"):
        list(MlearnImporter().read(path, display_name=str(path), options=ImportOptions()))
