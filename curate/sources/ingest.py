"""Import pipeline: importer -> quality gate -> record batches -> dataset, with a quarantine for rejects."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from curate.checks.quality import MIN_DISTANCE_FACTOR, gate
from curate.dataset.configuration import Configuration, Rejected
from curate.dataset.io import sha256_of_path
from curate.dataset.store import COMMIT_SECONDS, Dataset, DatasetWriter
from curate.errors import InputError
from curate.sources import Importer, ImportOptions, get_importer
from curate.sources.base import ChunkedImporter
from curate.sources.parallel import (
    CHUNK_BYTES,
    PARALLEL_MIN_FILE_BYTES,
    ChunkTask,
    default_workers,
    no_cyclic_gc,
    run_chunks,
)
from curate.sources.validate import batch_or_rejects

if TYPE_CHECKING:
    from curate.execution import Executor

BATCH_ROWS = 2048


@dataclass
class FileReport:
    """What happened to one input path."""

    path: str
    rows_read: int = 0
    rows_added: int = 0
    duplicates: int = 0
    quarantined: int = 0
    error: str | None = None


@dataclass
class ImportReport:
    """Totals of one import run, per file and overall."""

    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_added(self) -> int:
        return sum(f.rows_added for f in self.files)

    @property
    def quarantined(self) -> int:
        return sum(f.quarantined for f in self.files)

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.files)

    @property
    def failed_files(self) -> list[FileReport]:
        return [f for f in self.files if f.error]


def _auto_workers(path: Path) -> int:
    return default_workers() if path.is_file() and path.stat().st_size >= PARALLEL_MIN_FILE_BYTES else 1


def import_paths(
    paths: Sequence[Path],
    *,
    format_name: str,
    out: Path,
    options: ImportOptions | None = None,
    min_distance_factor: float = MIN_DISTANCE_FACTOR,
    shard_rows: int = 100_000,
    batch_rows: int = BATCH_ROWS,
    on_progress: Callable[[int], None] | None = None,
    on_error: Callable[[str], None] | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    chunk_bytes: int | None = None,
    commit_seconds: float = COMMIT_SECONDS,
) -> ImportReport:
    """Import ``paths`` with the importer ``format_name`` into the dataset at ``out`` (created if needed).

    Rows already present (same id) are skipped, so re-running resumes. Rejected records land in the
    quarantine with file, record, field and reason; a file that cannot be read to its end is reported in
    its FileReport.error and the rows read before the damage still land.

    ``workers`` > 1 parses chunked formats in that many worker processes (same rows, same ids); None picks
    :func:`curate.sources.parallel.default_workers` for files over 32 MB and 1 otherwise. ``executor`` (a Dask
    cluster, a process pool; see :mod:`curate.execution`) parses every chunked file instead, whatever its size;
    formats that cannot be cut into chunks are read in-process either way. ``chunk_bytes`` is the size of one
    task's slice of the file (default :data:`curate.sources.parallel.CHUNK_BYTES`, 4 MiB). The rows, ids and content
    hash do not depend on the executor, the workers or the chunk size.

    Rows are committed every ``shard_rows`` rows and at least every ``commit_seconds`` s, so a killed import
    resumes from at most that long before the kill. A failed write (full disk, file too large, I/O error) raises
    DatasetError; the shards committed before it stay readable and a re-run completes the import.
    """
    importer = get_importer(format_name)
    options = options or ImportOptions()
    dataset = Dataset.create(out)
    report = ImportReport()
    started = time.perf_counter()
    with dataset.writer(shard_rows=shard_rows, commit_seconds=commit_seconds) as writer, no_cyclic_gc():
        run = _Run(importer, options, writer, min_distance_factor, min(batch_rows, shard_rows), on_progress)
        for path in paths:
            file_report = FileReport(path=str(path))
            report.files.append(file_report)
            file_workers = workers if workers is not None else _auto_workers(path)
            parallel = _Parallel(workers=file_workers, executor=executor, chunk_bytes=chunk_bytes)
            _import_one(run, path, file_report, parallel)
            if file_report.error and on_error:
                on_error(file_report.error)
            writer.flush()
            dataset.record_source(
                {
                    "file": str(path),
                    "format": format_name,
                    # only regular files and folders: a FIFO would block the hash forever
                    "sha256": sha256_of_path(path) if path.is_file() or path.is_dir() else None,
                    "rows_read": file_report.rows_read,
                    "rows_added": file_report.rows_added,
                    "duplicates": file_report.duplicates,
                    "quarantined": file_report.quarantined,
                    "complete": file_report.error is None,
                }
            )
        report.seconds = time.perf_counter() - started
        dataset.record_history(
            {
                "command": "import",
                "format": format_name,
                "paths": [str(p) for p in paths],
                "functional": options.functional,
                "min_distance_factor": min_distance_factor,
                **({"execution": executor.describe()} if executor is not None else {}),
                "rows_added": report.rows_added,
                "duplicates": report.duplicates,
                "quarantined": report.quarantined,
                "seconds": round(report.seconds, 3),
            }
        )
    return report


def write_items(
    items: Iterable[Configuration | Rejected],
    *,
    writer: DatasetWriter,
    display_name: str,
    file_report: FileReport,
    min_distance_factor: float = MIN_DISTANCE_FACTOR,
    batch_rows: int = BATCH_ROWS,
    on_progress: Callable[[int], None] | None = None,
) -> None:
    """Gate ``items`` and append the good ones to ``writer`` in batches; quarantine the rejected ones.

    Counts go into ``file_report``. Rows gathered before an exception propagates are still written.
    """
    pending: list[Configuration] = []
    pending_since = time.monotonic()

    def flush_pending() -> None:
        if pending:
            batch, refused = batch_or_rejects(pending)
            for item in refused:
                writer.quarantine(file=display_name, record=item.record, field=item.field, reason=item.reason)
                file_report.quarantined += 1
            if batch is not None:
                result = writer.append(batch)
                file_report.rows_added += result.added
                file_report.duplicates += result.duplicates
            if on_progress:
                on_progress(len(pending))
            pending.clear()

    try:
        for item in gate(items, min_distance_factor=min_distance_factor):
            file_report.rows_read += 1
            if isinstance(item, Rejected):
                writer.quarantine(file=display_name, record=item.record, field=item.field, reason=item.reason)
                file_report.quarantined += 1
                continue
            if not pending:
                pending_since = time.monotonic()
            pending.append(item)
            # a slow reader's rows reach the writer before its commit interval ends, not only every batch_rows
            if len(pending) >= batch_rows or time.monotonic() - pending_since >= writer.commit_seconds:
                flush_pending()
    finally:
        flush_pending()


@dataclass(frozen=True)
class _Parallel:
    """How to run the chunks of one file: an executor, or ``workers`` local processes (1: in-process)."""

    workers: int
    executor: Executor | None
    chunk_bytes: int | None

    @property
    def wanted(self) -> bool:
        return self.executor is not None or self.workers > 1


@dataclass(frozen=True)
class _Run:
    """What every file of one import run shares: the importer and its options, the writer and the gate."""

    importer: Importer
    options: ImportOptions
    writer: DatasetWriter
    min_distance_factor: float
    batch_rows: int
    on_progress: Callable[[int], None] | None


def _import_one(run: _Run, path: Path, file_report: FileReport, parallel: _Parallel) -> None:
    display = str(path)
    try:
        if not path.exists():
            raise InputError("no such file or directory", file=display)
        if not (path.is_file() or path.is_dir()):
            # a FIFO or a device would block the read (or never end): only regular files and folders are read
            raise InputError("not a regular file or a directory (a FIFO, socket or device?)", file=display)
        if parallel.wanted and isinstance(run.importer, ChunkedImporter) and path.is_file():
            _import_chunked(run, run.importer, path, file_report, parallel)
            return
        write_items(
            run.importer.read(path, display_name=display, options=run.options),
            writer=run.writer,
            display_name=display,
            file_report=file_report,
            min_distance_factor=run.min_distance_factor,
            batch_rows=run.batch_rows,
            on_progress=run.on_progress,
        )
    except (IsADirectoryError, PermissionError) as exc:
        _file_failed(run, display, file_report, InputError(f"cannot be read ({exc.strerror})", file=display))
    except InputError as exc:
        _file_failed(run, display, file_report, exc)


def _file_failed(run: _Run, display: str, file_report: FileReport, exc: InputError) -> None:
    """Record that ``display`` could not be read to its end: in the report and in the quarantine."""
    file_report.error = exc.describe()
    run.writer.quarantine(file=display, record=exc.record, field=exc.field, reason=exc.reason)
    file_report.quarantined += 1


def _import_chunked(
    run: _Run, importer: ChunkedImporter, path: Path, file_report: FileReport, parallel: _Parallel
) -> None:
    display = str(path)
    tasks = (
        ChunkTask(importer.name, chunk, display, run.options, run.min_distance_factor)
        for chunk in importer.chunks(path, target_bytes=parallel.chunk_bytes or CHUNK_BYTES)
    )
    for result in run_chunks(tasks, workers=parallel.workers, executor=parallel.executor):
        file_report.rows_read += result.records_read
        for item in result.rejected:
            run.writer.quarantine(file=display, record=item.record, field=item.field, reason=item.reason)
            file_report.quarantined += 1
        if result.batch is not None:
            appended = run.writer.append(result.batch)
            file_report.rows_added += appended.added
            file_report.duplicates += appended.duplicates
            if run.on_progress:
                run.on_progress(result.batch.num_rows)
