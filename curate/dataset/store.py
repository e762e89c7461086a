"""A dataset is a directory of zstd Parquet shards plus a manifest and a README card.

Layout::

    DIR/
      data/part-00000-<token>.parquet   committed shards (the truth; loadable by pyarrow and datasets)
      manifest.json                     schema version, row count, content hash, shards, sources, units
      README.md                         card with YAML front matter so datasets.load_dataset(DIR) works
      quarantine.jsonl                  rejected records: file, record, field, reason

A folder is a dataset only with curate's manifest. Writes are atomic: a shard is written to a hidden temporary
name, read back whole and renamed into ``data/``; the manifest is rewritten the same way. A process killed, or a
write failed (full disk, I/O error), at any point leaves only complete shards visible; the next open counts a
shard the manifest missed (:mod:`curate.dataset.manifest`). Appends skip ids already present, so a re-run
resumes without duplicates. Reads stream one record batch at a time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate.dataset.card import write_card
from curate.dataset.io import atomic_write_text, exclusive_lock, remove_stale_temporaries
from curate.dataset.manifest import (
    CORE_KEYS,
    DATA_DIR,
    HASH_MODULUS,
    MANIFEST_NAME,
    Reconciled,
    empty_manifest,
    id_sum,
    read_manifest,
    reconcile,
    refresh_totals,
)
from curate.dataset.quarantine import Quarantine
from curate.dataset.schema import row_schema
from curate.dataset.shards import ShardError, ShardFile, next_shard_sequence, shard_name
from curate.errors import DatasetError

LOCK_NAME = ".curate.lock"
ROW_GROUP_ROWS = 2048
# a write session commits its open shard at least this often, so a kill loses at most this much work
COMMIT_SECONDS = 30.0


@dataclass(frozen=True)
class AppendResult:
    """What one append did: rows written, rows skipped because their id was already present, shard name."""

    added: int
    duplicates: int
    shard: str | None


class Dataset:
    """A curate dataset directory. Open with :meth:`open` or :meth:`create`; write inside :meth:`writer`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._manifest: dict[str, Any] = {}
        self._ids: set[str] | None = None
        self.damaged_shards: dict[str, str] = {}

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | Path) -> Dataset:
        """Open an existing dataset read-only, as its committed shards are (after a crash too).

        Raises:
            DatasetError: ``path`` holds no curate manifest (a ``data/`` folder alone does not make a dataset).
        """
        dataset = cls(Path(path))
        dataset._load_manifest()
        return dataset

    @classmethod
    def create(cls, path: str | Path, *, exist_ok: bool = True) -> Dataset:
        """Open the dataset at ``path``, creating an empty one if the directory does not exist or is empty.

        Raises:
            DatasetError: a dataset exists and ``exist_ok`` is False, or the directory holds files but no
                curate manifest (nothing in it is overwritten).
        """
        dataset = cls(Path(path))
        if (dataset.path / MANIFEST_NAME).is_file():
            if not exist_ok:
                raise DatasetError(f"{dataset.path}: a dataset already exists there")
            dataset._load_manifest()
            return dataset
        dataset.path.mkdir(parents=True, exist_ok=True)
        dataset._refuse_foreign()  # before the lock file: a refused folder is left exactly as it was
        with dataset._locked():
            if (dataset.path / MANIFEST_NAME).is_file():  # another process created it meanwhile
                return cls.create(path, exist_ok=exist_ok)
            dataset._refuse_foreign()
            dataset._manifest = empty_manifest()
            dataset._write_manifest()  # the manifest first: it is what marks the folder as a dataset
            dataset.data_dir.mkdir(exist_ok=True)
        return dataset

    def _refuse_foreign(self) -> None:
        if any(p.name != LOCK_NAME for p in self.path.iterdir()):
            raise DatasetError(
                f"{self.path}: directory exists, is not empty and holds no curate dataset (no {MANIFEST_NAME})"
            )

    def _load_manifest(self) -> Reconciled:
        """Read the manifest and reconcile it with the committed shards (in memory; see :mod:`manifest`)."""
        self._manifest = read_manifest(self.path)
        reconciled = reconcile(self._manifest, self.data_dir)
        self.damaged_shards = reconciled.damaged
        self._ids = None
        return reconciled

    def _write_manifest(self) -> None:
        with self._writing():
            atomic_write_text(self.path / MANIFEST_NAME, json.dumps(self._manifest, indent=2, sort_keys=True) + "\n")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with exclusive_lock(self.path / LOCK_NAME, busy=f"{self.path}: another curate process is writing this dataset"):
            yield

    # ------------------------------------------------------------------ properties
    @property
    def data_dir(self) -> Path:
        return self.path / DATA_DIR

    @property
    def manifest(self) -> dict[str, Any]:
        """A copy of the manifest as last written."""
        return json.loads(json.dumps(self._manifest))

    @property
    def num_rows(self) -> int:
        return int(self._manifest["num_rows"])

    @property
    def content_hash(self) -> str:
        return str(self._manifest["content_hash"])

    def shard_paths(self) -> list[Path]:
        return [self.data_dir / s["file"] for s in self._manifest["shards"]]

    # ------------------------------------------------------------------ reading
    def iter_batches(self, *, columns: list[str] | None = None, batch_rows: int = 4096) -> Iterator[pa.RecordBatch]:
        """Stream record batches shard by shard; memory is bounded by one row group."""
        for shard in self.shard_paths():
            parquet = pq.ParquetFile(shard)
            yield from parquet.iter_batches(batch_size=batch_rows, columns=columns)

    def read(self, *, columns: list[str] | None = None) -> pa.Table:
        """Read the whole dataset into one table (small datasets only)."""
        batches = list(self.iter_batches(columns=columns))
        if not batches:
            schema = row_schema().arrow
            if columns:
                schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
            return schema.empty_table()
        return pa.Table.from_batches(batches)

    def ids(self) -> set[str]:
        """All row ids (reads only the id column)."""
        if self._ids is None:
            found: set[str] = set()
            for batch in self.iter_batches(columns=["id"], batch_rows=65536):
                found.update(batch.column(0).to_pylist())
            self._ids = found
        return self._ids

    def quarantine_records(self) -> list[dict[str, Any]]:
        """Rejected records written by imports, oldest first."""
        return Quarantine(self.path).records()

    # ------------------------------------------------------------------ writing
    @contextmanager
    def writer(self, *, shard_rows: int = 100_000, commit_seconds: float = COMMIT_SECONDS) -> Iterator[DatasetWriter]:
        """Exclusive write session; the manifest and card are final on exit.

        The lock is taken before the manifest is read. What a killed or failed session left is tidied first:
        temporaries of dead writers removed, shards it committed counted, files in ``data/`` that do not read
        as shards renamed out of the readers' way (``.NAME.damaged``). If the session fails (a full disk), the
        shards committed before the failure stay and the error says so; a re-run resumes.

        Raises:
            DatasetError: another process holds the lock, the lock file is a symbolic link, or a write failed.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        with self._locked():
            self._tidy()
            writer = DatasetWriter(self, shard_rows=shard_rows, commit_seconds=commit_seconds)
            try:
                yield writer
            except BaseException:
                writer.close(failed=True)
                raise
            writer.close()

    def _tidy(self) -> None:
        """Under the lock: reread the manifest and clear what a killed or failed writer left behind."""
        reconciled = self._load_manifest()
        with self._writing():
            remove_stale_temporaries(self.data_dir, "*")
            remove_stale_temporaries(self.path, "*")
            for name in self.damaged_shards:
                (self.data_dir / name).rename(self.data_dir / f".{name}.damaged")
            if reconciled.changed:
                self._write_manifest()
            self.damaged_shards = {}

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Turn a failed write (full disk, file too large, I/O error) into one DatasetError that says what is kept."""
        try:
            yield
        except (ShardError, OSError) as exc:
            failed = exc if isinstance(exc, ShardError) else f"{self.path}: a write failed ({exc})"
            raise DatasetError(
                f"{failed}; the dataset keeps its {self.num_rows} committed rows and opens as it is; "
                "re-run the command to resume once the cause is fixed"
            ) from exc

    def _new_shard_name(self) -> str:
        return shard_name(next_shard_sequence([s["file"] for s in self._manifest["shards"]]))

    def _record_shard(self, name: str, *, num_rows: int, ids_sum: int) -> None:
        """Record a committed shard in the manifest."""
        self._manifest["shards"].append({"file": name, "num_rows": num_rows, "id_sum": f"{ids_sum:064x}"})
        refresh_totals(self._manifest)
        self._write_manifest()
        self._ids = None

    def record_source(self, entry: dict[str, Any]) -> None:
        """Add or update an entry in the manifest's list of sources (matched by file and format)."""
        key = (entry.get("file"), entry.get("format"))
        sources = [s for s in self._manifest["sources"] if (s.get("file"), s.get("format")) != key]
        sources.append(entry)
        self._manifest["sources"] = sources
        self._write_manifest()

    def set_manifest_section(self, name: str, value: Any) -> None:
        """Store a JSON-serialisable section (e.g. fitted reference energies) under ``name`` in the manifest.

        Core keys (format, schema, shards, counts, hashes) cannot be overwritten.
        """
        if name in CORE_KEYS:
            raise DatasetError(f"{self.path}: manifest key {name!r} is managed by curate and cannot be set")
        self._manifest[name] = json.loads(json.dumps(value))
        self._write_manifest()

    def manifest_section(self, name: str) -> Any:
        """A section stored with :meth:`set_manifest_section` (None when absent)."""
        return json.loads(json.dumps(self._manifest.get(name)))

    def record_history(self, entry: dict[str, Any]) -> None:
        """Append a history entry (command, parameters, times, counts) to the manifest."""
        self._manifest["history"].append({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **entry})
        self._write_manifest()


