"""Fine-tune a matgl ``Potential`` (``linear``, ``full``, ``heads``) with matgl's dataset, loader and loss.

``Potential.forward`` assembles the total energy as E = U + R with

    U = data_std * model(g) + data_mean,    R = sum_i element_refs[type_i]

(plus ZBL repulsion when ``calc_repuls``), R the elemental reference energies and U the interaction energy;
forces and stress are derivatives of E. ``linear`` fits one scalar s on U (closed form,
:func:`curate.training.linear.fit_energy_scale` with R as the unscaled reference) and bakes it in by
multiplying ``data_std`` and ``data_mean`` by s: forces and stress become exactly s times the original,
energies R + s U, and the saved folder is an ordinary ``Potential.save`` folder. ``full`` and ``heads`` train
with the loss of :class:`matgl.utils.training.PotentialLightningModule` (energy per atom, force and stress
components; MSE, Huber or L1) on graphs built once per dataset by :class:`matgl.graph.data.MGLDataset` and
batched by :func:`matgl.graph.data.MGLDataLoader`, in a plain epoch loop (a Lightning Trainer would need
checkpoint files and a logger to keep the best-validation weights; the loop keeps them in memory). Stress is
GPa with the ASE sign in both matgl and curate, so labels go in unchanged; a structure without a stress label
adds zero to the stress term (its label is set to the prediction), which still counts in that batch's mean.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from curate.errors import ConfigurationError
from curate.models.base import Device, Model, ModelInfo
from curate.models.matgl import MatGLModel
from curate.training.data import TrainingSet, label_energy
from curate.training.fine_tuner import TorchFineTuner, TrainingSteps
from curate.training.loop import ErrorSums, LoaderErrors, buffer_to_parameter, parameter_to_buffer
from curate.training.result import FinetuneRequest
from curate.training.settings import FinetuneMethod, TrainingSettings

MODEL_FOLDER = "model"
# per model class: the interaction-block lists (block i of each list forms interaction block i) and the
# readout modules; everything else (embeddings, basis expansions) is "early" and freezes in ``heads``
HEADS_LAYOUT: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "M3GNet": (("three_body_interactions", "graph_layers"), ("final_layer",)),
    "TensorNet": (("layers",), ("out_norm", "linear", "readout", "final_layer")),
    "CHGNet": (("atom_graph_layers", "bond_graph_layers"), ("sitewise_readout", "final_layer")),
}
LOSS_NAMES = {"mse": "mse_loss", "huber": "huber_loss", "mae": "l1_loss"}


def check_elements(potential: Any, data: TrainingSet) -> None:
    """Raise ConfigurationError naming the elements of ``data`` outside the model's ``element_types``."""
    known = set(potential.model.element_types)
    unknown = sorted({s for cfg in data for s in cfg.species} - known)
    if unknown:
        raise ConfigurationError(
            f"{data.origin}: the matgl model has no embedding for {unknown} (it knows {len(known)} elements)"
        )


def copy_potential(potential: Any) -> Any:
    """A deep copy of ``potential``, which is left as it was.

    M3GNet keeps the activations of its last forward pass (``feature_dict``, tensors inside an autograd
    graph) and torch refuses to deepcopy those; the copy is made with that cache set aside.
    """
    caches = {
        name: m.__dict__.pop("feature_dict") for name, m in potential.named_modules() if "feature_dict" in m.__dict__
    }
    try:
        duplicate = copy.deepcopy(potential)
    finally:
        modules = dict(potential.named_modules())
        for name, cache in caches.items():
            modules[name].feature_dict = cache
    for name, module in duplicate.named_modules():
        if name in caches:
            module.feature_dict = {}
    return duplicate


# ---------------------------------------------------------------------------------------------- linear


