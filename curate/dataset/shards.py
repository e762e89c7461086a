"""One Parquet shard at a time: written under a hidden temporary name, verified, then committed whole.

Both dataset writers (the row store and the predictions companion) write through :class:`ShardFile`, so a shard
appears under ``data/`` only once it is complete, readable and on disk.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curate.dataset.io import fsync_file, temporary_sibling
from curate.errors import DatasetError

SHARD_COMPRESSION = "zstd"


def shard_name(sequence: int) -> str:
    """``part-<sequence:05d>-<8 hex>.parquet``: ordered by sequence, never reusing a killed run's name."""
    return f"part-{sequence:05d}-{secrets.token_hex(4)}.parquet"


def next_shard_sequence(names: list[str]) -> int:
    """The sequence number after the highest of the shard file names ``names`` (0 for none)."""
    return max((int(name.split("-")[1]) for name in names), default=-1) + 1


class ShardFile:
    """A shard being written to ``folder/name``: rows go to a temporary sibling until :meth:`commit`."""

    def __init__(self, folder: Path, name: str, schema: pa.Schema):
        self.name = name
        self.path = Path(folder) / name
        self.tmp = temporary_sibling(self.path)
        self.num_rows = 0
        self._writer = pq.ParquetWriter(self.tmp, schema, compression=SHARD_COMPRESSION)

    def write(self, data: pa.Table | pa.RecordBatch, *, row_group_rows: int | None = None) -> None:
        """Append rows (schema as given at construction)."""
        table = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
        self._writer.write_table(table, row_group_size=row_group_rows)
        self.num_rows += table.num_rows

    def commit(self) -> None:
        """Close, check the footer reads back with every row, fsync and rename into place.

        Raises DatasetError (and removes the temporary file) when the shard does not read back complete, e.g.
        after a full disk truncated it; the folder is then as it was before this shard.
        """
        try:
            self._writer.close()
            stored = pq.ParquetFile(self.tmp).metadata.num_rows
            if stored != self.num_rows:
                raise DatasetError(f"{self.path}: shard holds {stored} rows after writing {self.num_rows}")
            fsync_file(self.tmp)
        except (OSError, pa.ArrowException) as exc:
            self.tmp.unlink(missing_ok=True)
            raise DatasetError(f"{self.path}: shard could not be written completely ({exc})") from exc
        except DatasetError:
            self.tmp.unlink(missing_ok=True)
            raise
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Drop the shard: close the writer and remove the temporary file."""
        try:
            self._writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)
