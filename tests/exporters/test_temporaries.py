"""Temporaries of killed exports: named with their owner's pid, removed by the next export to the same file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from curate.dataset.io import is_stale_temporary, new_temporary
from curate.exporters import export_dataset
from curate.sources.ingest import import_paths


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.parametrize(
    ("format_name", "name", "companions"),
    [
        ("extxyz", "train.extxyz", [".tmp"]),
        ("mptrj-json", "train.json", [".tmp", ".tmp-spill.sqlite", ".tmp-spill.sqlite-journal"]),
        ("aselmdb", "train.aselmdb", [".tmp.aselmdb", ".tmp.aselmdb-lock"]),
    ],
)
def test_export_removes_what_killed_exports_left_and_nothing_else(
    shared_data: Path, tmp_path: Path, format_name: str, name: str, companions: list[str]
) -> None:
    import_paths([shared_data / "emmet" / "test_As2SO6_tasks.json.gz"], format_name="mp-tasks", out=tmp_path / "d")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dead = _dead_pid()
    stale = [out_dir / f".{name}.{dead}-0123abcd{ending}" for ending in companions]
    stale.append(out_dir / f".{name}.0badf00d.tmp")  # curate before pids were in the name
    kept = [
        out_dir / f".{name}.{os.getpid()}-cafef00d.tmp",  # a live writer's
        out_dir / f".other.{name}.{dead}-0123abcd.tmp",  # another target's
        out_dir / f".{name}.notes",  # not a temporary
    ]
    for path in stale + kept:
        path.write_bytes(b"x" * 1000)
    assert [is_stale_temporary(p) for p in stale + kept] == [True] * len(stale) + [False, True, False]

    report = export_dataset(tmp_path / "d", format_name=format_name, out=out_dir / name)
    assert report.rows_written == 193
    assert sorted(p.name for p in out_dir.iterdir()) == sorted([name] + [p.name for p in kept])


def test_new_temporary_names_its_owner(tmp_path: Path) -> None:
    tmp = new_temporary(tmp_path / "model.pt", suffix=".pt")
    assert tmp.parent == tmp_path and tmp.name.startswith(f".model.pt.{os.getpid()}-") and tmp.name.endswith(".tmp.pt")
    tmp.write_bytes(b"")
    assert not is_stale_temporary(tmp)
