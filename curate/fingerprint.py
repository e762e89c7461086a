"""Content fingerprints of input files and model weights, recorded in manifests."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


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
