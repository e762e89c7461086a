"""The Dask executor: tasks on a dask.distributed cluster (a LocalCluster here, or any scheduler address).

The main process submits at most ``max_in_flight`` tasks, gathers each result in submission order and is
the only writer. When a worker dies, the scheduler runs its tasks again on another worker (up to
``distributed.scheduler.allowed-failures`` times); since tasks are pure and nothing is written by a worker,
a lost task costs time, never a half-written or duplicated row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from curate.errors import ConfigurationError
from curate.execution.base import default_in_flight, ordered_results
from curate.execution.local import default_workers

if TYPE_CHECKING:
    from distributed import Client

T = TypeVar("T")
R = TypeVar("R")


class DaskExecutor:
    """Run tasks on a Dask cluster through a ``distributed.Client``.

    Build it with :meth:`local` (start a LocalCluster on this machine), :meth:`connect` (a running
    scheduler, e.g. one dask-jobqueue started on SLURM) or :meth:`from_client` (a client you manage).
    """

    def __init__(self, client: Client, *, owns_cluster: bool, owns_client: bool):
        self._client = client
        self._owns_cluster = owns_cluster
        self._owns_client = owns_client

    @classmethod
    def local(cls, workers: int | None = None) -> DaskExecutor:
        """Start a LocalCluster of ``workers`` single-threaded worker processes (default: usable cores, <= 8)."""
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=workers or default_workers(), threads_per_worker=1, processes=True, dashboard_address=None
        )
        return cls(Client(cluster), owns_cluster=True, owns_client=True)

    @classmethod
    def connect(cls, address: str, *, timeout_s: float = 10.0) -> DaskExecutor:
        """Connect to the scheduler at ``address`` (``tcp://HOST:PORT``) whose workers can import curate.

        Raises:
            ConfigurationError: no scheduler answered at ``address`` within ``timeout_s`` seconds.
        """
        from distributed import Client

        try:
            client = Client(address, timeout=timeout_s)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigurationError(f"scheduler {address}: no Dask scheduler answered ({exc})") from None
        return cls(client, owns_cluster=False, owns_client=True)

    @classmethod
    def from_client(cls, client: Client) -> DaskExecutor:
        """Use an existing client; :meth:`close` leaves it and its cluster running."""
        return cls(client, owns_cluster=False, owns_client=False)

    @property
    def client(self) -> Client:
        return self._client

    @property
    def workers(self) -> int:
        """Threads over all workers connected now (at least 1: an adaptive cluster may start empty)."""
        return max(1, sum(self._client.nthreads().values()))

    def map(self, fn: Callable[[T], R], tasks: Iterable[T], *, max_in_flight: int | None = None) -> Iterator[R]:
        """Yield ``fn(task)`` for each task in submission order, at most ``max_in_flight`` pending on the cluster."""
        client = self._client
        return ordered_results(
            tasks,
            # pure=False: a fresh key per task (hashing multi-MB task payloads to build a key costs time)
            submit=lambda task: client.submit(fn, task, pure=False),
            result=lambda future: future.result(),
            cancel=lambda future: future.cancel(),
            limit=max_in_flight or default_in_flight(self.workers),
        )

    def describe(self) -> dict[str, Any]:
        scheduler = self._client.scheduler  # None once the client is closed
        address = scheduler.address if scheduler is not None else None
        return {"executor": "dask", "workers": self.workers, "scheduler": address}

    def close(self) -> None:
        """Close the client, and the LocalCluster if this executor started it."""
        cluster = self._client.cluster if self._owns_cluster else None
        if self._owns_client:
            self._client.close()
        if cluster is not None:
            cluster.close()
