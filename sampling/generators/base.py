"""What every structure generator shares: the interface, per-structure seeds, and provenance on each row.

A generator turns one parent configuration into new, unlabelled configurations. Every row it makes carries
``parent_id`` (the parent row's id), ``generator`` (the registry name), ``generator_params`` (canonical JSON of
the parameters that made *this* row, enough to rebuild it from the parent) and ``seed`` (the random seed used
for this row, ``None`` for deterministic generators). Energies, forces, stress and functional are ``None``:
the rows wait for a DFT (or teacher) label.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from curate.dataset.configuration import Configuration, Rejected, canonical_json

SEED_BOUND = 2**63 - 1  # seeds are stored in an int64 column


class SeedStream:
    """Per-structure seeds drawn from one seeded NumPy generator; no seed is handed out twice.

    ASE's ``Atoms.rattle()`` uses seed 42 whenever none is given, so repeated rattles are identical; here every
    structure gets its own seed, and a whole run is reproducible from the one run seed.
    """

    def __init__(self, seed: int):
        self.run_seed = int(seed)
        self._rng = np.random.default_rng(self.run_seed)
        self._used: set[int] = set()

    def next(self) -> int:
        """A fresh seed in [0, 2**63 - 1), never equal to one returned before by this stream."""
        while True:
            value = int(self._rng.integers(0, SEED_BOUND))
            if value not in self._used:
                self._used.add(value)
                return value


@runtime_checkable
class Generator(Protocol):
    """One way of making new structures from a parent; pure with respect to the parent (never mutates it).

    ``generate`` yields unlabelled configurations with provenance set by :func:`derived`, or
    :class:`~curate.sources.base.Rejected` items for a parent it cannot work on (with the reason); the caller
    quarantines those.
    """

    name: ClassVar[str]

    def params(self) -> dict[str, Any]:
        """The generator's settings, JSON-serialisable (recorded in the output manifest)."""
        ...

    def generate(
        self, parent: Configuration, *, parent_id: str, seeds: SeedStream
    ) -> Iterator[Configuration | Rejected]:
        """New configurations made from ``parent`` (the row ``parent_id``), seeds drawn from ``seeds``."""
        ...


def derived(
    parent: Configuration,
    *,
    parent_id: str,
    generator: str,
    params: Mapping[str, Any],
    seed: int | None,
    species: Sequence[str] | None = None,
    lattice: np.ndarray | None = None,
    positions: np.ndarray | None = None,
    pbc: tuple[int, int, int] | None = None,
) -> Configuration:
    """An unlabelled configuration made from ``parent`` with full provenance.

    Args:
        parent: the structure it was made from (not modified).
        parent_id: the parent row's ``id``.
        generator: registry name of the generator.
        params: parameters that made this row (stored as canonical JSON).
        seed: the seed used for this row, None for deterministic generators.
        species, lattice (3, 3; angstrom), positions (n, 3; angstrom), pbc: the new geometry; each defaults to
            a copy of the parent's.
    """
    params_json = canonical_json(params)
    return Configuration(
        species=list(parent.species if species is None else species),
        lattice=np.array(parent.lattice if lattice is None else lattice, dtype=np.float64),
        positions=np.array(parent.positions if positions is None else positions, dtype=np.float64),
        pbc=parent.pbc if pbc is None else pbc,
        source="generated",
        source_record=f"{generator} {params_json} seed={seed} parent={parent_id}",
        material_id=parent.material_id,
        parent_id=parent_id,
        generator=generator,
        generator_params=params_json,
        seed=seed,
    )


def require_periodic(parent: Configuration, *, generator: str, parent_id: str) -> Rejected | None:
    """A Rejected item when ``parent`` is not periodic in all three directions (strain, defects, slabs, MD)."""
    if all(parent.pbc):
        return None
    return Rejected(
        f"{generator} parent={parent_id}",
        "dimension_types",
        f"{generator} needs a cell periodic in 3 directions; found dimension_types {list(parent.pbc)}",
    )


GenerateMethod = Callable[..., Iterator[Configuration | Rejected]]


