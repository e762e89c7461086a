"""Where per-structure work runs: in-process, a local process pool, or a Dask cluster.

Stages hand a pure task function and an iterable of tasks to an :class:`Executor`; results come back in
submission order, so every executor writes the same dataset (same content hash) as the in-process run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from curate.errors import ConfigurationError
from curate.execution.base import EXECUTOR_KINDS, Executor, ExecutorKind, default_in_flight, ordered_results
from curate.execution.local import InProcessExecutor, ProcessPoolExecutorAdapter, default_workers

__all__ = [
    "EXECUTOR_KINDS",
    "Executor",
    "ExecutorKind",
    "InProcessExecutor",
    "ProcessPoolExecutorAdapter",
    "default_in_flight",
    "default_workers",
    "open_executor",
    "ordered_results",
]


@contextmanager
def open_executor(
    kind: ExecutorKind | None = None,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    preload: Sequence[str] = (),
) -> Iterator[Executor | None]:
    """The executor the command-line options ask for, closed on exit.

    Args:
        kind: ``local`` or ``dask``; None means ``dask`` when ``scheduler`` is given, else ``local``.
        scheduler: address of a running Dask scheduler (``tcp://HOST:PORT``); only with ``dask``.
        workers: worker processes; for ``dask`` without a scheduler, the LocalCluster size.
        preload: modules a local process pool's fork server imports once, so each worker starts warm.

    Yields:
        None for ``local`` without ``workers``: each stage then picks in-process for small inputs and a process
        pool sized to the machine for large ones (today's default). Otherwise the executor.

    Raises:
        ConfigurationError: ``scheduler`` with ``kind="local"``, or ``workers`` with ``scheduler``.
    """
    if kind is None:
        kind = "dask" if scheduler else "local"
    if kind not in EXECUTOR_KINDS:
        raise ConfigurationError(f"unknown executor {kind!r}; expected one of {', '.join(EXECUTOR_KINDS)}")
    if scheduler and kind != "dask":
        raise ConfigurationError(f"a scheduler needs the dask executor, not {kind!r}")
    if scheduler and workers is not None:
        raise ConfigurationError("workers sizes a local cluster; the scheduler's cluster has its own workers")
    executor: Executor | None
    if kind == "local":
        if workers is None:
            yield None
            return
        executor = InProcessExecutor() if workers == 1 else ProcessPoolExecutorAdapter(workers, preload=preload)
    else:
        from curate.execution.dask_executor import DaskExecutor

        executor = DaskExecutor.connect(scheduler) if scheduler else DaskExecutor.local(workers)
    try:
        yield executor
    finally:
        executor.close()
