"""SIGKILL in the middle of an import: the dataset stays readable and a re-run ends identical to a clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curate.dataset.store import Dataset

from .sources.test_mptrj import write_replicated_mptrj


def kill_after_shards(process: subprocess.Popen[bytes], dataset_dir: Path, shards: int, timeout_s: float) -> Dataset:
    """SIGKILL ``process`` once ``shards`` shards are in ``dataset_dir`` (or after ``timeout_s``); the dataset as it
    opens then, its committed shards holding exactly its rows."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(list((dataset_dir / "data").glob("*.parquet"))) < shards:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    partial = Dataset.open(dataset_dir)
    assert pq.read_table(dataset_dir / "data").num_rows == partial.num_rows
    return partial


def _import_command(source: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "curate", "import", "mptrj", str(source), "--out", str(out), "--shard-rows", "150"]


@pytest.mark.slow
def test_sigkill_mid_import_then_resume(shared_data: Path, tmp_path: Path) -> None:
    source = write_replicated_mptrj(shared_data, tmp_path / "big.json", copies=12)
    clean = subprocess.run(_import_command(source, tmp_path / "clean"), capture_output=True, text=True, check=True)
    assert "2316 rows added" in clean.stdout
    expected = Dataset.open(tmp_path / "clean").content_hash

    killed_dir = tmp_path / "killed"
    process = subprocess.Popen(
        _import_command(source, killed_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    partial = kill_after_shards(process, killed_dir, 3, 60)
    assert 0 < partial.num_rows < 2316, "the kill must land mid-import"
    assert len(partial.ids()) == partial.num_rows

    resumed = subprocess.run(_import_command(source, killed_dir), capture_output=True, text=True, check=True)
    assert f"{2316 - partial.num_rows} rows added" in resumed.stdout
    final = Dataset.open(killed_dir)
    assert final.num_rows == 2316
    assert final.content_hash == expected
    assert len(final.ids()) == 2316
