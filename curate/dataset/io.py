"""The one IO layer: atomic, fsynced writes and content fingerprints (sha256) of files and folders.

A file written here appears under its final name only once complete: bytes go to a hidden temporary sibling
(``.NAME.<random>.tmp``), are flushed and fsynced, and are renamed into place; a crash leaves either the old file
or the new one, never a torn one, and at most a stale ``.tmp`` that :func:`remove_stale_temporaries` clears.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

TEMPORARY_SUFFIX = ".tmp"


def temporary_sibling(path: Path) -> Path:
    """A fresh hidden name beside ``path`` (``.NAME.<8 hex>.tmp``), for a file renamed into place later."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}")


def fsync_file(path: Path) -> None:
    """Flush ``path``'s bytes to disk (a file another library wrote)."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write ``path`` through; on success fsync and rename it into place.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
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
    """Delete the hidden temporaries of ``name`` (a glob) left in ``folder`` by a killed write; returns the count."""
    removed = 0
    for stale in Path(folder).glob(f".{name}.*{TEMPORARY_SUFFIX}"):
        if stale.is_file() and not stale.is_symlink():
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