def periodic_only(generate: GenerateMethod) -> GenerateMethod:
    """Wrap a generator's ``generate`` so that a parent not periodic in 3 directions yields one Rejected item
    (:func:`require_periodic`) and nothing else."""

    @functools.wraps(generate)
    def checked(self: Any, parent: Configuration, *, parent_id: str, seeds: SeedStream) -> Iterator[Any]:
        rejected = require_periodic(parent, generator=self.name, parent_id=parent_id)
        if rejected:
            yield rejected
            return
        yield from generate(self, parent, parent_id=parent_id, seeds=seeds)

    return checked


def interplanar_spacings(lattice: np.ndarray) -> np.ndarray:
    """Distances between lattice planes (h_k = V / |a_l x a_m|) of a cell with rows a_1..a_3, angstrom, shape (3,)."""
    volume = abs(float(np.linalg.det(lattice)))
    cross = np.cross(lattice[[1, 2, 0]], lattice[[2, 0, 1]])
    return volume / np.linalg.norm(cross, axis=1)


def lattice_translations(lattice: np.ndarray, pbc: Sequence[int], cutoff_ang: float) -> np.ndarray:
    """Every lattice translation n @ lattice that can bring an image within ``cutoff_ang``, shape (m, 3), angstrom.

    Along periodic direction k, n_k runs over |n_k| <= ceil(cutoff / h_k) + 1 (h_k the interplanar spacing; the
    + 1 covers positions anywhere in or near the cell). The zero translation comes first.
    """
    spacings = interplanar_spacings(lattice) if any(pbc) else np.ones(3)
    ranges = [
        np.arange(-(int(np.ceil(cutoff_ang / h)) + 1), int(np.ceil(cutoff_ang / h)) + 2) if p else np.zeros(1, int)
        for h, p in zip(spacings, pbc, strict=True)
    ]
    grid = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, 3)
    grid = grid[np.argsort(np.abs(grid).sum(axis=1), kind="stable")]
    return grid @ lattice


def shortest_distance(cfg: Configuration) -> float:
    """The shortest distance between two distinct atoms (periodic images included), angstrom; inf for one atom."""
    spacings = interplanar_spacings(cfg.lattice) if any(cfg.pbc) else np.full(3, np.inf)
    cutoff = float(min(spacings.min(), 10.0)) if any(cfg.pbc) else 10.0
    shifts = lattice_translations(cfg.lattice, cfg.pbc, cutoff)
    best = np.inf
    for i in range(cfg.nsites):
        diff = cfg.positions[None, :, :] + shifts[:, None, :] - cfg.positions[i]
        d = np.linalg.norm(diff, axis=2)
        d[0, i] = np.inf  # the atom itself, untranslated
        best = min(best, float(d.min()))
    return best


def supercell_repeats(lattice: np.ndarray, nsites: int, min_atoms: int) -> tuple[int, int, int]:
    """Repeats (n_a, n_b, n_c) reaching at least ``min_atoms`` sites, growing the thinnest direction first.

    The thinnest direction is the one with the smallest n_k h_k (h_k the interplanar spacing), so the supercell
    stays close to isotropic and defect images stay far apart.
    """
    spacings = interplanar_spacings(lattice)
    repeats = [1, 1, 1]
    while nsites * repeats[0] * repeats[1] * repeats[2] < min_atoms:
        k = int(np.argmin([repeats[i] * spacings[i] for i in range(3)]))
        repeats[k] += 1
    return repeats[0], repeats[1], repeats[2]


def make_supercell(cfg: Configuration, repeats: tuple[int, int, int]) -> Configuration:
    """The configuration repeated ``repeats`` times along its lattice vectors (site order: images of site 0 last)."""
    grid = np.stack(np.meshgrid(*(np.arange(r) for r in repeats), indexing="ij"), axis=-1).reshape(-1, 3)
    shifts = grid @ cfg.lattice
    positions = (cfg.positions[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    return Configuration(
        species=list(cfg.species) * len(grid),
        lattice=cfg.lattice * np.array(repeats, dtype=np.float64)[:, None],
        positions=positions,
        pbc=cfg.pbc,
        material_id=cfg.material_id,
    )
