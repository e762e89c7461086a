"""Rattled structures: independent Gaussian displacements, and hiphive's Monte-Carlo rattle with a minimum distance.

Both draw a fresh seed per structure from the run's :class:`~sampling.generators.base.SeedStream` (ASE's
``Atoms.rattle()`` defaults to seed 42 on every call, which makes "random" rattles identical).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.special import erf

from curate.dataset.configuration import Configuration, Rejected
from curate.errors import ConfigurationError
from sampling.generators.base import SeedStream, derived, lattice_translations, shortest_distance


def gaussian_displacements(nsites: int, *, std_ang: float, seed: int) -> np.ndarray:
    """Displacements u_ia ~ N(0, std_ang^2), independent for every atom i and Cartesian axis a; shape (n, 3), A."""
    return np.random.default_rng(seed).normal(0.0, std_ang, size=(nsites, 3))


@dataclass(frozen=True)
class GaussianRattle:
    """Every atom displaced by an independent normal draw per Cartesian component; the cell is unchanged.

    Attributes:
        std_ang: standard deviations of the displacement components, angstrom; ``n_structures`` rows per value.
        n_structures: structures per standard deviation and parent.
    """

    name: ClassVar[str] = "gaussian-rattle"
    std_ang: tuple[float, ...] = (0.05,)
    n_structures: int = 1

    def __post_init__(self) -> None:
        if not self.std_ang or any(s <= 0 for s in self.std_ang):
            raise ConfigurationError(f"gaussian-rattle: std_ang must be positive values, got {list(self.std_ang)}")
        if self.n_structures < 1:
            raise ConfigurationError(f"gaussian-rattle: n_structures must be >= 1, got {self.n_structures}")

    def params(self) -> dict[str, Any]:
        return {"std_ang": list(self.std_ang), "n_structures": self.n_structures}

    def generate(
        self, parent: Configuration, *, parent_id: str, seeds: SeedStream
    ) -> Iterator[Configuration | Rejected]:
        """``n_structures`` rattles per standard deviation; row params ``{"std_ang": s}`` and the row's seed."""
        for std in self.std_ang:
            for _ in range(self.n_structures):
                seed = seeds.next()
                positions = parent.positions + gaussian_displacements(parent.nsites, std_ang=std, seed=seed)
                yield derived(
                    parent,
                    parent_id=parent_id,
                    generator=self.name,
                    params={"std_ang": std},
                    seed=seed,
                    positions=positions,
                )


def mc_rattle_positions(
    positions: np.ndarray,
    lattice: np.ndarray,
    pbc: tuple[int, int, int],
    *,
    std_ang: float,
    d_min_ang: float,
    width_ang: float,
    n_iter: int,
    max_displacement_ang: float,
    max_attempts: int,
    seed: int,
) -> np.ndarray:
    """Monte-Carlo rattle (the algorithm of hiphive's ``mc_rattle``, Eriksson et al., Adv. Theory Simul. 2019).

    ``n_iter`` sweeps over the atoms in order; for atom i a trial move u ~ N(0, std_ang^2) per component is
    accepted with probability

        p(d) = erf((d - d_min) / w)  for d >= d_min,   0 for d < d_min,

    d being the shortest distance from the moved atom to any other atom or periodic image. hiphive uses the
    softer p(d) = (1 + erf((d - d_min) / w)) / 2, which lets some pairs end below d_min; here d_min is a hard
    floor, so every output keeps all distances >= d_min if the input does. Moves taking an atom further than
    ``max_displacement_ang`` from its start are rejected; after ``max_attempts`` rejections the atom stays put
    for that sweep.

    Args:
        positions: (n, 3) start positions, angstrom (not modified).
        lattice: (3, 3) cell rows, angstrom.
        pbc: periodicity flags.
        seed: seed of this structure's random stream.

    Returns:
        (n, 3) rattled positions, angstrom.
    """
    rng = np.random.default_rng(seed)
    start = np.array(positions, dtype=np.float64)
    current = start.copy()
    # pairs further apart than d_min + 4 w have p = erf(4) ~ 1 - 1.5e-8: no need to look further; a trial lies
    # within max_displacement of its start, and every other atom within max_displacement of its own start
    near = d_min_ang + 4.0 * width_ang + max_displacement_ang
    shifts = lattice_translations(lattice, pbc, near + max_displacement_ang)
    n = len(current)
    others = np.ones(n, dtype=bool)
    for _ in range(n_iter):
        for i in range(n):
            others[i] = False
            images = (current[others][None, :, :] + shifts[:, None, :]).reshape(-1, 3)
            others[i] = True
            images = images[((images - start[i]) ** 2).sum(axis=1) <= near * near]
            for _ in range(max_attempts):
                trial = current[i] + rng.normal(0.0, std_ang, size=3)
                if np.linalg.norm(trial - start[i]) > max_displacement_ang:
                    continue
                d = float(np.sqrt(((images - trial) ** 2).sum(axis=1).min())) if len(images) else np.inf
                if d < d_min_ang:
                    continue
                if width_ang == 0.0 or rng.random() < erf((d - d_min_ang) / width_ang):
                    current[i] = trial
                    break
    return current


