"""Fixtures: real MP task documents, a Delta table of their ionic steps, and a fake MP server serving them."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .fake_mp_server import FakeMP, materials_from_tasks, serve
from .trajectory_table import task_from_vasprun, thermo_from_tasks, write_trajectory_table

API_KEY = "abcdefghijklmnopqrstuvwxyz012345"  # 32 characters, like a real key
TASK_FILES = ("test_As2SO6_tasks.json.gz", "test_si_tasks.json.gz", "magnetism_task_docs.json.gz")
DEPRECATED_TASK = "mp-efthw"  # an As2SO6 GGA static, marked deprecated on the fake server
LU_TASK = "mp-lurscan"  # the r2SCAN relaxation of Lu in shared/data/vasp/r2scan_relax_Lu3


def load_tasks(shared_data: Path, names: tuple[str, ...] = TASK_FILES) -> list[dict[str, Any]]:
    """Real task documents from ``shared/data/emmet``."""
    docs: list[dict[str, Any]] = []
    for name in names:
        with gzip.open(shared_data / "emmet" / name, "rt") as fh:
            loaded = json.load(fh)
        docs.extend(loaded if isinstance(loaded, list) else [loaded])
    return docs


@dataclass(frozen=True)
class MPWorld:
    """What the fake MP holds: task documents (REST) and the Delta table of their ionic steps."""

    tasks: list[dict[str, Any]]
    trajectory_uri: str


@pytest.fixture(scope="session")
def mp_world(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> MPWorld:
    """Real GGA/GGA+U task documents plus a real r2SCAN relaxation of Lu (task ``LU_TASK``), and a local Delta
    table (MP's trajectory layout) holding all their ionic steps."""
    tasks = load_tasks(shared_data)
    lu_meta, lu_row = task_from_vasprun(shared_data / "vasp" / "r2scan_relax_Lu3", LU_TASK)
    path = tmp_path_factory.mktemp("delta") / "trajectories"
    write_trajectory_table(tasks, path, extra=[lu_row])
    return MPWorld([*tasks, lu_meta], str(path))


@pytest.fixture
def fake_mp(mp_world: MPWorld) -> Iterator[FakeMP]:
    state = FakeMP(
        api_key=API_KEY,
        tasks=[dict(d) for d in mp_world.tasks],
        materials=materials_from_tasks(mp_world.tasks, frozenset({DEPRECATED_TASK})),
        thermo=thermo_from_tasks(mp_world.tasks),
    )
    with serve(state) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MP_API_KEY", raising=False)
    monkeypatch.delenv("MP_API_ENDPOINT", raising=False)
