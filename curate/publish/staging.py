"""A release appears complete or not at all: it is built in a staging folder and ``curate_release.json`` comes last.

``publish`` builds into ``OUT/.curate-publish.<pid>.<hex>.partial/`` (inside the folder the user named), then
moves the card, ``data/`` and ``figures/`` up into ``OUT`` and writes ``curate_release.json`` last, atomically:
the release record is the completeness marker. So a killed publish leaves either its staging folder or a folder
that holds curate's card without a release record; ``pull hf`` refuses both, and a re-run of ``publish``
recognises them as its own incomplete release and replaces them. A staging folder whose process is gone is stale
and removed by the next run.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import yaml

from curate.dataset.io import atomic_write_text, process_alive
from curate.dataset.paths import inside
from curate.errors import ConfigurationError

RELEASE_FILE = "curate_release.json"
CARD_FILE = "README.md"
RELEASE_ENTRIES = (CARD_FILE, "data", "figures")  # moved into place in this order; the release record follows
CARD_TAG = "curate"
_STAGING = re.compile(r"^\.curate-publish\.(?P<pid>\d+)\.[0-9a-f]{8}\.partial$")


def staging_folder(parent: Path) -> Path:
    """A fresh staging folder name inside ``parent`` (``.curate-publish.<pid>.<8 hex>.partial``); not created."""
    return parent / f".curate-publish.{os.getpid()}.{secrets.token_hex(4)}.partial"


def is_staging(path: Path) -> bool:
    """True when ``path``'s name is a publish staging folder's."""
    return _STAGING.match(path.name) is not None


def _stale(path: Path) -> bool:
    match = _STAGING.match(path.name)
    return match is not None and path.is_dir() and not path.is_symlink() and not process_alive(int(match["pid"]))


def remove_stale_staging(parent: Path) -> list[Path]:
    """Delete the staging folders in ``parent`` whose publish process is gone; returns what was removed."""
    removed = []
    if parent.is_dir():
        for path in sorted(parent.iterdir()):
            if _stale(path):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def card_front_matter(folder: Path, *, within: Path | None = None) -> dict[str, Any] | None:
    """The YAML front matter of ``folder/README.md`` (None when there is no card, no front matter, or the card
    links outside ``within``, default ``folder``)."""
    card = folder / CARD_FILE
    if not card.is_file() or not inside(folder if within is None else within, card):
        return None
    match = re.match(r"^---\n(.*?)\n---\n", card.read_text(encoding="utf-8", errors="replace"), re.DOTALL)
    if match is None:
        return None
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return None
    return meta if isinstance(meta, dict) else None


def has_curate_card(folder: Path, *, within: Path | None = None) -> bool:
    """True when ``folder`` holds a card curate wrote (its front matter carries the ``curate`` tag)."""
    meta = card_front_matter(folder, within=within) or {}
    tags = meta.get("tags")
    return isinstance(tags, list) and CARD_TAG in tags


def incomplete_release(folder: Path) -> bool:
    """True when ``folder`` is what a killed ``publish`` left: no release record, only release entries and
    staging folders, and either a staging folder or curate's card among them."""
    if folder.is_symlink() or not folder.is_dir() or (folder / RELEASE_FILE).exists():
        return False
    entries = list(folder.iterdir())
    if not all(
        (p.name in RELEASE_ENTRIES and not p.is_symlink()) or (is_staging(p) and not p.is_symlink()) for p in entries
    ):
        return False
    return any(is_staging(p) for p in entries) or has_curate_card(folder)


def prepare_release_folder(out: Path) -> None:
    """Make ``out`` ready for a release: create it, or clear curate's own incomplete release left in it.

    Raises:
        ConfigurationError: ``out`` holds anything else, or another publish is writing into it now.
    """
    if out.is_dir() and not any(out.iterdir()):
        return
    if out.exists() or out.is_symlink():
        if not incomplete_release(out):
            raise ConfigurationError(f"{out}: release folder must be new, empty, or an incomplete curate release")
        live = [p for p in out.iterdir() if is_staging(p) and not _stale(p)]
        if live:
            raise ConfigurationError(f"{out}: another publish is writing into it now ({live[0].name})")
        for entry in out.iterdir():
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    out.mkdir(parents=True, exist_ok=True)


def promote(stage: Path, out: Path, record_text: str) -> None:
    """Move the release built in ``stage`` into ``out`` and write ``out/curate_release.json`` last, atomically."""
    for name in RELEASE_ENTRIES:
        if (stage / name).exists():
            os.rename(stage / name, out / name)
    atomic_write_text(out / RELEASE_FILE, record_text)  # fsyncs OUT: the renames above are on disk before it
    shutil.rmtree(stage, ignore_errors=True)
