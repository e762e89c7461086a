"""Softening scale of a uMLIP: how much it underestimates forces relative to DFT.

With x the reference (DFT) force components and y the predicted ones, the softening scale is the
least-squares slope of y = a x through the origin,

    a = sum(x * y) / sum(x * x),

the closed form of what matcalc's SofteningBenchmark fits with ``curve_fit`` (same minimiser). a < 1 means the
model's potential energy surface is softer than DFT's. Also computed: force MAE = mean |y - x| and the
corrected MAE, cMAE = mean |y / a - x| (the error left after removing the systematic softening).

Everything here is a pure function of arrays or a streaming accumulator of sums, so the diagnostic runs over
any number of shards with memory bounded by one batch (two passes: slopes first, then cMAE).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


def softening_slope(reference: np.ndarray, predicted: np.ndarray) -> float:
    """Least-squares slope a of predicted = a * reference through the origin: sum(x y) / sum(x x).

    Args:
        reference: DFT force components (any shape), eV/angstrom.
        predicted: model force components, same shape, eV/angstrom.

    Raises:
        ValueError: shapes differ, or every reference component is zero (the slope is undefined).
    """
    x = np.asarray(reference, dtype=np.float64).reshape(-1)
    y = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"reference and predicted must have the same size, got {x.size} and {y.size}")
    sxx = float(np.dot(x, x))
    if sxx == 0.0:
        raise ValueError("every reference force component is zero: the softening slope is undefined")
    return float(np.dot(x, y)) / sxx


def mean_absolute_error(reference: np.ndarray, predicted: np.ndarray) -> float:
    """mean |predicted - reference| over all components (units of the inputs)."""
    x = np.asarray(reference, dtype=np.float64).reshape(-1)
    y = np.asarray(predicted, dtype=np.float64).reshape(-1)
    return float(np.mean(np.abs(y - x)))


def corrected_mae(reference: np.ndarray, predicted: np.ndarray, slope: float) -> float:
    """cMAE = mean |predicted / slope - reference|: the force MAE after undoing a softening scale ``slope``."""
    x = np.asarray(reference, dtype=np.float64).reshape(-1)
    y = np.asarray(predicted, dtype=np.float64).reshape(-1)
    return float(np.mean(np.abs(y / slope - x)))


@dataclass
class ForceSums:
    """Streaming sums over force components (eV/angstrom), x = DFT and y = predicted.

    Pass 1 fills sum xy, sum xx and sum |y - x|; pass 2, once the slope is known, sum |y / slope - x|.
    """

    components: int = 0
    sum_xy: float = 0.0
    sum_xx: float = 0.0
    sum_abs_error: float = 0.0
    corrected_components: int = 0
    sum_abs_corrected_error: float = 0.0


@dataclass
class ErrorSums:
    """Streaming count, sum |error| and sum error of one label's errors (predicted - reference)."""

    count: int = 0
    sum_abs_error: float = 0.0
    sum_error: float = 0.0

    def add(self, error: float) -> None:
        self.count += 1
        self.sum_abs_error += abs(error)
        self.sum_error += error

    def add_components(self, errors: np.ndarray) -> None:
        self.count += errors.size
        self.sum_abs_error += float(np.abs(errors).sum())
        self.sum_error += float(errors.sum())


