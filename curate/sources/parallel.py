"""Run the per-chunk import work in worker processes, results consumed in file order.

Which engine runs the tasks (in-process, a local process pool, Dask) is :mod:`curate.execution`'s business.
The unit of work is a pure function, :func:`process_chunk`: raw records in, one record batch plus the
rejected records out. The main process only cuts the file, deduplicates and writes shards, so a killed
worker or main process never leaves a half-written shard (shards are committed atomically by the store).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa

from curate.checks.quality import gate
from curate.dataset.configuration import Rejected
from curate.execution import Executor, ProcessPoolExecutorAdapter, default_workers
from curate.sources import ImportOptions, get_importer
from curate.sources.base import ChunkedImporter, RawChunk
from curate.sources.validate import batch_or_rejects

# modules the pool's fork server imports once, so each import worker starts warm (~1 s per worker otherwise)
IMPORT_PRELOAD = ("curate.sources.parallel", "curate.sources.ingest", "curate.sources.mptrj", "curate.checks.quality")

CHUNK_BYTES = 4 << 20
PARALLEL_MIN_FILE_BYTES = 32 << 20

__all__ = [
    "CHUNK_BYTES",
    "PARALLEL_MIN_FILE_BYTES",
    "ChunkResult",
    "ChunkTask",
    "default_workers",
    "process_chunk",
    "run_chunks",
]


@dataclass(frozen=True)
class ChunkTask:
    """Everything a worker needs to parse one chunk."""

    format_name: str
    chunk: RawChunk
    display_name: str
    options: ImportOptions
    min_distance_factor: float


@dataclass(frozen=True)
class ChunkResult:
    """A chunk's good rows as one batch (None when none passed), its rejected records, and records read."""

    batch: pa.RecordBatch | None
    rejected: list[Rejected]
    records_read: int


def process_chunk(task: ChunkTask) -> ChunkResult:
    """Parse, gate and batch one chunk (runs in a worker process or in-process)."""
    importer = get_importer(task.format_name)
    assert isinstance(importer, ChunkedImporter)
    good = []
    rejected = []
    read = 0
    with no_cyclic_gc():
        items = importer.parse_chunk(task.chunk, display_name=task.display_name, options=task.options)
        for item in gate(items, min_distance_factor=task.min_distance_factor):
            read += 1
            if isinstance(item, Rejected):
                rejected.append(item)
            else:
                good.append(item)
        batch, refused = batch_or_rejects(good)
        rejected.extend(refused)
    return ChunkResult(batch=batch, rejected=rejected, records_read=read)


def run_chunks(
    tasks: Iterable[ChunkTask], *, workers: int, max_in_flight: int | None = None, executor: Executor | None = None
) -> Iterator[ChunkResult]:
    """Yield the result of each task in submission order, with at most ``max_in_flight`` tasks pending.

    ``executor`` runs the tasks (a Dask cluster, ...); None starts a process pool of ``workers`` for this call.
    Exceptions raised while producing tasks (a truncated file) propagate after the results of every task
    already submitted have been yielded, so nothing parsed before the damage is lost.
    """
    if executor is not None:
        yield from executor.map(process_chunk, tasks, max_in_flight=max_in_flight)
        return
    pool = ProcessPoolExecutorAdapter(workers, preload=IMPORT_PRELOAD)
    try:
        yield from pool.map(process_chunk, tasks, max_in_flight=max_in_flight)
    finally:
        pool.close()


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Parsing allocates millions of acyclic containers; the cyclic collector only slows that down."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
