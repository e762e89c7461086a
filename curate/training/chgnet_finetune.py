"""Fine-tune CHGNet: ``linear`` (closed-form energy scale), ``full`` and ``heads`` (a thin loop over its model).

The loop trains CHGNet's own modules with CHGNet's own loss definition (weighted MSE/Huber/MAE of energy per
atom, force components and stress components, as ``chgnet.trainer.CombinedLoss``), Adam and a cosine
learning-rate schedule. It differs from ``chgnet.trainer.Trainer`` in what it does not repeat:

* neighbour graphs are built once per dataset and reused every epoch (the Trainer's ``StructureData``
  rebuilds every graph every epoch);
* forces and stress come from ONE ``autograd.grad`` call over positions and strains (CHGNet's ``forward``
  makes two, each with ``create_graph=True``, so the double-backward graph is built twice);
* validation predicts without ``create_graph`` (the Trainer's validation builds the training graph);
* the best epoch's weights are kept in memory, not written to disk every epoch.

The numbers are the same computation: forces F = -dE/dx, stress sigma = (1/V) dE/d(strain) in GPa.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from curate.dataset.io import atomic_output
from curate.errors import ConfigurationError
from curate.models.base import Device, ModelInfo, max_atoms_for
from curate.models.chgnet import CHGNetModel, interaction_energy_and_gradients
from curate.training.atomref import refit_reference_energies
from curate.training.data import TrainingSet
from curate.training.evaluate import Metrics, metrics_from_predictions
from curate.training.linear import fit_energy_scale
from curate.training.loop import EpochLoopResult, FinetuneRequest, count_parameters, index_batches, run_epochs
from curate.training.result import EpochRecord, FinetuneResult
from curate.training.settings import FinetuneMethod, TrainingSettings

EV_PER_A3_TO_GPA = 160.21766208
MODEL_FILE = "chgnet-finetuned.pth.tar"


def fresh_chgnet_like(model: Any, *, seed: int) -> Any:
    """A CHGNet with ``model``'s architecture (model_args) and freshly initialised weights (seeded, locally).

    The composition model (AtomRef) is copied from ``model`` so energies start on a sensible scale; the
    ``scratch`` method of the scaling experiment then refits it on its training data.
    """
    import torch
    from chgnet.model import CHGNet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = CHGNet(**model.model_args)
    if model.composition_model is not None and fresh.composition_model is not None:
        fresh.composition_model.load_state_dict(model.composition_model.state_dict())
    return fresh


def build_training_graphs(model: Any, data: TrainingSet) -> list[Any]:
    """CrystalGraphs of every structure (CPU), built once; reused by every epoch."""
    from curate.models.chgnet import to_pymatgen

    converter = model.graph_converter
    return [converter(to_pymatgen(cfg), graph_id=str(k)) for k, cfg in enumerate(data.configurations)]


def label_tensors(data: TrainingSet) -> dict[str, list[Any]]:
    """Per-structure label tensors (float32): energy per atom (eV/atom), forces (eV/A), stress (GPa) or None."""
    import torch

    return {
        "e": [torch.tensor(float(c.energy) / c.nsites, dtype=torch.float32) for c in data],
        "f": [torch.as_tensor(np.asarray(c.forces), dtype=torch.float32) for c in data],
        "s": [None if c.stress is None else torch.as_tensor(np.asarray(c.stress), dtype=torch.float32) for c in data],
    }


def forward_efs_for_training(model: Any, graphs: Sequence[Any]) -> dict[str, Any]:
    """Energy per atom (eV/atom), forces (eV/A, concatenated) and stress (GPa, per structure) with autograd graph.

    One ``autograd.grad`` over positions and strains with ``create_graph=True`` so the loss can
    back-propagate through forces and stress.
    """
    import torch

    raw, _, grads, batched = interaction_energy_and_gradients(model, graphs, create_graph=True)
    atoms = raw["atoms_per_graph"]
    n = len(graphs)
    composition = 0 if model.composition_model is None else model.composition_model(graphs)
    per_atom = (raw["e"] if model.is_intensive else raw["e"] / atoms) + composition
    volumes = torch.stack([torch.as_tensor(v).reshape(()) for v in batched.volumes]).to(per_atom.device)
    forces = -torch.cat(grads[:n], dim=0)
    stress = [grads[n + k] * (EV_PER_A3_TO_GPA / volumes[k]) for k in range(n)]
    return {"e": per_atom, "f": forces, "s": stress}


def _criterion(settings: TrainingSettings) -> Callable[[Any, Any], Any]:
    import torch

    if settings.loss == "mse":
        return torch.nn.MSELoss()
    if settings.loss == "huber":
        return torch.nn.HuberLoss(delta=settings.huber_delta)
    return torch.nn.L1Loss()


def set_trainable(model: Any, *, method: FinetuneMethod, settings: TrainingSettings) -> tuple[int, int]:
    """Freeze and unfreeze CHGNet's parameters for ``method``; returns (trainable, frozen) parameter counts.

    * ``full``: everything except the magnetic-moment head (not trained on) and, unless
      ``settings.atomref == "trainable"``, the composition model (AtomRef);
    * ``heads``: additionally the embeddings, basis expansions and every interaction block except the last
      ``settings.heads_trainable_blocks`` (block i = atom conv i + bond conv i + angle update i; the last
      block is the final atom conv); the readout norm and MLP always train.
    """
    for p in model.parameters():
        p.requires_grad = method == "full"
    if method == "heads":
        n_conv = len(model.atom_conv_layers)
        blocks: list[list[Any]] = [
            [model.atom_conv_layers[i], model.bond_conv_layers[i], model.angle_layers[i]] for i in range(n_conv - 1)
        ]
        blocks.append([model.atom_conv_layers[n_conv - 1]])
        k = min(settings.heads_trainable_blocks, len(blocks))
        trainable = [m for block in blocks[len(blocks) - k :] for m in block if m is not None]
        trainable += [m for m in (model.readout_norm, model.mlp) if m is not None]
        for module in trainable:
            for p in module.parameters():
                p.requires_grad = True
    for p in model.site_wise.parameters():
        p.requires_grad = False
    if model.composition_model is not None:
        for p in model.composition_model.parameters():
            p.requires_grad = settings.atomref == "trainable"
    trainable_count = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen_count = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return trainable_count, frozen_count


def bake_energy_scale(model: Any, scale: float) -> None:
    """Multiply CHGNet's interaction energy by ``scale`` in place (the last readout Linear's weight and bias).

    E = sum_i mlp(h_i) + AtomRef(composition); the first term is linear in the last layer's weights, so its
    value, the forces and the stress are multiplied by ``scale`` exactly; AtomRef is left alone.
    """
    import torch

    linears = [m for m in model.mlp.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ConfigurationError("this CHGNet has no Linear readout layer to scale")
    with torch.no_grad():
        linears[-1].weight.mul_(scale)
        if linears[-1].bias is not None:
            linears[-1].bias.mul_(scale)


def reference_energies(model: Any, graphs: Sequence[Any]) -> list[float]:
    """The AtomRef (composition model) energy of each structure, eV (total, not per atom); 0 without one."""
    import torch

    if model.composition_model is None:
        return [0.0] * len(graphs)
    with torch.no_grad():
        per_atom = model.composition_model(list(graphs)).detach().cpu().numpy().astype(np.float64)
    return [float(e) * int(g.atomic_number.shape[0]) for e, g in zip(per_atom, graphs, strict=True)]


def _save_function(model: Any) -> Callable[[Path], str]:
    def save(folder: Path) -> str:
        import torch

        folder.mkdir(parents=True, exist_ok=True)
        path = folder / MODEL_FILE
        with atomic_output(path) as tmp:
            torch.save({"model": copy.deepcopy(model).cpu().as_dict()}, tmp)
        return f"chgnet:{path.resolve()}"

    return save


def finetune_chgnet(
    model: Any,
    base: ModelInfo,
    train: TrainingSet,
    val: TrainingSet | None,
    *,
    method: FinetuneMethod,
    settings: TrainingSettings,
    device: Device,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> FinetuneResult:
    """Fine-tune a CHGNet (``chgnet.model.CHGNet``, not modified: a copy is trained) on ``train``.

    Args:
        model: the starting CHGNet.
        base: provenance of the starting model.
        train: labelled training structures.
        val: validation structures; the epoch with the lowest validation force MAE is kept. Without it the
            last epoch is kept.
        method: ``linear`` (closed-form energy scale, :mod:`curate.training.linear`), ``full`` or ``heads``.
        settings: hyper-parameters (epochs, learning rates, loss weights, batch size, seed, AtomRef mode).
        device: cpu or cuda.
        on_epoch: called after every epoch (progress bars).

    Returns:
        The result with the trained model behind the curate Model interface; ``save_model(folder)`` writes
        ``chgnet-finetuned.pth.tar`` and returns the ``chgnet:FILE`` spec that loads it.
    """
    if len(train) == 0:
        raise ConfigurationError("the training set is empty")
    request = FinetuneRequest("chgnet", base, train, val, method, settings, device, on_epoch)
    trained = copy.deepcopy(model).to(device)
    extra: dict[str, Any] = {}
    if settings.atomref == "refit":
        extra["atomref_refit"] = refit_reference_energies(trained, train)
    if method == "linear":
        started = time.perf_counter()
        adapter = CHGNetModel(trained, info=request.trained_info(), device=device)
        graphs = build_training_graphs(trained, train)
        predictions = adapter.predict_graphs(
            graphs, [c.nsites for c in train], max_atoms_per_batch=max_atoms_for([adapter])
        )
        references = reference_energies(trained, graphs)
        scale = fit_energy_scale(train, predictions, settings, reference_energies_ev=references)
        bake_energy_scale(trained, scale)
        total = count_parameters(trained.parameters())
        seconds = time.perf_counter() - started
        return request.result(
            adapter, _save_function(trained), extra, trainable=1, frozen=total, energy_scale=scale, seconds=seconds
        )
    trainable, frozen = set_trainable(trained, method=method, settings=settings)
    adapter = CHGNetModel(trained, info=request.trained_info(), device=device)
    loop = _train(trained, adapter, request)
    for p in trained.parameters():
        p.requires_grad = True
    return request.result(adapter, _save_function(trained), extra, trainable=trainable, frozen=frozen, loop=loop)


def _train(model: Any, adapter: CHGNetModel, request: FinetuneRequest) -> EpochLoopResult:
    """The epoch loop over graphs built once; validation through ``adapter`` (no double-backward graph)."""
    train, val, settings, device = request.train, request.validation, request.settings, request.device
    graphs = build_training_graphs(model, train)
    labels = label_tensors(train)
    criterion = _criterion(settings)

    def step(batch: np.ndarray) -> tuple[Any, Any]:
        predicted = forward_efs_for_training(model, [graphs[i].to(device) for i in batch])
        return _loss(predicted, labels, batch, settings, criterion, device)

    validate = _validator(adapter, model, val) if val is not None else None
    return run_epochs(
        model,
        batches=index_batches(len(train), settings),
        step=step,
        validate=validate,
        n_train=len(train),
        settings=settings,
        on_epoch=request.on_epoch,
    )


def _validator(adapter: CHGNetModel, model: Any, val: TrainingSet) -> Callable[[], Metrics]:
    """Validation metrics of the current weights; graphs built once, predicted without ``create_graph``."""
    graphs = build_training_graphs(model, val)

    def validate() -> Metrics:
        predictions = adapter.predict_graphs(
            graphs, [c.nsites for c in val], max_atoms_per_batch=max_atoms_for([adapter])
        )
        return metrics_from_predictions(val, predictions)

    return validate


def _loss(
    predicted: dict[str, Any],
    labels: dict[str, list[Any]],
    batch: Sequence[int],
    settings: TrainingSettings,
    criterion: Callable[[Any, Any], Any],
    device: str,
) -> tuple[Any, Any]:
    """Weighted loss of one batch and the force errors (eV/A) for the epoch's MAE."""
    import torch

    energy_target = torch.stack([labels["e"][i] for i in batch]).to(device)
    force_target = torch.cat([labels["f"][i] for i in batch], dim=0).to(device)
    force_error = (predicted["f"] - force_target).detach()
    loss = settings.energy_weight * criterion(predicted["e"], energy_target)
    loss = loss + settings.force_weight * criterion(predicted["f"], force_target)
    with_stress = [(k, labels["s"][i]) for k, i in enumerate(batch) if labels["s"][i] is not None]
    if settings.stress_weight > 0 and with_stress:
        stress_pred = torch.stack([predicted["s"][k] for k, _ in with_stress])
        stress_target = torch.stack([s for _, s in with_stress]).to(device)
        loss = loss + settings.stress_weight * criterion(stress_pred, stress_target)
    return loss, force_error
