"""The softening paper's linear correction: one scalar s multiplies the model's energy output.

A uMLIP's energy is E = R + U: R the elemental reference energies (CHGNet's AtomRef, MACE's E0s, matgl's
element_refs; a function of composition only) and U the interaction energy the network predicts. The
correction multiplies U by s with every weight frozen, so forces and stress (derivatives of U; R does not
depend on positions or strain) scale by s, and energies move by (s - 1) U instead of being scaled whole
(scaling R too would shift energies by eV/atom). The training loss of the paper,

    L(s) = w_E mean((r_i + s u_i - e*_i)^2) + w_F mean((s f_j - f*_j)^2) + w_S mean((s t_k - t*_k)^2),

with r, u the reference and interaction energy per atom (eV/atom), f force components (eV/angstrom), t stress
components (GPa) and stars the labels, is a quadratic in s, so gradient descent from s = 1 converges to its
unique minimiser

    s* = (w_E <u (e* - r)> + w_F <f f*> + w_S <t t*>) / (w_E <u u> + w_F <f f> + w_S <t t>),

where <.> is the mean over that term's components. curate solves this in closed form from one pass of
predictions, which is exact and takes one forward pass instead of many epochs. (For the MSE loss; for
Huber and MAE losses there is no closed form and the scalar is found by a 1-d bounded search on L(s).)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from curate.errors import ConfigurationError
from curate.models.base import Prediction
from curate.training.data import TrainingSet, label_energy
from curate.training.settings import TrainingSettings


def _terms(
    train: TrainingSet, predictions: Sequence[Prediction], reference_energies_ev: Sequence[float]
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, scaled part of the prediction, label minus unscaled part) per loss term."""
    pairs = list(zip(train, predictions, reference_energies_ev, strict=True))
    energies_pred = np.array([(p.energy - r) / c.nsites for c, p, r in pairs])
    energies_ref = np.array([(label_energy(c) - r) / c.nsites for c, _, r in pairs])
    forces_pred = np.concatenate([np.asarray(p.forces).reshape(-1) for p in predictions])
    forces_ref = np.concatenate([np.asarray(c.forces).reshape(-1) for c in train])
    terms = [("energy", energies_pred, energies_ref), ("force", forces_pred, forces_ref)]
    with_stress = [(c, p) for c, p in zip(train, predictions, strict=True) if c.stress is not None]
    if with_stress:
        stress_pred = np.concatenate([np.asarray(p.stress).reshape(-1) for _, p in with_stress])
        stress_ref = np.concatenate([np.asarray(c.stress).reshape(-1) for c, _ in with_stress])
        terms.append(("stress", stress_pred, stress_ref))
    return terms


def fit_energy_scale(
    train: TrainingSet,
    predictions: Sequence[Prediction],
    settings: TrainingSettings,
    *,
    reference_energies_ev: Sequence[float] | None = None,
) -> float:
    """The scalar s on the interaction energy minimising the weighted fine-tuning loss against ``train``.

    Args:
        train: labelled structures.
        predictions: the frozen model's predictions for ``train`` (same order), schema units.
        settings: loss kind and weights (energy per atom, forces, stress).
        reference_energies_ev: the model's elemental reference energy R of each structure (eV, total), the
            part of the predicted energy s does not multiply; None means 0 (s scales the whole energy).

    Raises:
        ConfigurationError: the weighted predictions are all zero (s is undefined).
    """
    if len(predictions) != len(train):
        raise ValueError(f"{len(predictions)} predictions for {len(train)} structures")
    weights = {"energy": settings.energy_weight, "force": settings.force_weight, "stress": settings.stress_weight}
    references = [0.0] * len(train) if reference_energies_ev is None else list(reference_energies_ev)
    terms = [
        (weights[name], pred, ref) for name, pred, ref in _terms(train, predictions, references) if weights[name] > 0
    ]
    if settings.loss == "mse":
        numerator = sum(w * float(np.mean(pred * ref)) for w, pred, ref in terms)
        denominator = sum(w * float(np.mean(pred * pred)) for w, pred, ref in terms)
        if denominator == 0.0:
            raise ConfigurationError("the model predicts zero for every weighted label: the energy scale is undefined")
        return numerator / denominator
    from scipy.optimize import minimize_scalar

    delta = settings.huber_delta

    def loss(s: float) -> float:
        total = 0.0
        for w, pred, ref in terms:
            r = np.abs(s * pred - ref)
            if settings.loss == "mae":
                total += w * float(np.mean(r))
            else:
                total += w * float(np.mean(np.where(r < delta, 0.5 * r * r, delta * (r - 0.5 * delta))))
        return total

    found = minimize_scalar(loss, bounds=(0.1, 10.0), method="bounded", options={"xatol": 1e-8})
    return float(found.x)