def bake_energy_scale(potential: Any, scale: float) -> Any:
    """Multiply ``potential``'s interaction energy U by ``scale`` in place (forces and stress too); returns it.

    ``data_std`` and ``data_mean`` are multiplied by ``scale`` (element_refs are left alone), and the
    constructor arguments ``Potential.save`` writes to model.pt/model.json are updated to match.

    Raises ConfigurationError for a potential with ZBL repulsion (``calc_repuls``), an energy term outside
    data_std and data_mean.
    """
    if potential.calc_repuls:
        raise ConfigurationError(
            "cannot bake an energy scale into a matgl Potential with ZBL repulsion (calc_repuls=True): the "
            "repulsion energy is not multiplied by data_std or data_mean"
        )
    potential.data_std = potential.data_std * scale
    potential.data_mean = potential.data_mean * scale
    _sync_init_args(potential)
    return potential


def _sync_init_args(potential: Any) -> None:
    """Make the constructor arguments Potential.save records equal the current buffers."""
    args = potential._init_args
    args["data_std"] = potential.data_std.detach().cpu().clone()
    args["data_mean"] = potential.data_mean.detach().cpu().clone()
    if potential.element_refs is not None:
        args["element_refs"] = potential.element_refs.property_offset.detach().cpu().tolist()


# ---------------------------------------------------------------------------------------------- full, heads


def select_trainable(potential: Any, method: FinetuneMethod, settings: TrainingSettings) -> list[str]:
    """Set ``requires_grad`` on the potential's parameters for ``method``; returns the trainable module names.

    ``full``: every parameter. ``heads``: block i = the i-th entry of each of the model's block lists
    (:data:`HEADS_LAYOUT`: M3GNet three_body_interactions + graph_layers; TensorNet layers; CHGNet
    atom_graph_layers + bond_graph_layers); the last k = ``settings.heads_trainable_blocks`` entries of each
    list and the readout modules train; embeddings, basis expansions and earlier blocks stay frozen.
    ``element_refs``, ``data_mean`` and ``data_std`` are buffers (element_refs follow ``settings.atomref``).

    Raises ConfigurationError for an unknown model class or k larger than the model's blocks.
    """
    model = potential.model
    if method == "full":
        for parameter in potential.parameters():
            parameter.requires_grad_(True)
        return ["all"]
    name = type(model).__name__
    if name not in HEADS_LAYOUT:
        raise ConfigurationError(
            f"heads fine-tuning knows the block layout of {', '.join(HEADS_LAYOUT)}, not {name}; use full or linear"
        )
    block_lists, readouts = HEADS_LAYOUT[name]
    blocks = max(len(getattr(model, b)) for b in block_lists)
    k = settings.heads_trainable_blocks
    if k > blocks:
        raise ConfigurationError(
            f"heads_trainable_blocks={k} but the {name} model has {blocks} interaction blocks; use at most "
            f"{blocks} or the full method"
        )
    for parameter in potential.parameters():
        parameter.requires_grad_(False)
    names: list[str] = []
    for list_name in block_lists:
        layers = getattr(model, list_name)
        # lists one shorter than the atom layers (CHGNet's bond layers) feed the next atom layer
        names += [f"model.{list_name}.{i}" for i in range(max(len(layers) - k, 0), len(layers))]
    names += [f"model.{r}" for r in readouts if hasattr(model, r)]
    modules = dict(potential.named_modules())
    for module_name in names:
        for parameter in modules[module_name].parameters():
            parameter.requires_grad_(True)
    return names


def build_dataset(potential: Any, data: TrainingSet) -> Any:
    """matgl ``MGLDataset`` of every structure, graphs built once; stress label NaN where a structure has none."""
    import ase
    from matgl.ext.ase import Atoms2Graph
    from matgl.graph.data import MGLDataset

    atoms = [
        ase.Atoms(symbols=c.species, positions=c.positions, cell=c.lattice, pbc=[bool(p) for p in c.pbc]) for c in data
    ]
    missing = np.full((3, 3), np.nan)
    labels = {
        "energies": [label_energy(c) for c in data],
        "forces": [np.asarray(c.forces, dtype=float).tolist() for c in data],
        "stresses": [(missing if c.stress is None else np.asarray(c.stress, dtype=float)).tolist() for c in data],
    }
    converter = Atoms2Graph(tuple(potential.model.element_types), float(potential.model.cutoff))
    with tempfile.TemporaryDirectory(prefix="curate-mgl-") as root:
        return MGLDataset(structures=atoms, labels=labels, converter=converter, root=root, save_cache=False)


