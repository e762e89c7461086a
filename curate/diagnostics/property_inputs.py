"""Structures whose properties to compute, with DFT moduli where they exist.

Three sources: the Materials Project PBE elastic moduli of binaries that matcalc's elasticity benchmark uses
(``mp-binary-pbe-elasticity-2025.1.json.gz``: a JSON list of ``{mp_id, formula, structure, bulk_modulus_vrh,
shear_modulus_vrh}``, moduli in GPa), a curate dataset, or structure files ASE reads. Each becomes a
:class:`PropertyInput`: an id, a pymatgen Structure dict (picklable, so a task carries it to any worker) and the
DFT moduli (None without a reference).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.errors import ConfigurationError, InputError

DEFAULT_PICK_COUNT = 50
DEFAULT_PICK_MAX_SITES = 8


@dataclass(frozen=True)
class PropertyInput:
    """One structure to compute properties of.

    Attributes:
        id: the material id (``mp-149``) or ``FILE#INDEX`` / the dataset row id.
        formula: reduced formula.
        structure: a pymatgen ``Structure.as_dict()`` (cell and positions in angstrom).
        bulk_modulus_dft_gpa: the DFT Voigt-Reuss-Hill bulk modulus (GPa), or None.
        shear_modulus_dft_gpa: the DFT Voigt-Reuss-Hill shear modulus (GPa), or None.
    """

    id: str
    formula: str
    structure: dict[str, Any]
    bulk_modulus_dft_gpa: float | None = None
    shear_modulus_dft_gpa: float | None = None

    @property
    def nsites(self) -> int:
        """Atoms in the cell."""
        return len(self.structure["sites"])


def _modulus(record: dict[str, Any], field: str, *, path: Path, index: int) -> float:
    value = record.get(field)
    if not isinstance(value, int | float) or not np.isfinite(value):
        raise InputError(
            f"expected a finite modulus in GPa, found {value!r}", file=str(path), record=str(index), field=field
        )
    return float(value)


def load_elasticity_reference(path: Path) -> list[PropertyInput]:
    """Every material of an elasticity reference file (matcalc's benchmark format, ``.json`` or ``.json.gz``).

    Raises:
        InputError: the file is not a JSON list, or a record lacks a structure, an id or a finite modulus
            (named by file, record index and field).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"elasticity reference {path} does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        records = json.load(handle)
    if not isinstance(records, list):
        raise InputError(f"expected a JSON list of materials, found {type(records).__name__}", file=str(path))
    materials = []
    for index, record in enumerate(records):
        structure = record.get("structure")
        if not isinstance(structure, dict) or "sites" not in structure:
            raise InputError("expected a pymatgen Structure dict", file=str(path), record=str(index), field="structure")
        if not record.get("mp_id"):
            raise InputError("missing material id", file=str(path), record=str(index), field="mp_id")
        materials.append(
            PropertyInput(
                id=str(record["mp_id"]),
                formula=str(record.get("formula", "")),
                structure=structure,
                bulk_modulus_dft_gpa=_modulus(record, "bulk_modulus_vrh", path=path, index=index),
                shear_modulus_dft_gpa=_modulus(record, "shear_modulus_vrh", path=path, index=index),
            )
        )
    return materials


def pick_materials(
    materials: Sequence[PropertyInput],
    *,
    count: int = DEFAULT_PICK_COUNT,
    seed: int = 0,
    max_sites: int | None = DEFAULT_PICK_MAX_SITES,
) -> list[PropertyInput]:
    """A seeded uniform sample of ``count`` materials with at most ``max_sites`` atoms, in material-id order.

    The candidates are sorted by id first, so the pick depends on the file's content, not its order; the cell
    size cap keeps a benchmark's cost bounded (elastic constants and phonons cost grows with the cell) while
    the sample keeps the reference's spread of chemistries and stiffnesses.

    Raises:
        ConfigurationError: fewer than ``count`` materials pass the cap.
    """
    candidates = sorted((m for m in materials if max_sites is None or m.nsites <= max_sites), key=lambda m: m.id)
    if count > len(candidates):
        raise ConfigurationError(f"asked for {count} materials, only {len(candidates)} have at most {max_sites} atoms")
    chosen = np.random.default_rng(seed).choice(len(candidates), size=count, replace=False)
    return [candidates[i] for i in sorted(int(i) for i in chosen)]


def select_materials(materials: Sequence[PropertyInput], ids: Iterable[str]) -> list[PropertyInput]:
    """The materials named by ``ids`` (in that order).

    Raises:
        ConfigurationError: an id the reference does not hold.
    """
    by_id = {m.id: m for m in materials}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise ConfigurationError(f"material ids not in the elasticity reference: {', '.join(missing)}")
    return [by_id[i] for i in ids]


def inputs_from_files(paths: Sequence[Path]) -> list[PropertyInput]:
    """Every frame of every structure file ASE reads (CIF, POSCAR, extxyz, ...), ids ``FILE#INDEX``.

    Raises:
        InputError: a file ASE cannot read (named).
    """
    from ase.io import read
    from pymatgen.io.ase import AseAtomsAdaptor

    inputs = []
    for path in paths:
        try:
            frames = read(str(path), index=":")
        except Exception as exc:  # ASE raises many types for unreadable files; the reason is kept
            raise InputError(f"ASE cannot read it: {exc}", file=str(path)) from exc
        for index, atoms in enumerate(frames if isinstance(frames, list) else [frames]):
            structure = AseAtomsAdaptor.get_structure(atoms)
            inputs.append(PropertyInput(f"{path}#{index}", structure.composition.reduced_formula, structure.as_dict()))
    return inputs


def inputs_from_dataset(dataset_dir: Path, *, limit: int | None = None) -> list[PropertyInput]:
    """The rows of a curate dataset (periodic ones), ids = row ids, at most ``limit`` of them."""
    from pymatgen.core import Lattice, Structure

    from curate.dataset.configuration import batch_to_configurations
    from curate.dataset.store import Dataset

    inputs: list[PropertyInput] = []
    for batch in Dataset.open(dataset_dir).iter_batches():
        ids = batch.column("id").to_pylist()
        for row_id, cfg in zip(ids, batch_to_configurations(batch), strict=True):
            if not all(cfg.pbc):
                continue
            structure = Structure(Lattice(cfg.lattice), cfg.species, cfg.positions, coords_are_cartesian=True)
            inputs.append(PropertyInput(str(row_id), structure.composition.reduced_formula, structure.as_dict()))
            if limit is not None and len(inputs) >= limit:
                return inputs
    return inputs
