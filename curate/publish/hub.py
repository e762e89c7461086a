"""Upload a release folder to the Hugging Face Hub with huggingface_hub, resumably.

Design: the folder is compared with the repo's current tree (``list_repo_tree``: git blob sha1 of regular files,
sha256 of LFS/Xet files); files already there with the same content are skipped. The rest go in commits of at
most ``commit_bytes`` of data shards each (``data/`` first), and the last commit carries the card,
``curate_release.json``, figures and the deletion of files the release no longer has. So an interrupted upload
keeps every finished commit, a re-run sends only what is missing, and readers see the new card only once all its
shards are on the Hub. Whether a file travels as a regular blob, LFS or Xet is the Hub's choice (preupload) and
the client's business.

The token comes from ``HF_TOKEN`` or the user's ``hf auth login`` (``huggingface_hub.get_token``); it is passed
to the client and never printed, logged or written.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from curate.dataset.io import sha256_of_path
from curate.errors import ConfigurationError, CurateError

if TYPE_CHECKING:
    from huggingface_hub.hf_api import RepoFile

DEFAULT_COMMIT_BYTES = 1024**3
LAST_COMMIT_PREFIXES = ("README.md", "curate_release.json", "figures/")


@dataclass
class UploadReport:
    """What an upload did: files sent and skipped (already on the Hub), stale files deleted, commit ids."""

    repo_url: str
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)


def resolve_token() -> str:
    """The Hub token from ``HF_TOKEN`` or the saved login; raises ConfigurationError when there is none."""
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise ConfigurationError("no Hugging Face token: set HF_TOKEN or run `hf auth login`")
    return token


def transport_errors() -> tuple[type[BaseException], ...]:
    """Exceptions the Hub client raises when the Hub cannot be reached (offline mode, refused connection, timeout)."""
    errors: list[type[BaseException]] = [ConnectionError]  # OfflineModeIsEnabled is a ConnectionError
    for name in ("httpx2", "httpx"):  # huggingface_hub 2.x ships httpx2; older versions used httpx
        try:
            errors.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def _git_blob_sha1(path: Path) -> str:
    digest = hashlib.sha1(b"blob %d\x00" % path.stat().st_size)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def local_files(root: Path) -> list[str]:
    """Every file under ``root`` as a sorted repo path (hidden files and folders excluded)."""
    paths = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            paths.append(relative.as_posix())
    return sorted(paths)


def _batches(paths: list[str], root: Path, limit: int) -> list[list[str]]:
    batches: list[list[str]] = []
    size = 0
    for path in paths:
        nbytes = (root / path).stat().st_size
        if not batches or size + nbytes > limit:
            batches.append([])
            size = 0
        batches[-1].append(path)
        size += nbytes
    return batches


def _changed_files(root: Path, remote: Mapping[str, RepoFile]) -> tuple[list[str], list[str]]:
    """(local files to send, local files the Hub already holds byte for byte) under ``root``.

    A remote LFS file is compared by its sha256, a regular one by its git blob sha1.
    """
    to_send: list[str] = []
    unchanged: list[str] = []
    for path in local_files(root):
        entry = remote.get(path)
        if entry is not None:
            same = (
                entry.lfs.sha256 == sha256_of_path(root / path)
                if entry.lfs is not None
                else entry.blob_id == _git_blob_sha1(root / path)
            )
            if same:
                unchanged.append(path)
                continue
        to_send.append(path)
    return to_send, unchanged


def upload_release(
    root: Path,
    repo_id: str,
    *,
    token: str,
    private: bool = False,
    commit_bytes: int = DEFAULT_COMMIT_BYTES,
    on_progress: Callable[[str], None] = lambda message: None,
) -> UploadReport:
    """Create (or reuse) the dataset repo ``repo_id`` and make its files equal to the folder ``root``.

    Args:
        root: release folder from :func:`curate.publish.build.build_release`.
        repo_id: ``ORG/NAME``.
        token: Hub token (never logged).
        private: create the repo private (ignored when it exists).
        commit_bytes: most bytes of data files per commit (bytes on disk).
        on_progress: called with one line per commit.

    Returns:
        The :class:`UploadReport`.

    Raises:
        CurateError: the Hub refused a request (the message names the step and the HTTP status).
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.hf_api import RepoFile

    api = HfApi(token=token)
    step = "create repo"
    try:
        repo_url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        report = UploadReport(repo_url=str(repo_url))
        step = "list remote files"
        remote = {
            entry.path: entry
            for entry in api.list_repo_tree(repo_id, repo_type="dataset", recursive=True)
            if isinstance(entry, RepoFile)
        }
        to_send, unchanged = _changed_files(root, remote)
        report.skipped += unchanged
        stale = sorted(set(remote) - set(local_files(root)) - {".gitattributes"})
        data = [p for p in to_send if not p.startswith(LAST_COMMIT_PREFIXES)]
        last = [p for p in to_send if p.startswith(LAST_COMMIT_PREFIXES)]
        batches = _batches(data, root, commit_bytes)
        if last or stale:
            batches.append(last)
        for number, batch in enumerate(batches, start=1):
            step = f"commit {number}/{len(batches)}"
            operations: list = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=root / p) for p in batch]
            if number == len(batches):
                operations += [CommitOperationDelete(path_in_repo=p) for p in stale]
            megabytes = sum((root / p).stat().st_size for p in batch) / 1e6
            on_progress(f"{step}: {len(batch)} files ({megabytes:.1f} MB), {len(operations) - len(batch)} deletions")
            info = api.create_commit(
                repo_id,
                operations,
                commit_message=f"curate publish: {step}",
                repo_type="dataset",
            )
            report.uploaded += batch
            report.commits.append(info.oid)
        report.deleted = stale
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "no response"
        raise CurateError(f"Hugging Face Hub refused '{step}' for {repo_id} (HTTP {status})") from exc
    except transport_errors() as exc:
        raise CurateError(
            f"cannot reach the Hugging Face Hub at {api.endpoint} during '{step}' for {repo_id}: "
            f"{type(exc).__name__}{_offline_hint()}"
        ) from exc
    return report


def _offline_hint() -> str:
    from huggingface_hub import constants

    return " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
