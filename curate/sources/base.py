"""The importer interface: one small class per file format, registered by name."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from curate.dataset.configuration import Configuration, Rejected
from curate.errors import RecordRejected
from curate.sources.validate import element, mapping, strict_array, strict_float


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


def structure_arrays(structure: Any, field: str = "structure") -> tuple[list[str], np.ndarray, np.ndarray]:
    """Species, lattice (3, 3) and Cartesian positions (n, 3), in angstrom, from a pymatgen Structure dict.

    Reads ``xyz`` when present (as pymatgen writes it) and falls back to fractional ``abc`` times the
    lattice. Every value is checked strictly (see :mod:`curate.sources.validate`); RecordRejected names the
    offending path below ``field`` (``structure.sites[3].species[0].element``), and disordered sites are refused.
    """
    structure = mapping(structure, field)
    lattice_field = f"{field}.lattice.matrix"
    lattice = strict_array(mapping(structure.get("lattice"), f"{field}.lattice").get("matrix"), lattice_field, (3, 3))
    sites = structure.get("sites")
    if not isinstance(sites, list | tuple):
        raise RecordRejected(f"expected a list of sites, found {type(sites).__name__}", field=f"{field}.sites")
    species = []
    cartesian: list[np.ndarray | None] = []
    for k, site in enumerate(sites):
        where = f"{field}.sites[{k}]"
        site = mapping(site, where)
        occupants = site.get("species")
        if not isinstance(occupants, list | tuple) or not occupants:
            raise RecordRejected("expected a list of one species", field=f"{where}.species")
        occupant = mapping(occupants[0], f"{where}.species[0]")
        occupancy = strict_float(occupant.get("occu", 1.0), f"{where}.species[0].occu")
        if len(occupants) != 1 or abs(occupancy - 1.0) > 1e-8:
            raise RecordRejected(
                "disordered site (partial occupancy) cannot be a training configuration", field=f"{where}.species"
            )
        species.append(element(occupant.get("element"), f"{where}.species[0].element"))
        xyz = site.get("xyz")
        cartesian.append(None if xyz is None else strict_array(xyz, f"{where}.xyz", (3,)))
    if any(p is None for p in cartesian):
        fractional = [
            strict_array(mapping(s, "").get("abc"), f"{field}.sites[{k}].abc", (3,)) for k, s in enumerate(sites)
        ]
        positions = np.asarray(fractional, dtype=np.float64).reshape(len(species), 3) @ lattice
    else:
        positions = np.asarray(cartesian, dtype=np.float64).reshape(len(species), 3)
    return species, lattice, positions


def optional_array(value: Any, field: str, shape: tuple[int | None, ...] | None = None) -> np.ndarray | None:
    """``value`` as a float64 array, None for a missing or empty value; RecordRejected for non-numbers.

    Booleans and numeric strings are refused (see :func:`curate.sources.validate.strict_array`). ``shape``
    (None entries: any length) is checked when given; without it any rank is accepted and the row checks
    compare shapes later.
    """
    if value is None or (isinstance(value, list | tuple) and len(value) == 0):
        return None
    if shape is not None:
        return strict_array(value, field, shape)
    depth = np.ndim(value) if isinstance(value, np.ndarray) else _list_depth(value)
    return strict_array(value, field, (None,) * depth)


def _list_depth(value: Any) -> int:
    depth = 0
    while isinstance(value, list | tuple) and value:
        value = value[0]
        depth += 1
    return depth


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
