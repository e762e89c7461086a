"""A release is complete or refused: what a killed publish leaves never loads, and the re-run replaces it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.store import Dataset

from ..sentinel import snapshot


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _publish(dataset: Path, out: Path) -> None:
    result = CliRunner().invoke(main, ["publish", str(dataset), "--repo", "org/mixed", "--dry-run", "--out", str(out)])
    assert result.exit_code == 0, result.output


def _pull_refused(folder: Path, tmp_path: Path) -> str:
    out = tmp_path / "pulled"
    result = CliRunner().invoke(main, ["pull", "hf", str(folder), "--out", str(out)])
    assert result.exit_code == 2 and "Traceback" not in result.output and not out.exists()
    return result.output


def test_what_a_killed_publish_leaves_is_refused_and_replaced(
    release: Path, mixed_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "release"
    shutil.copytree(release, out)
    (out / "curate_release.json").unlink()  # killed after the card and shards moved up, before the record
    staging = out / f".curate-publish.{_dead_pid()}.0123abcd.partial"
    shutil.copytree(release / "data", staging / "data")
    assert f"{out}: an incomplete release: a publish is writing it or was killed ({staging.name} is left" in (
        _pull_refused(out, tmp_path)
    )
    assert "an unfinished `curate publish` staging folder" in _pull_refused(staging, tmp_path)
    _publish(mixed_dataset, out)
    assert snapshot(out) == snapshot(release)  # same bytes as an uninterrupted publish, no staging folder left
    (out / "curate_release.json").unlink()  # killed after the card and shards moved up, before the record
    expected = f"{out / 'curate_release.json'}: curate release without curate_release.json, which publish writes last"
    assert expected in _pull_refused(out, tmp_path)
    _publish(mixed_dataset, out)
    assert snapshot(out) == snapshot(release)  # same bytes as an uninterrupted publish, no staging folder left


def test_a_folder_that_is_not_a_release_is_never_cleared(mixed_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    (out / "data").mkdir(parents=True)
    (out / "notes.txt").write_text("keep me")
    before = snapshot(out)
    result = CliRunner().invoke(main, ["publish", str(mixed_dataset), "--repo", "o/n", "--dry-run", "--out", str(out)])
    assert result.exit_code == 2 and "must be new, empty, or an incomplete curate release" in result.output
    assert snapshot(out) == before


def test_a_stale_upload_staging_folder_in_the_dataset_is_removed(dataset_copy: Path, tmp_path: Path) -> None:
    stale = dataset_copy / f".curate-publish.{_dead_pid()}.89abcdef.partial"
    (stale / "data").mkdir(parents=True)
    (stale / "data" / "train-00000.parquet").write_bytes(b"x" * 1000)
    live = dataset_copy / f".curate-publish.{os.getpid()}.89abcdef.partial"  # a publish still running: kept
    live.mkdir()
    result = CliRunner().invoke(
        main, ["publish", str(dataset_copy), "--repo", "o/n", "--dry-run", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    assert f"curate: removed {stale}, left by a publish that did not finish" in result.stderr
    assert not stale.exists() and live.is_dir()


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_s", [1.5, 3.0, 4.5, 6.0])
def test_a_killed_publish_never_loads_as_complete(
    release: Path, mixed_dataset: Path, tmp_path: Path, kill_after_s: float
) -> None:
    out = tmp_path / "release"
    args = ["publish", str(mixed_dataset), "--repo", "org/mixed", "--dry-run", "--out", str(out)]
    child = subprocess.Popen([sys.executable, "-m", "curate", *args], stderr=subprocess.DEVNULL)
    time.sleep(kill_after_s)
    child.send_signal(signal.SIGKILL)
    child.wait()
    pulled = tmp_path / "pulled"
    result = CliRunner().invoke(main, ["pull", "hf", str(out), "--out", str(pulled)])
    if result.exit_code == 0:  # the publish had finished: the whole release, nothing less
        assert Dataset.open(pulled).content_hash == Dataset.open(mixed_dataset).content_hash
    else:
        assert result.exit_code == 2 and "Traceback" not in result.output and not pulled.exists()
    if not (out / "curate_release.json").exists():
        _publish(mixed_dataset, out)  # the re-run replaces whatever the killed one left
    assert snapshot(out) == snapshot(release)
