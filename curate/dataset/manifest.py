"""A dataset's manifest: what marks a folder as a curate dataset, and the shard list reconciled with ``data/``.

The committed shards under ``data/`` are the truth (a shard is renamed there only once complete and verified,
see :mod:`curate.dataset.shards`); the manifest records them with their row counts and id sums. A process killed
(or a disk that filled) after a shard's rename and before the manifest's rewrite leaves a shard the manifest does
not list: :func:`reconcile` counts it from the file, so every reader (curate, pyarrow, ``datasets``) sees the
same rows. A file in ``data/`` that does not read as a complete shard (written by something else, or damaged
afterwards) is left out and reported, never read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate import __version__
from curate.dataset.schema import row_schema
from curate.errors import DatasetError

MANIFEST_NAME = "manifest.json"
DATA_DIR = "data"
FORMAT_NAME = "curate-dataset"
FORMAT_VERSION = 1
HASH_MODULUS = 1 << 256
# keys curate manages; other sections (fitted reference energies, ...) are free
CORE_KEYS = frozenset(
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
    return total % HASH_MODULUS


def content_hash_from(num_rows: int, ids_sum: int) -> str:
    """Dataset content hash: sha256 of the row count and the id sum; independent of row and shard order."""
    return hashlib.sha256(f"{num_rows}:{ids_sum:064x}".encode()).hexdigest()


def empty_manifest() -> dict[str, Any]:
    """The manifest of a dataset without rows."""
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


def read_manifest(folder: Path) -> dict[str, Any]:
    """``folder/manifest.json``, checked to be a curate manifest this version reads.

    Raises:
        DatasetError: no manifest (a folder is a dataset only with one), the manifest or ``data/`` is a symbolic
            link, not JSON, another format, or a schema major version this curate cannot read.
    """
    manifest_path = Path(folder) / MANIFEST_NAME
    for part in (manifest_path, Path(folder) / DATA_DIR):
        if part.is_symlink():
            raise DatasetError(f"{part}: is a symbolic link; a dataset's files stay inside its folder")
    if not manifest_path.is_file():
        raise DatasetError(f"{folder}: not a curate dataset (no {MANIFEST_NAME})")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{manifest_path}: manifest is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise DatasetError(f"{manifest_path}: not a curate manifest (format={found!r})")
    major = str(manifest["schema"]["version"]).split(".")[0]
    if major != row_schema().version.split(".")[0]:
        raise DatasetError(
            f"{manifest_path}: schema version {manifest['schema']['version']} cannot be read by "
            f"this curate (schema {row_schema().version})"
        )
    return manifest


def refresh_totals(manifest: dict[str, Any]) -> None:
    """Set the row count, id sum and content hash from the manifest's shard entries."""
    total_rows = sum(s["num_rows"] for s in manifest["shards"])
    total_sum = sum(int(s["id_sum"], 16) for s in manifest["shards"]) % HASH_MODULUS
    manifest["num_rows"] = total_rows
    manifest["id_sum"] = f"{total_sum:064x}"
    manifest["content_hash"] = content_hash_from(total_rows, total_sum)


@dataclass(frozen=True)
class Reconciled:
    """What :func:`reconcile` changed: shards counted from their files, listed shards whose file is gone, and
    files left out with the reason."""

    counted: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    damaged: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.counted or self.dropped or self.damaged)


def reconcile(manifest: dict[str, Any], data_dir: Path) -> Reconciled:
    """Make ``manifest``'s shard list match the shards in ``data_dir`` (in place); see the module docstring.

    Listed shards whose file is gone are dropped; unlisted ``*.parquet`` files are counted when they read back
    whole with an ``id`` column, and reported as damaged (not counted) otherwise.
    """
    on_disk = sorted(p.name for p in Path(data_dir).glob("*.parquet") if p.is_file() and not p.is_symlink())
    known = {s["file"]: s for s in manifest["shards"]}
    if on_disk == sorted(known):
        return Reconciled()
    shards = []
    result = Reconciled()
    for name in on_disk:
        if name in known:
            shards.append(known[name])
            continue
        try:
            ids = pq.read_table(Path(data_dir) / name, columns=["id"]).column("id")
            entry = {"file": name, "num_rows": len(ids), "id_sum": f"{id_sum(ids):064x}"}
        except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
            result.damaged[name] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            continue
        shards.append(entry)
        result.counted.append(name)
    result.dropped.extend(sorted(set(known) - set(on_disk)))
    manifest["shards"] = shards
    refresh_totals(manifest)
    return result
