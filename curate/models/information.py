"""How sharply one structure pins down a linear correction's scale, from a model's own predictions (no labels).

The linear correction multiplies the interaction energy by s, so predicted forces and stress scale by s too.
With the MSE loss over the terms t = energy per atom, force components, stress components (weights w_t), the
curvature of one structure's own loss in s is

    I = sum_t w_t Q_t / N_t,   Q_t = sum of the squared predicted components of term t, N_t = their number,

i.e. w_E u^2 + w_F <f^2> + w_S <sigma^2> with u = (E_pred - R) / n the predicted interaction energy per atom
(eV/atom; R the model's elemental reference energies), <f^2> the mean squared predicted force component
(eV^2/A^2) and <sigma^2> the mean squared predicted stress component (GPa^2). This module is the one
definition: ``curate sample``'s ``force_information`` score and the learning curves' pool statistics
(:mod:`curate.experiments.linear_scale`) both compute it here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from curate.models.base import Description

# energy, force, stress loss weights: the softening paper's E:F:S = 0.1:100:0.1 (TrainingSettings' defaults)
DEFAULT_LOSS_WEIGHTS: tuple[float, float, float] = (0.1, 100.0, 0.1)


def squared_prediction_sums(
    interaction_energy_per_atom: float, forces: np.ndarray, stress: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(Q, N) of one structure for the energy, force and stress terms, each shape (3,).

    Args:
        interaction_energy_per_atom: u = (E_pred - R) / n, eV/atom.
        forces: predicted forces, shape (n, 3), eV/A.
        stress: predicted stress, shape (3, 3), GPa, or None (the stress term then has no components).
    """
    f = np.asarray(forces, dtype=np.float64).reshape(-1)
    square = [interaction_energy_per_atom * interaction_energy_per_atom, float(f @ f), 0.0]
    count = [1.0, float(f.size), 0.0]
    if stress is not None:
        t = np.asarray(stress, dtype=np.float64).reshape(-1)
        square[2], count[2] = float(t @ t), float(t.size)
    return np.array(square), np.array(count)


def information_from_sums(square: np.ndarray, count: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_t w_t Q_t / N_t per structure; ``square`` and ``count`` shape (n, 3), ``weights`` (3,); result (n,).

    A term without components (N_t = 0) contributes nothing.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        per_term = np.where(count > 0, square / np.maximum(count, 1.0), 0.0)
    return (per_term * np.asarray(weights, dtype=np.float64)).sum(axis=1)


def information_of_predictions(
    predictions: Iterable[tuple[float, np.ndarray, np.ndarray | None]],
    weights: Sequence[float] | np.ndarray = DEFAULT_LOSS_WEIGHTS,
) -> np.ndarray:
    """I of each structure from a model's predictions alone, shape (N,): ``predictions`` yields (u eV/atom, forces
    (n, 3) eV/A, stress (3, 3) GPa or None) per structure. Every predicted term counts (the structures are to be
    labelled with energy, forces and stress), so no label is read."""
    sums = [squared_prediction_sums(u, forces, stress) for u, forces, stress in predictions]
    square = np.array([s[0] for s in sums]).reshape(-1, 3)
    count = np.array([s[1] for s in sums]).reshape(-1, 3)
    return information_from_sums(square, count, np.asarray(weights, dtype=np.float64))


def prediction_information(
    description: Description, weights: tuple[float, float, float] = DEFAULT_LOSS_WEIGHTS
) -> np.ndarray:
    """I of every structure a model described, from its predictions and reference energies alone; shape (N,)."""
    return information_of_predictions(
        (
            ((float(p.energy) - float(reference)) / len(np.asarray(p.forces).reshape(-1, 3)), p.forces, p.stress)
            for p, reference in zip(description.predictions, description.reference_energies_ev, strict=True)
        ),
        weights,
    )
