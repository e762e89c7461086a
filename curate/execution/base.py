"""The executor interface: map a pure task function over tasks, results back in submission order.

Every parallel stage in curate has the same shape: the main process cuts the input into tasks (a chunk of a
file, a batch of rows), workers run a pure function on each task, and the main process consumes the results
in submission order and is the only one that writes (deduplicated, shard by shard, atomically). So the
output does not depend on which executor ran the tasks, and a task recomputed after a lost worker can never
leave a half-written or duplicated row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, Protocol, TypeVar, get_args, runtime_checkable

ExecutorKind = Literal["local", "dask"]
EXECUTOR_KINDS: tuple[str, ...] = get_args(ExecutorKind)

T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class Executor(Protocol):
    """Runs a pure function over tasks; one implementation per engine (in-process, process pool, Dask)."""

    @property
    def workers(self) -> int:
        """Tasks that can run at once (worker processes x threads); 1 for in-process."""
        ...

    def map(self, fn: Callable[[T], R], tasks: Iterable[T], *, max_in_flight: int | None = None) -> Iterator[R]:
        """Yield ``fn(task)`` for each task, in submission order, with at most ``max_in_flight`` pending.

        ``fn`` must be a module-level function (it is pickled by reference) and pure: the same task gives
        the same result, so a task lost with its worker can be run again. Exceptions raised by ``fn``
        propagate from the iterator at that task's position; exceptions raised while producing ``tasks``
        propagate after the results of every task already submitted have been yielded.
        """
        ...

    def describe(self) -> dict[str, Any]:
        """What ran the tasks, for the dataset history (kind, workers, scheduler address)."""
        ...

    def close(self) -> None:
        """Release the workers this executor started (not those of a cluster it only connected to)."""
        ...


def default_in_flight(workers: int) -> int:
    """Tasks kept pending per executor: enough to keep every worker busy, bounded so memory stays flat."""
    return max(4, 2 * workers)


F = TypeVar("F")


def ordered_results(
    tasks: Iterable[T],
    *,
    submit: Callable[[T], F],
    result: Callable[[F], R],
    cancel: Callable[[F], object],
    limit: int,
) -> Iterator[R]:
    """Submit tasks as results are consumed, keeping at most ``limit`` pending; yield results in order.

    An exception raised while producing tasks (a truncated file) is re-raised after the results of every
    task submitted before it; if the consumer stops early or a task fails, the pending tasks are cancelled.
    """
    from collections import deque

    pending: deque[F] = deque()
    production_error: Exception | None = None
    task_iter = iter(tasks)
    try:
        while True:
            try:
                task = next(task_iter)
            except StopIteration:
                break
            except Exception as exc:  # re-raised below, after the work already submitted
                production_error = exc
                break
            pending.append(submit(task))
            while len(pending) >= limit:
                yield result(pending.popleft())
        while pending:
            yield result(pending.popleft())
    finally:
        for future in pending:
            cancel(future)
    if production_error is not None:
        raise production_error
