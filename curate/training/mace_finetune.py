"""Fine-tune a MACE model (``linear``, ``full``, ``heads``) with mace's own data, loader and loss.

A ScaleShiftMACE assembles the total energy as E = R + U with

    R = sum_i E0[Z_i],    U = sum_i (scale * (e_pair,i + sum_l readout_l(h_i^l)) + shift),

R the elemental reference energies (E0s, composition only) and U the interaction energy; forces and stress
are derivatives of U. ``linear`` fits one scalar s on U (closed form,
:func:`curate.training.linear.fit_energy_scale` with R as the unscaled reference) and bakes it in by
multiplying ``scale_shift.scale`` and ``scale_shift.shift`` by s: forces and stress become exactly s times the
original, energies R + s U, and the saved file is an ordinary MACE model. ``full`` and ``heads`` train with
:class:`mace.modules.loss.WeightedEnergyForcesStressLoss` (MSE) or
:class:`~mace.modules.loss.WeightedHuberEnergyForcesStressLoss` on graphs built once per dataset with
``mace.data.AtomicData`` and batched by mace's torch_geometric ``DataLoader``. Stress labels are kept in GPa
(the model's eV/angstrom^3 output is divided by ``ase.units.GPa`` before the loss), so the three loss terms
are energy per atom (eV/atom), force components (eV/angstrom) and stress components (GPa), as in
:class:`~curate.training.settings.TrainingSettings`. A structure without a stress label adds zero to the
stress term (mace's per-structure stress weight 0), which still counts in that batch's mean.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from curate.dataset.configuration import Configuration
from curate.dataset.io import atomic_output
from curate.errors import ConfigurationError
from curate.models.base import Device, Model, ModelInfo
from curate.models.mace import MACEModel, heads_of, import_mace
from curate.training.data import TrainingSet, label_energy
from curate.training.fine_tuner import TorchFineTuner, TrainingSteps
from curate.training.loop import ErrorSums, LoaderErrors, buffer_to_parameter, parameter_to_buffer
from curate.training.result import FinetuneRequest
from curate.training.settings import FinetuneMethod, TrainingSettings

MODEL_FILE = "model.model"


def check_elements(model: Any, data: TrainingSet) -> None:
    """Raise ConfigurationError naming the elements of ``data`` that ``model`` has no embedding for."""
    from ase.data import chemical_symbols

    known = {chemical_symbols[int(z)] for z in model.atomic_numbers}
    unknown = sorted({s for cfg in data for s in cfg.species} - known)
    if unknown:
        raise ConfigurationError(
            f"{data.origin}: the MACE model has no embedding for {unknown} (it knows {len(known)} elements)"
        )


# ---------------------------------------------------------------------------------------------- linear


def bake_energy_scale(model: Any, scale: float, *, head: int = 0) -> Any:
    """Multiply ``model``'s interaction energy U by ``scale`` in place (forces and stress too); returns it.

    ScaleShiftMACE: ``scale_shift.scale`` and ``scale_shift.shift`` of head ``head`` are multiplied by
    ``scale``; E0 is left alone. A plain MACE (E = sum E0 + pair + readouts, no scale_shift) becomes a
    ScaleShiftMACE with scale = ``scale`` and shift = 0, whose forward is the same sum with pair + readouts
    multiplied by ``scale``.

    Raises:
        ConfigurationError: a MACE variant with interaction-energy terms outside scale_shift (electrostatics,
            an embedding readout), where one scalar cannot be baked in exactly.
    """
    from mace.modules.blocks import ScaleShiftBlock
    from mace.modules.models import MACE, ScaleShiftMACE

    if type(model) not in (MACE, ScaleShiftMACE) or hasattr(model, "embedding_readout"):
        raise ConfigurationError(
            f"cannot bake an energy scale into a {type(model).__name__}: only MACE and ScaleShiftMACE without an "
            "embedding readout have their whole interaction energy in the readouts"
        )
    n_heads = len(getattr(model, "heads", None) or ["Default"])
    if type(model) is MACE:
        e0 = model.atomic_energies_fn.atomic_energies
        model.__class__ = ScaleShiftMACE
        model.scale_shift = ScaleShiftBlock(scale=1.0, shift=0.0).to(device=e0.device, dtype=e0.dtype)
    for name in ("scale", "shift"):
        value = getattr(model.scale_shift, name)
        if n_heads == 1:
            setattr(model.scale_shift, name, value * scale)
            continue
        per_head = value.reshape(-1).expand(n_heads).clone() if value.numel() == 1 else value.clone()
        per_head[head] = per_head[head] * scale
        setattr(model.scale_shift, name, per_head)
    return model


# ---------------------------------------------------------------------------------------------- full, heads


def select_trainable(model: Any, method: FinetuneMethod, settings: TrainingSettings) -> list[str]:
    """Set ``requires_grad`` on ``model``'s parameters for ``method``; returns the trainable module names.

    ``full``: every parameter. ``heads``: ``interactions[-k:]`` and ``products[-k:]`` (k =
    ``settings.heads_trainable_blocks``) and every readout; ``node_embedding``, ``radial_embedding``, the
    earlier interaction and product blocks, the pair repulsion and any joint embedding stay frozen. E0 and
    scale_shift are buffers, never trained here (E0 follows ``settings.atomref``).

    Raises ConfigurationError when k exceeds the model's interaction blocks.
    """
    if method == "full":
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        return ["all"]
    blocks = len(model.interactions)
    k = settings.heads_trainable_blocks
    if k > blocks:
        raise ConfigurationError(
            f"heads_trainable_blocks={k} but the MACE model has {blocks} interaction blocks; use at most {blocks} "
            "or the full method"
        )
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    names = [f"interactions.{i}" for i in range(blocks - k, blocks)]
    names += [f"products.{i}" for i in range(blocks - k, blocks)]
    names += [f"readouts.{i}" for i in range(len(model.readouts))]
    modules = dict(model.named_modules())
    for name in names:
        for parameter in modules[name].parameters():
            parameter.requires_grad_(True)
    return names


def build_graphs(model: Any, data: TrainingSet) -> list[Any]:
    """mace ``AtomicData`` of every structure with its labels (energy eV, forces eV/A, stress GPa), built once.

    Graphs use the model's cutoff, element table, dtype and head (see :func:`curate.models.mace.heads_of`);
    a structure without a stress label gets stress weight 0 (mace's per-configuration property weight).
    """
    import mace.data
    from mace.tools import AtomicNumberTable, torch_tools

    heads, head = heads_of(model)
    z_table = AtomicNumberTable([int(z) for z in model.atomic_numbers])
    cutoff = float(model.r_max)
    dtype = next(model.parameters()).dtype
    with torch_tools.default_dtype(dtype):
        return [
            mace.data.AtomicData.from_config(
                _mace_config(cfg, head=head, multipliers=data.weights_of(k)),
                z_table=z_table,
                cutoff=cutoff,
                heads=heads,
            )
            for k, cfg in enumerate(data)
        ]


def _mace_config(cfg: Configuration, *, head: str, multipliers: tuple[float, float, float]) -> Any:
    """mace's Configuration of ``cfg``; ``multipliers`` (energy, force, stress) become its property weights."""
    import mace.data
    from ase.data import atomic_numbers

    has_stress = cfg.stress is not None
    energy_weight, force_weight, stress_weight = multipliers
    return mace.data.Configuration(
        atomic_numbers=np.array([atomic_numbers[s] for s in cfg.species]),
        positions=np.asarray(cfg.positions, dtype=float),
        properties={
            "energy": label_energy(cfg),
            "forces": np.asarray(cfg.forces, dtype=float),
            "stress": np.asarray(cfg.stress, dtype=float) if has_stress else None,
        },
        property_weights={
            "energy": energy_weight,
            "forces": force_weight,
            "stress": stress_weight if has_stress else 0.0,
        },
        cell=np.asarray(cfg.lattice, dtype=float),
        pbc=tuple(bool(p) for p in cfg.pbc),
        head=head,
    )


def make_loss(settings: TrainingSettings, *, device: Device) -> Callable[[Any, dict[str, Any]], Any]:
    """The weighted loss w_E L(E/N) + w_F L(F) + w_S L(sigma) for ``settings.loss``, a callable (batch, pred).

    mse and huber are mace's :class:`WeightedEnergyForcesStressLoss` and
    :class:`WeightedHuberEnergyForcesStressLoss`; mace has no per-component L1 loss of all three terms, so
    ``mae`` is written out here in the same form.
    """
    import torch
    from mace.modules.loss import WeightedEnergyForcesStressLoss, WeightedHuberEnergyForcesStressLoss

    weights = {
        "energy_weight": settings.energy_weight,
        "forces_weight": settings.force_weight,
        "stress_weight": settings.stress_weight,
    }
    if settings.loss == "mse":
        return WeightedEnergyForcesStressLoss(**weights).to(device)
    if settings.loss == "huber":
        return WeightedHuberEnergyForcesStressLoss(**weights, huber_delta=settings.huber_delta).to(device)

    def l1_loss(ref: Any, pred: dict[str, Any]) -> Any:
        num_atoms = ref.ptr[1:] - ref.ptr[:-1]
        energy = torch.mean(torch.abs((ref["energy"] - pred["energy"]) / num_atoms))
        forces = torch.mean(torch.abs(ref["forces"] - pred["forces"]))
        stress = torch.mean(torch.abs(ref["stress"] - pred["stress"]))
        return settings.energy_weight * energy + settings.force_weight * forces + settings.stress_weight * stress

    return l1_loss


def _forward(model: Any, batch: Any, *, training: bool) -> tuple[Any, Any]:
    """Model outputs with stress in GPa, and the batch with missing stress labels set to the prediction.

    A structure without a stress label then adds zero to every stress loss (and mace's MSE loss also gives it
    weight 0).
    """
    import torch
    from ase.units import GPa

    out = model(batch.to_dict(), training=training, compute_force=True, compute_stress=True)
    pred = {"energy": out["energy"], "forces": out["forces"], "stress": out["stress"] / GPa}
    has_stress = (batch.stress_weight > 0).view(-1, 1, 1)
    batch.stress = torch.where(has_stress, batch.stress, pred["stress"].detach())
    return pred, batch


def _evaluate_loader(model: Any, loader: Any, *, device: Device) -> LoaderErrors:
    """Energy MAE per atom (eV/atom), force MAE (eV/angstrom), stress MAE (GPa, labelled structures only)."""
    sums = ErrorSums()
    for batch in loader:
        pred, batch = _forward(model, batch.to(device), training=False)
        num_atoms = (batch.ptr[1:] - batch.ptr[:-1]).to(pred["energy"].dtype)
        labelled = batch.stress_weight > 0
        sums.add(
            (pred["energy"] - batch.energy) / num_atoms,
            pred["forces"] - batch.forces,
            pred["stress"][labelled] - batch.stress[labelled],
        )
    return sums.errors()


# ---------------------------------------------------------------------------------------------- E0s


def e0_by_element(model: Any) -> dict[str, float]:
    """The E0 (eV/atom) of the head curate predicts with, element -> value, in the model's element order."""
    from ase.data import chemical_symbols

    energies = model.atomic_energies_fn.atomic_energies.detach().cpu()
    row = energies if energies.dim() == 1 else energies[_head_index(model)]
    return {chemical_symbols[int(z)]: float(e) for z, e in zip(model.atomic_numbers, row, strict=True)}


def set_e0(model: Any, values: Mapping[str, float]) -> None:
    """Write the E0 (element -> eV/atom, every element of the model) of the predicting head in place."""
    import torch
    from ase.data import chemical_symbols

    energies = model.atomic_energies_fn.atomic_energies.clone()
    row = energies if energies.dim() == 1 else energies[_head_index(model)]
    ordered = [values[chemical_symbols[int(z)]] for z in model.atomic_numbers]
    row[:] = torch.as_tensor(ordered, dtype=row.dtype, device=row.device)
    model.atomic_energies_fn.atomic_energies = energies


def _head_index(model: Any) -> int:
    heads, head = heads_of(model)
    return heads.index(head)


# ---------------------------------------------------------------------------------------------- fresh weights


def fresh_mace_like(model: Any, *, seed: int) -> Any:
    """A MACE of ``model``'s class and hyper-parameters with freshly initialised weights (seeded, locally).

    The hyper-parameters are mace's own reading of a model (``extract_config_mace_model``, what mace uses to
    rebuild foundation models); E0, scale and shift are copied from ``model`` with them.

    Raises:
        ConfigurationError: a MACE class mace cannot read the hyper-parameters of (a plain ``MACE``).
    """
    import torch
    from mace.tools import torch_tools
    from mace.tools.scripts_utils import extract_config_mace_model

    config = extract_config_mace_model(model)
    if "error" in config:
        raise ConfigurationError(f"cannot build fresh weights for a {type(model).__name__}: {config['error']}")
    dtype = next(model.parameters()).dtype
    with torch.random.fork_rng(devices=[]), torch_tools.default_dtype(dtype):
        torch.manual_seed(seed)
        return type(model)(**config)


class MACEFineTuner(TorchFineTuner):
    """Fine-tunes a :class:`~curate.models.mace.MACEModel` (its MACE ``torch.nn.Module``, head ``default``).

    ``heads`` trains the last ``settings.heads_trainable_blocks`` interaction+product blocks and every readout
    (:func:`select_trainable`); the saved file is ``model.model`` (``torch.save`` of the module, ``mace:FILE``).
    """

    architecture = "mace"
    adapter = MACEModel
    baked_into = ("scale_shift.scale", "scale_shift.shift")

    def native(self, model: Model) -> Any:
        return model.model  # type: ignore[attr-defined]

    def wrap(self, native: Any, *, info: ModelInfo, device: Device) -> Model:
        return MACEModel.from_module(native, info=info, device=device)

    def check_elements(self, native: Any, data: TrainingSet) -> None:
        import_mace()
        check_elements(native, data)

    def fresh_native(self, native: Any, *, seed: int) -> Any:
        return fresh_mace_like(native, seed=seed)

    def save_native(self, native: Any, folder: Path) -> str:
        import torch

        module = copy.deepcopy(native).cpu()
        # a saved MACE model trains again as mace_run_train expects: gradients on
        for parameter in module.parameters():
            parameter.requires_grad_(True)
        path = (folder / MODEL_FILE).resolve()
        with atomic_output(path) as partial:
            torch.save(module, partial)
        return f"mace:{path}"

    def atomref_values(self, native: Any) -> dict[str, float] | None:
        return e0_by_element(native)

    def set_atomref_values(self, native: Any, values: Mapping[str, float]) -> None:
        set_e0(native, values)

    def scale_energy(self, native: Any, scale: float) -> Any:
        return bake_energy_scale(native, scale, head=_head_index(native))

    def prepare(self, native: Any, method: FinetuneMethod, settings: TrainingSettings) -> list[str]:
        names = select_trainable(native, method, settings)
        if settings.atomref == "trainable":
            buffer_to_parameter(native.atomic_energies_fn, "atomic_energies")
            names.append("atomic_energies_fn")
        return names

    def release(self, native: Any, settings: TrainingSettings) -> None:
        if settings.atomref == "trainable":
            parameter_to_buffer(native.atomic_energies_fn, "atomic_energies")

    def weighted_loss_refusal(self, settings: TrainingSettings) -> str | None:
        if settings.loss == "mse":
            return None
        return f"per-structure loss weights (replay) need loss=mse with MACE: its {settings.loss} loss has none"

    def training_steps(self, native: Any, request: FinetuneRequest) -> TrainingSteps:
        """mace ``AtomicData`` graphs built once, batched by mace's DataLoader (shuffled by a seeded generator)."""
        import torch
        from mace.tools import torch_geometric

        settings, device = request.settings, request.device
        refused = self.weighted_loss_refusal(settings) if request.train.weighted else None
        if refused is not None:
            raise ConfigurationError(refused)
        generator = torch.Generator().manual_seed(settings.seed)
        train_loader = torch_geometric.dataloader.DataLoader(
            build_graphs(native, request.train),  # type: ignore[arg-type]  # mace batches lists of graphs
            batch_size=settings.batch_size,
            shuffle=True,
            drop_last=False,
            generator=generator,
        )
        validate = None
        if request.validation is not None:
            val_graphs = build_graphs(native, request.validation)
            val_loader = torch_geometric.dataloader.DataLoader(
                val_graphs,  # type: ignore[arg-type]
                batch_size=settings.batch_size,
                shuffle=False,
            )
            validate = functools.partial(_evaluate_loader, native, val_loader, device=device)
        loss_fn = make_loss(settings, device=device)

        def step(batch: Any) -> tuple[Any, Any]:
            pred, batch = _forward(native, batch.to(device), training=True)
            return loss_fn(batch, pred), (pred["forces"] - batch.forces).detach()

        return TrainingSteps(batches=lambda: train_loader, step=step, validate=validate)
