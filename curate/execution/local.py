"""Executors on this machine: in-process (small jobs, tests) and a process pool sized to the machine."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from curate.dataset.io import process_alive
from curate.execution.base import default_in_flight, ordered_results

T = TypeVar("T")
R = TypeVar("R")

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
# how often a pool worker checks that the process that started the pool is still there
PARENT_WATCH_SECONDS = 0.5


def exit_with_parent(owner_pid: int) -> None:
    """Pool worker initializer: end this worker when the pool's owner (``owner_pid``) or its own parent dies.

    A worker of a killed command would otherwise finish its task, block on a result queue nobody reads and
    hold its memory for minutes. On Linux the kernel sends SIGKILL when the parent (the fork server, which
    exits with the owner) dies (``prctl(PR_SET_PDEATHSIG)``); a daemon thread that checks the parent and the
    owner every :data:`PARENT_WATCH_SECONDS` covers other systems and a parent that died before the prctl.
    """
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl here: the watchdog alone
        pass
    threading.Thread(target=_watch_parent, args=(parent, owner_pid), name="curate-parent-watch", daemon=True).start()


def _watch_parent(parent: int, owner_pid: int) -> None:
    while os.getppid() == parent and process_alive(owner_pid):
        time.sleep(PARENT_WATCH_SECONDS)
    os._exit(1)


def default_workers() -> int:
    """Worker processes to use by default: the usable CPU count, at most 8."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    return max(1, min(usable, 8))


class InProcessExecutor:
    """Runs each task in the calling process, one after the other (no pickling, no start-up cost)."""

    workers = 1

    def map(self, fn: Callable[[T], R], tasks: Iterable[T], *, max_in_flight: int | None = None) -> Iterator[R]:
        """Yield ``fn(task)`` for each task in order (``max_in_flight`` is irrelevant here)."""
        for task in tasks:
            yield fn(task)

    def describe(self) -> dict[str, Any]:
        return {"executor": "local", "workers": 1}

    def close(self) -> None:
        """Nothing to release."""


class ProcessPoolExecutorAdapter:
    """A ``concurrent.futures`` process pool (fork server, preloaded imports) started on first use.

    A worker that dies breaks the pool (``BrokenProcessPool``) rather than re-running its task: use the Dask
    executor where workers can be lost. Workers end with the process that started the pool, even when it is
    killed (:func:`exit_with_parent`).
    """

    def __init__(self, workers: int | None = None, *, preload: Sequence[str] = ()):
        self._workers = workers or default_workers()
        self._preload = list(preload)
        self._pool: ProcessPoolExecutor | None = None

    @property
    def workers(self) -> int:
        return self._workers

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(self._preload)
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=context,
                initializer=exit_with_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    def map(self, fn: Callable[[T], R], tasks: Iterable[T], *, max_in_flight: int | None = None) -> Iterator[R]:
        """Yield ``fn(task)`` for each task in submission order, at most ``max_in_flight`` pending."""
        pool = self._ensure_pool()
        return ordered_results(
            tasks,
            submit=lambda task: pool.submit(fn, task),
            result=lambda future: future.result(),
            cancel=lambda future: future.cancel(),
            limit=max_in_flight or default_in_flight(self._workers),
        )

    def describe(self) -> dict[str, Any]:
        return {"executor": "local", "workers": self._workers}

    def close(self) -> None:
        """Shut the pool down (waits for running tasks)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
