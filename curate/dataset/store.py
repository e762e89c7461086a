"""A dataset is a directory of zstd Parquet shards plus a manifest and a README card.

Layout::

    DIR/
      data/part-00000-<token>.parquet   committed shards (the truth; loadable by pyarrow and datasets)
      manifest.json                     schema version, row count, content hash, shards, sources, units
      README.md                         card with YAML front matter so datasets.load_dataset(DIR) works
      quarantine.jsonl                  rejected records: file, record, field, reason

Writes are atomic: a shard is written to a hidden temporary name and renamed into ``data/``; the manifest is
rewritten the same way. A process killed at any point leaves only committed shards visible, and the next
open reconciles a stale manifest from the shards. Appends skip ids already present, so a re-run resumes
without duplicates. Reads stream one record batch at a time.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate import __version__
from curate.dataset.card import write_card
from curate.dataset.io import atomic_write_text
from curate.dataset.quarantine import Quarantine
from curate.dataset.schema import row_schema
from curate.dataset.shards import ShardFile, next_shard_sequence, shard_name
from curate.errors import DatasetError

MANIFEST_NAME = "manifest.json"
DATA_DIR = "data"
LOCK_NAME = ".curate.lock"
FORMAT_NAME = "curate-dataset"
FORMAT_VERSION = 1
ROW_GROUP_ROWS = 2048
_HASH_MODULUS = 1 << 256
_CORE_MANIFEST_KEYS = frozenset(
    {
        "format",
        "format_version",
        "schema",
        "units",
        "conventions",
        "num_rows",
        "id_sum",
        "content_hash",
        "shards",
        "sources",
        "history",
        "created_with",
    }
)


def id_sum(ids: pa.Array | pa.ChunkedArray | Iterable[str]) -> int:
    """Sum of hexadecimal ids read as integers, modulo 2**256 (the order-free part of the content hash)."""
    values = ids.to_pylist() if isinstance(ids, pa.Array | pa.ChunkedArray) else ids
    total = 0
    for value in values:
        total += int(value, 16)
    return total % _HASH_MODULUS


def content_hash_from(num_rows: int, ids_sum: int) -> str:
    """Dataset content hash: sha256 of the row count and the id sum; independent of row and shard order."""
    return hashlib.sha256(f"{num_rows}:{ids_sum:064x}".encode()).hexdigest()


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

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | Path) -> Dataset:
        """Open an existing dataset; raises DatasetError if ``path`` is not one."""
        dataset = cls(Path(path))
        if not (dataset.path / MANIFEST_NAME).is_file() and not (dataset.path / DATA_DIR).is_dir():
            raise DatasetError(f"{dataset.path}: not a curate dataset (no {MANIFEST_NAME} and no {DATA_DIR}/)")
        dataset._load_manifest()
        return dataset

    @classmethod
    def create(cls, path: str | Path, *, exist_ok: bool = True) -> Dataset:
        """Open the dataset at ``path``, creating an empty one if the directory has none."""
        dataset = cls(Path(path))
        if (dataset.path / MANIFEST_NAME).is_file() or (dataset.path / DATA_DIR).is_dir():
            if not exist_ok:
                raise DatasetError(f"{dataset.path}: a dataset already exists there")
            dataset._load_manifest()
            return dataset
        if dataset.path.exists() and any(dataset.path.iterdir()):
            raise DatasetError(f"{dataset.path}: directory exists, is not empty and holds no curate dataset")
        (dataset.path / DATA_DIR).mkdir(parents=True, exist_ok=True)
        dataset._manifest = dataset._empty_manifest()
        dataset._write_manifest()
        return dataset

    def _empty_manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            **row_schema().manifest_header(),
            "num_rows": 0,
            "id_sum": f"{0:064x}",
            "content_hash": content_hash_from(0, 0),
            "shards": [],
            "sources": [],
            "history": [],
            "created_with": {"curate": __version__},
        }

    def _load_manifest(self) -> None:
        manifest_path = self.path / MANIFEST_NAME
        if manifest_path.is_file():
            try:
                self._manifest = json.loads(manifest_path.read_text())
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{manifest_path}: manifest is not valid JSON ({exc})") from exc
            if self._manifest.get("format") != FORMAT_NAME:
                raise DatasetError(f"{manifest_path}: not a curate manifest (format={self._manifest.get('format')!r})")
            major = str(self._manifest["schema"]["version"]).split(".")[0]
            if major != row_schema().version.split(".")[0]:
                raise DatasetError(
                    f"{manifest_path}: schema version {self._manifest['schema']['version']} cannot be read by "
                    f"this curate (schema {row_schema().version})"
                )
        else:
            self._manifest = self._empty_manifest()
        on_disk = sorted(p.name for p in self.data_dir.glob("*.parquet"))
        if on_disk != sorted(s["file"] for s in self._manifest["shards"]):
            self._reconcile(on_disk)

    def _reconcile(self, on_disk: list[str]) -> None:
        """Rebuild shard list, counts and hash from the committed shards (after a killed write)."""
        known = {s["file"]: s for s in self._manifest["shards"]}
        shards = []
        for name in on_disk:
            if name in known:
                shards.append(known[name])
                continue
            ids = pq.read_table(self.data_dir / name, columns=["id"]).column("id")
            shards.append({"file": name, "num_rows": len(ids), "id_sum": f"{id_sum(ids):064x}"})
        self._manifest["shards"] = shards
        self._refresh_totals()

    def _refresh_totals(self) -> None:
        total_rows = sum(s["num_rows"] for s in self._manifest["shards"])
        total_sum = sum(int(s["id_sum"], 16) for s in self._manifest["shards"]) % _HASH_MODULUS
        self._manifest["num_rows"] = total_rows
        self._manifest["id_sum"] = f"{total_sum:064x}"
        self._manifest["content_hash"] = content_hash_from(total_rows, total_sum)

    def _write_manifest(self) -> None:
        atomic_write_text(self.path / MANIFEST_NAME, json.dumps(self._manifest, indent=2, sort_keys=True) + "\n")

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
    def writer(self) -> Iterator[DatasetWriter]:
        """Exclusive write session (a lock file prevents two writers); the manifest and card are final on exit."""
        self.path.mkdir(parents=True, exist_ok=True)
        lock_path = self.path / LOCK_NAME
        with open(lock_path, "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise DatasetError(f"{self.path}: another curate process is writing this dataset") from exc
            for stale in self.data_dir.glob(".*.tmp"):
                stale.unlink()
            writer = DatasetWriter(self)
            try:
                yield writer
            finally:
                writer.close()

    def _new_shard_name(self) -> str:
        return shard_name(next_shard_sequence([s["file"] for s in self._manifest["shards"]]))

    def _record_shard(self, name: str, *, num_rows: int, ids_sum: int) -> None:
        """Record a committed shard in the manifest."""
        self._manifest["shards"].append({"file": name, "num_rows": num_rows, "id_sum": f"{ids_sum:064x}"})
        self._refresh_totals()
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
        if name in _CORE_MANIFEST_KEYS:
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
    row group whatever the shard size; the shard becomes visible only when it is committed (every
    ``shard_rows`` rows, on :meth:`flush` and on close).
    """

    def __init__(self, dataset: Dataset, *, shard_rows: int = 100_000):
        self.dataset = dataset
        self.shard_rows = shard_rows
        self._seen: set[int] = set()
        for batch in dataset.iter_batches(columns=["id"], batch_rows=65536):
            self._seen.update(_id_key(i) for i in batch.column(0).to_pylist())
        self._group: list[pa.RecordBatch] = []
        self._group_rows = 0
        self._shard: ShardFile | None = None
        self._shard_id_sum = 0
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
            self._group.append(batch)
            self._group_rows += batch.num_rows
            if self._group_rows >= ROW_GROUP_ROWS:
                self._write_group()
            if (self._shard.num_rows if self._shard else 0) + self._group_rows >= self.shard_rows:
                shard = self.flush()
        return AppendResult(added=len(keep), duplicates=duplicates, shard=shard)

    def _write_group(self) -> None:
        if not self._group:
            return
        table = pa.Table.from_batches(self._group)
        self._group, self._group_rows = [], 0
        if self._shard is None:
            self._shard = ShardFile(self.dataset.data_dir, self.dataset._new_shard_name(), row_schema().arrow)
        self._shard.write(table, row_group_rows=ROW_GROUP_ROWS)
        self._shard_id_sum = (self._shard_id_sum + id_sum(table.column("id"))) % _HASH_MODULUS

    def flush(self) -> str | None:
        """Commit the rows written so far as one shard now; returns its file name (None when there were none)."""
        self._write_group()
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
        if self._quarantine.add(file=file, record=record, field=field, reason=reason):
            self.quarantined += 1

    def close(self) -> None:
        """Flush pending rows, close the quarantine file and rewrite the card."""
        self.flush()
        self._quarantine.close()
        write_card(self.dataset.path, self.dataset.manifest)


def is_valid_id(value: str) -> bool:
    """True for a 64-character lowercase hexadecimal id."""
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def count_by(dataset: Dataset, column: str) -> dict[str, int]:
    """Row counts per value of a string column, streamed."""
    counts: dict[str, int] = {}
    for batch in dataset.iter_batches(columns=[column], batch_rows=65536):
        values = pc.value_counts(batch.column(0))
        for item in values.to_pylist():
            key = str(item["values"])
            counts[key] = counts.get(key, 0) + int(item["counts"])
    return counts
