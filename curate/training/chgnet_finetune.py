"""Fine-tune CHGNet (:class:`CHGNetFineTuner`): ``linear`` (closed-form energy scale), ``full`` and ``heads``.

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
import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from curate.dataset.io import atomic_output
from curate.errors import ConfigurationError
from curate.models.base import Device, Model, ModelInfo, Prediction, max_atoms_for
from curate.models.chgnet import CHGNetModel, interaction_energy_and_gradients
from curate.training.atomref import chgnet_atomref, set_chgnet_atomref
from curate.training.data import TrainingSet, label_energy
from curate.training.evaluate import Metrics, metrics_from_predictions
from curate.training.fine_tuner import TorchFineTuner, TrainingSteps
from curate.training.loop import index_batches
from curate.training.result import FinetuneRequest
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
        "e": [torch.tensor(label_energy(c) / c.nsites, dtype=torch.float32) for c in data],
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


def _criterion(settings: TrainingSettings, *, reduction: str = "mean") -> Callable[[Any, Any], Any]:
    import torch

    if settings.loss == "mse":
        return torch.nn.MSELoss(reduction=reduction)
    if settings.loss == "huber":
        return torch.nn.HuberLoss(delta=settings.huber_delta, reduction=reduction)
    return torch.nn.L1Loss(reduction=reduction)


def set_trainable(model: Any, *, method: FinetuneMethod, settings: TrainingSettings) -> list[str]:
    """Freeze and unfreeze CHGNet's parameters for ``method``; returns the names of the trainable modules.

    * ``full``: everything except the magnetic-moment head (not trained on) and, unless
      ``settings.atomref == "trainable"``, the composition model (AtomRef);
    * ``heads``: additionally the embeddings, basis expansions and every interaction block except the last
      ``settings.heads_trainable_blocks`` (block i = atom conv i + bond conv i + angle update i; the last
      block is the final atom conv); the readout norm and MLP always train.
    """
    for p in model.parameters():
        p.requires_grad = method == "full"
    names: list[str] = []
    if method == "heads":
        n_conv = len(model.atom_conv_layers)
        blocks: list[list[str]] = [
            [f"atom_conv_layers.{i}", f"bond_conv_layers.{i}", f"angle_layers.{i}"] for i in range(n_conv - 1)
        ]
        blocks.append([f"atom_conv_layers.{n_conv - 1}"])
        k = min(settings.heads_trainable_blocks, len(blocks))
        modules = dict(model.named_modules())
        names = [n for block in blocks[len(blocks) - k :] for n in block if modules.get(n) is not None]
        names += [n for n in ("readout_norm", "mlp") if getattr(model, n, None) is not None]
        for name in names:
            for p in modules[name].parameters():
                p.requires_grad = True
    for p in model.site_wise.parameters():
        p.requires_grad = False
    if model.composition_model is not None:
        for p in model.composition_model.parameters():
            p.requires_grad = settings.atomref == "trainable"
        if settings.atomref == "trainable":
            names.append("composition_model")
    if method == "full":
        names = [n for n, child in model.named_children() if any(p.requires_grad for p in child.parameters())]
    return names


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


class CHGNetFineTuner(TorchFineTuner):
    """Fine-tunes a :class:`~curate.models.chgnet.CHGNetModel` (its ``chgnet.model.CHGNet``).

    ``full`` trains everything but the magnetic-moment head and (unless ``atomref=trainable``) AtomRef;
    ``heads`` see :func:`set_trainable`. The saved file is ``chgnet-finetuned.pth.tar`` (``chgnet:FILE``).
    """

    architecture = "chgnet"
    adapter = CHGNetModel
    baked_into = ("mlp last Linear weight", "mlp last Linear bias")

    def native(self, model: Model) -> Any:
        return model.model  # type: ignore[attr-defined]

    def wrap(self, native: Any, *, info: ModelInfo, device: Device) -> Model:
        return CHGNetModel(native, info=info, device=device)

    def fresh_native(self, native: Any, *, seed: int) -> Any:
        return fresh_chgnet_like(native, seed=seed)

    def save_native(self, native: Any, folder: Path) -> str:
        import torch

        path = folder / MODEL_FILE
        with atomic_output(path) as tmp:
            torch.save({"model": copy.deepcopy(native).cpu().as_dict()}, tmp)
        return f"chgnet:{path.resolve()}"

    def atomref_values(self, native: Any) -> dict[str, float] | None:
        return chgnet_atomref(native)

    def set_atomref_values(self, native: Any, values: Mapping[str, float]) -> None:
        set_chgnet_atomref(native, values)

    def fit_inputs(self, model: Model, native: Any, data: TrainingSet) -> tuple[list[Prediction], list[float]]:
        """Predictions and AtomRef energies from one set of graphs (CHGNet's own AtomRef arithmetic)."""
        graphs = build_training_graphs(native, data)
        predictions = model.predict_graphs(  # type: ignore[attr-defined]
            graphs, [c.nsites for c in data], max_atoms_per_batch=max_atoms_for([model])
        )
        return predictions, reference_energies(native, graphs)

    def scale_energy(self, native: Any, scale: float) -> Any:
        bake_energy_scale(native, scale)
        return native

    def prepare(self, native: Any, method: FinetuneMethod, settings: TrainingSettings) -> list[str]:
        return set_trainable(native, method=method, settings=settings)

    def training_steps(self, native: Any, request: FinetuneRequest) -> TrainingSteps:
        """Graphs built once; forces and stress from one autograd pass; validation without the training graph."""
        train, settings, device = request.train, request.settings, request.device
        graphs = build_training_graphs(native, train)
        labels = label_tensors(train)
        criterion = _criterion(settings)
        loss = _loss if not train.weighted else functools.partial(_weighted_loss, train=train)

        def step(batch: np.ndarray) -> tuple[Any, Any]:
            predicted = forward_efs_for_training(native, [graphs[i].to(device) for i in batch])
            return loss(predicted, labels, batch, settings, criterion, device)

        validate = None
        if request.validation is not None:
            adapter = CHGNetModel(native, info=request.trained_info(), device=device)
            validate = _validator(adapter, native, request.validation)
        return TrainingSteps(batches=index_batches(len(train), settings), step=step, validate=validate)


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
    batch: Sequence[int] | np.ndarray,
    settings: TrainingSettings,
    criterion: Callable[[Any, Any], Any],
    device: str,
    *,
    train: TrainingSet | None = None,
) -> tuple[Any, Any]:
    """Weighted loss of one batch and the force errors (eV/A) for the epoch's MAE.

    With ``train``, each structure's (energy, force, stress) multipliers (``train.loss_weights``) weigh its
    entries: each term is then the weighted mean sum_i m_i l_i / n over the batch's energies (one per
    structure), force components and stress components, which with every multiplier 1 is the plain mean.
    """
    import torch

    multipliers = None
    if train is not None:
        multipliers = torch.tensor([train.weights_of(int(i)) for i in batch], dtype=torch.float32, device=device)
        per_entry = _criterion(settings, reduction="none")

    def term(column: int, pred: Any, target: Any, spread: Callable[[Any], Any]) -> Any:
        if multipliers is None:
            return criterion(pred, target)
        return torch.mean(spread(multipliers[:, column]) * per_entry(pred, target))

    energy_target = torch.stack([labels["e"][i] for i in batch]).to(device)
    force_target = torch.cat([labels["f"][i] for i in batch], dim=0).to(device)
    force_error = (predicted["f"] - force_target).detach()
    atoms = torch.tensor([labels["f"][i].shape[0] for i in batch], device=device)
    loss = settings.energy_weight * term(0, predicted["e"], energy_target, lambda m: m)
    force_term = term(1, predicted["f"], force_target, lambda m: torch.repeat_interleave(m, atoms).unsqueeze(1))
    loss = loss + settings.force_weight * force_term
    with_stress = [(k, labels["s"][i]) for k, i in enumerate(batch) if labels["s"][i] is not None]
    if settings.stress_weight > 0 and with_stress:
        stress_pred = torch.stack([predicted["s"][k] for k, _ in with_stress])
        stress_target = torch.stack([s for _, s in with_stress]).to(device)
        rows = [k for k, _ in with_stress]
        loss = loss + settings.stress_weight * term(2, stress_pred, stress_target, lambda m: m[rows].view(-1, 1, 1))
    return loss, force_error


def _weighted_loss(
    predicted: dict[str, Any],
    labels: dict[str, list[Any]],
    batch: Sequence[int] | np.ndarray,
    settings: TrainingSettings,
    criterion: Callable[[Any, Any], Any],
    device: str,
    *,
    train: TrainingSet,
) -> tuple[Any, Any]:
    """:func:`_loss` with each structure's (energy, force, stress) multipliers (``train.loss_weights``)."""
    return _loss(predicted, labels, batch, settings, criterion, device, train=train)
