"""`--attach` writes reports inside the dataset: never through a link in DATASET/reports/ to a file outside."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main

from ..sentinel import snapshot
from .test_coverage_cli import si64  # noqa: F401  (the real Si64 vasprun as a dataset)


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    folder = tmp_path / "sentinel"
    folder.mkdir()
    (folder / "precious.json").write_text('{"keep": true}\n')
    return folder


def _coverage(target: Path, out: Path) -> CliRunner:
    args = ["coverage", str(target), "--target", str(target), "--out", str(out), "--attach", "--radii", "0,0.1"]
    return CliRunner().invoke(main, args)


def test_a_linked_report_file_is_replaced_not_written_through(si64: Path, sentinel: Path, tmp_path: Path) -> None:  # noqa: F811
    reports = si64 / "reports"
    reports.mkdir(exist_ok=True)
    (reports / "coverage.json").unlink(missing_ok=True)
    (reports / "coverage.json").symlink_to(sentinel / "precious.json")
    before = snapshot(sentinel)
    result = _coverage(si64, tmp_path / "report")
    assert result.exit_code == 0, result.output
    assert snapshot(sentinel) == before
    assert not (reports / "coverage.json").is_symlink()
    assert json.loads((reports / "coverage.json").read_text())["coverage"]["coverage"] == 1.0


def test_a_linked_reports_folder_is_refused(si64: Path, sentinel: Path, tmp_path: Path) -> None:  # noqa: F811
    linked = tmp_path / "linked-dataset"
    shutil.copytree(si64, linked, ignore=shutil.ignore_patterns("reports"))
    (linked / "reports").symlink_to(sentinel, target_is_directory=True)
    before = snapshot(sentinel)
    result = _coverage(linked, tmp_path / "report")
    assert result.exit_code == 2 and "reports folder is a symbolic link" in result.output
    assert snapshot(sentinel) == before
