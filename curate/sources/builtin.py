"""The built-in structures: small conventional cells made by ``ase.build.bulk``, offline (nothing is read or
downloaded). Recipes name them (``structures:`` in ``datasets/*.yaml``): ``curate demo`` labels the fcc metals
with EMT; ``curate sample`` rattles and strains Si, Cu, NaCl and MgO into its default candidate pool.

Lattice constants (angstrom) are ASE's reference values for the elements (``ase.data.reference_states``) and
the experimental ones for the two rock-salt compounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, get_args

import numpy as np
from ase import Atoms

from curate.dataset.configuration import Configuration
from curate.errors import ConfigurationError

BuiltinStructure = Literal[
    "Si-diamond", "Cu-fcc", "NaCl-rocksalt", "MgO-rocksalt", "Al-fcc", "Ni-fcc", "Ag-fcc", "Pd-fcc"
]
BUILTIN_STRUCTURE_NAMES: tuple[str, ...] = get_args(BuiltinStructure)
# name -> ase.build.bulk arguments; every cell is the conventional cubic one (4 or 8 atoms)
BUILTIN_STRUCTURES: dict[str, dict[str, Any]] = {
    "Si-diamond": {"name": "Si", "crystalstructure": "diamond", "a": 5.43},
    "Cu-fcc": {"name": "Cu", "crystalstructure": "fcc", "a": 3.61},
    "NaCl-rocksalt": {"name": "NaCl", "crystalstructure": "rocksalt", "a": 5.64},
    "MgO-rocksalt": {"name": "MgO", "crystalstructure": "rocksalt", "a": 4.21},
    "Al-fcc": {"name": "Al", "crystalstructure": "fcc", "a": 4.05},
    "Ni-fcc": {"name": "Ni", "crystalstructure": "fcc", "a": 3.52},
    "Ag-fcc": {"name": "Ag", "crystalstructure": "fcc", "a": 4.09},
    "Pd-fcc": {"name": "Pd", "crystalstructure": "fcc", "a": 3.89},
}
assert tuple(BUILTIN_STRUCTURES) == BUILTIN_STRUCTURE_NAMES


def check_structure_names(names: Sequence[str], *, origin: str) -> None:
    """ConfigurationError naming ``origin`` and the valid names for any name that is not built in."""
    unknown = [n for n in names if n not in BUILTIN_STRUCTURES]
    if unknown:
        raise ConfigurationError(
            f"{origin}: unknown built-in structure(s) {unknown}; known: {', '.join(BUILTIN_STRUCTURE_NAMES)}"
        )


def builtin_atoms(name: str, supercell: tuple[int, int, int] = (1, 1, 1)) -> Atoms:
    """The conventional cubic cell ``name`` repeated ``supercell`` times (positions and cell in angstrom)."""
    from ase.build import bulk

    check_structure_names([name], origin="builtin_atoms")
    return bulk(**BUILTIN_STRUCTURES[name], cubic=True) * supercell


def builtin_configuration(name: str, supercell: tuple[int, int, int] = (1, 1, 1)) -> Configuration:
    """The structure ``name`` as an unlabelled row: source ``builtin``, material_id ``name``."""
    atoms = builtin_atoms(name, supercell)
    repeated = "" if supercell == (1, 1, 1) else f" {'x'.join(map(str, supercell))}"
    return Configuration(
        species=atoms.get_chemical_symbols(),
        lattice=np.array(atoms.cell[:], dtype=np.float64),
        positions=atoms.get_positions(),
        source="builtin",
        source_record=f"ase.build.bulk {name}{repeated}",
        material_id=name,
    )
