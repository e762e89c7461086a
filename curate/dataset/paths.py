"""Names from data as paths: the one place a row id, release entry, shard or report name becomes a path.

A name that comes from a file someone else wrote (a row id, an entry of ``curate_release.json``, a glob in a
card, a report's file name) must never lead outside the folder the user named. :func:`safe_join` and
:func:`safe_relative` refuse absolute paths, ``..``, separators inside a component and NUL bytes, and check that
the resolved result (symlinks followed) is still under the resolved root.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from curate.errors import InputError


def _check_component(part: str, *, what: str, name: str) -> None:
    if not part or part in (".", "..") or "/" in part or "\\" in part or "\x00" in part:
        raise InputError(f"{what} {name!r} is not a plain name inside its folder ({part!r} is refused)")


def inside(root: Path, path: Path) -> bool:
    """True when ``path`` resolved (symlinks followed) is ``root`` resolved or lies under it."""
    resolved_root = Path(os.path.realpath(root))
    resolved = Path(os.path.realpath(path))
    return resolved == resolved_root or resolved_root in resolved.parents


def _checked(root: Path, joined: Path, *, what: str, name: str, within: Path | None = None) -> Path:
    boundary = root if within is None else within
    if not inside(boundary, joined):
        raise InputError(f"{what} {name!r} leads outside {boundary} (to {os.path.realpath(joined)})")
    return joined


def safe_join(root: Path, name: str, *, what: str, within: Path | None = None) -> Path:
    """``root / name`` for a single path component ``name`` taken from data.

    Args:
        root: the folder the user named.
        name: one component (a row id, a file name); no separator, no ``..``, no NUL, not absolute.
        what: what ``name`` is, for the message (``"row id"``, ``"report"``).
        within: the folder the resolved result must stay in (default ``root``; see :func:`safe_relative`).

    Raises:
        InputError: ``name`` is not a plain component, or ``root / name`` resolves outside ``root`` (a symlink).
    """
    _check_component(name, what=what, name=name)
    return _checked(root, root / name, what=what, name=name, within=within)


def check_relative(root: Path, relative: str, *, what: str) -> None:
    """Refuse a ``/``-separated path (or glob) from data that is absolute or has a ``..``, empty, backslash or NUL
    component; the lexical half of :func:`safe_relative`, for globs that cannot be resolved."""
    if not isinstance(relative, str) or relative.startswith("/") or PurePosixPath(relative).is_absolute():
        raise InputError(f"{what} {relative!r} is an absolute path; expected a path inside {root}")
    for part in relative.split("/"):
        _check_component(part, what=what, name=relative)


def safe_relative(root: Path, relative: str, *, what: str, within: Path | None = None) -> Path:
    """``root / relative`` for a ``/``-separated relative path taken from data (a release entry, a glob match).

    ``within`` (default ``root``) is the folder the resolved path must stay in: the Hugging Face cache keeps a
    snapshot's files as symlinks into the repo's ``blobs/``, so a snapshot is checked against its repo folder.

    Raises:
        InputError: ``relative`` is absolute, has a ``..``, an empty component, a backslash or NUL, or resolves
            outside ``root`` (through a symlink).
    """
    check_relative(root, relative, what=what)
    return _checked(root, root.joinpath(*relative.split("/")), what=what, name=relative, within=within)


REPORTS_DIR = "reports"


def reports_folder(dataset_dir: Path, names: Iterable[str]) -> Path:
    """``dataset_dir/reports``, created, ready for the files ``names`` to be written without following a link.

    A report file that is a symbolic link is removed (the link only, never what it points to), so the write
    creates a file inside the dataset instead of writing through the link.

    Raises:
        InputError: ``reports`` is itself a symbolic link, or a name is not a plain file name.
    """
    folder = Path(dataset_dir) / REPORTS_DIR
    if folder.is_symlink():
        raise InputError(
            "reports folder is a symbolic link; curate writes reports only inside the dataset", file=str(folder)
        )
    folder.mkdir(exist_ok=True)
    for name in names:
        _check_component(name, what="report", name=name)
        if (folder / name).is_symlink():
            (folder / name).unlink()
    return folder
