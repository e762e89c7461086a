"""`curate coverage` through click: exit codes, report files and the numbers in them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.sources.ingest import import_paths


@pytest.fixture(scope="module")
def si64(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "si64"
    import_paths([shared_data / "vasp" / "pymatgen_core" / "outputs__vasprun.md.xml.gz"], format_name="vasp", out=out)
    return out


def test_cli_writes_report_and_attaches_it_to_the_target(si64: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = CliRunner().invoke(
        main, ["coverage", str(si64), "--target", str(si64), "--out", str(out), "--attach", "--radii", "0,0.01,0.1"]
    )
    assert result.exit_code == 0, result.output
    assert "**Coverage at radius 0.05: 1**" in result.stdout
    report = json.loads((out / "coverage.json").read_text())
    assert report["coverage"]["coverage"] == 1.0
    assert [p["coverage"] for p in report["coverage"]["curve"]] == [1.0, 1.0, 1.0]
    assert report["coverage"]["per_element"]["Si"]["environments"] == 640
    assert report["coverage"]["per_source"] == {
        "vasp": {"environments": 640, "coverage": 1.0, "median_distance": 0.0, "max_finite_distance": 0.0}
    }
    assert report["descriptor"]["species"] == ["Si"] and report["descriptor"]["n_features"] == 40
    assert report["label_bias"]["reference"]["force_norm_ev_per_ang"]["atoms"] == 640
    assert report["parameters"]["radius"] == 0.05
    attached = si64 / "reports"
    assert json.loads((attached / "coverage.json").read_text()) == report
    for folder in (out, attached):
        for name in ("coverage.md", "coverage.png", "coverage_labels.png"):
            assert (folder / name).stat().st_size > 1000


def test_cli_missing_dataset_is_one_line_error(si64: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["coverage", str(si64), "--target", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"curate: error: {tmp_path / 'nope'}: not a curate dataset (no manifest.json)"
    ]
