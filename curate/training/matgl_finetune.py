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
import functools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from curate.errors import ConfigurationError
from curate.models.base import Device, ModelInfo, max_atoms_for
from curate.models.matgl import MatGLModel
from curate.training.atomref import refit_by_element
from curate.training.data import TrainingSet
from curate.training.linear import fit_energy_scale
from curate.training.loop import (
    ErrorSums,
    FinetuneRequest,
    LoaderErrors,
    buffer_to_parameter,
    count_parameters,
    parameter_to_buffer,
    run_epochs,
)
from curate.training.result import EpochRecord, FinetuneResult
from curate.training.settings import FinetuneMethod, TrainingSettings, check_method

MODEL_FOLDER = "model"
# per model class: the interaction-block lists (block i of each list forms interaction block i) and the
# readout modules; everything else (embeddings, basis expansions) is "early" and freezes in ``heads``
HEADS_LAYOUT: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "M3GNet": (("three_body_interactions", "graph_layers"), ("final_layer",)),
    "TensorNet": (("layers",), ("out_norm", "linear", "readout", "final_layer")),
    "CHGNet": (("atom_graph_layers", "bond_graph_layers"), ("sitewise_readout", "final_layer")),
}
LOSS_NAMES = {"mse": "mse_loss", "huber": "huber_loss", "mae": "l1_loss"}


