"""Label-free loss gradients: checked against Euler's theorem on the weights a linear correction scales."""

from __future__ import annotations

import numpy as np
import pytest

from curate.models.base import Model
from curate.training.data import TrainingSet
from curate.training.fine_tuner import TorchFineTuner
from curate.training.registry import fine_tuner_for
from curate.training.settings import TrainingSettings
from curate.training.softening_gradients import count_sketch, softening_gradients

WEIGHTS = (0.1, 100.0, 0.1)  # energy (eV/atom)^2, force (eV/A)^2, stress GPa^2: TrainingSettings' defaults


def _information(model: Model, tuner: TorchFineTuner, data: TrainingSet) -> np.ndarray:
    """Q_i = sum_t w_t mean(p_t^2) from plain predictions and the model's own elemental references."""
    by_element = tuner.atomref_values(tuner.native(model)) or {}
    predictions = model.predict(list(data.configurations), max_atoms_per_batch=256)
    out = []
    for cfg, pred in zip(data.configurations, predictions, strict=True):
        interaction = (pred.energy - sum(by_element.get(s, 0.0) for s in cfg.species)) / cfg.nsites
        terms = (interaction**2, np.mean(np.asarray(pred.forces) ** 2), np.mean(np.asarray(pred.stress) ** 2))
        out.append(float(np.dot(WEIGHTS, terms)))
    return np.array(out)


def _scaled_weights(tuner: TorchFineTuner, model: Model) -> np.ndarray:
    """The trainable (heads) weights in gradient order, zero except those the linear correction multiplies."""
    import torch

    native = tuner.copy(tuner.native(model))
    tuner.prepare(native, "heads", TrainingSettings())
    scaled = dict(tuner.scale_energy(tuner.copy(tuner.native(model)), 2.0).named_parameters())
    parts = []
    for name, weight in native.named_parameters():
        if weight.requires_grad:
            multiplied = not torch.equal(scaled[name].detach(), weight.detach())
            parts.append(weight.detach().reshape(-1).double().numpy() * multiplied)
    return np.concatenate(parts)


def _perturbed(tuner: TorchFineTuner, model: Model, direction: np.ndarray, step: float) -> Model:
    """A copy of ``model`` with its trainable (heads) weights moved by ``step * direction`` (gradient order)."""
    import torch

    native = tuner.copy(tuner.native(model))
    tuner.prepare(native, "heads", TrainingSettings())
    offset = 0
    with torch.no_grad():
        for weight in (w for w in native.parameters() if w.requires_grad):
            part = direction[offset : offset + weight.numel()].reshape(weight.shape)
            weight.add_(torch.as_tensor(step * part, dtype=weight.dtype))
            offset += weight.numel()
    return tuner.wrap(native, info=model.info, device=model.device)


@pytest.mark.slow
@pytest.mark.model
def test_chgnet_gradients_obey_euler_on_the_weights_the_interaction_energy_is_linear_in(
    chgnet: Model, si: TrainingSet
) -> None:
    """E_int is linear in the last readout layer (what the linear correction multiplies), so Q_i is quadratic
    in it and theta . dQ_i/dtheta over those weights = 2 Q_i (Euler): a known answer for every structure."""
    tuner = fine_tuner_for(chgnet)
    assert isinstance(tuner, TorchFineTuner)
    data = si.subset([0, 9, 10, 12])  # two Si64 MD frames (forces up to 4 eV/A), Si8, one Si2
    gradients = softening_gradients(
        tuner, chgnet, list(data.configurations), method="heads", settings=TrainingSettings(), dimensions=None
    )
    information = _information(chgnet, tuner, data)
    assert np.all(information > 0)
    assert gradients @ _scaled_weights(tuner, chgnet) == pytest.approx(2.0 * information, rel=2e-3)


@pytest.mark.slow
@pytest.mark.model
def test_mace_gradients_match_finite_differences_of_the_information(mace: Model, si: TrainingSet) -> None:
    """dQ_i/dtheta . v equals (Q_i(theta + h v) - Q_i(theta - h v)) / 2h along a random direction v (the tiny
    MACE is float64; the tiny M3GNet's float32 information, ~1e-7, is too small for finite differences)."""
    model = mace
    tuner = fine_tuner_for(model)
    assert isinstance(tuner, TorchFineTuner)
    data = si.subset([0, 10])
    gradients = softening_gradients(
        tuner, model, list(data.configurations), method="heads", settings=TrainingSettings(), dimensions=None
    )
    direction = np.random.default_rng(0).normal(size=gradients.shape[1])
    direction /= np.linalg.norm(direction)
    step = 1e-3
    ahead = _information(_perturbed(tuner, model, direction, step), tuner, data)
    behind = _information(_perturbed(tuner, model, direction, -step), tuner, data)
    assert gradients @ direction == pytest.approx((ahead - behind) / (2 * step), rel=2e-2, abs=1e-9)


def test_the_count_sketch_keeps_inner_products_on_average() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=20000), rng.normal(size=20000)
    b += 0.5 * a
    estimates = [count_sketch(4096, a.size, seed)(a) @ count_sketch(4096, a.size, seed)(b) for seed in range(40)]
    assert np.mean(estimates) == pytest.approx(a @ b, rel=0.05)
    assert np.std(estimates) < 0.1 * abs(a @ b)


@pytest.mark.slow
@pytest.mark.model
def test_m3gnet_gradients_are_finite_repeatable_and_sketched_to_the_asked_size(m3gnet: Model, si: TrainingSet) -> None:
    tuner = fine_tuner_for(m3gnet)
    assert isinstance(tuner, TorchFineTuner)
    structures = list(si.subset([0, 10]).configurations)
    settings = TrainingSettings()
    first = softening_gradients(tuner, m3gnet, structures, method="heads", settings=settings, dimensions=256)
    again = softening_gradients(tuner, m3gnet, structures, method="heads", settings=settings, dimensions=256)
    assert first.shape == (2, 256) and np.all(np.isfinite(first)) and np.all(np.abs(first).sum(axis=1) > 0)
    assert np.allclose(first, again, rtol=1e-6, atol=0)
