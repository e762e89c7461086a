"""One interface for fine-tuning any uMLIP, and the template every architecture's fine-tuner fills in.

:class:`FineTuner` is what callers (``curate finetune``, the experiments) use: which models it ``supports``,
``finetune`` one of them (arguments checked once, here, then handed to ``run``), ``fresh_copy`` (the same
architecture with freshly initialised weights) and ``save`` a model to a folder a spec loads.
:mod:`curate.training.registry` holds one per architecture.

:class:`TorchFineTuner` implements ``run`` once for a torch model behind a curate adapter; an architecture
(:mod:`~curate.training.chgnet_finetune`, :mod:`~curate.training.mace_finetune`,
:mod:`~curate.training.matgl_finetune`) supplies only the hooks that differ: how to reach and wrap its torch
module, read and write its elemental reference energies, scale its interaction energy (``linear``), choose
the trainable weights (``prepare``), build its training batches and loss step, save it and draw fresh
weights. The flow is the same for all: copy the model to the device; refit the reference energies
(``atomref=refit``); then either fit the energy scale in closed form and bake it in (``linear``, see
:mod:`curate.training.linear`) or run :func:`curate.training.loop.run_epochs` over the hooks' batches.
"""

from __future__ import annotations

import copy
import functools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from curate.errors import ConfigurationError
from curate.models.base import Device, Model, ModelInfo, Prediction, max_atoms_for
from curate.training.atomref import refit_by_element
from curate.training.data import TrainingSet
from curate.training.linear import fit_energy_scale
from curate.training.loop import ValidationErrors, count_parameters, run_epochs
from curate.training.replay import Replay, replay_training_set
from curate.training.result import EpochRecord, FinetuneRequest, FinetuneResult
from curate.training.settings import FinetuneMethod, TrainingSettings, check_method


class FineTuner(ABC):
    """Fine-tunes the models of one architecture (the key of :data:`curate.training.registry.FINE_TUNERS`).

    :meth:`finetune` checks the arguments every fine-tuner refuses alike and hands the run to :meth:`run`.

    Attributes:
        architecture: the :attr:`ModelInfo.architecture <curate.models.base.ModelInfo.architecture>` of the
            models it fine-tunes (chgnet, mace, matgl).
    """

    architecture: ClassVar[str]

    @abstractmethod
    def supports(self, model: Model) -> bool:
        """True when ``model`` (a curate adapter) is one this fine-tuner can train."""

    def finetune(
        self,
        model: Model,
        train: TrainingSet,
        val: TrainingSet | None,
        *,
        method: FinetuneMethod | str,
        settings: TrainingSettings,
        device: Device | None = None,
        on_epoch: Callable[[EpochRecord], None] | None = None,
        replay: Replay | None = None,
    ) -> FinetuneResult:
        """Fine-tune a copy of ``model`` on ``train`` (``model`` is not modified).

        Args:
            model: the starting model.
            train: labelled training structures (energy eV, forces eV/angstrom, stress GPa or None).
            val: validation structures; the epoch with the lowest validation force MAE is kept (the last epoch
                when None or empty).
            method: ``linear``, ``full`` or ``heads`` (see :mod:`curate.training.settings`).
            settings: hyper-parameters.
            device: where to train; None: ``model.device``.
            on_epoch: called with each epoch's record as it finishes.
            replay: a reference dataset to mix into ``train`` (see :mod:`curate.training.replay`); recorded
                in the result's ``extra["replay"]``. Not for ``linear``.

        Raises:
            ConfigurationError: unknown method, a model this fine-tuner does not support, an empty training
                set, replay with ``linear``, or what :meth:`run` refuses.
        """
        method = check_method(method)
        if not self.supports(model):
            raise ConfigurationError(f"the {self.architecture} fine-tuner cannot train {model.info.spec}")
        if len(train) == 0:
            raise ConfigurationError("the training set is empty")
        device = device or model.device
        record = None
        if replay is not None:
            if method == "linear":
                raise ConfigurationError(
                    "replay needs gradient training (full or heads); linear fits one scalar on the training set"
                )
            refused = self.weighted_loss_refusal(settings)
            if refused is not None:  # before the draw: it predicts the whole reference
                raise ConfigurationError(refused)
            train, record = replay_training_set(model, train, replay)
        result = self.run(
            model, FinetuneRequest(self.architecture, model.info, train, val, method, settings, device, on_epoch)
        )
        if record is not None:
            result.extra["replay"] = record
        return result

    def weighted_loss_refusal(self, settings: TrainingSettings) -> str | None:
        """Why this architecture's loss cannot weigh structures one by one (replay needs it) with ``settings``;
        None when it can."""
        return None

    @abstractmethod
    def run(self, model: Model, request: FinetuneRequest) -> FinetuneResult:
        """Fine-tune a copy of ``model`` as ``request`` asks (its arguments already checked)."""

    @abstractmethod
    def fresh_copy(self, model: Model, *, seed: int) -> Model:
        """A model of ``model``'s architecture and size with freshly initialised weights (seeded; torch's global
        RNG untouched); the elemental reference energies (and output normalisation) are copied from ``model``."""

    @abstractmethod
    def save(self, model: Model, folder: Path) -> str:
        """Write ``model`` into ``folder`` and return the model spec that loads it."""


