"""Release layout: one config per functional (and per generator), Parquet shards per split, sized by bytes.

Files::

    data/<functional config>/<origin>/<split>-00000-of-00002.parquet

``origin`` is ``imported`` for rows read from DFT files and the generator's name for generated rows, so a
functional config globs ``data/pbe/*/train-*``, a generator config ``data/*/rattle/train-*`` and the ``default``
config ``data/*/*/train-*``: every row is stored once whatever the number of configs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curate.dataset.paths import safe_join
from curate.dataset.schema import row_schema
from curate.publish.conform import conform_batch
from curate.publish.split import SPLIT_NAMES, SplitPlan
from curate.publish.stats import ReleaseStats

DATA_DIR = "data"
IMPORTED_ORIGIN = "imported"
UNLABELLED_CONFIG = "unlabelled"
DEFAULT_CONFIG = "default"
DEFAULT_SHARD_BYTES = 512 * 1024**2
ROW_GROUP_BYTES = 32 * 1024**2


def slug(value: str) -> str:
    """A config or folder name: lowercase, ``+`` and anything not alphanumeric become ``_``.

    ``PBE`` -> ``pbe``, ``PBE+U`` -> ``pbe_u``, ``r2SCAN`` -> ``r2scan``, ``r2SCAN+U`` -> ``r2scan_u``.
    """
    return re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_") or "unnamed"


def functional_config(functional: str | None) -> str:
    """Config name of a functional (``unlabelled`` for rows without one)."""
    return UNLABELLED_CONFIG if functional is None else slug(functional)


@dataclass
class ShardFile:
    """One written shard: path relative to the release root, rows, config, origin, split, Arrow bytes."""

    path: str
    rows: int
    config: str
    origin: str
    split: str
    arrow_bytes: int


@dataclass
class _OpenShard:
    writer: pq.ParquetWriter
    tmp: Path
    rows: int = 0
    bytes: int = 0
    pending: list[pa.RecordBatch] = field(default_factory=list)
    pending_bytes: int = 0


class ShardWriter:
    """Writes batches into per-(config, origin, split) shards, rolling a shard at ``shard_bytes`` of Arrow data.

    Row groups hold about :data:`ROW_GROUP_BYTES` of Arrow data; shards get their final
    ``<split>-<i>-of-<n>.parquet`` names in :meth:`close`, once ``n`` is known.
    """

    def __init__(self, root: Path, *, shard_bytes: int = DEFAULT_SHARD_BYTES):
        self.root = root
        self.shard_bytes = shard_bytes
        self.schema = row_schema().arrow
        self._open: dict[tuple[str, str, str], _OpenShard] = {}
        self._done: dict[tuple[str, str, str], list[tuple[Path, int, int]]] = {}

    def write(self, batch: pa.RecordBatch, *, config: str, origin: str, split: str) -> None:
        """Append ``batch`` (row schema) to the shard of (config, origin, split)."""
        key = (config, origin, split)
        shard = self._open.get(key)
        if shard is None:
            # config and origin come from the rows' functional and generator (slugs; joined safely all the same)
            folder = safe_join(safe_join(self.root / DATA_DIR, config, what="config"), origin, what="origin")
            folder.mkdir(parents=True, exist_ok=True)
            index = len(self._done.get(key, []))
            tmp = folder / f".{split}-{index:05d}.parquet.tmp"
            shard = _OpenShard(writer=pq.ParquetWriter(tmp, self.schema, compression="zstd"), tmp=tmp)
            self._open[key] = shard
        shard.pending.append(batch)
        shard.pending_bytes += batch.nbytes
        shard.bytes += batch.nbytes
        shard.rows += batch.num_rows
        if shard.pending_bytes >= ROW_GROUP_BYTES:
            self._write_group(shard)
        if shard.bytes >= self.shard_bytes:
            self._close_shard(key)

    @staticmethod
    def _write_group(shard: _OpenShard) -> None:
        if shard.pending:
            table = pa.Table.from_batches(shard.pending)
            shard.writer.write_table(table, row_group_size=table.num_rows)
            shard.pending, shard.pending_bytes = [], 0

    def _close_shard(self, key: tuple[str, str, str]) -> None:
        shard = self._open.pop(key)
        self._write_group(shard)
        shard.writer.close()
        self._done.setdefault(key, []).append((shard.tmp, shard.rows, shard.bytes))

    def close(self) -> list[ShardFile]:
        """Finish every shard and give it its final name; returns all shards, sorted by path."""
        for key in list(self._open):
            self._close_shard(key)
        files = []
        for (config, origin, split), parts in self._done.items():
            for index, (tmp, rows, arrow_bytes) in enumerate(parts):
                final = tmp.with_name(f"{split}-{index:05d}-of-{len(parts):05d}.parquet")
                tmp.rename(final)
                path = final.relative_to(self.root).as_posix()
                files.append(ShardFile(path, rows, config=config, origin=origin, split=split, arrow_bytes=arrow_bytes))
        return sorted(files, key=lambda f: f.path)


def write_shards(
    batches: Iterable[pa.RecordBatch],
    root: Path,
    *,
    plan: SplitPlan,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
) -> tuple[list[ShardFile], ReleaseStats]:
    """Write every row, with its ``split`` column set from ``plan``, into the release layout under ``root``.

    Args:
        batches: record batches in the row schema (the whole dataset, streamed).
        root: release folder; shards go to ``root/data/``.
        plan: the split of every row id.
        shard_bytes: roll a shard once it holds this many bytes of Arrow data (uncompressed).

    Returns:
        The shards written and the counts and label distributions of the release.
    """
    writer = ShardWriter(root, shard_bytes=shard_bytes)
    stats = ReleaseStats()
    split_field = row_schema().arrow.field("split")
    for batch in batches:
        batch = conform_batch(batch)
        split_index = batch.schema.get_field_index("split")
        ids = batch.column("id").to_pylist()
        splits = [plan.split_of_row[row_id] for row_id in ids]
        batch = batch.set_column(split_index, split_field, pa.array(splits, type=pa.string()))
        keys: dict[tuple[str, str, str], list[int]] = {}
        for i, (functional, generator, row_split) in enumerate(
            zip(batch.column("functional").to_pylist(), batch.column("generator").to_pylist(), splits, strict=True)
        ):
            origin = IMPORTED_ORIGIN if generator is None else slug(generator)
            keys.setdefault((functional_config(functional), origin, row_split), []).append(i)
        for (config, origin, split), rows in keys.items():
            part = batch if len(rows) == batch.num_rows else batch.take(pa.array(rows, type=pa.int64()))
            writer.write(part, config=config, origin=origin, split=split)
            stats.add(part, config=config, split=split)
    return writer.close(), stats


def configs_yaml(files: list[ShardFile]) -> list[dict]:
    """The ``configs`` list of the card's front matter: ``default`` (all rows), one per functional and one per
    generator, each with the data_files globs of the splits it has (a split with no file is left out)."""

    def entry(name: str, pattern: str, chosen: list[ShardFile], *, default: bool = False) -> dict:
        present = {f.split for f in chosen}
        data_files = [
            {"split": split, "path": pattern.format(split=split)} for split in SPLIT_NAMES if split in present
        ]
        out: dict = {"config_name": name, "data_files": data_files}
        if default:
            out["default"] = True
        return out

    configs = [entry(DEFAULT_CONFIG, f"{DATA_DIR}/*/*/{{split}}-*.parquet", files, default=True)]
    for config in sorted({f.config for f in files}):
        chosen = [f for f in files if f.config == config]
        configs.append(entry(config, f"{DATA_DIR}/{config}/*/{{split}}-*.parquet", chosen))
    for origin in sorted({f.origin for f in files} - {IMPORTED_ORIGIN}):
        chosen = [f for f in files if f.origin == origin]
        configs.append(entry(f"generated_{origin}", f"{DATA_DIR}/*/{origin}/{{split}}-*.parquet", chosen))
    return configs
