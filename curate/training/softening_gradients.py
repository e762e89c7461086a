"""Label-free loss gradients under the softening prior: what each structure would teach a fine-tune, before DFT.

A uMLIP pretrained on near-equilibrium data is soft: off equilibrium its interaction energy, forces and stress
are about 1/s of DFT's, with one s > 1 across a system (the softening paper; curate's linear correction fits
it). With labels y = s p, structure i's training loss L_i = sum_t w_t mean((y_t - p_t)^2) has, at the
pretrained weights theta, the gradient

    dL_i/dtheta = -(s - 1) dQ_i/dtheta,      Q_i = sum_t w_t mean(p_t^2),

the same direction whatever s is. Q_i is the structure's force information (how sharply it pins a scale, see
:mod:`curate.experiments.linear_scale`), and it is also the training loss of structure i against labels with
no interaction at all (energy = the model's own elemental reference energy, forces and stress 0). So its
gradient is one backward pass of the architecture's own training step (:class:`TorchFineTuner` hooks) on those
labels, for exactly the weights ``method`` trains: the last-layer (``heads``) or all (``full``) gradient
features of the issue's NTK-style acquisition, with the loss the fine-tune will use. Each gradient is
count-sketched (Charikar, Chen & Farach-Colton 2002; seeded) to ``dimensions`` numbers: inner products, which is
all gradient matching needs, are kept in expectation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from curate.dataset.configuration import Configuration
from curate.errors import ConfigurationError
from curate.models.base import Model
from curate.training.data import TrainingSet
from curate.training.fine_tuner import TorchFineTuner
from curate.training.result import FinetuneRequest
from curate.training.settings import FinetuneMethod, TrainingSettings, check_method

SKETCH_DIMENSIONS = 4096


def no_interaction_labels(structure: Configuration, reference_energy_ev: float) -> Configuration:
    """``structure`` labelled as if its atoms did not interact: energy = reference (eV), forces and stress 0."""
    return dataclasses.replace(
        structure,
        energy=float(reference_energy_ev),
        forces=np.zeros((structure.nsites, 3)),
        stress=np.zeros((3, 3)),
    )


def count_sketch(dimensions: int, size: int, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """A seeded count sketch R^size -> R^dimensions: each coordinate goes to one bucket with a random sign."""
    rng = np.random.default_rng(seed)
    buckets = rng.integers(0, dimensions, size)
    signs = rng.choice(np.array([-1.0, 1.0]), size)
    return lambda vector: np.bincount(buckets, weights=signs * vector, minlength=dimensions)


def softening_gradients(
    tuner: TorchFineTuner,
    model: Model,
    structures: Sequence[Configuration],
    *,
    method: FinetuneMethod,
    settings: TrainingSettings,
    dimensions: int | None = SKETCH_DIMENSIONS,
    seed: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """dQ_i/dtheta for every structure, over the weights ``method`` trains, count-sketched; shape (N, dimensions).

    Q_i is in the loss's units (eV^2/A^2 for the force term, weighted); the gradient is per unit of each weight.

    Args:
        tuner: the fine-tuner of ``model``'s architecture (its training step defines the loss).
        model: the model being corrected (not modified: a copy is differentiated).
        structures: candidates; their labels, if any, are not read.
        method: ``heads`` or ``full`` (``linear`` trains one scale: use the force information itself).
        settings: loss weights (energy, force, stress) and trainable blocks; the loss is always MSE here.
        dimensions: sketch size; None: the whole gradient, in the order of the trainable weights of
            ``model``'s torch module (``parameters()`` with ``requires_grad`` after the fine-tuner's prepare).
        seed: seeds the sketch.
        on_progress: called with the number of structures done.
    """
    import torch

    if check_method(method) == "linear":
        raise ValueError("softening gradients are for heads or full; linear has one weight")
    settings = dataclasses.replace(settings, loss="mse", atomref="frozen")
    native = tuner.copy(tuner.native(model)).to(model.device)
    tuner.prepare(native, method, settings)
    native.train()  # as in the epoch loop: some architectures keep the force graph only in training mode
    weights = [p for p in native.parameters() if p.requires_grad]
    size = sum(p.numel() for p in weights)
    sketch = (lambda vector: vector) if dimensions is None else count_sketch(dimensions, size, seed)
    by_element = tuner.atomref_values(native) or {}
    rows = []
    for done, structure in enumerate(structures, start=1):
        reference = sum(by_element.get(s, 0.0) for s in structure.species)
        single = TrainingSet((no_interaction_labels(structure, reference),), (f"candidate-{done}",), "candidates")
        request = FinetuneRequest(tuner.architecture, model.info, single, None, method, settings, model.device, None)
        steps = tuner.training_steps(native, request)
        loss, _ = steps.step(next(iter(steps.batches())))
        grads = torch.autograd.grad(loss, weights, allow_unused=True)
        flat = torch.cat(
            [(torch.zeros_like(w) if g is None else g).reshape(-1) for g, w in zip(grads, weights, strict=True)]
        )
        rows.append(sketch(flat.detach().cpu().numpy().astype(np.float64)))
        if on_progress is not None:
            on_progress(done)
    tuner.release(native, settings)
    return np.array(rows).reshape(len(rows), size if dimensions is None else dimensions)


def gradient_method(method: FinetuneMethod | str) -> FinetuneMethod:
    """The method whose trainable weights the gradients are taken over: ``method``, or ``heads`` for ``linear``
    (one scale has no gradient features)."""
    checked = check_method(method)
    return "heads" if checked == "linear" else checked


def model_loss_gradients(
    model: Model,
    structures: Sequence[Configuration],
    *,
    method: FinetuneMethod | str,
    settings: TrainingSettings,
    on_progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """:func:`softening_gradients` with the fine-tuner registered for ``model``'s architecture, over the weights
    :func:`gradient_method` names; shape (N, SKETCH_DIMENSIONS).

    Raises:
        ConfigurationError: the model's fine-tuner has no training step to differentiate.
    """
    from curate.training.registry import fine_tuner_for

    tuner = fine_tuner_for(model)
    if not isinstance(tuner, TorchFineTuner):
        raise ConfigurationError(f"{model.info.spec}: its fine-tuner cannot give loss gradients")
    return softening_gradients(
        tuner, model, structures, method=gradient_method(method), settings=settings, on_progress=on_progress
    )
