"""Refit a model's elemental reference energies (AtomRef, E0s, element_refs) to a training set.

The GGA -> r2SCAN recipe: fit mu_e by least squares of the energy per atom on the fractional composition of
the training structures (:func:`curate.diagnostics.reference_energies.fit_atomref`). Elements absent from the training
set cannot be fitted; they keep the pretrained reference shifted by the mean shift (mu_refit - mu_pretrained)
of the fitted elements, since the difference between functionals is mostly a systematic offset.
:func:`refit_by_element` computes the new values; each fine-tuner reads and writes them in its own model
(:func:`chgnet_atomref` and :func:`set_chgnet_atomref` for CHGNet's AtomRef).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from curate.diagnostics.reference_energies import counts_of, fit_atomref
from curate.errors import ConfigurationError
from curate.training.data import TrainingSet, label_energy


def refit_by_element(old: Mapping[str, float], train: TrainingSet) -> tuple[dict[str, float], dict[str, Any]]:
    """New reference energies (eV/atom) for every element of ``old`` (symbol -> eV/atom), refitted to ``train``.

    Returns the new values (same keys, same order as ``old``) and a JSON-ready record: fitted elements with
    old and new mu (eV/atom), the mean shift applied to the others (eV/atom), the fit's rank and RMSE.

    Raises:
        ConfigurationError: ``train`` has an element ``old`` has no reference energy for.
    """
    fit = fit_atomref([counts_of(c.species) for c in train], [label_energy(c) for c in train])
    fitted = fit.energies_ev_per_atom
    unknown = sorted(set(fitted) - set(old))
    if unknown:
        raise ConfigurationError(f"{train.origin}: the model has no reference energy for {unknown}")
    mean_shift = float(np.mean([mu - old[e] for e, mu in fitted.items()]))
    new = {e: fitted.get(e, mu + mean_shift) for e, mu in old.items()}
    record = {
        "method": "least squares of E/N on fractional composition; absent elements: pretrained + mean shift",
        "fitted_elements": {e: {"pretrained": float(old[e]), "refit": float(mu)} for e, mu in sorted(fitted.items())},
        "mean_shift_ev_per_atom": mean_shift,
        "rank": fit.rank,
        "rmse_ev_per_atom": fit.rmse_ev_per_atom,
        "num_structures": fit.num_rows,
    }
    return new, record


def chgnet_atomref(model: Any) -> dict[str, float] | None:
    """A CHGNet's AtomRef (``model.composition_model.fc``, 94 elements by Z), element -> eV/atom; None without."""
    from pymatgen.core import Element

    composition = getattr(model, "composition_model", None)
    if composition is None or not hasattr(composition, "fc"):
        return None
    weight = composition.fc.weight.detach().cpu().numpy().reshape(-1).astype(np.float64)
    return {Element.from_Z(z).symbol: float(mu) for z, mu in enumerate(weight, start=1)}


def set_chgnet_atomref(model: Any, values: Mapping[str, float]) -> None:
    """Write a CHGNet's AtomRef (element -> eV/atom, every element of :func:`chgnet_atomref`) in place."""
    import torch

    composition = model.composition_model
    ordered = [values[symbol] for symbol in chgnet_atomref(model) or {}]
    with torch.no_grad():
        tensor = torch.as_tensor(ordered, dtype=composition.fc.weight.dtype)
        composition.fc.weight.copy_(tensor.reshape(1, -1))
    if hasattr(composition, "fitted"):
        composition.fitted = True


def refit_reference_energies(model: Any, train: TrainingSet) -> dict[str, Any]:
    """Refit a CHGNet's AtomRef (``model.composition_model.fc``, 94 elements, eV/atom) to ``train`` in place.

    Returns the record of :func:`refit_by_element`.

    Raises:
        ConfigurationError: the model has no AtomRef composition model.
    """
    old = chgnet_atomref(model)
    if old is None:
        raise ConfigurationError("this model has no AtomRef composition model to refit")
    new, record = refit_by_element(old, train)
    set_chgnet_atomref(model, new)
    return record