def _lightning_module(potential: Any, settings: TrainingSettings) -> Any:
    """matgl's PotentialLightningModule holding ``potential`` (its loss_fn is the training loss)."""
    from matgl.utils.training import PotentialLightningModule

    module = PotentialLightningModule(
        model=potential.model,
        energy_weight=settings.energy_weight,
        force_weight=settings.force_weight,
        stress_weight=settings.stress_weight,
        loss=LOSS_NAMES[settings.loss],
        loss_params={"delta": settings.huber_delta} if settings.loss == "huber" else None,
        lr=settings.learning_rate,
    )
    # the module wraps the bare model in a new Potential; train the given one (its refs, mean, std)
    module.model = potential
    return module


def _step(module: Any, batch: tuple, *, device: Device) -> tuple[Any, tuple, tuple]:
    """Loss terms, predictions and labels of one batch; a missing stress label is set to the prediction."""
    import torch

    g, lat, state_attr, energies, forces, stresses = (x.to(device) for x in batch)
    energy, force, stress, _ = module.model(g=g, lat=lat, state_attr=state_attr)
    stresses = torch.where(torch.isnan(stresses), stress.detach(), stresses)
    preds = (energy, force, stress)
    labels = (energies, forces, stresses)
    results = module.loss_fn(loss=module.loss, labels=labels, preds=preds, num_atoms=torch.bincount(g.batch))
    return results, preds, labels


def _evaluate_loader(module: Any, loader: Any, *, device: Device) -> LoaderErrors:
    """Energy MAE per atom (eV/atom), force MAE (eV/angstrom), stress MAE (GPa, labelled structures only)."""
    import torch

    sums = ErrorSums()
    for batch in loader:
        g, lat, state_attr, energies, forces, stresses = (x.to(device) for x in batch)
        energy, force, stress, _ = module.model(g=g, lat=lat, state_attr=state_attr)
        num_atoms = torch.bincount(g.batch).to(energy.dtype)
        labelled = ~torch.isnan(stresses)
        sums.add((energy.reshape(-1) - energies) / num_atoms, force - forces, stress[labelled] - stresses[labelled])
    return sums.errors()


# ---------------------------------------------------------------------------------------------- element refs


def refs_by_element(potential: Any) -> dict[str, float] | None:
    """element_refs (eV/atom), element -> value in ``element_types`` order; None without element_refs.

    Raises ConfigurationError for per-state element_refs (one row per state, not one value per element).
    """
    if potential.element_refs is None:
        return None
    offsets = potential.element_refs.property_offset
    if offsets.dim() != 1:
        raise ConfigurationError(f"cannot use per-state element_refs of shape {tuple(offsets.shape)}")
    return dict(zip(potential.model.element_types, offsets.detach().cpu().tolist(), strict=True))


def set_refs(potential: Any, values: Mapping[str, float]) -> None:
    """Write element_refs (element -> eV/atom, every element type) in place, and the arguments save records."""
    import torch

    offsets = potential.element_refs.property_offset
    potential.element_refs.property_offset = torch.as_tensor(
        [values[e] for e in potential.model.element_types], dtype=offsets.dtype, device=offsets.device
    )
    _sync_init_args(potential)


# ---------------------------------------------------------------------------------------------- fresh weights


def fresh_potential_like(potential: Any, *, seed: int) -> Any:
    """A Potential around a model of ``potential.model``'s class and constructor arguments, freshly initialised.

    The model is rebuilt from the constructor arguments matgl records for saving (``_init_args``) under a
    seeded, local torch RNG; element_refs, data_mean and data_std are copied from ``potential``.
    """
    import torch

    model = potential.model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh_model = type(model)(**model._init_args)
    fresh = copy_potential(potential)
    fresh.model = fresh_model.to(next(potential.parameters()).device)
    return fresh


