"""Surface slabs cut from a bulk parent with pymatgen (Miller index <= 2, vacuum >= 10 A by default).

The parent is first put in its conventional standard cell, so Miller indices are the usual conventional ones.
``pymatgen.core.surface.generate_all_slabs`` gives every symmetrically distinct (hkl) up to ``max_index`` and
every termination. A slab is stored as a 3D-periodic cell with the vacuum inside it (``dimension_types``
stays [1, 1, 1]; that is what plane-wave DFT and uMLIPs expect); the vacuum is measured along the surface
normal and topped up if pymatgen left less than asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from curate.dataset.configuration import Configuration, Rejected
from curate.errors import ConfigurationError
from sampling.generators.base import SeedStream, derived, periodic_only


def vacuum_thickness(lattice: np.ndarray, positions: np.ndarray) -> float:
    """Empty gap along the surface normal n = (a x b)/|a x b| between periodic copies of a slab, angstrom.

    gap = c . n - (max_i r_i . n - min_i r_i . n), with the slab not wrapped across the cell boundary.
    """
    normal = np.cross(lattice[0], lattice[1])
    normal /= np.linalg.norm(normal)
    heights = positions @ normal
    return float(abs(lattice[2] @ normal) - (heights.max() - heights.min()))


def ensure_vacuum(lattice: np.ndarray, positions: np.ndarray, vacuum_ang: float) -> tuple[np.ndarray, np.ndarray]:
    """Stretch c so that the gap along the normal is at least ``vacuum_ang``; the slab is re-centred in c."""
    gap = vacuum_thickness(lattice, positions)
    if gap >= vacuum_ang:
        return lattice, positions
    normal = np.cross(lattice[0], lattice[1])
    normal /= np.linalg.norm(normal)
    c_height = abs(lattice[2] @ normal)
    new = lattice.copy()
    new[2] = lattice[2] * (c_height + vacuum_ang - gap + 1e-6) / c_height
    heights = positions @ normal
    middle = 0.5 * (heights.max() + heights.min())
    c_normal = float(new[2] @ normal)
    return new, positions + (0.5 * c_normal - middle) / c_normal * new[2]


@dataclass(frozen=True)
class Surfaces:
    """Slabs of every distinct (hkl) with max(|h|, |k|, |l|) <= ``max_index`` and every termination.

    Attributes:
        max_index: largest Miller index (1 or 2).
        min_slab_ang: slab thickness at least this, angstrom.
        vacuum_ang: vacuum along the surface normal at least this, angstrom (>= 10 by default).
        max_atoms: slabs with more sites are not made (a size bound, like max_per_parent).
        max_per_parent: at most this many slabs per parent, smallest Miller indices first.
    """

    name: ClassVar[str] = "surface"
    max_index: int = 2
    min_slab_ang: float = 8.0
    vacuum_ang: float = 10.0
    max_atoms: int = 200
    max_per_parent: int = 20

    def __post_init__(self) -> None:
        if self.max_index not in (1, 2):
            raise ConfigurationError(f"surface: max_index must be 1 or 2, got {self.max_index}")
        if self.min_slab_ang <= 0 or self.vacuum_ang <= 0 or self.max_atoms < 1 or self.max_per_parent < 1:
            raise ConfigurationError("surface: min_slab_ang, vacuum_ang, max_atoms, max_per_parent must be positive")

    def params(self) -> dict[str, Any]:
        return {
            "max_index": self.max_index,
            "min_slab_ang": self.min_slab_ang,
            "vacuum_ang": self.vacuum_ang,
            "max_atoms": self.max_atoms,
            "max_per_parent": self.max_per_parent,
        }

    @periodic_only
    def generate(
        self, parent: Configuration, *, parent_id: str, seeds: SeedStream
    ) -> Iterator[Configuration | Rejected]:
        """Row params ``{"miller": [h, k, l], "shift": s, "min_slab_ang", "vacuum_ang"}``; rows have seed None."""
        from pymatgen.core import Lattice, Structure
        from pymatgen.core.surface import generate_all_slabs
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        bulk = Structure(Lattice(parent.lattice), parent.species, parent.positions, coords_are_cartesian=True)
        conventional = SpacegroupAnalyzer(bulk, symprec=0.01).get_conventional_standard_structure()
        slabs = generate_all_slabs(
            conventional,
            max_index=self.max_index,
            min_slab_size=self.min_slab_ang,
            min_vacuum_size=self.vacuum_ang,
            center_slab=True,
        )
        slabs.sort(key=lambda s: (sum(abs(i) for i in s.miller_index), s.miller_index, round(s.shift, 6)))
        made = 0
        for slab in slabs:
            if len(slab) > self.max_atoms or made >= self.max_per_parent:
                continue
            lattice, positions = ensure_vacuum(
                np.array(slab.lattice.matrix), np.array(slab.cart_coords), self.vacuum_ang
            )
            made += 1
            yield derived(
                parent,
                parent_id=parent_id,
                generator=self.name,
                params={
                    "miller": list(slab.miller_index),
                    "shift": round(float(slab.shift), 6),
                    "min_slab_ang": self.min_slab_ang,
                    "vacuum_ang": self.vacuum_ang,
                },
                seed=None,
                species=[site.specie.symbol for site in slab],
                lattice=lattice,
                positions=positions,
            )
