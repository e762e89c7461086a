"""Writes that fail or are killed part-way: a full disk mid-shard, a kill with 100,000-row shards, pool workers.

The full disk is a file-size limit (``RLIMIT_FSIZE``) on the importing process: past it every write fails with
EFBIG, as it fails with ENOSPC on a full disk (Python ignores SIGXFSZ, so the write returns the error).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

from curate.dataset.store import Dataset
from curate.exporters import export_dataset
from curate.sources.ingest import import_paths

from .sources.test_mptrj import write_replicated_mptrj
from .test_kill_resume import kill_after_shards

FRAMES_PER_COPY = 193  # As2SO6 ionic steps in the shared task documents


def _sources(shared_data: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(4 copies, 24 copies) of the replicated As2SO6 MPtrj file; the first 4 copies of both are the same frames."""
    (tmp_path / "src").mkdir(exist_ok=True)
    small = write_replicated_mptrj(shared_data, tmp_path / "src" / "small.json", copies=4)
    big = write_replicated_mptrj(shared_data, tmp_path / "src" / "big.json", copies=24)
    return small, big


def _limit_file_size(limit_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def _import_cli(source: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "curate", "import", "mptrj", str(source), "--out", str(out), *extra]


@pytest.mark.slow
def test_full_disk_mid_shard_keeps_every_earlier_row_and_rerun_completes(shared_data: Path, tmp_path: Path) -> None:
    small, big = _sources(shared_data, tmp_path)
    clean = import_paths([big], format_name="mptrj", out=tmp_path / "clean", workers=1)
    assert clean.rows_added == 24 * FRAMES_PER_COPY == 4632
    uninterrupted = Dataset.open(tmp_path / "clean").content_hash

    dataset_dir = tmp_path / "d"
    import_paths([small], format_name="mptrj", out=dataset_dir, workers=1)
    before = Dataset.open(dataset_dir)
    assert before.num_rows == 772
    # one shard of 3,860 new rows (2.6 MB): its first row groups are written, the last one passes 2 MB
    failed = subprocess.run(
        _import_cli(big, dataset_dir, "--workers", "1"),
        capture_output=True,
        text=True,
        preexec_fn=lambda: _limit_file_size(2 << 20),
    )
    assert failed.returncode == 2, failed.stderr
    error_lines = failed.stderr.strip().splitlines()
    assert len(error_lines) == 1, failed.stderr
    assert error_lines[0].startswith(f"curate: error: {dataset_dir}")
    assert "File too large" in error_lines[0] and "keeps its 772 committed rows" in error_lines[0]

    after = Dataset.open(dataset_dir)
    assert (after.num_rows, after.content_hash) == (772, before.content_hash)
    assert pq.read_table(dataset_dir / "data").num_rows == 772
    assert len(after.ids()) == 772
    assert not [p.name for p in (dataset_dir / "data").iterdir() if p.name.startswith(".")]
    exported = export_dataset(dataset_dir, format_name="extxyz", out=tmp_path / "after.extxyz")
    assert exported.rows_written == 772

    rerun = import_paths([big], format_name="mptrj", out=dataset_dir, workers=1)
    assert (rerun.rows_added, rerun.duplicates) == (3860, 772)
    final = Dataset.open(dataset_dir)
    assert (final.num_rows, final.content_hash) == (4632, uninterrupted)
    assert pq.read_table(dataset_dir / "data").num_rows == 4632


def test_full_disk_on_the_first_shard_keeps_the_rows_of_an_earlier_import(shared_data: Path, tmp_path: Path) -> None:
    tasks = shared_data / "emmet" / "test_As2SO6_tasks.json.gz"
    mptrj = write_replicated_mptrj(shared_data, tmp_path / "small.json", copies=4)
    import_paths([tasks], format_name="mp-tasks", out=tmp_path / "clean")
    import_paths([mptrj], format_name="mptrj", out=tmp_path / "clean", workers=1)
    uninterrupted = Dataset.open(tmp_path / "clean")
    assert uninterrupted.num_rows == 193 + 772

    import_paths([tasks], format_name="mp-tasks", out=tmp_path / "d")
    before = Dataset.open(tmp_path / "d").content_hash
    failed = subprocess.run(
        _import_cli(mptrj, tmp_path / "d", "--shard-rows", "150", "--workers", "1"),
        capture_output=True,
        text=True,
        preexec_fn=lambda: _limit_file_size(100 << 10),  # a 150-row shard is about 146 kB
    )
    assert failed.returncode == 2 and "keeps its 193 committed rows" in failed.stderr
    dataset = Dataset.open(tmp_path / "d")
    assert (dataset.num_rows, dataset.content_hash) == (193, before)
    assert pq.read_table(tmp_path / "d" / "data").num_rows == 193
    rerun = import_paths([mptrj], format_name="mptrj", out=tmp_path / "d", workers=1)
    assert rerun.rows_added == 772
    assert Dataset.open(tmp_path / "d").content_hash == uninterrupted.content_hash


_SLOW_COMMIT_IMPORT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from curate.sources.ingest import import_paths

    import_paths([Path(sys.argv[1])], format_name="mptrj", out=Path(sys.argv[2]), shard_rows=100_000,
                 workers=1, commit_seconds=0.3)
    """
)


@pytest.mark.slow
def test_kill_with_big_shards_resumes_from_the_last_commit_not_from_zero(shared_data: Path, tmp_path: Path) -> None:
    _, big = _sources(shared_data, tmp_path)
    clean = import_paths([big], format_name="mptrj", out=tmp_path / "clean", workers=1)
    assert clean.rows_added == 4632
    assert len(Dataset.open(tmp_path / "clean").shard_paths()) == 1  # 100,000-row shards: one shard when clean

    killed_dir = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-c", _SLOW_COMMIT_IMPORT, str(big), str(killed_dir)])
    partial = kill_after_shards(process, killed_dir, 2, 120)
    assert 0 < partial.num_rows < 4632, "the kill must land mid-import"
    resumed = import_paths([big], format_name="mptrj", out=killed_dir, workers=1)
    assert (resumed.rows_added, resumed.duplicates) == (4632 - partial.num_rows, partial.num_rows)
    final = Dataset.open(killed_dir)
    assert (final.num_rows, final.content_hash) == (4632, Dataset.open(tmp_path / "clean").content_hash)


@pytest.mark.slow
def test_pool_workers_die_with_a_killed_import(shared_data: Path, tmp_path: Path) -> None:
    _, big = _sources(shared_data, tmp_path)
    process = subprocess.Popen(
        _import_cli(big, tmp_path / "d", "--workers", "3"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    parent = psutil.Process(process.pid)
    deadline = time.monotonic() + 60
    children: list[psutil.Process] = []
    while time.monotonic() < deadline and len(children) < 4:  # the fork server and 3 workers
        children = parent.children(recursive=True)
        time.sleep(0.05)
    assert len(children) >= 4, f"the pool did not start: {children}"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    _, alive = psutil.wait_procs(children, timeout=5)
    assert alive == [], f"{len(alive)} worker processes outlived the killed import"
