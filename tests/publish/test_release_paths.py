"""Releases read and write nothing outside the folders named: release entries, card globs, links, report links."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main

from ..sentinel import snapshot

SHARD = "data/pbe_u/imported/validation-00000-of-00001.parquet"


@pytest.fixture
def world(release: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the release, and beside it a sentinel folder holding a copy of one of its shards."""
    folder = tmp_path / "release"
    shutil.copytree(release, folder)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copyfile(folder / SHARD, outside / "foreign.parquet")
    return folder, outside


def _pull(folder: Path, out: Path) -> str:
    result = CliRunner().invoke(main, ["pull", "hf", str(folder), "--out", str(out)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not out.exists()  # refused before the dataset is created
    return result.output


def _set_entry(folder: Path, path: str) -> None:
    record_path = folder / "curate_release.json"
    record = json.loads(record_path.read_text())
    entry = next(e for e in record["files"] if e["path"] == SHARD)
    entry["path"] = path
    record_path.write_text(json.dumps(record))


@pytest.mark.parametrize("kind", ["dotdot", "absolute"])
def test_release_entries_outside_the_folder_are_refused(world: tuple[Path, Path], tmp_path: Path, kind: str) -> None:
    folder, outside = world
    entry = "../outside/foreign.parquet" if kind == "dotdot" else str(outside / "foreign.parquet")
    _set_entry(folder, entry)
    before = snapshot(tmp_path)
    output = _pull(folder, tmp_path / "pulled")
    reason = "is not a plain name inside its folder ('..' is refused)" if kind == "dotdot" else "is an absolute path"
    assert f"curate_release.json entry {entry!r} {reason}" in output
    assert snapshot(tmp_path) == before


def test_a_listed_shard_that_links_outside_is_refused(world: tuple[Path, Path], tmp_path: Path) -> None:
    folder, outside = world
    (folder / SHARD).unlink()
    (folder / SHARD).symlink_to(outside / "foreign.parquet")  # same bytes: the sha256 alone would pass it
    output = _pull(folder, tmp_path / "pulled")
    assert f"curate_release.json entry '{SHARD}' leads outside {folder}" in output


@pytest.mark.parametrize("glob", ["../outside/*.parquet", "/{outside}/*.parquet", "data/../../outside/*.parquet"])
def test_card_globs_outside_the_folder_are_refused(world: tuple[Path, Path], tmp_path: Path, glob: str) -> None:
    folder, outside = world
    glob = glob.format(outside=str(outside).lstrip("/"))
    (folder / "curate_release.json").unlink()
    card = (folder / "README.md").read_text().replace("\n- curate\n", "\n", 1)  # another tool's card
    (folder / "README.md").write_text(card.replace("path: data/*/*/train-*.parquet", f"path: {glob}", 1))
    before = snapshot(tmp_path)
    output = _pull(folder, tmp_path / "pulled")
    assert f"card data_files glob {glob!r} is" in output
    assert snapshot(tmp_path) == before


def test_a_data_file_that_links_outside_is_refused(world: tuple[Path, Path], tmp_path: Path) -> None:
    folder, outside = world
    (folder / "curate_release.json").unlink()
    (folder / "README.md").unlink()  # neither record nor card: every data/**/*.parquet is read
    (folder / "data" / "extra.parquet").symlink_to(outside / "foreign.parquet")
    output = _pull(folder, tmp_path / "pulled")
    assert "release file 'data/extra.parquet' leads outside" in output


def test_report_links_are_refused_and_nothing_is_copied(dataset_copy: Path, tmp_path: Path) -> None:
    secret = tmp_path / "private" / "holiday.png"
    secret.parent.mkdir()
    secret.write_bytes(b"\x89PNG private bytes")
    (dataset_copy / "reports").mkdir()
    (dataset_copy / "reports" / "softening_parity.png").symlink_to(secret)
    out = tmp_path / "release"
    before = snapshot(tmp_path / "private")
    args = ["publish", str(dataset_copy), "--repo", "org/m", "--dry-run", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert f"{dataset_copy / 'reports' / 'softening_parity.png'}: report is a symbolic link" in result.output
    assert not out.exists() and snapshot(tmp_path / "private") == before
    # the reports folder itself as a link
    (dataset_copy / "reports" / "softening_parity.png").unlink()
    (dataset_copy / "reports").rmdir()
    (dataset_copy / "reports").symlink_to(secret.parent, target_is_directory=True)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "reports folder is a symbolic link" in result.output and not out.exists()


def test_a_missing_folder_is_named_as_such(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["pull", "hf", str(tmp_path / "gone"), "--out", str(tmp_path / "pulled")])
    assert result.exit_code == 2 and result.output == f"curate: error: {tmp_path / 'gone'}: no such release folder\n"
