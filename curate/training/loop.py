"""The epoch loop every fine-tuner shares (:class:`curate.training.fine_tuner.TorchFineTuner` calls it).

The loop is architecture-free: each fine-tuner hands it the model, an iterable of training batches per epoch,
a ``step`` that turns one batch into (loss, detached force errors) and a ``validate`` that returns the
validation errors. The loop owns Adam over the trainable parameters, the cosine learning-rate schedule
(stepped per optimiser step, from ``learning_rate`` to ``final_learning_rate``), the per-epoch records and
keeping the weights of the epoch with the lowest validation force MAE (in memory).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from curate.training.result import EpochLoopResult, EpochRecord
from curate.training.settings import TrainingSettings


class ValidationErrors(Protocol):
    """Errors on the validation set after one epoch (:class:`curate.training.evaluate.Metrics` is one)."""

    @property
    def energy_mae_ev_per_atom(self) -> float: ...

    @property
    def force_mae_ev_per_ang(self) -> float: ...

    @property
    def stress_mae_gpa(self) -> float | None: ...


@dataclass(frozen=True)
class LoaderErrors:
    """Validation errors summed batch by batch (see :class:`ErrorSums`).

    Attributes:
        energy_mae_ev_per_atom: mean |E_pred - E_ref| / N (eV/atom).
        force_mae_ev_per_ang: mean |F_pred - F_ref| over all components (eV/angstrom).
        stress_mae_gpa: mean |sigma_pred - sigma_ref| over labelled components (GPa); None without labels.
    """

    energy_mae_ev_per_atom: float
    force_mae_ev_per_ang: float
    stress_mae_gpa: float | None


class ErrorSums:
    """Running sums of validation errors over batches (tensors of prediction minus label)."""

    def __init__(self) -> None:
        self.energy_errors: list[np.ndarray] = []
        self.force_abs, self.force_count = 0.0, 0
        self.stress_abs, self.stress_count = 0.0, 0

    def add(self, energy_per_atom: Any, forces: Any, labelled_stress: Any) -> None:
        """One batch: energy errors per atom (eV/atom), force errors (eV/A), stress errors of labelled entries (GPa)."""
        import torch

        with torch.no_grad():
            self.energy_errors.append(torch.abs(energy_per_atom).cpu().numpy())
            self.force_abs += float(torch.sum(torch.abs(forces)))
            self.force_count += int(forces.numel())
            self.stress_abs += float(torch.sum(torch.abs(labelled_stress)))
            self.stress_count += int(labelled_stress.numel())

    def errors(self) -> LoaderErrors:
        """The mean absolute errors of everything added."""
        return LoaderErrors(
            energy_mae_ev_per_atom=float(np.mean(np.concatenate(self.energy_errors))),
            force_mae_ev_per_ang=self.force_abs / self.force_count,
            stress_mae_gpa=self.stress_abs / self.stress_count if self.stress_count else None,
        )


def index_batches(n_train: int, settings: TrainingSettings) -> Callable[[], Iterator[np.ndarray]]:
    """Batches of training-set indices for one epoch: a fresh seeded permutation (``settings.seed``) per call."""
    rng = np.random.default_rng(settings.seed)

    def epoch() -> Iterator[np.ndarray]:
        order = rng.permutation(n_train)
        for start in range(0, n_train, settings.batch_size):
            yield order[start : start + settings.batch_size]

    return epoch


@dataclass
class _PassSums:
    """Sums over one pass's optimiser steps: batch losses, |force error| (eV/A) and force components."""

    steps: int = 0
    loss: float = 0.0
    force_abs: float = 0.0
    force_count: int = 0


def _train_pass(
    batches: Iterable[Any], step: Callable[[Any], tuple[Any, Any]], optimizer: Any, scheduler: Any, *, steps_left: int
) -> _PassSums:
    """One pass over ``batches``, one optimiser and schedule step each, stopping after ``steps_left`` steps."""
    sums = _PassSums()
    for batch in batches:
        if sums.steps == steps_left:
            break
        optimizer.zero_grad(set_to_none=True)
        loss, force_error = step(batch)
        loss.backward()
        optimizer.step()
        scheduler.step()
        sums.steps += 1
        sums.loss += float(loss.detach())
        sums.force_abs += float(force_error.abs().sum())
        sums.force_count += force_error.numel()
    return sums