def finetune_matgl(
    potential: Any,
    base: ModelInfo,
    train: TrainingSet,
    val: TrainingSet | None,
    *,
    method: FinetuneMethod,
    settings: TrainingSettings,
    device: Device,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> FinetuneResult:
    """Fine-tune a matgl ``Potential`` on ``train`` (``potential`` itself is not modified).

    Args:
        potential: a ``matgl.apps.pes.Potential`` computing forces and stresses (as loaded by
            :class:`curate.models.matgl.MatGLModel`).
        base: provenance of ``potential``.
        train: labelled training structures (energy eV, forces eV/angstrom, stress GPa or None).
        val: validation structures; the epoch with the lowest validation force MAE is kept (the last epoch
            when None).
        method: ``linear`` (energy scale s, closed form, baked into the Potential), ``full`` (all weights) or
            ``heads`` (the last ``settings.heads_trainable_blocks`` interaction blocks and the readout).
        settings: loss weights, learning-rate schedule, epochs, batch size, seed, atomref mode.
        device: cpu or cuda.
        on_epoch: called with each epoch's record as it finishes.

    Returns:
        A FinetuneResult whose ``model`` is a :class:`MatGLModel` over the trained potential and whose
        ``save_model(folder)`` runs ``Potential.save(folder/"model")`` and returns ``matgl:<abs path>``.

    Raises:
        ConfigurationError: a structure has an element the model does not know; ``linear`` on a potential
            with ZBL repulsion (not linear in one scalar); ``trainable``/``refit`` atomref on a potential
            without element_refs; ``heads`` on a model class without a known block layout or with more
            trainable blocks asked for than it has.
    """
    check_method(method)
    if len(train) == 0:
        raise ConfigurationError("the training set is empty")
    check_elements(potential, train)
    if val is not None:
        check_elements(potential, val)
    request = FinetuneRequest("matgl", base, train, val, method, settings, device, on_epoch)
    return _finetune_linear(potential, request) if method == "linear" else _finetune_gradient(potential, request)


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


def reference_energies(potential: Any, data: TrainingSet) -> list[float]:
    """R = sum of element_refs over each structure's atoms (eV, total; 0 without element_refs)."""
    if potential.element_refs is None:
        return [0.0] * len(data)
    by_element = _refs_by_element(potential)
    return [float(sum(by_element[s] for s in cfg.species)) for cfg in data]


def _sync_init_args(potential: Any) -> None:
    """Make the constructor arguments Potential.save records equal the current buffers."""
    args = potential._init_args
    args["data_std"] = potential.data_std.detach().cpu().clone()
    args["data_mean"] = potential.data_mean.detach().cpu().clone()
    if potential.element_refs is not None:
        args["element_refs"] = potential.element_refs.property_offset.detach().cpu().tolist()


def _finetune_linear(potential: Any, request: FinetuneRequest) -> FinetuneResult:
    start = time.perf_counter()
    frozen = MatGLModel.from_potential(copy_potential(potential), info=request.base, device=request.device)
    extra: dict[str, Any] = {"atomref": request.settings.atomref}
    if request.settings.atomref == "refit":
        extra["atomref_refit"] = refit_element_refs(frozen.potential, request.train)
        _sync_init_args(frozen.potential)
    predictions = frozen.predict(list(request.train.configurations), max_atoms_per_batch=max_atoms_for([frozen]))
    references = reference_energies(frozen.potential, request.train)
    scale = fit_energy_scale(request.train, predictions, request.settings, reference_energies_ev=references)
    baked = bake_energy_scale(frozen.potential, scale)
    extra["baked_into"] = ["data_std", "data_mean"]
    seconds = time.perf_counter() - start
    adapter = MatGLModel.from_potential(baked, info=request.trained_info(), device=request.device)
    total = count_parameters(potential.parameters())
    return request.result(
        adapter, _saver(adapter), extra, trainable=1, frozen=total, energy_scale=scale, seconds=seconds
    )


# ---------------------------------------------------------------------------------------------- full, heads


def _finetune_gradient(potential: Any, request: FinetuneRequest) -> FinetuneResult:
    import torch
    from matgl.graph.data import MGLDataLoader

    settings, device = request.settings, request.device
    working = copy_potential(potential).to(device)
    extra: dict[str, Any] = {"atomref": settings.atomref}
    if settings.atomref == "refit":
        extra["atomref_refit"] = refit_element_refs(working, request.train)
    if settings.atomref == "trainable" and working.element_refs is None:
        raise _no_refs_error(settings.atomref)
    trainable_names = select_trainable(working, request.method, settings)
    refs_trainable = settings.atomref == "trainable"
    if refs_trainable:
        buffer_to_parameter(working.element_refs, "property_offset")
    extra["trainable_modules"] = trainable_names + (["element_refs"] if refs_trainable else [])

    train_set = build_dataset(working, request.train)
    val_set = None if request.validation is None else build_dataset(working, request.validation)
    generator = torch.Generator().manual_seed(settings.seed)
    train_loader, val_loader = MGLDataLoader(
        train_data=train_set,
        val_data=val_set if val_set is not None else train_set,
        batch_size=settings.batch_size,
        num_workers=0,
        pin_memory=False,
        generator=generator,
    )
    module = _lightning_module(working, settings).to(device)  # its torchmetrics too

    def step(batch: tuple) -> tuple[Any, Any]:
        results, preds, labels = _step(module, batch, device=device)
        return results["Total_Loss"], (preds[1] - labels[1]).detach()

    trainable = count_parameters(p for p in working.parameters() if p.requires_grad)
    loop = run_epochs(
        working,
        batches=lambda: train_loader,
        step=step,
        validate=None if val_set is None else functools.partial(_evaluate_loader, module, val_loader, device=device),
        n_train=len(request.train),
        settings=settings,
        on_epoch=request.on_epoch,
    )
    refs_count = working.element_refs.property_offset.numel() if refs_trainable else 0
    if refs_trainable:
        parameter_to_buffer(working.element_refs, "property_offset")
        extra["atomref_trained_ev"] = _refs_by_element(working)
    _sync_init_args(working)
    for parameter in working.parameters():  # as a freshly loaded Potential: ready to train again
        parameter.requires_grad_(True)
    frozen = count_parameters(working.parameters()) + refs_count - trainable
    adapter = MatGLModel.from_potential(working, info=request.trained_info(), device=device)
    return request.result(adapter, _saver(adapter), extra, trainable=trainable, frozen=frozen, loop=loop)


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
        "energies": [float(c.energy) for c in data],  # type: ignore[arg-type]
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


def refit_element_refs(potential: Any, train: TrainingSet) -> dict[str, Any]:
    """Refit ``potential.element_refs`` (eV/atom, element_types order) to ``train`` in place; returns a record.

    The elements of ``train`` get mu_e from the least squares of E/N on fractional composition
    (:func:`curate.diagnostics.reference_energies.fit_atomref`); every other element keeps its reference shifted by the
    mean shift (mu_refit - pretrained) of the fitted ones, the same rule as :mod:`curate.training.atomref`.

    Raises ConfigurationError when the potential has no element_refs (its energies are then absolute and a
    composition baseline would be counted twice) or has per-state refs.
    """
    import torch

    if potential.element_refs is None:
        raise _no_refs_error("refit")
    offsets = potential.element_refs.property_offset
    if offsets.dim() != 1:
        raise ConfigurationError(f"cannot refit per-state element_refs of shape {tuple(offsets.shape)}")
    old = _refs_by_element(potential)
    new, record = refit_by_element(old, train)
    potential.element_refs.property_offset = torch.as_tensor(
        [new[e] for e in potential.model.element_types], dtype=offsets.dtype, device=offsets.device
    )
    return record


def _no_refs_error(mode: str) -> ConfigurationError:
    return ConfigurationError(
        f"atomref={mode} needs element_refs, and this matgl Potential has none (it predicts absolute energies); "
        "use atomref=frozen"
    )


def _refs_by_element(potential: Any) -> dict[str, float]:
    offsets = potential.element_refs.property_offset.detach().cpu().tolist()
    return dict(zip(potential.model.element_types, offsets, strict=True))


# ---------------------------------------------------------------------------------------------- saving


def _saver(adapter: MatGLModel) -> Callable[[Path], str]:
    def save_model(folder: Path) -> str:
        """``Potential.save(folder/"model")`` of a CPU copy; returns ``matgl:<abs path>``."""
        path = (Path(folder) / MODEL_FOLDER).resolve()
        potential = copy_potential(adapter.potential).cpu()
        potential.save(path)
        return f"matgl:{path}"

    return save_model