@dataclass(frozen=True)
class MonteCarloRattle:
    """Monte-Carlo rattle: Gaussian trial moves accepted only if no two atoms come closer than ``d_min_ang``.

    Attributes:
        std_ang: standard deviation of each trial move, angstrom (not the final displacement: the final
            displacement grows with ``n_iter``); ``n_structures`` rows per value.
        d_min_ang: hard minimum interatomic distance, angstrom; None uses ``d_min_fraction`` x the parent's
            shortest interatomic distance (the value used is recorded in each row's params).
        d_min_fraction: see ``d_min_ang``.
        width_ang: width w of the acceptance wall above d_min, angstrom (hiphive's default 0.1).
        n_iter: sweeps over all atoms (hiphive's default 10).
        max_displacement_ang: largest distance an atom may move from its start, angstrom.
        max_attempts: trial moves per atom and sweep before the atom is left in place.
        n_structures: structures per std and parent.
    """

    name: ClassVar[str] = "mc-rattle"
    std_ang: tuple[float, ...] = (0.05,)
    d_min_ang: float | None = None
    d_min_fraction: float = 0.85
    width_ang: float = 0.1
    n_iter: int = 10
    max_displacement_ang: float = 2.0
    max_attempts: int = 1000
    n_structures: int = 1

    def __post_init__(self) -> None:
        if not self.std_ang or any(s <= 0 for s in self.std_ang):
            raise ConfigurationError(f"mc-rattle: std_ang must be positive values, got {list(self.std_ang)}")
        if self.d_min_ang is not None and self.d_min_ang <= 0:
            raise ConfigurationError(f"mc-rattle: d_min_ang must be positive, got {self.d_min_ang}")
        if not 0 < self.d_min_fraction <= 1:
            raise ConfigurationError(f"mc-rattle: d_min_fraction must be in (0, 1], got {self.d_min_fraction}")
        if self.width_ang < 0 or self.n_iter < 1 or self.max_attempts < 1 or self.n_structures < 1:
            raise ConfigurationError("mc-rattle: width_ang >= 0, n_iter, max_attempts, n_structures >= 1 required")

    def params(self) -> dict[str, Any]:
        return {
            "std_ang": list(self.std_ang),
            "d_min_ang": self.d_min_ang,
            "d_min_fraction": self.d_min_fraction,
            "width_ang": self.width_ang,
            "n_iter": self.n_iter,
            "max_displacement_ang": self.max_displacement_ang,
            "max_attempts": self.max_attempts,
            "n_structures": self.n_structures,
        }

    def generate(
        self, parent: Configuration, *, parent_id: str, seeds: SeedStream
    ) -> Iterator[Configuration | Rejected]:
        """``n_structures`` MC rattles per std; a parent already closer than d_min is rejected with the reason."""
        shortest = shortest_distance(parent)
        d_min = self.d_min_ang if self.d_min_ang is not None else round(self.d_min_fraction * shortest, 6)
        if shortest < d_min:
            yield Rejected(
                f"{self.name} parent={parent_id}",
                "cartesian_site_positions",
                f"parent's shortest distance {shortest:.3f} A is already below d_min {d_min:.3f} A",
            )
            return
        for std in self.std_ang:
            for _ in range(self.n_structures):
                seed = seeds.next()
                row_params = {
                    "std_ang": std,
                    "d_min_ang": d_min,
                    "width_ang": self.width_ang,
                    "n_iter": self.n_iter,
                    "max_displacement_ang": self.max_displacement_ang,
                    "max_attempts": self.max_attempts,
                }
                positions = mc_rattle_positions(
                    parent.positions,
                    parent.lattice,
                    parent.pbc,
                    std_ang=std,
                    d_min_ang=d_min,
                    width_ang=self.width_ang,
                    n_iter=self.n_iter,
                    max_displacement_ang=self.max_displacement_ang,
                    max_attempts=self.max_attempts,
                    seed=seed,
                )
                yield derived(
                    parent, parent_id=parent_id, generator=self.name, params=row_params, seed=seed, positions=positions
                )
