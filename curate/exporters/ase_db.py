"""An ASE database (SQLite, ``ase.db``): one row per configuration, labels on a SinglePointCalculator.

Labels: energy (eV), forces (eV/angstrom), stress (eV/angstrom^3, ASE sign, 6 Voigt components xx, yy, zz,
yz, xz, xy: the stored GPa x ``ase.units.GPa``) and magmoms (Bohr magnetons) as calculator results, which
is what ``row.toatoms()`` and ``ase.io.read`` return as ``atoms.calc``. Metadata rides in the row's
key-value pairs under the names the ``ase`` importer reads (see :func:`curate.exporters.ase_metadata`), so
``db.select(functional="PBE")`` works; ``curate_id`` is the dataset row id (``id`` is ASE's own row number)
and ``split`` the row's split. The energy is the raw DFT total energy; one file holds one functional (PBE
with PBE+U excepted). ASE refuses a string key-value that reads as a number or bool (a
numeric task id, say); such values go to the row's ``data`` under the same key instead.

The row's ``data`` also holds ``REF_stress``, the full 3x3 tensor in eV/angstrom^3 (ASE sign, row-major):
stress tensors in Materials Project documents are not always exactly symmetric (VASP prints them as
computed), and Voigt keeps only the upper triangle, which would change the row's id on re-import.

On re-import with ``curate import ase`` every column comes back except source and source_file (the database
is recorded instead) and source_record (kept inside the new one); stress within one float64 step of the GPa.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.db.core import str_represents
from ase.units import GPa

from curate.dataset.configuration import Configuration
from curate.exporters.base import ExportCounts, ExportPlan, ExportRow, ase_metadata
from curate.exporters.energy import KIND_RAW

COMMIT_ROWS = 1000


def stress_voigt_ev_per_ang3(stress_gpa: np.ndarray) -> np.ndarray:
    """ASE's Voigt stress, shape (6,), eV/angstrom^3, from a (3, 3) GPa tensor (ASE sign kept)."""
    s = np.asarray(stress_gpa, dtype=np.float64) * GPa
    return np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])


def atoms_with_labels(cfg: Configuration) -> Atoms:
    """ASE Atoms of the row with its labels as a SinglePointCalculator (no calculator when unlabelled)."""
    atoms = Atoms(symbols=cfg.species, positions=cfg.positions, cell=cfg.lattice, pbc=[bool(p) for p in cfg.pbc])
    results: dict[str, Any] = {}
    if cfg.energy is not None:
        results["energy"] = float(cfg.energy)
    if cfg.forces is not None:
        results["forces"] = np.array(cfg.forces, dtype=np.float64)
    if cfg.stress is not None:
        results["stress"] = stress_voigt_ev_per_ang3(cfg.stress)
    if cfg.magmoms is not None:
        results["magmoms"] = np.array(cfg.magmoms, dtype=np.float64)
    if results:
        atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def pairs_and_data(cfg: Configuration, *, row_id: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The row's (key_value_pairs, data) for ``db.write``.

    key_value_pairs: metadata ASE accepts there (``curate_id`` = ``row_id`` when given). data: the metadata
    strings ASE refuses as key-value pairs, and ``REF_stress``, shape (3, 3), eV/angstrom^3, ASE sign.
    """
    pairs: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for key, value in ase_metadata(cfg, row_id=row_id).items():
        if isinstance(value, str) and any(str_represents(value, t) for t in (bool, int, float)):
            data[key] = value
        else:
            pairs[key] = value
    if cfg.stress is not None:
        data["REF_stress"] = np.asarray(cfg.stress, dtype=np.float64) * GPa
    return pairs, data


def write_chunk(
    db: Any,
    chunk: Iterable[ExportRow],
    counts: ExportCounts,
    *,
    extra_data: Callable[[str], dict[str, Any]] | None = None,
) -> None:
    """Write rows to the open ASE database ``db`` inside the caller's transaction, counting them in ``counts``.

    ``extra_data(row_id)`` adds entries to each row's ``data`` (aselmdb's ``sid``).
    """
    for row_id, cfg in chunk:
        pairs, data = pairs_and_data(cfg, row_id=row_id)
        if extra_data is not None:
            data.update(extra_data(row_id))
        db.write(atoms_with_labels(cfg), key_value_pairs=pairs, data=data or None)
        counts.wrote(None if cfg.energy is None else KIND_RAW)


class AseDbExporter:
    """ASE SQLite database with SinglePointCalculator labels and metadata key-value pairs."""

    name: ClassVar[str] = "ase-db"
    summary: ClassVar[str] = "ASE SQLite database: calculator labels (eV, eV/A, eV/A^3 Voigt) + metadata keys"
    energy_choice: ClassVar[bool] = False
    keyed_by_material: ClassVar[bool] = False
    suffix: ClassVar[str | None] = None

    def write(self, rows: Iterable[ExportRow], path: Path, *, plan: ExportPlan) -> ExportCounts:
        """Write every row to a new database at ``path``, committing every COMMIT_ROWS rows."""
        import ase.db

        # type= because the temporary name export_dataset passes does not end in .db
        db = ase.db.connect(str(path), type="db", append=False)
        db.count()  # creates the tables now, so that an export of no rows is still a valid (empty) database
        counts = ExportCounts()
        rows = iter(rows)
        # one transaction per chunk: a commit per row would fsync once per row
        while chunk := list(islice(rows, COMMIT_ROWS)):
            with db:
                write_chunk(db, chunk, counts)
        return counts
