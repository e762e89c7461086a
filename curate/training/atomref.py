"""Refit a model's elemental reference energies (AtomRef) to a training set, for transfer to a new functional.

The GGA -> r2SCAN recipe: fit mu_e by least squares of the energy per atom on the fractional composition of
the training structures (:func:`curate.reference_energies.fit_atomref`), write them into the model's
composition model and freeze them. Elements absent from the training set cannot be fitted; they keep the
pretrained reference shifted by the mean shift (mu_refit - mu_pretrained) of the fitted elements, since the
difference between functionals is mostly a systematic offset. The returned record lists both groups.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from curate.errors import ConfigurationError
from curate.reference_energies import counts_of, fit_atomref
from curate.training.data import TrainingSet


def refit_reference_energies(model: Any, train: TrainingSet) -> dict[str, Any]:
    """Refit a CHGNet's AtomRef (``model.composition_model.fc``, 94 elements, eV/atom) to ``train`` in place.

    Returns a JSON-ready record: fitted elements with old and new mu (eV/atom), the mean shift applied to the
    others (eV/atom), the fit's rank and RMSE.

    Raises:
        ConfigurationError: the model has no AtomRef composition model.
    """
    import torch
    from pymatgen.core import Element

    composition = getattr(model, "composition_model", None)
    if composition is None or not hasattr(composition, "fc"):
        raise ConfigurationError("this model has no AtomRef composition model to refit")
    fit = fit_atomref([counts_of(c.species) for c in train], [float(c.energy) for c in train])
    weight = composition.fc.weight.detach().cpu().numpy().reshape(-1).astype(np.float64)
    old = weight.copy()
    fitted = {e: mu for e, mu in fit.energies_ev_per_atom.items()}
    shifts = [mu - old[Element(e).Z - 1] for e, mu in fitted.items()]
    mean_shift = float(np.mean(shifts))
    new = old + mean_shift
    for element, mu in fitted.items():
        new[Element(element).Z - 1] = mu
    with torch.no_grad():
        composition.fc.weight.copy_(torch.as_tensor(new, dtype=composition.fc.weight.dtype).reshape(1, -1))
    if hasattr(composition, "fitted"):
        composition.fitted = True
    return {
        "method": "least squares of E/N on fractional composition; absent elements: pretrained + mean shift",
        "fitted_elements": {
            e: {"pretrained": float(old[Element(e).Z - 1]), "refit": float(mu)} for e, mu in sorted(fitted.items())
        },
        "mean_shift_ev_per_atom": mean_shift,
        "rank": fit.rank,
        "rmse_ev_per_atom": fit.rmse_ev_per_atom,
        "num_structures": fit.num_rows,
    }
