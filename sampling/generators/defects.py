"""Point defects in a supercell of the parent: vacancies, antisites and interstitials.

pymatgen-analysis-defects is not a dependency, so the defects are built with pymatgen's symmetry analysis and
plain array operations: one defect per symmetry-inequivalent site (``SpacegroupAnalyzer`` equivalent sites of
the supercell), interstitials at the centres of the largest empty spheres (the Voronoi vertices of the atoms
and their periodic images furthest from any atom). Every row's params name the supercell and the site, so
the defect can be rebuilt from the parent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from curate.dataset.configuration import Configuration, Rejected
from curate.errors import ConfigurationError
from sampling.generators.base import SeedStream, derived, make_supercell, require_periodic, supercell_repeats

SYMPREC_ANG = 0.01
RADIUS_TOLERANCE_ANG = 1e-3


def inequivalent_sites(cfg: Configuration) -> list[int]:
    """One site index per class of symmetry-equivalent sites (pymatgen, symprec 0.01 A), sorted."""
    from pymatgen.core import Lattice, Structure
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    structure = Structure(Lattice(cfg.lattice), cfg.species, cfg.positions, coords_are_cartesian=True)
    symmetrized = SpacegroupAnalyzer(structure, symprec=SYMPREC_ANG).get_symmetrized_structure()
    return sorted(min(group) for group in symmetrized.equivalent_indices)


def empty_sphere_centres(cfg: Configuration) -> list[tuple[np.ndarray, float]]:
    """Centres (Cartesian, A) and radii (A) of locally largest empty spheres, one per distinct radius, largest first.

    The distance to the nearest atom is locally largest at Voronoi vertices; the vertices of the atoms and
    their 26 neighbouring images that fall inside the cell are ranked by that distance. Symmetry-equivalent
    centres share a radius, so one centre is kept per radius (to 1e-3 A).
    """
    from scipy.spatial import KDTree, Voronoi

    grid = np.stack(np.meshgrid(*([np.arange(-1, 2)] * 3), indexing="ij"), axis=-1).reshape(-1, 3)
    points = (cfg.positions[None, :, :] + (grid @ cfg.lattice)[:, None, :]).reshape(-1, 3)
    vertices = Voronoi(points).vertices
    fractional = vertices @ np.linalg.inv(cfg.lattice)
    inside = np.all((fractional >= -1e-9) & (fractional < 1 - 1e-9), axis=1)
    vertices = vertices[inside]
    radii, _ = KDTree(points).query(vertices)
    centres: list[tuple[np.ndarray, float]] = []
    for k in np.argsort(-radii, kind="stable"):
        if all(abs(radii[k] - r) > RADIUS_TOLERANCE_ANG for _, r in centres):
            centres.append((vertices[k], float(radii[k])))
    return centres


@dataclass(frozen=True)
class _DefectBase:
    """Shared settings: the supercell size and how many defects one parent may give."""

    min_atoms: int = 32
    max_per_parent: int = 8

    def __post_init__(self) -> None:
        if self.min_atoms < 1 or self.max_per_parent < 1:
            raise ConfigurationError(f"{self.name}: min_atoms and max_per_parent must be >= 1")  # type: ignore[attr-defined]

    def params(self) -> dict[str, Any]:
        """The settings recorded in the output manifest."""
        return {"min_atoms": self.min_atoms, "max_per_parent": self.max_per_parent}

    def _supercell(self, parent: Configuration) -> tuple[Configuration, list[int]]:
        repeats = supercell_repeats(parent.lattice, parent.nsites, self.min_atoms)
        return make_supercell(parent, repeats), list(repeats)


@dataclass(frozen=True)
class Vacancy(_DefectBase):
    """One vacancy per inequivalent site of the supercell (at most ``max_per_parent``); rows have seed None.

    Attributes:
        min_atoms: the parent is repeated until the supercell has at least this many sites.
        max_per_parent: at most this many vacancies per parent.
    """

    name: ClassVar[str] = "vacancy"

    def generate(
        self, parent: Configuration, *, parent_id: str, seeds: SeedStream
    ) -> Iterator[Configuration | Rejected]:
        """Row params ``{"supercell": [na, nb, nc], "site": i, "species": X}`` (i indexes the supercell)."""
        rejected = require_periodic(parent, generator=self.name, parent_id=parent_id)
        if rejected:
            yield rejected
            return
        cell, repeats = self._supercell(parent)
        for site in inequivalent_sites(cell)[: self.max_per_parent]:
            keep = np.arange(cell.nsites) != site
            yield derived(
                cell,
                parent_id=parent_id,
                generator=self.name,
                params={"supercell": repeats, "site": site, "species": cell.species[site]},
                seed=None,
                species=[s for s, k in zip(cell.species, keep, strict=True) if k],
                positions=cell.positions[keep],
            )


@dataclass(frozen=True)
class Antisite(_DefectBase):
    """Each inequivalent site occupied by each other element of the parent in turn; rows have seed None.

    Attributes:
        min_atoms: the parent is repeated until the supercell has at least this many sites.
        max_per_parent: at most this many antisites per parent.
    """

    name: ClassVar[str] = "antisite"

    def generate(
        self, parent: Configuration, *, parent_id: str, seeds: SeedStream
    ) -> Iterator[Configuration | Rejected]:
        """Row params ``{"supercell", "site", "from", "to"}``; an elemental parent gives no rows."""
        rejected = require_periodic(parent, generator=self.name, parent_id=parent_id)
        if rejected:
            yield rejected
            return
        elements = sorted(set(parent.species))
        if len(elements) < 2:
            return
        cell, repeats = self._supercell(parent)
        made = 0
        for site in inequivalent_sites(cell):
            for element in elements:
                if element == cell.species[site] or made >= self.max_per_parent:
                    continue
                species = list(cell.species)
                species[site] = element
                made += 1
                yield derived(
                    cell,
                    parent_id=parent_id,
                    generator=self.name,
                    params={"supercell": repeats, "site": site, "from": cell.species[site], "to": element},
                    seed=None,
                    species=species,
                )


@dataclass(frozen=True)
class Interstitial(_DefectBase):
    """An extra atom at the centre of each of the ``n_sites`` largest distinct empty spheres; rows have seed None.

    Attributes:
        species: elements to insert; empty means every element of the parent.
        n_sites: distinct interstitial sites (by empty-sphere radius), largest first.
        min_atoms: the parent is repeated until the supercell has at least this many sites.
        max_per_parent: at most this many interstitials per parent.
    """

    name: ClassVar[str] = "interstitial"
    species: tuple[str, ...] = ()
    n_sites: int = 1

    def params(self) -> dict[str, Any]:
        return {
            "species": list(self.species),
            "n_sites": self.n_sites,
            "min_atoms": self.min_atoms,
            "max_per_parent": self.max_per_parent,
        }

    def generate(
        self, parent: Configuration, *, parent_id: str, seeds: SeedStream
    ) -> Iterator[Configuration | Rejected]:
        """Row params ``{"supercell", "species", "frac" (fractional site in the supercell), "radius_ang"}``."""
        rejected = require_periodic(parent, generator=self.name, parent_id=parent_id)
        if rejected:
            yield rejected
            return
        cell, repeats = self._supercell(parent)
        inverse = np.linalg.inv(cell.lattice)
        made = 0
        for centre, radius in empty_sphere_centres(cell)[: self.n_sites]:
            for element in self.species or sorted(set(parent.species)):
                if made >= self.max_per_parent:
                    return
                made += 1
                yield derived(
                    cell,
                    parent_id=parent_id,
                    generator=self.name,
                    params={
                        "supercell": repeats,
                        "species": element,
                        "frac": [round(float(x), 6) for x in centre @ inverse],
                        "radius_ang": round(radius, 6),
                    },
                    seed=None,
                    species=[*cell.species, element],
                    positions=np.vstack([cell.positions, centre]),
                )
