"""Importers, one module per file format, and their registry (the CLI's choices come from here)."""

from __future__ import annotations

from typing import Literal, get_args

from curate.registry import LazyRegistry
from curate.sources.base import Importer, ImportOptions

ImportFormat = Literal["mp-tasks", "mptrj", "matpes", "mlearn", "vasp", "ase"]
IMPORT_FORMATS: tuple[str, ...] = get_args(ImportFormat)


_IMPORTERS: LazyRegistry[Importer] = LazyRegistry(
    "import format",
    {
        "mp-tasks": "curate.sources.mp_tasks:MPTaskImporter",
        "mptrj": "curate.sources.mptrj:MPtrjImporter",
        "matpes": "curate.sources.matpes:MatPESImporter",
        "mlearn": "curate.sources.mlearn:MlearnImporter",
        "vasp": "curate.sources.vasp:VaspImporter",
        "ase": "curate.sources.ase_files:AseImporter",
    },
)


def get_importer(name: str) -> Importer:
    """The importer registered as ``name``; KeyError lists the known formats."""
    return _IMPORTERS.create(name)


__all__ = ["IMPORT_FORMATS", "ImportFormat", "ImportOptions", "Importer", "get_importer"]
