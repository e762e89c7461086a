"""ASE-LMDB (``.aselmdb``, fairchem's OMat24/OMol25 layout) written with ase-db-backends from real VASP frames."""

from __future__ import annotations

import zlib
from pathlib import Path

import ase.db
import lmdb
import numpy as np
import pytest
from ase import Atoms
from ase.units import GPa
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.store import Dataset
from curate.sources.ingest import import_paths

from .test_ase_files import LU, MD, frames_with_calculator
from .test_vasp import raw_vasprun_steps


def write_aselmdb(path: Path, frames: list[Atoms], **key_value_pairs: object) -> list[int]:
    """Write ``frames`` as fairchem does (calculator results = labels; a ``data`` dict per row); row ids back."""
    with ase.db.connect(str(path), type="aselmdb") as db:
        ids = [db.write(atoms, data={"task_id": f"step-{k}"}, **key_value_pairs) for k, atoms in enumerate(frames)]
    Path(f"{path}-lock").unlink()  # LMDB's lock file from writing; reading must not need one
    return ids


def test_lu_relaxation_labels_come_back_in_ev_and_gpa(shared_data: Path, tmp_path: Path) -> None:
    """Six r2SCAN steps of Lu (non-zero xz stress): energies and forces as written, stress eV/A^3 -> GPa."""
    frames = frames_with_calculator(shared_data, LU)
    path = tmp_path / "lu.aselmdb"
    write_aselmdb(path, frames, functional="r2SCAN")
    report = import_paths([path], format_name="ase", out=tmp_path / "d")
    assert (report.rows_added, report.quarantined, report.failed_files) == (6, 0, [])
    assert not Path(f"{path}-lock").exists()  # opened read-only, as fairchem opens OMat24
    rows = sorted(Dataset.open(tmp_path / "d").read().to_pylist(), key=lambda r: int(r["source_record"].split()[1]))
    with ase.db.connect(str(path), type="aselmdb", readonly=True) as db:
        stored_voigt_ev_per_ang3 = [np.asarray(row.stress) for row in db.select()]
    raw = raw_vasprun_steps(shared_data / LU)
    for k, (row, atoms, voigt, (energy, forces, kbar)) in enumerate(
        zip(rows, frames, stored_voigt_ev_per_ang3, raw, strict=True)
    ):
        assert (row["functional"], row["task_id"], row["source_record"]) == ("r2SCAN", f"step-{k}", f"frame {k}")
        assert row["energy"] == atoms.calc.results["energy"] == pytest.approx(energy, abs=1e-8)
        assert np.array_equal(np.asarray(row["forces"]), atoms.calc.results["forces"])
        np.testing.assert_allclose(np.asarray(row["forces"]), forces, atol=1e-8)
        stress_gpa = np.asarray(row["stress"])
        # the unit conversion: sigma[GPa] = sigma[eV/A^3] / ase.units.GPa, with 1 eV/A^3 = 160.2177 GPa
        xx, yy, zz, yz, xz, xy = voigt / GPa
        np.testing.assert_allclose(stress_gpa, [[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]], rtol=1e-14, atol=0)
        upper = np.triu(kbar) + np.triu(kbar, 1).T  # ASE's Voigt 6 keeps the upper triangle of VASP's tensor
        np.testing.assert_allclose(stress_gpa, -0.1 * upper, rtol=0, atol=1e-12)
    assert 1 / GPa == pytest.approx(160.21766, abs=1e-5)
    assert max(abs(np.asarray(r["stress"])[0, 2]) for r in rows) > 0.05  # a real xz shear went through


def test_cli_needs_the_functional_like_omat24_and_reruns_add_nothing(shared_data: Path, tmp_path: Path) -> None:
    """OMat24 rows name no functional: refused without --functional, never guessed."""
    path = tmp_path / "si64.aselmdb"
    write_aselmdb(path, frames_with_calculator(shared_data, MD))
    runner = CliRunner()
    refused = runner.invoke(main, ["import", "ase", str(path), "--out", str(tmp_path / "ds")])
    assert refused.exit_code == 1 and "functional import option, e.g. PBE" in refused.stderr
    assert "Traceback" not in refused.output
    args = ["import", "ase", str(path), "--out", str(tmp_path / "ds"), "--functional", "PBE"]
    first, again = runner.invoke(main, args), runner.invoke(main, args)
    assert first.exit_code == again.exit_code == 0, first.output
    assert first.stdout.startswith("10 rows added") and again.stdout.startswith("0 rows added, 10 already present")
    rows = Dataset.open(tmp_path / "ds").read(columns=["forces", "functional", "source_record"]).to_pylist()
    assert {r["functional"] for r in rows} == {"PBE"}
    raw_forces = {f"frame {k}": forces for k, (_, forces, _) in enumerate(raw_vasprun_steps(shared_data / MD))}
    for row in rows:
        np.testing.assert_allclose(np.asarray(row["forces"]), raw_forces[row["source_record"]], rtol=0, atol=1e-8)


def test_one_undecodable_row_is_quarantined_the_others_land(shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "lu.aselmdb"
    ids = write_aselmdb(path, frames_with_calculator(shared_data, LU)[:3], functional="r2SCAN")
    env = lmdb.open(str(path), subdir=False)
    with env.begin(write=True) as txn:
        txn.put(str(ids[1]).encode("ascii"), zlib.compress(b"{not json"))
    env.close()
    Path(f"{path}-lock").unlink()
    report = import_paths([path], format_name="ase", out=tmp_path / "d")
    assert (report.rows_added, report.quarantined, report.failed_files) == (2, 1, [])
    (entry,) = Dataset.open(tmp_path / "d").quarantine_records()
    assert entry["file"] == str(path) and entry["record"] == f"frame 1 (row id {ids[1]})"
    assert "row cannot be decoded" in entry["reason"]


def test_a_file_that_is_not_lmdb_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "fake.aselmdb"
    path.write_bytes(b"SQLite format 3\x00" + bytes(4080))
    result = CliRunner().invoke(main, ["import", "ase", str(path), "--out", str(tmp_path / "d")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("curate: error:")]
    assert str(path) in error and "aselmdb" in error
