"""A pull killed with SIGKILL mid-way resumes from its checkpoint: same content, no duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curate.dataset.store import Dataset
from curate.materials_project.checkpoint import CHECKPOINT_NAME
from curate.materials_project.client import RetryPolicy
from curate.materials_project.frames import FramePolicy
from curate.materials_project.pull import PullOptions, PullQuery, pull

from ..conftest import REPO_ROOT
from .conftest import API_KEY, MPWorld
from .fake_mp_server import FakeMP

QUERY = PullQuery(chemsys=("As-O-S", "Si", "Co-La-O", "Lu"))


def _done_tasks(out: Path) -> int:
    try:
        return len(json.loads((out / CHECKPOINT_NAME).read_text())["done_task_ids"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


@pytest.mark.slow  # 25 s of CPU: a clean pull, a killed CLI pull and its resume
def test_sigkill_mid_pull_then_resume(fake_mp: FakeMP, mp_world: MPWorld, tmp_path: Path):
    options = PullOptions(
        endpoint=fake_mp.url,
        trajectories_uri=mp_world.trajectory_uri,
        policy=FramePolicy(0.0, 0.0),
        retry=RetryPolicy(attempts=3, backoff_s=0.05),
        batch_tasks=1,
    )
    pull(QUERY, tmp_path / "clean", api_key=API_KEY, options=options)
    clean = Dataset.open(tmp_path / "clean")

    out = tmp_path / "killed"
    fake_mp.request_delay_s = 0.25  # slow server: the kill lands between batches
    command = [sys.executable, "-m", "curate", "pull", "mp", "--chemsys", "As-O-S,Si,Co-La-O,Lu", "--out", str(out)]
    command += ["--endpoint", fake_mp.url, "--trajectories", mp_world.trajectory_uri, "--batch-tasks", "1"]
    command += ["--energy-threshold", "0", "--force-threshold", "0"]
    env = {**os.environ, "MP_API_KEY": API_KEY}
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _done_tasks(out) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    done_before = _done_tasks(out)
    assert 3 <= done_before < 10
    partial = Dataset.open(out)
    assert 0 < partial.num_rows < clean.num_rows

    fake_mp.request_delay_s = 0.0
    report = pull(QUERY, out, api_key=API_KEY, options=options)
    assert report.tasks_already_done == done_before and report.tasks_pulled == 10 - done_before
    resumed = Dataset.open(out)
    assert resumed.content_hash == clean.content_hash and resumed.num_rows == clean.num_rows == 200
    assert len(resumed.ids()) == resumed.num_rows  # no duplicates
    again = pull(QUERY, out, api_key=API_KEY, options=options)
    assert (again.tasks_pulled, again.rows_added) == (0, 0) and Dataset.open(out).content_hash == clean.content_hash