@dataclass
class GroupStats:
    """Streaming sums for one group (a material, a source, ...); feed structures with :meth:`add_structure`.

    Pass 1 fills the force sums, energy-per-atom errors (eV/atom) and stress component errors (GPa); after
    :attr:`slope` is known, pass 2 feeds :meth:`add_corrected` for the cMAE.
    """

    structures: int = 0
    atoms: int = 0
    forces: ForceSums = field(default_factory=ForceSums)
    energy_per_atom: ErrorSums = field(default_factory=ErrorSums)
    stress: ErrorSums = field(default_factory=ErrorSums)
    labels_missing: dict[str, int] = field(default_factory=lambda: {"energy": 0, "forces": 0, "stress": 0})

    def add_structure(
        self,
        nsites: int,
        forces: tuple[np.ndarray | None, np.ndarray],
        energy_ev: tuple[float | None, float],
        stress_gpa: tuple[np.ndarray | None, np.ndarray],
    ) -> None:
        """Pass 1: add one structure's (reference, predicted) labels; a missing reference label is counted."""
        self.structures += 1
        self.atoms += nsites
        if forces[0] is None:
            self.labels_missing["forces"] += 1
        else:
            self.add_forces(forces[0], forces[1])
        if energy_ev[0] is None:
            self.labels_missing["energy"] += 1
        else:
            self.add_energy(energy_ev[0], energy_ev[1], nsites)
        if stress_gpa[0] is None:
            self.labels_missing["stress"] += 1
        else:
            self.add_stress(stress_gpa[0], stress_gpa[1])

    def add_forces(self, reference: np.ndarray, predicted: np.ndarray) -> None:
        """Add one structure's force components (eV/angstrom), any matching shapes."""
        x = reference.reshape(-1)
        y = predicted.reshape(-1)
        self.forces.components += x.size
        self.forces.sum_xy += float(np.dot(x, y))
        self.forces.sum_xx += float(np.dot(x, x))
        self.forces.sum_abs_error += float(np.abs(y - x).sum())

    def add_energy(self, reference_ev: float, predicted_ev: float, nsites: int) -> None:
        """Add one structure's total energies (eV); errors are taken per atom (eV/atom)."""
        self.energy_per_atom.add((predicted_ev - reference_ev) / nsites)

    def add_stress(self, reference_gpa: np.ndarray, predicted_gpa: np.ndarray) -> None:
        """Add one structure's stress tensors (3, 3 or 9 components; GPa)."""
        self.stress.add_components(predicted_gpa - reference_gpa)

    def add_corrected(self, reference: np.ndarray, predicted: np.ndarray) -> None:
        """Pass 2: add |y / slope - x| of one structure's force components (needs :attr:`slope`)."""
        slope = self.slope
        if slope is None:
            return
        self.forces.corrected_components += reference.size
        self.forces.sum_abs_corrected_error += float(
            np.abs(predicted.reshape(-1) / slope - reference.reshape(-1)).sum()
        )

    @property
    def slope(self) -> float | None:
        """Softening scale sum(xy)/sum(xx); None when the group has no non-zero reference force component."""
        return self.forces.sum_xy / self.forces.sum_xx if self.forces.sum_xx > 0 else None

    def summary(self) -> dict[str, float | int | dict[str, int] | None]:
        """Slope, force MAE / cMAE (eV/A), energy-per-atom MAE and mean error (eV/atom), stress MAE (GPa)."""

        def ratio(total: float, count: int) -> float | None:
            return total / count if count else None

        forces, energy = self.forces, self.energy_per_atom
        return {
            "structures": self.structures,
            "atoms": self.atoms,
            "force_components": forces.components,
            "softening_scale": self.slope,
            "force_mae_ev_per_ang": ratio(forces.sum_abs_error, forces.components),
            "force_cmae_ev_per_ang": ratio(forces.sum_abs_corrected_error, forces.corrected_components),
            "energy_per_atom_mae_ev": ratio(energy.sum_abs_error, energy.count),
            "energy_per_atom_mean_error_ev": ratio(energy.sum_error, energy.count),
            "stress_mae_gpa": ratio(self.stress.sum_abs_error, self.stress.count),
            "labels_missing": dict(self.labels_missing),
        }


def share_below_one(slopes: list[float | None]) -> float | None:
    """Share of defined slopes that are < 1 (None when no slope is defined)."""
    defined = [s for s in slopes if s is not None and math.isfinite(s)]
    return sum(s < 1.0 for s in defined) / len(defined) if defined else None
