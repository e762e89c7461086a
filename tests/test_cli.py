"""The command line end to end on data the code builds itself: demo, validate, info."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.store import Dataset


def test_demo_builds_validates_and_summarises(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "30 new structures" in result.output and "1 quarantined" in result.output
    assert "0 error(s)" in result.output
    quarantine = Dataset.open(out).quarantine_records()
    assert len(quarantine) == 1 and quarantine[0]["field"] == "cartesian_site_positions"
    assert "0.300 A apart" in quarantine[0]["reason"]
    assert (out / "summary.png").stat().st_size > 10_000

    rows = pq.read_table(out / "data").to_pylist()
    seeds = [r["seed"] for r in rows if r["generator"] == "gaussian-rattle"]
    assert len(seeds) == 15 and len(set(seeds)) == 15, "every rattle has its own seed"
    # known answer for the stress sign: a cell compressed by 3 % pushes outwards, which in the ASE
    # convention (positive = tensile) is a negative diagonal
    for row in rows:
        if row["generator"] == "strain":
            strain = json.loads(row["generator_params"])["isotropic"]
            pressure_like = np.trace(np.asarray(row["stress"])) / 3.0
            assert np.sign(pressure_like) == np.sign(strain)
        if row["generator"] is None:
            assert np.abs(np.asarray(row["forces"])).max() < 1e-8, "perfect fcc: forces vanish by symmetry"


def test_demo_is_reproducible_and_rerun_adds_nothing(tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["demo", "--out", str(tmp_path / "a")])
    runner.invoke(main, ["demo", "--out", str(tmp_path / "b")])
    again = runner.invoke(main, ["demo", "--out", str(tmp_path / "a")])
    assert "0 new structures" in again.output
    assert Dataset.open(tmp_path / "a").content_hash == Dataset.open(tmp_path / "b").content_hash


def test_info_json_counts(shared_data: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "d"
    imported = runner.invoke(
        main, ["import", "mp-tasks", str(shared_data / "emmet" / "magnetism_task_docs.json.gz"), "--out", str(out)]
    )
    assert imported.exit_code == 0, imported.output
    result = runner.invoke(main, ["info", str(out), "--json"])
    assert result.exit_code == 0
    info = json.loads(result.output)
    assert info["rows"] == 4
    assert info["by_functional"] == {"PBE": 3, "PBE+U": 1}
    assert info["by_element"]["Co"] == 1 and info["by_element"]["Si"] == 2
    assert info["atoms"] == sum(r["nsites"] for r in pq.read_table(out / "data").to_pylist())


def test_validate_strict_fails_on_planted_errors(tmp_path: Path) -> None:
    from curate.dataset.configuration import batch_to_configurations, configurations_to_batch

    runner = CliRunner()
    runner.invoke(main, ["demo", "--out", str(tmp_path / "demo")])
    good = batch_to_configurations(Dataset.open(tmp_path / "demo").read())
    # bypass the import gate: a kBar value written as GPa and two atoms on top of each other
    bad_stress = good[0]
    bad_stress.stress = np.eye(3) * 900.0
    bad_geometry = good[1]
    bad_geometry.positions[1] = bad_geometry.positions[0] + 0.05
    planted = Dataset.create(tmp_path / "planted")
    with planted.writer() as writer:
        writer.append(configurations_to_batch(good))
    result = runner.invoke(main, ["validate", str(tmp_path / "planted"), "--strict"])
    assert result.exit_code == 1
    assert "2 error(s)" in result.output
    assert "stress-magnitude" in result.output and "min-distance" in result.output
    assert runner.invoke(main, ["validate", str(tmp_path / "planted")]).exit_code == 0
