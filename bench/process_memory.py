"""Run a benchmark command in its own process and watch its memory, worker processes included.

Peak memory is the larger of the process's ``ru_maxrss`` and the largest proportional set size (PSS) summed over
the process and every process it started, sampled while it runs. PSS splits the pages forked workers share
among them, so the sum is the tree's real footprint and parallel runs are not flattered.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def tree_pss_mb(root: psutil.Process) -> float:
    """PSS summed over ``root`` and all its descendants, MB; processes that vanish while being read count zero."""
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            total += proc.memory_full_info().pss
    return total / 2**20


@dataclass(frozen=True)
class Watched:
    """Wall seconds from start to exit, peak memory (MB, see the module docstring) and exit status."""

    seconds: float
    peak_mb: float
    returncode: int


def run_watched(
    command: Sequence[str], *, stdout: IO[bytes] | int, stderr: IO[bytes] | int, interval_s: float = 0.05
) -> Watched:
    """Run ``command`` from the project root to completion, sampling its process tree every ``interval_s``."""
    peak = 0.0
    started = time.perf_counter()
    process = subprocess.Popen(list(command), stdout=stdout, stderr=stderr, cwd=PROJECT_ROOT)
    root = psutil.Process(process.pid)
    while True:
        finished, status, usage = os.wait4(process.pid, os.WNOHANG)
        if finished:
            break
        with contextlib.suppress(psutil.NoSuchProcess):
            peak = max(peak, tree_pss_mb(root))
        time.sleep(interval_s)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Watched(seconds, max(peak, usage.ru_maxrss / 1024.0), process.returncode)
