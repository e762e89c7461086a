"""Materials-Project-compatible VASP inputs for candidate structures, from pymatgen's own input sets.

``pbe`` uses MPStaticSet (GGA, +U where MP applies it) and ``r2scan`` MPScanStaticSet; with
``input_set="matpes"`` both use MatPESStaticSet (the MatPES settings, xc_functional PBE or r2SCAN). Without a
POTCAR library (pymatgen's ``PMG_VASP_PSP_DIR`` setting) everything else is written and ``POTCAR.spec``
lists the POTCAR symbols to assemble; the caller is told so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from curate.dataset.configuration import Configuration
from curate.dataset.paths import safe_join
from curate.dataset.store import is_valid_id
from curate.errors import InputError
from curate.labelling.provenance import sidecar_for, write_sidecar

if TYPE_CHECKING:
    from pymatgen.core import Structure
    from pymatgen.io.vasp.sets import VaspInputSet

Functional = Literal["pbe", "r2scan"]
InputSet = Literal["mp", "matpes"]
FUNCTIONALS: tuple[str, ...] = ("pbe", "r2scan")
INPUT_SETS: tuple[str, ...] = ("mp", "matpes")


@dataclass
class VaspInputReport:
    """Folders written, and whether real POTCARs could be written (else POTCAR.spec)."""

    folders: list[Path] = field(default_factory=list)
    potcar_written: bool = False


def potcar_library_configured() -> bool:
    """True when pymatgen knows where POTCARs live (``PMG_VASP_PSP_DIR`` in its settings or environment)."""
    from pymatgen.core import SETTINGS

    directory = SETTINGS.get("PMG_VASP_PSP_DIR")
    return bool(directory) and Path(str(directory)).is_dir()


def input_set_for(structure: Structure, *, functional: Functional, input_set: InputSet) -> VaspInputSet:
    """The pymatgen input set object for ``structure`` (a pymatgen Structure)."""
    from pymatgen.io.vasp.sets import MatPESStaticSet, MPScanStaticSet, MPStaticSet

    if input_set == "matpes":
        # MatPESStaticSet compares xc_functional upper-cased; R2SCAN is its declared spelling
        return MatPESStaticSet(structure, xc_functional="PBE" if functional == "pbe" else "R2SCAN")
    return MPStaticSet(structure) if functional == "pbe" else MPScanStaticSet(structure)


def to_pymatgen(cfg: Configuration) -> Structure:
    """A pymatgen Structure with the configuration's lattice (A), species and Cartesian positions (A).

    Known magnetic moments (Bohr magnetons) become the ``magmom`` site property, which pymatgen's input sets
    use as the initial MAGMOM, as Materials Project workflows restart from converged moments.
    """
    from pymatgen.core import Lattice, Structure

    properties = None if cfg.magmoms is None else {"magmom": [float(m) for m in cfg.magmoms]}
    return Structure(
        Lattice(cfg.lattice), cfg.species, cfg.positions, coords_are_cartesian=True, site_properties=properties
    )


def write_vasp_inputs(
    rows: Iterable[tuple[str, Configuration]], out: Path, *, functional: Functional, input_set: InputSet = "mp"
) -> VaspInputReport:
    """One folder per row, ``out/<first 16 characters of its id>/``: INCAR, KPOINTS, POSCAR, POTCAR or POTCAR.spec,
    and ``curate.json`` linking the folder to the row (see :mod:`curate.labelling.provenance`).

    Raises:
        InputError: a row id is not a curate id (64 hex digits), so it cannot name a folder inside ``out``.
    """
    report = VaspInputReport(potcar_written=potcar_library_configured())
    out.mkdir(parents=True, exist_ok=True)
    for row_id, cfg in rows:
        if not is_valid_id(row_id):
            raise InputError(
                "not a curate row id (64 lowercase hex digits); no folder written for it", record=repr(row_id)
            )
        folder = safe_join(out, row_id[:16], what="row id")
        vis = input_set_for(to_pymatgen(cfg), functional=functional, input_set=input_set)
        vis.write_input(str(folder), potcar_spec=not report.potcar_written)
        write_sidecar(folder, sidecar_for(row_id, cfg, requested_functional=functional, input_set=input_set))
        report.folders.append(folder)
    return report