def energy_labelled(data: TrainingSet) -> TrainingSet:
    """The structures of ``data`` whose energy term counts (replay structures train without it)."""
    if not data.weighted:
        return data
    return data.subset([i for i in range(len(data)) if data.weights_of(i)[0] > 0], origin=data.origin)


def fresh_info(info: ModelInfo, *, seed: int) -> ModelInfo:
    """Provenance of a freshly initialised copy of the model ``info`` describes."""
    return replace(info, spec=f"fresh:{info.spec}", name=f"fresh:{info.name}", version=f"random weights, seed {seed}")


@dataclass(frozen=True)
class TrainingSteps:
    """What the epoch loop runs for one architecture (see :func:`curate.training.loop.run_epochs`).

    Attributes:
        batches: called once per epoch; yields that epoch's training batches.
        step: forward pass of one batch: (loss tensor with graph, detached force errors in eV/angstrom).
        validate: the validation errors of the current weights; None without a validation set.
    """

    batches: Callable[[], Iterable[Any]]
    step: Callable[[Any], tuple[Any, Any]]
    validate: Callable[[], ValidationErrors] | None


class TorchFineTuner(FineTuner):
    """:class:`FineTuner` for a torch model behind a curate adapter: the shared flow over per-architecture hooks.

    Attributes:
        architecture: the architecture it fine-tunes (registry key).
        adapter: the curate :class:`~curate.models.base.Model` class whose torch module it trains.
        baked_into: the tensors ``linear`` multiplies by the energy scale (recorded in ``extra``).
    """

    architecture: ClassVar[str]
    adapter: ClassVar[type]
    baked_into: ClassVar[tuple[str, ...]]

    def supports(self, model: Model) -> bool:
        """True for an instance of :attr:`adapter` whose info names :attr:`architecture`."""
        return isinstance(model, self.adapter) and model.info.architecture == self.architecture

    # ------------------------------------------------------------------------------------ hooks: the model

    @abstractmethod
    def native(self, model: Model) -> Any:
        """The torch module of ``model`` that fine-tuning trains (not modified: a copy is trained)."""

    @abstractmethod
    def wrap(self, native: Any, *, info: ModelInfo, device: Device) -> Model:
        """``native`` behind the curate adapter, on ``device`` (the adapter may switch it to eval mode)."""

    def copy(self, native: Any) -> Any:
        """A deep copy of ``native``."""
        return copy.deepcopy(native)

    def check_elements(self, native: Any, data: TrainingSet) -> None:
        """Raise ConfigurationError naming the elements of ``data`` the model has no embedding for (default: none)."""
        return None

    @abstractmethod
    def fresh_native(self, native: Any, *, seed: int) -> Any:
        """A module of ``native``'s architecture with freshly initialised weights, reference energies copied."""

    @abstractmethod
    def save_native(self, native: Any, folder: Path) -> str:
        """Write ``native`` (on CPU) into ``folder``; return the spec that loads it."""

    # ----------------------------------------------------------------------------- hooks: reference energies

    @abstractmethod
    def atomref_values(self, native: Any) -> dict[str, float] | None:
        """The elemental reference energies, element -> eV/atom (the model's element order); None without."""

    @abstractmethod
    def set_atomref_values(self, native: Any, values: Mapping[str, float]) -> None:
        """Write reference energies (element -> eV/atom, every element of :meth:`atomref_values`) in place."""

    # ---------------------------------------------------------------------------------------- hooks: linear

    def fit_inputs(self, model: Model, native: Any, data: TrainingSet) -> tuple[list[Prediction], list[float]]:
        """The frozen model's predictions for ``data`` and each structure's reference energy R (eV, total)."""
        predictions = model.predict(list(data.configurations), max_atoms_per_batch=max_atoms_for([model]))
        by_element = self.atomref_values(native)
        if by_element is None:
            return predictions, [0.0] * len(data)
        return predictions, [float(sum(by_element[s] for s in cfg.species)) for cfg in data]

    @abstractmethod
    def scale_energy(self, native: Any, scale: float) -> Any:
        """Multiply the interaction energy (so forces and stress) by ``scale`` in place; return the module."""

    # ----------------------------------------------------------------------------- hooks: full and heads

    @abstractmethod
    def prepare(self, native: Any, method: FinetuneMethod, settings: TrainingSettings) -> list[str]:
        """Set ``requires_grad`` for ``method`` (reference energies train when ``settings.atomref ==
        "trainable"``); return the names of the trainable modules."""

    def release(self, native: Any, settings: TrainingSettings) -> None:
        """Undo what :meth:`prepare` changed beyond ``requires_grad`` (after training, before saving); default: none."""
        return None

    @abstractmethod
    def training_steps(self, native: Any, request: FinetuneRequest) -> TrainingSteps:
        """Batches (built once), the loss step and the validator of ``request`` for the module ``native``."""

    # --------------------------------------------------------------------------------- the interface

    def save(self, model: Model, folder: Path) -> str:
        """Write ``model`` into ``folder`` (created) and return the spec that loads it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return self.save_native(self.native(model), folder)

    def fresh_copy(self, model: Model, *, seed: int) -> Model:
        """``model``'s architecture with freshly initialised weights (see :meth:`FineTuner.fresh_copy`)."""
        fresh = self.fresh_native(self.native(model), seed=seed)
        return self.wrap(fresh, info=fresh_info(model.info, seed=seed), device=model.device)

    def run(self, model: Model, request: FinetuneRequest) -> FinetuneResult:
        """Copy the model to the device, refit its reference energies if asked, then ``linear`` or the epoch loop.

        Raises:
            ConfigurationError: an element the model does not know, reference energies to refit or train on a
                model without them, or what a hook refuses (e.g. more ``heads`` blocks than the model has).
        """
        train, val, settings = request.train, request.val, request.settings
        native = self.native(model)
        for data in (train, val):
            if data is not None:
                self.check_elements(native, data)
        working = self.copy(native).to(request.device)
        extra: dict[str, Any] = {"atomref": settings.atomref}
        if settings.atomref == "refit" or (settings.atomref == "trainable" and request.method != "linear"):
            old = self.atomref_values(working)
            if old is None:
                raise ConfigurationError(
                    f"atomref={settings.atomref} needs elemental reference energies, and this {self.architecture} "
                    "model has none (it predicts absolute energies); use atomref=frozen"
                )
            if settings.atomref == "refit":
                new, extra["atomref_refit"] = refit_by_element(old, energy_labelled(train))
                self.set_atomref_values(working, new)
        if request.method == "linear":
            return self._linear(working, request, extra)
        return self._gradient(working, request, extra)

    def _linear(self, working: Any, request: FinetuneRequest, extra: dict[str, Any]) -> FinetuneResult:
        """The closed-form energy scale s, baked into the weights (every weight frozen)."""
        started = time.perf_counter()
        frozen = self.wrap(working, info=request.base, device=request.device)
        predictions, references = self.fit_inputs(frozen, working, request.train)
        scale = fit_energy_scale(request.train, predictions, request.settings, reference_energies_ev=references)
        total = count_parameters(working.parameters())
        baked = self.scale_energy(working, scale)
        extra["baked_into"] = list(self.baked_into)
        seconds = time.perf_counter() - started
        adapter = self.wrap(baked, info=request.trained_info(), device=request.device)
        saver = functools.partial(self.save, adapter)
        return request.result(adapter, saver, extra, trainable=1, frozen=total, energy_scale=scale, seconds=seconds)

    def _gradient(self, working: Any, request: FinetuneRequest, extra: dict[str, Any]) -> FinetuneResult:
        """``full`` or ``heads``: the epoch loop over the hooks' batches; the best epoch's weights kept."""
        settings = request.settings
        extra["trainable_modules"] = self.prepare(working, request.method, settings)
        trainable = count_parameters(p for p in working.parameters() if p.requires_grad)
        frozen = count_parameters(p for p in working.parameters() if not p.requires_grad)
        steps = self.training_steps(working, request)
        loop = run_epochs(
            working,
            batches=steps.batches,
            step=steps.step,
            validate=steps.validate,
            n_train=len(request.train),
            settings=settings,
            on_epoch=request.on_epoch,
        )
        self.release(working, settings)
        if settings.atomref == "trainable":
            extra["atomref_trained_ev"] = self.atomref_values(working)
        for parameter in working.parameters():  # as freshly loaded: ready to train again
            parameter.requires_grad_(True)
        adapter = self.wrap(working, info=request.trained_info(), device=request.device)
        saver = functools.partial(self.save, adapter)
        return request.result(adapter, saver, extra, trainable=trainable, frozen=frozen, loop=loop)
