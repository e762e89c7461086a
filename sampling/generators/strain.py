"""Homogeneously strained cells: isotropic, uniaxial along each lattice vector, and pure shear.

A strain is applied through the deformation gradient F = I + eps with eps the symmetric small-strain tensor:
cell rows and Cartesian positions transform as r' = F r (fractional coordinates are unchanged). Uniaxial
strain along lattice vector a_k is eps = e n n^T with n = a_k / |a_k|, so |a_k| grows by exactly (1 + e) --
the +-3 % strains of the softening paper's high-energy protocol.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from curate.dataset.configuration import Configuration, Rejected
from curate.errors import ConfigurationError
from sampling.generators.base import SeedStream, derived, periodic_only

StrainMode = Literal["isotropic", "uniaxial", "shear"]
LATTICE_AXES = ("a", "b", "c")
SHEAR_PAIRS = {"yz": (1, 2), "xz": (0, 2), "xy": (0, 1)}
MAX_ABS_STRAIN = 0.5


def strain_tensor(mode: StrainMode, strain: float, *, lattice: np.ndarray, axis: str | None = None) -> np.ndarray:
    """The symmetric strain tensor eps (3, 3) of one deformation.

    * isotropic: eps = e I;
    * uniaxial along lattice vector ``axis`` (a, b or c): eps = e n n^T, n the unit vector along that row of
      ``lattice``;
    * shear in the Cartesian plane ``axis`` (yz, xz or xy): eps_ij = eps_ji = e (engineering shear 2e).
    """
    if mode == "isotropic":
        return strain * np.eye(3)
    if mode == "uniaxial":
        if axis not in LATTICE_AXES:
            raise ConfigurationError(f"uniaxial strain needs axis a, b or c; got {axis!r}")
        n = lattice[LATTICE_AXES.index(axis)]
        n = n / np.linalg.norm(n)
        return strain * np.outer(n, n)
    if mode == "shear":
        if axis not in SHEAR_PAIRS:
            raise ConfigurationError(f"shear strain needs a Cartesian plane yz, xz or xy; got {axis!r}")
        i, j = SHEAR_PAIRS[axis]
        eps = np.zeros((3, 3))
        eps[i, j] = eps[j, i] = strain
        return eps
    raise ConfigurationError(f"unknown strain mode {mode!r}; expected isotropic, uniaxial or shear")


def apply_strain(lattice: np.ndarray, positions: np.ndarray, eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New (lattice, positions) under F = I + eps: rows r' = r F^T, angstrom; inputs are not modified."""
    f_transposed = (np.eye(3) + eps).T
    return lattice @ f_transposed, positions @ f_transposed


@dataclass(frozen=True)
class Strain:
    """Strained copies of a periodic parent; deterministic (rows have seed None).

    Attributes:
        isotropic: strains e applied as eps = e I (e.g. [-0.03, 0.03]).
        uniaxial: strains e applied along each of the three lattice vectors in turn.
        shear: tensor components e applied in each Cartesian plane yz, xz, xy in turn.
    """

    name: ClassVar[str] = "strain"
    isotropic: tuple[float, ...] = ()
    uniaxial: tuple[float, ...] = ()
    shear: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        values = (*self.isotropic, *self.uniaxial, *self.shear)
        if not values:
            raise ConfigurationError("strain: give at least one of isotropic, uniaxial, shear")
        bad = [v for v in values if v == 0 or abs(v) >= MAX_ABS_STRAIN]
        if bad:
            raise ConfigurationError(f"strain: values must be non-zero with |e| < {MAX_ABS_STRAIN}; got {bad}")

    def params(self) -> dict[str, Any]:
        return {"isotropic": list(self.isotropic), "uniaxial": list(self.uniaxial), "shear": list(self.shear)}

    def deformations(self) -> list[tuple[StrainMode, str | None, float]]:
        """Every (mode, axis, strain) this generator applies, in output order."""
        out: list[tuple[StrainMode, str | None, float]] = [("isotropic", None, e) for e in self.isotropic]
        out += [("uniaxial", axis, e) for e in self.uniaxial for axis in LATTICE_AXES]
        out += [("shear", plane, e) for e in self.shear for plane in SHEAR_PAIRS]
        return out

    @periodic_only
    def generate(
        self, parent: Configuration, *, parent_id: str, seeds: SeedStream
    ) -> Iterator[Configuration | Rejected]:
        """One row per deformation; row params ``{"mode", "axis", "strain"}``."""
        for mode, axis, e in self.deformations():
            eps = strain_tensor(mode, e, lattice=parent.lattice, axis=axis)
            lattice, positions = apply_strain(parent.lattice, parent.positions, eps)
            yield derived(
                parent,
                parent_id=parent_id,
                generator=self.name,
                params={"mode": mode, "axis": axis, "strain": e},
                seed=None,
                lattice=lattice,
                positions=positions,
            )
