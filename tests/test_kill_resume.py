"""SIGKILL in the middle of an import: the dataset stays readable and a re-run ends identical to a clean run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.store import Dataset
from tests.sources.test_mptrj import write_mptrj_from_tasks


def _replicated_mptrj(shared_data: Path, tmp_path: Path, copies: int) -> Path:
    """Real As2SO6 frames, each copied with seeded 0.005 A position noise so that every frame is distinct."""
    base = write_mptrj_from_tasks(shared_data / "emmet" / "test_As2SO6_tasks.json.gz", tmp_path / "base.json")
    rng = np.random.default_rng(7)
    layout: dict[str, dict] = {}
    for copy in range(copies):
        for k, frame in enumerate(base):
            structure = json.loads(json.dumps(frame["structure"]))
            for site in structure["sites"]:
                site["xyz"] = (np.asarray(site["xyz"]) + rng.normal(0, 0.005, 3)).tolist()
                site.pop("abc", None)
            layout.setdefault(f"mp-{copy}", {})[f"mp-{copy}-{k}"] = {**frame, "structure": structure}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(layout))
    return path


def _import_command(source: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "curate", "import", "mptrj", str(source), "--out", str(out), "--shard-rows", "150"]


@pytest.mark.slow
def test_sigkill_mid_import_then_resume(shared_data: Path, tmp_path: Path) -> None:
    source = _replicated_mptrj(shared_data, tmp_path, copies=12)
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
