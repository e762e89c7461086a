"""Importers, one module per file format, and their registry (the CLI's choices come from here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

from curate.sources.base import Importer, ImportOptions

ImportFormat = Literal["mp-tasks", "mptrj", "matpes", "mlearn", "vasp", "ase"]
IMPORT_FORMATS: tuple[str, ...] = get_args(ImportFormat)


def _mp_tasks() -> Importer:
    from curate.sources.mp_tasks import MPTaskImporter

    return MPTaskImporter()


def _mptrj() -> Importer:
    from curate.sources.mptrj import MPtrjImporter

    return MPtrjImporter()


def _matpes() -> Importer:
    from curate.sources.matpes import MatPESImporter

    return MatPESImporter()


def _mlearn() -> Importer:
    from curate.sources.mlearn import MlearnImporter

    return MlearnImporter()


def _vasp() -> Importer:
    from curate.sources.vasp import VaspImporter

    return VaspImporter()


def _ase() -> Importer:
    from curate.sources.ase_files import AseImporter

    return AseImporter()


_FACTORIES: dict[str, Callable[[], Importer]] = {
    "mp-tasks": _mp_tasks,
    "mptrj": _mptrj,
    "matpes": _matpes,
    "mlearn": _mlearn,
    "vasp": _vasp,
    "ase": _ase,
}


def get_importer(name: str) -> Importer:
    """The importer registered as ``name``; KeyError lists the known formats."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise KeyError(f"unknown import format {name!r}; known: {', '.join(IMPORT_FORMATS)}") from None
    return factory()


__all__ = ["IMPORT_FORMATS", "ImportFormat", "ImportOptions", "Importer", "get_importer"]
