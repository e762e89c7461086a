"""Run the per-chunk import work in worker processes, results consumed in file order.

The unit of work is a pure function, :func:`process_chunk`: raw records in, one record batch plus the
rejected records out. The main process only cuts the file, deduplicates and writes shards, so a killed
worker or main process never leaves a half-written shard (shards are committed atomically by the store).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

import pyarrow as pa

from curate.configuration import configurations_to_batch
from curate.sources import ImportOptions, Rejected, get_importer
from curate.sources.base import ChunkedImporter, RawChunk

CHUNK_BYTES = 4 << 20
PARALLEL_MIN_FILE_BYTES = 32 << 20


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
    from curate.ingest import gate, no_cyclic_gc

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
        batch = configurations_to_batch(good) if good else None
    return ChunkResult(batch=batch, rejected=rejected, records_read=read)


def default_workers() -> int:
    """Worker processes to use by default: the usable CPU count, at most 8."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    return max(1, min(usable, 8))


def run_chunks(tasks: Iterator[ChunkTask], *, workers: int, max_in_flight: int | None = None) -> Iterator[ChunkResult]:
    """Yield the result of each task in submission order, with at most ``max_in_flight`` tasks pending.

    Exceptions raised while producing tasks (a truncated file) propagate after the results of every task
    already submitted have been yielded, so nothing parsed before the damage is lost.
    """
    limit = max_in_flight or 4 * workers
    context = multiprocessing.get_context("forkserver")
    # workers fork from a server that has already imported the parsing stack (~1 s per worker otherwise)
    context.set_forkserver_preload(["curate.parallel", "curate.ingest", "curate.sources.mptrj", "curate.quality"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[Future[ChunkResult]] = deque()
        try:
            for task in tasks:
                pending.append(pool.submit(process_chunk, task))
                while len(pending) >= limit:
                    yield pending.popleft().result()
        finally:
            while pending:
                yield pending.popleft().result()