def _id_key(row_id: str) -> int:
    """The first 128 bits of an id as an int: half the memory of the string in the seen-set."""
    return int(row_id[:32], 16)


class DatasetWriter:
    """Streams record batches into shards, skipping ids already in the dataset; quarantines rejected records.

    Rows go to an open temporary shard as row groups of about ROW_GROUP_ROWS, so memory stays bounded by one
    row group whatever the shard size; the shard becomes visible only when it is committed: every
    ``shard_rows`` rows, once its oldest row has waited ``commit_seconds`` (so a killed import resumes from at
    most that much before the kill, whatever the shard size), on :meth:`flush` and on close. Shard sizes do not
    change the rows or the content hash.
    """

    def __init__(self, dataset: Dataset, *, shard_rows: int = 100_000, commit_seconds: float = COMMIT_SECONDS):
        self.dataset = dataset
        self.shard_rows = shard_rows
        self.commit_seconds = commit_seconds
        self._seen: set[int] = set()
        for batch in dataset.iter_batches(columns=["id"], batch_rows=65536):
            self._seen.update(_id_key(i) for i in batch.column(0).to_pylist())
        self._group: list[pa.RecordBatch] = []
        self._group_rows = 0
        self._shard: ShardFile | None = None
        self._shard_id_sum = 0
        self._uncommitted_since: float | None = None
        self._quarantine = Quarantine(dataset.path)
        self.added = 0
        self.duplicates = 0
        self.quarantined = 0

    def append(self, batch: pa.RecordBatch) -> AppendResult:
        """Write ``batch`` (cast to the row schema) without the rows whose id is already present.

        Returns the rows added and skipped, and the name of a shard committed by this call, if any.
        """
        schema = row_schema().arrow
        if batch.schema != schema:
            batch = pa.Table.from_batches([batch]).select(schema.names).cast(schema).to_batches()[0]
        ids = batch.column("id").to_pylist()
        keep = []
        for i, row_id in enumerate(ids):
            if not is_valid_id(row_id):
                raise DatasetError(f"{self.dataset.path}: row {i} of a batch has id {row_id!r}, not a 64-hex id")
            key = _id_key(row_id)
            if key not in self._seen:
                self._seen.add(key)
                keep.append(i)
        duplicates = len(ids) - len(keep)
        self.duplicates += duplicates
        shard = None
        if keep:
            if len(keep) != len(ids):
                batch = batch.take(pa.array(keep, type=pa.int64()))
            if self._uncommitted_since is None:
                self._uncommitted_since = time.monotonic()
            self._group.append(batch)
            self._group_rows += batch.num_rows
            with self.dataset._writing():
                if self._group_rows >= ROW_GROUP_ROWS:
                    self._write_group()
                rows = (self._shard.num_rows if self._shard else 0) + self._group_rows
                if rows >= self.shard_rows or self.commit_due():
                    shard = self.flush()
        return AppendResult(added=len(keep), duplicates=duplicates, shard=shard)

    def commit_due(self) -> bool:
        """True when rows have waited uncommitted for ``commit_seconds`` or more."""
        since = self._uncommitted_since
        return since is not None and time.monotonic() - since >= self.commit_seconds

    def _write_group(self) -> None:
        if not self._group:
            return
        table = pa.Table.from_batches(self._group)
        self._group, self._group_rows = [], 0
        if self._shard is None:
            self._shard = ShardFile(self.dataset.data_dir, self.dataset._new_shard_name(), row_schema().arrow)
        self._shard.write(table, row_group_rows=ROW_GROUP_ROWS)
        self._shard_id_sum = (self._shard_id_sum + id_sum(table.column("id"))) % HASH_MODULUS

    def flush(self) -> str | None:
        """Commit the rows written so far as one shard now; returns its file name (None when there were none).

        The shard is renamed into ``data/`` once verified, then recorded in the manifest; a crash between the
        two leaves a shard that the next open counts (see :mod:`curate.dataset.manifest`).
        """
        with self.dataset._writing():
            self._write_group()
            self._uncommitted_since = None
            if self._shard is None:
                return None
            shard, self._shard = self._shard, None
            shard.commit()
            name, rows = shard.name, shard.num_rows
            self.dataset._record_shard(name, num_rows=rows, ids_sum=self._shard_id_sum)
            self._shard_id_sum = 0
            self.added += rows
            return name

    def quarantine(self, *, file: str | None, record: str | None, field: str | None, reason: str) -> None:
        """Record a rejected record with its reason (once per file/record/field/reason)."""
        with self.dataset._writing():
            if self._quarantine.add(file=file, record=record, field=field, reason=reason):
                self.quarantined += 1

    def close(self, *, failed: bool = False) -> None:
        """Flush pending rows, close the quarantine file and rewrite the card.

        ``failed``: the session is ending on an exception, which must propagate: rows are still committed when
        they can be (an interrupt), and an open shard whose writes failed is dropped without another error.
        """
        if not failed:
            self.flush()
            self._quarantine.close()
            with self.dataset._writing():
                write_card(self.dataset.path, self.dataset.manifest)
            return
        try:
            self.flush()
            write_card(self.dataset.path, self.dataset.manifest)
        except (OSError, DatasetError):
            if self._shard is not None:
                self._shard.abort()
                self._shard = None
        finally:
            self._quarantine.close()


def is_valid_id(value: str) -> bool:
    """True for a 64-character lowercase hexadecimal id."""
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)
