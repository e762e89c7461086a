"""Bring a published release (a Hub dataset repo or a local release folder) back into a curate dataset.

The files to read come from ``curate_release.json`` when the release has one (each checked against its sha256
and row count), else from the ``default`` config of the card's front matter, else ``data/**/*.parquet``. Rows
are cast to the current row schema and appended with the store's writer, so ids and float64 values come back
bit for bit and a second pull adds nothing.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from curate.dataset.io import sha256_of_path
from curate.dataset.store import Dataset
from curate.errors import ConfigurationError, DatasetError, InputError
from curate.publish.build import RELEASE_FILE, RELEASE_FORMAT
from curate.publish.conform import conform_batch
from curate.publish.layout import DEFAULT_CONFIG

PULL_PATTERNS = ["README.md", RELEASE_FILE, "data/*"]


@dataclass(frozen=True)
class PullReport:
    """What a pull did: where from, revision, files read, rows added and already present, content hashes."""

    source: str
    revision: str | None
    files: int
    rows_added: int
    duplicates: int
    content_hash: str
    release_content_hash: str | None


def download_release(repo_id: str, *, revision: str | None = None) -> tuple[Path, str]:
    """Download the release files of Hub dataset ``repo_id`` into the Hugging Face cache (resumable).

    Returns:
        The local snapshot folder and the commit sha it holds.
    """
    from huggingface_hub import get_token, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    from curate.publish.hub import transport_errors

    unreachable: tuple[type[BaseException], ...] = (LocalEntryNotFoundError, *transport_errors())
    try:
        folder = snapshot_download(
            repo_id,
            repo_type="dataset",
            revision=revision,
            allow_patterns=PULL_PATTERNS,
            token=get_token() or False,
        )
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "no response"
        raise ConfigurationError(f"cannot download Hub dataset {repo_id} (HTTP {status})") from exc
    except unreachable as exc:
        raise ConfigurationError(
            f"cannot download Hub dataset {repo_id}: the Hub is not reachable and no copy is cached "
            f"({type(exc).__name__}; is HF_HUB_OFFLINE set?)"
        ) from exc
    path = Path(folder)
    return path, path.name


def _card_data_files(folder: Path) -> list[Path]:
    card = folder / "README.md"
    if not card.is_file():
        return []
    match = re.match(r"^---\n(.*?)\n---\n", card.read_text(encoding="utf-8"), re.DOTALL)
    if match is None:
        return []
    meta = yaml.safe_load(match.group(1)) or {}
    for config in meta.get("configs", []):
        if config.get("config_name") == DEFAULT_CONFIG:
            patterns = [
                p
                for entry in config.get("data_files", [])
                for p in ([entry["path"]] if isinstance(entry["path"], str) else entry["path"])
            ]
            return sorted({f for pattern in patterns for f in folder.glob(pattern)})
    return []


def release_files(folder: Path) -> tuple[list[Path], dict[str, Any] | None]:
    """The Parquet files of the release in ``folder`` (checked against ``curate_release.json`` when present).

    Raises:
        InputError: a listed file is missing or its sha256 differs (names the file).
    """
    record_path = folder / RELEASE_FILE
    if record_path.is_file():
        record = json.loads(record_path.read_text())
        if record.get("format") != RELEASE_FORMAT:
            raise InputError(f"not a curate release record (format={record.get('format')!r})", file=str(record_path))
        files = []
        for entry in record["files"]:
            path = folder / entry["path"]
            if not path.is_file():
                raise InputError("file listed in curate_release.json is missing", file=str(path))
            if sha256_of_path(path) != entry["sha256"]:
                raise InputError(f"sha256 differs from curate_release.json ({entry['sha256'][:16]}...)", file=str(path))
            files.append(path)
        return files, record
    files = _card_data_files(folder) or sorted((folder / "data").rglob("*.parquet"))
    if not files:
        raise InputError(
            "no Parquet files: neither curate_release.json, a default config nor data/*.parquet", file=str(folder)
        )
    return files, None


def import_release(folder: Path, out: Path, *, source: str, revision: str | None = None) -> PullReport:
    """Append the rows of the release in ``folder`` to the curate dataset at ``out`` (created when missing).

    Args:
        folder: a release folder (from ``curate publish --dry-run`` or a Hub snapshot).
        out: curate dataset directory.
        source: what to record as the source (repo id or folder path).
        revision: Hub commit sha the snapshot holds, if any.

    Returns:
        The :class:`PullReport`.

    Raises:
        InputError: missing, altered or unreadable files. DatasetError: a fresh pull whose content hash differs
            from the one the release records.
    """
    started = time.perf_counter()
    files, record = release_files(folder)
    dataset = Dataset.create(out)
    was_empty = dataset.num_rows == 0
    with dataset.writer() as writer:
        for path in files:
            expected = next((e["rows"] for e in (record or {}).get("files", []) if folder / e["path"] == path), None)
            try:
                parquet = pq.ParquetFile(path)
            except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
                raise InputError(f"not a readable Parquet file ({exc})", file=str(path)) from exc
            if expected is not None and parquet.metadata.num_rows != expected:
                raise InputError(
                    f"expected {expected} rows (curate_release.json), found {parquet.metadata.num_rows}", file=str(path)
                )
            for batch in parquet.iter_batches(batch_size=4096):
                writer.append(conform_batch(batch, file=str(path)))
    added, duplicates = writer.added, writer.duplicates  # final once the writer has closed
    dataset = Dataset.open(out)
    release_hash = record.get("content_hash") if record else None
    if was_empty and release_hash is not None and dataset.content_hash != release_hash:
        raise DatasetError(
            f"{out}: content hash {dataset.content_hash[:16]} differs from the release's {release_hash[:16]}"
        )
    if record is not None:
        for entry in record["source_manifest"].get("sources", []):
            dataset.record_source(entry)
        dataset.set_manifest_section(
            "hf_release",
            {
                "source": source,
                "revision": revision,
                "split": record["split"],
                "content_hash": release_hash,
                "history": record["source_manifest"].get("history", []),
            },
        )
    dataset.record_source({"file": source, "format": "hf", "revision": revision, "rows_added": added})
    dataset.record_history(
        {
            "command": "pull hf",
            "source": source,
            "revision": revision,
            "files": len(files),
            "rows_added": added,
            "duplicates": duplicates,
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
    return PullReport(
        source=source,
        revision=revision,
        files=len(files),
        rows_added=added,
        duplicates=duplicates,
        content_hash=dataset.content_hash,
        release_content_hash=release_hash,
    )
