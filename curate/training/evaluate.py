"""Error metrics of a model on a labelled set: energy, force and stress MAE and the softening scale.

The softening scale a is the least-squares slope of predicted vs reference force components through the
origin (a = sum x y / sum x x, x = DFT); cMAE = mean |y / a - x|. Energies are compared per atom.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from curate.diagnostics.softening import corrected_mae, softening_slope
from curate.models.base import Model, Prediction, max_atoms_for
from curate.training.data import TrainingSet, label_energy


@dataclass(frozen=True)
class Metrics:
    """Errors of one model on one labelled set.

    Attributes:
        structures: structures evaluated.
        energy_mae_ev_per_atom: mean |E_pred - E_ref| / N (eV/atom).
        force_mae_ev_per_ang: mean |F_pred - F_ref| over all components (eV/angstrom).
        stress_mae_gpa: mean |sigma_pred - sigma_ref| over the 9 components of structures with stress (GPa);
            None when no structure has stress.
        softening_scale: least-squares slope of predicted vs reference force components through the origin.
        force_cmae_ev_per_ang: force MAE after dividing predictions by the softening scale (eV/angstrom).
    """

    structures: int
    energy_mae_ev_per_atom: float
    force_mae_ev_per_ang: float
    stress_mae_gpa: float | None
    softening_scale: float
    force_cmae_ev_per_ang: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def metrics_from_predictions(data: TrainingSet, predictions: list[Prediction]) -> Metrics:
    """Metrics of ``predictions`` (one per structure of ``data``, same order) against ``data``'s labels."""
    if len(predictions) != len(data):
        raise ValueError(f"{len(predictions)} predictions for {len(data)} structures")
    energy_errors = [
        abs(p.energy - label_energy(c)) / c.nsites for c, p in zip(data.configurations, predictions, strict=True)
    ]
    reference_forces = np.concatenate([np.asarray(c.forces).reshape(-1) for c in data.configurations])
    predicted_forces = np.concatenate([np.asarray(p.forces).reshape(-1) for p in predictions])
    stress_pairs = [
        (np.asarray(c.stress).reshape(-1), np.asarray(p.stress).reshape(-1))
        for c, p in zip(data.configurations, predictions, strict=True)
        if c.stress is not None
    ]
    stress_mae = None
    if stress_pairs:
        stress_ref = np.concatenate([r for r, _ in stress_pairs])
        stress_pred = np.concatenate([p for _, p in stress_pairs])
        stress_mae = float(np.mean(np.abs(stress_pred - stress_ref)))
    slope = softening_slope(reference_forces, predicted_forces)
    return Metrics(
        structures=len(data),
        energy_mae_ev_per_atom=float(np.mean(energy_errors)),
        force_mae_ev_per_ang=float(np.mean(np.abs(predicted_forces - reference_forces))),
        stress_mae_gpa=stress_mae,
        softening_scale=slope,
        force_cmae_ev_per_ang=corrected_mae(reference_forces, predicted_forces, slope),
    )


def evaluate(model: Model, data: TrainingSet, *, max_atoms_per_batch: int | None = None) -> Metrics:
    """Predict every structure of ``data`` with ``model`` and compare with its labels (see :class:`Metrics`)."""
    predictions = model.predict(
        list(data.configurations), max_atoms_per_batch=max_atoms_per_batch or max_atoms_for([model])
    )
    return metrics_from_predictions(data, predictions)