def run_epochs(
    model: Any,
    *,
    batches: Callable[[], Iterable[Any]],
    step: Callable[[Any], tuple[Any, Any]],
    validate: Callable[[], ValidationErrors] | None,
    n_train: int,
    settings: TrainingSettings,
    on_epoch: Callable[[EpochRecord], None] | None,
) -> EpochLoopResult:
    """Train ``model``'s parameters that require grad for ``settings.passes(n_train)`` epochs; keep the best epoch's.

    The run takes ``settings.optimiser_steps(n_train)`` optimiser steps (with ``max_steps`` the last epoch may
    stop part-way).

    Args:
        model: the ``torch.nn.Module`` holding every trained parameter (train/eval modes, state dict).
        batches: called once per epoch; yields that epoch's training batches, ceil(n_train / batch_size) of them.
        step: forward pass of one batch: (loss tensor with graph, detached force errors in eV/angstrom).
        validate: the validation errors of the current weights (called in eval mode); None without a
            validation set, and then the last epoch is kept.
        n_train: training structures (sets the schedule length).
        settings: epochs, learning rates, batch size and the seed of torch's RNG during training.
        on_epoch: called with each epoch's record.

    Returns:
        The per-epoch records (loss = mean over batches; ``seconds`` excludes validation), the kept epoch and
        the summed training seconds. ``model`` holds the kept epoch's weights, in eval mode.
    """
    import torch

    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=settings.learning_rate)
    total_steps = settings.optimiser_steps(n_train)
    epochs = settings.passes(n_train)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, total_steps), eta_min=settings.final_learning_rate
    )
    history: list[EpochRecord] = []
    best_state: dict[str, Any] | None = None
    best_mae = math.inf
    best_epoch = epochs
    train_seconds = 0.0
    steps_taken = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        for epoch in range(1, epochs + 1):
            model.train()
            started = time.perf_counter()
            learning_rate = float(optimizer.param_groups[0]["lr"])
            sums = _train_pass(batches(), step, optimizer, scheduler, steps_left=total_steps - steps_taken)
            steps_taken += sums.steps
            epoch_seconds = time.perf_counter() - started
            train_seconds += epoch_seconds
            model.eval()
            errors = None if validate is None else validate()
            if errors is not None and errors.force_mae_ev_per_ang < best_mae:
                best_mae, best_epoch = errors.force_mae_ev_per_ang, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            record = EpochRecord(
                epoch=epoch,
                learning_rate=learning_rate,
                train_loss=sums.loss / max(sums.steps, 1),
                train_force_mae_ev_per_ang=sums.force_abs / max(sums.force_count, 1),
                val_energy_mae_ev_per_atom=None if errors is None else errors.energy_mae_ev_per_atom,
                val_force_mae_ev_per_ang=None if errors is None else errors.force_mae_ev_per_ang,
                val_stress_mae_gpa=None if errors is None else errors.stress_mae_gpa,
                seconds=epoch_seconds,
            )
            history.append(record)
            if on_epoch is not None:
                on_epoch(record)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return EpochLoopResult(history=history, best_epoch=best_epoch, train_seconds=train_seconds)


def count_parameters(parameters: Iterable[Any]) -> int:
    """Number of scalar weights in ``parameters``."""
    return int(sum(p.numel() for p in parameters))


def buffer_to_parameter(module: Any, name: str) -> None:
    """Turn ``module``'s buffer ``name`` (reference energies) into a trainable Parameter with the same values."""
    import torch

    value = module._buffers.pop(name)
    setattr(module, name, torch.nn.Parameter(value.detach().clone(), requires_grad=True))


def parameter_to_buffer(module: Any, name: str) -> None:
    """Turn ``module``'s Parameter ``name`` back into a buffer (as the architecture saves and loads it)."""
    value = module._parameters.pop(name)
    module.register_buffer(name, value.detach().clone())
