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
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((killed_dir / "data").glob("*.parquet"))) < 3:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    partial = Dataset.open(killed_dir)
    assert 0 < partial.num_rows < 2316, "the kill must land mid-import"
    assert pq.read_table(killed_dir / "data").num_rows == partial.num_rows
    assert len(partial.ids()) == partial.num_rows

    resumed = subprocess.run(_import_command(source, killed_dir), capture_output=True, text=True, check=True)
    assert f"{2316 - partial.num_rows} rows added" in resumed.stdout
    final = Dataset.open(killed_dir)
    assert final.num_rows == 2316
    assert final.content_hash == expected
    assert len(final.ids()) == 2316
