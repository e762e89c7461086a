"""Bring a published release (a Hub dataset repo or a local release folder) back into a curate dataset.

The files to read come from ``curate_release.json`` when the release has one (each checked against its sha256
and row count), else from the ``default`` config of the card's front matter, else ``data/**/*.parquet``. Rows
are cast to the current row schema and appended with the store's writer, so ids and float64 values come back
bit for bit and a second pull adds nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from curate.dataset.io import sha256_of_path
from curate.dataset.paths import check_relative, safe_join, safe_relative
from curate.dataset.store import Dataset
from curate.errors import ConfigurationError, DatasetError, InputError
from curate.publish.build import RELEASE_FORMAT
from curate.publish.conform import conform_batch
from curate.publish.layout import DEFAULT_CONFIG
from curate.publish.staging import RELEASE_FILE, card_front_matter, has_curate_card, is_staging

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


def _glob_inside(folder: Path, pattern: Any, *, within: Path) -> list[Path]:
    """The files ``pattern`` (a card's data_files glob) matches in ``folder``; refuses a glob or match outside."""
    if not isinstance(pattern, str):
        raise InputError(f"data_files path {pattern!r} is not a string", file=str(folder / "README.md"))
    check_relative(folder, pattern, what="card data_files glob")
    return [
        safe_relative(folder, match.relative_to(folder).as_posix(), what="file matched by the card", within=within)
        for match in folder.glob(pattern)
    ]


def _card_data_files(folder: Path, *, within: Path) -> list[Path]:
    meta = card_front_matter(folder, within=within) or {}
    for config in meta.get("configs") or []:
        if isinstance(config, dict) and config.get("config_name") == DEFAULT_CONFIG:
            patterns = [
                p
                for entry in config.get("data_files", [])
                for p in ([entry["path"]] if isinstance(entry["path"], str) else entry["path"])
            ]
            return sorted({f for pattern in patterns for f in _glob_inside(folder, pattern, within=within)})
    return []


def _check_complete(folder: Path, *, within: Path) -> None:
    """Refuse what a killed ``publish`` left: a staging folder, or curate's card without its release record."""
    if is_staging(folder):
        raise InputError("an unfinished `curate publish` staging folder, not a release", file=str(folder))
    if (folder / RELEASE_FILE).exists():
        return
    staging = sorted(p.name for p in folder.iterdir() if is_staging(p)) if folder.is_dir() else []
    if staging:
        raise InputError(
            f"an incomplete release: a publish is writing it or was killed ({staging[0]} is left, no "
            f"{RELEASE_FILE}); re-run `curate publish` into it",
            file=str(folder),
        )
    if has_curate_card(folder, within=within):
        raise InputError(
            f"curate release without {RELEASE_FILE}, which publish writes last: the release is incomplete "
            "(a killed publish?); re-run `curate publish` into it",
            file=str(folder / RELEASE_FILE),
        )


def _listed_files(folder: Path, record_path: Path, *, within: Path) -> tuple[list[Path], dict[str, Any]]:
    record = json.loads(record_path.read_text())
    if record.get("format") != RELEASE_FORMAT:
        raise InputError(f"not a curate release record (format={record.get('format')!r})", file=str(record_path))
    files = []
    for entry in record["files"]:
        path = safe_relative(folder, entry["path"], what=f"{RELEASE_FILE} entry", within=within)
        if not path.is_file():
            raise InputError(f"file listed in {RELEASE_FILE} is missing", file=str(path))
        if sha256_of_path(path) != entry["sha256"]:
            raise InputError(f"sha256 differs from {RELEASE_FILE} ({entry['sha256'][:16]}...)", file=str(path))
        files.append(path)
    return files, record


def release_files(folder: Path, *, within: Path | None = None) -> tuple[list[Path], dict[str, Any] | None]:
    """The Parquet files of the release in ``folder`` (checked against ``curate_release.json`` when present).

    Every file must lie inside ``within`` (default ``folder``; a Hub snapshot passes its repo cache folder, whose
    ``blobs/`` its files link to): entries and globs with ``..`` or absolute paths, and links leading out, are
    refused.

    Raises:
        InputError: a listed file is missing or its sha256 differs, an entry, glob or link leads outside the
            release, or the release is incomplete (curate's card without ``curate_release.json``).
    """
    within = folder if within is None else within
    _check_complete(folder, within=within)
    record_path = safe_join(folder, RELEASE_FILE, what="release record", within=within)
    if record_path.is_file():
        return _listed_files(folder, record_path, within=within)
    files = _card_data_files(folder, within=within) or [
        safe_relative(folder, p.relative_to(folder).as_posix(), what="release file", within=within)
        for p in sorted((folder / "data").rglob("*.parquet"))
    ]
    if not files:
        raise InputError(
            "no Parquet files: neither curate_release.json, a default config nor data/*.parquet", file=str(folder)
        )
    return files, None


def import_release(
    folder: Path, out: Path, *, source: str, revision: str | None = None, within: Path | None = None
) -> PullReport:
    """Append the rows of the release in ``folder`` to the curate dataset at ``out`` (created when missing).

    Args:
        folder: a release folder (from ``curate publish --dry-run`` or a Hub snapshot).
        out: curate dataset directory.
        source: what to record as the source (repo id or folder path).
        revision: Hub commit sha the snapshot holds, if any.
        within: the folder every file read must lie in (default ``folder``; see :func:`release_files`).

    Returns:
        The :class:`PullReport`.

    Raises:
        InputError: missing, altered or unreadable files. DatasetError: a fresh pull whose content hash differs
            from the one the release records.
    """
    started = time.perf_counter()
    files, record = release_files(folder, within=within)
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