# ---------------------------------------------------------------------------------------------- saving


class MatGLFineTuner(TorchFineTuner):
    """Fine-tunes a :class:`~curate.models.matgl.MatGLModel` (its ``matgl.apps.pes.Potential``).

    ``heads`` trains the last ``settings.heads_trainable_blocks`` blocks of the model's block lists and its
    readout (:data:`HEADS_LAYOUT`); the saved folder is ``model/`` (``Potential.save``, ``matgl:DIR``).
    """

    architecture = "matgl"
    adapter = MatGLModel
    baked_into = ("data_std", "data_mean")

    def native(self, model: Model) -> Any:
        return model.potential  # type: ignore[attr-defined]

    def wrap(self, native: Any, *, info: ModelInfo, device: Device) -> Model:
        return MatGLModel.from_potential(native, info=info, device=device)

    def copy(self, native: Any) -> Any:
        return copy_potential(native)

    def check_elements(self, native: Any, data: TrainingSet) -> None:
        check_elements(native, data)

    def fresh_native(self, native: Any, *, seed: int) -> Any:
        return fresh_potential_like(native, seed=seed)

    def save_native(self, native: Any, folder: Path) -> str:
        path = (folder / MODEL_FOLDER).resolve()
        copy_potential(native).cpu().save(path)
        return f"matgl:{path}"

    def atomref_values(self, native: Any) -> dict[str, float] | None:
        return refs_by_element(native)

    def set_atomref_values(self, native: Any, values: Mapping[str, float]) -> None:
        set_refs(native, values)

    def scale_energy(self, native: Any, scale: float) -> Any:
        return bake_energy_scale(native, scale)

    def prepare(self, native: Any, method: FinetuneMethod, settings: TrainingSettings) -> list[str]:
        names = select_trainable(native, method, settings)
        if settings.atomref == "trainable":
            buffer_to_parameter(native.element_refs, "property_offset")
            names.append("element_refs")
        return names

    def release(self, native: Any, settings: TrainingSettings) -> None:
        if settings.atomref == "trainable":
            parameter_to_buffer(native.element_refs, "property_offset")
        _sync_init_args(native)

    def weighted_loss_refusal(self, settings: TrainingSettings) -> str | None:
        return (
            "matgl's loss has no per-structure weights, so replay (energy-free replay structures) cannot run "
            "with matgl; fine-tune without replay"
        )

    def training_steps(self, native: Any, request: FinetuneRequest) -> TrainingSteps:
        """matgl graphs built once (MGLDataset), batched by MGLDataLoader; matgl's Lightning loss."""
        import torch
        from matgl.graph.data import MGLDataLoader

        settings, device = request.settings, request.device
        refused = self.weighted_loss_refusal(settings) if request.train.weighted else None
        if refused is not None:
            raise ConfigurationError(refused)
        train_set = build_dataset(native, request.train)
        val_set = None if request.validation is None else build_dataset(native, request.validation)
        train_loader, val_loader = MGLDataLoader(
            train_data=train_set,
            val_data=val_set if val_set is not None else train_set,
            batch_size=settings.batch_size,
            num_workers=0,
            pin_memory=False,
            generator=torch.Generator().manual_seed(settings.seed),
        )
        module = _lightning_module(native, settings).to(device)  # its torchmetrics too

        def step(batch: tuple) -> tuple[Any, Any]:
            results, preds, labels = _step(module, batch, device=device)
            return results["Total_Loss"], (preds[1] - labels[1]).detach()

        def validate() -> LoaderErrors:
            return _evaluate_loader(module, val_loader, device=device)

        return TrainingSteps(batches=lambda: train_loader, step=step, validate=None if val_set is None else validate)
