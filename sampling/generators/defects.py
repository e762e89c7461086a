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
from sampling.generators.base import SeedStream, derived, make_supercell, periodic_only, supercell_repeats

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
    """Defects in a supercell of a periodic parent; rows have seed None (defects are deterministic).

    Attributes:
        min_atoms: the parent is repeated until the supercell has at least this many sites.
        max_per_parent: at most this many defects per parent.
    """

    min_atoms: int = 32
    max_per_parent: int = 8

    def __post_init__(self) -> None:
        if self.min_atoms < 1 or self.max_per_parent < 1:
            raise ConfigurationError(f"{self.name}: min_atoms and max_per_parent must be >= 1")  # type: ignore[attr-defined]

    def params(self) -> dict[str, Any]:
        """The settings recorded in the output manifest."""
        return {"min_atoms": self.min_atoms, "max_per_parent": self.max_per_parent}

    @periodic_only
    def generate(
        self, parent: Configuration, *, parent_id: str, seeds: SeedStream
    ) -> Iterator[Configuration | Rejected]:
        """The defects of the parent's supercell (a Rejected item for a parent not periodic in 3 directions)."""
        repeats = supercell_repeats(parent.lattice, parent.nsites, self.min_atoms)
        yield from self._defects(parent, make_supercell(parent, repeats), list(repeats), parent_id)

    def _defects(
        self, parent: Configuration, cell: Configuration, repeats: list[int], parent_id: str
    ) -> Iterator[Configuration]:
        """The defective copies of ``cell`` (``parent`` repeated ``repeats`` times)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Vacancy(_DefectBase):
    """One vacancy per inequivalent site of the supercell (at most ``max_per_parent``).

    Row params ``{"supercell": [na, nb, nc], "site": i, "species": X}`` (i indexes the supercell).
    """

    name: ClassVar[str] = "vacancy"

    def _defects(
        self, parent: Configuration, cell: Configuration, repeats: list[int], parent_id: str
    ) -> Iterator[Configuration]:
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
    """Each inequivalent site occupied by each other element of the parent in turn (at most ``max_per_parent``).

    Row params ``{"supercell", "site", "from", "to"}``; an elemental parent gives no rows.
    """

    name: ClassVar[str] = "antisite"

    def _defects(
        self, parent: Configuration, cell: Configuration, repeats: list[int], parent_id: str
    ) -> Iterator[Configuration]:
        elements = sorted(set(parent.species))
        if len(elements) < 2:
            return
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
    """An extra atom at the centre of each of the ``n_sites`` largest distinct empty spheres.

    Row params ``{"supercell", "species", "frac" (fractional site in the supercell), "radius_ang"}``.

    Attributes:
        species: elements to insert; empty means every element of the parent.
        n_sites: distinct interstitial sites (by empty-sphere radius), largest first.
    """

    name: ClassVar[str] = "interstitial"
    species: tuple[str, ...] = ()
    n_sites: int = 1

    def params(self) -> dict[str, Any]:
        return {"species": list(self.species), "n_sites": self.n_sites, **super().params()}

    def _defects(
        self, parent: Configuration, cell: Configuration, repeats: list[int], parent_id: str
    ) -> Iterator[Configuration]:
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
