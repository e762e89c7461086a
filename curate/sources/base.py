"""The importer interface: one small class per file format, registered by name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from curate.dataset.configuration import Configuration, Rejected
from curate.errors import RecordRejected


@dataclass(frozen=True)
class ImportOptions:
    """Options every importer understands.

    Attributes:
        functional: functional to record for formats whose files do not say (extxyz, .aselmdb, ...), or to
            replace a format's documented default (mptrj: the MP GGA/GGA+U rule; mlearn: PBE); never overrides
            what a file's own inputs say.
    """

    functional: str | None = None


@dataclass(frozen=True)
class RawChunk:
    """Complete members of a file's top-level JSON object, cut so that a worker can parse them on its own.

    Attributes:
        sequence: position of the chunk in the file (0, 1, ...).
        members: ``"key": value, "key": value, ...`` bytes: wrapped in braces they are a JSON object.
    """

    sequence: int
    members: bytes


class Importer(Protocol):
    """Reads one file (or directory) and yields configurations or rejections, in file order.

    Raises InputError for damage that stops reading the rest of the file (truncation, not the format);
    everything yielded before that still lands.
    """

    name: ClassVar[str]
    summary: ClassVar[str]

    def read(self, path: Path, *, display_name: str, options: ImportOptions) -> Iterator[Configuration | Rejected]:
        """Yield one item per record of ``path``."""
        ...


def structure_arrays(structure: Mapping[str, Any]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Species, lattice (3, 3) and Cartesian positions (n, 3), in angstrom, from a pymatgen Structure dict.

    Reads ``xyz`` when present (as pymatgen writes it) and falls back to fractional ``abc`` times the
    lattice. Raises RecordRejected for disordered sites.
    """
    try:
        lattice = np.asarray(structure["lattice"]["matrix"], dtype=np.float64)
        sites: Sequence[Mapping[str, Any]] = structure["sites"]
    except (KeyError, TypeError) as exc:
        raise RecordRejected(f"structure lacks {exc}", field="structure") from exc
    species = []
    xyz = []
    for site in sites:
        occupants = site["species"]
        if len(occupants) != 1 or abs(float(occupants[0].get("occu", 1.0)) - 1.0) > 1e-8:
            raise RecordRejected(
                "disordered site (partial occupancy) cannot be a training configuration", field="structure"
            )
        species.append(occupants[0]["element"])
        xyz.append(site.get("xyz"))
    if any(p is None for p in xyz):
        positions = np.asarray([s["abc"] for s in sites], dtype=np.float64) @ lattice
    else:
        positions = np.asarray(xyz, dtype=np.float64)
    if positions.ndim != 2:
        positions = positions.reshape(len(species), -1)
    return species, lattice, positions


def optional_array(value: Any, field: str) -> np.ndarray | None:
    """``value`` as a float64 array, None for a missing or empty value; RecordRejected if ragged."""
    if value is None or (isinstance(value, list | tuple) and len(value) == 0):
        return None
    try:
        return np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise RecordRejected(f"not a numeric array ({exc})", field=field) from exc


@runtime_checkable
class ChunkedImporter(Importer, Protocol):
    """An importer whose file splits into independent raw chunks, so parsing can run in worker processes.

    ``read`` must equal parsing every chunk of ``chunks`` in order.
    """

    def chunks(self, path: Path, *, target_bytes: int) -> Iterator[RawChunk]:
        """Cut ``path`` into chunks of about ``target_bytes``; raises InputError after the last good chunk."""
        ...

    def parse_chunk(
        self, chunk: RawChunk, *, display_name: str, options: ImportOptions
    ) -> Iterator[Configuration | Rejected]:
        """Parse one chunk (a pure function of its arguments)."""
        ...
