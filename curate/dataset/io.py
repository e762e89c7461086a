"""The one IO layer: atomic, fsynced writes and content fingerprints (sha256) of files and folders.

A file written here appears under its final name only once complete: bytes go to a hidden temporary sibling
(``.NAME.<pid>-<random>.tmp``, named by :func:`temporary_sibling`), are flushed and fsynced, and are renamed into
place; a crash leaves either the old file or the new one, never a torn one, and at most a stale temporary. The
owner's process id in the name lets the next write to the same target (:func:`new_temporary`) or
:func:`remove_stale_temporaries` remove the temporaries of processes that are gone, and never a live writer's.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from curate.errors import DatasetError

TEMPORARY_SUFFIX = ".tmp"
# .NAME.<pid>-<8 hex>.tmp<anything>: the owner's pid, then whatever a writer appends (a suffix, a -lock companion);
# .NAME.<token>.tmp<anything> without a pid: an older curate's, owner unknown, treated as stale
_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.(?:(?P<pid>\d+)-[0-9a-f]{8}|[^.]+)\.tmp(?P<rest>.*)$", re.DOTALL)


def temporary_sibling(path: Path, *, suffix: str = "") -> Path:
    """A fresh hidden name beside ``path``, ``.NAME.<pid>-<8 hex>.tmp<suffix>``, for a file renamed into place later.

    ``suffix`` ends the name for writers that pick their backend from it (``.aselmdb``).
    """
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TEMPORARY_SUFFIX}{suffix}")


def process_alive(pid: int) -> bool:
    """True while a process ``pid`` exists (also another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def is_stale_temporary(path: Path) -> bool:
    """True for a temporary of :func:`temporary_sibling` whose owner process is gone (or not named: older curate)."""
    match = _TEMPORARY.match(Path(path).name)
    if match is None:
        return False
    pid = match.group("pid")
    return pid is None or not process_alive(int(pid))


def new_temporary(path: Path, *, suffix: str = "") -> Path:
    """:func:`temporary_sibling` of ``path``, after removing the stale temporaries of ``path`` beside it."""
    path = Path(path)
    remove_stale_temporaries(path.parent, glob.escape(path.name))
    return temporary_sibling(path, suffix=suffix)


def fsync_file(path: Path) -> None:
    """Flush ``path``'s bytes to disk (a file another library wrote)."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(folder: Path) -> None:
    """Flush ``folder``'s entries (a rename into it) to disk."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_no_follow(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open(path, flags | O_NOFOLLOW | O_CLOEXEC)``: a file descriptor, never through a symbolic link.

    Raises:
        DatasetError: ``path`` is a symbolic link (writing through it would reach a file outside the folder).
    """
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DatasetError(f"{path}: is a symbolic link; curate does not follow links for files it writes") from exc
        raise


@contextmanager
def exclusive_lock(path: Path, *, busy: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the file ``path`` (created, never truncated, never through a link).

    Raises:
        DatasetError: another process holds the lock (message ``busy``), or ``path`` is a symbolic link.
    """
    fd = open_no_follow(path, os.O_WRONLY | os.O_CREAT)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise DatasetError(busy) from exc
        yield
    finally:
        os.close(fd)


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write ``path`` through; on success fsync and rename it into place.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = new_temporary(path)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator[IO]:
    """``open(path, mode)`` through :func:`atomic_output` (text modes are UTF-8)."""
    with atomic_output(path) as tmp:
        encoding = None if "b" in mode else "utf-8"
        with open(tmp, mode, encoding=encoding) as fh:
            yield fh


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def remove_stale_temporaries(folder: Path, name: str = "*") -> int:
    """Delete the temporaries of ``name`` (a glob) that killed writers left in ``folder``; returns the count.

    Only files whose owner process is gone (:func:`is_stale_temporary`) go; a live writer's are kept.
    """
    removed = 0
    for stale in Path(folder).glob(f".{name}.*{TEMPORARY_SUFFIX}*"):
        if (stale.is_file() or stale.is_symlink()) and is_stale_temporary(stale):
            stale.unlink(missing_ok=True)
            removed += 1
    return removed


def sha256_of_path(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, or of every file under a directory (relative names and bytes, in name order)."""
    root = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    for file in files:
        if root.is_dir():
            digest.update(str(file.relative_to(root)).encode())
        with open(file, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def sha256_of_text(text: str) -> str:
    """sha256 hex digest of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode()).hexdigest()
