"""The shared epoch loop: a run's length in optimiser steps, by epochs or by ``max_steps``."""

from __future__ import annotations

import pytest
import torch

from curate.errors import ConfigurationError
from curate.training.loop import index_batches, run_epochs
from curate.training.settings import TrainingSettings


def _train(n_train: int, settings: TrainingSettings) -> tuple[torch.nn.Linear, list[int], list[float]]:
    """Fit y = 2x with a 1-to-1 linear layer; returns the layer, the batch sizes stepped and the per-epoch lr."""
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    x = torch.linspace(-1.0, 1.0, n_train).reshape(-1, 1)
    y = 2.0 * x
    stepped: list[int] = []
    rates: list[float] = []

    def step(rows: object) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(rows)
        stepped.append(len(index))
        error = model(x[index]) - y[index]
        return torch.mean(error**2), error.detach()

    run_epochs(
        model,
        batches=index_batches(n_train, settings),
        step=step,
        validate=None,
        n_train=n_train,
        settings=settings,
        on_epoch=lambda record: rates.append(record.learning_rate),
    )
    return model, stepped, rates


def test_epochs_set_the_steps_by_set_size() -> None:
    """5 epochs at batch 4: 2 steps per epoch for 5 structures (10 in all), 3 for 10 structures (15)."""
    settings = TrainingSettings(epochs=5, batch_size=4)
    assert settings.optimiser_steps(5) == 10 and settings.optimiser_steps(10) == 15
    _, stepped, rates = _train(10, settings)
    assert len(stepped) == 15 and sum(stepped) == 50 and len(rates) == 5


def test_max_steps_trains_every_set_size_equally_long() -> None:
    """max_steps=10 on 10 structures (3 batches per pass): 10 steps over 4 passes, the last one a single batch."""
    settings = TrainingSettings(epochs=5, batch_size=4, max_steps=10)
    assert settings.optimiser_steps(10) == 10 and settings.passes(10) == 4
    _, stepped, rates = _train(10, settings)
    assert len(stepped) == 10 and stepped == [4, 4, 2] * 3 + [4]
    assert len(rates) == 4
    # cosine over 10 steps from 1e-3: passes start at steps 0, 3, 6, 9
    expected = [
        1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + torch.cos(torch.tensor(k * torch.pi / 10)).item()) for k in (0, 3, 6, 9)
    ]
    assert rates == pytest.approx(expected, rel=1e-6)


def test_max_steps_equal_to_the_epoch_count_changes_nothing() -> None:
    """Where max_steps equals epochs x batches per pass, the trained weights are identical to the epoch run."""
    fast = TrainingSettings(epochs=5, batch_size=4, learning_rate=0.3, final_learning_rate=0.01)
    by_epochs, _, _ = _train(5, fast)
    by_steps, stepped, _ = _train(5, fast.with_changes(epochs=99, max_steps=10))
    assert len(stepped) == 10
    assert torch.equal(by_epochs.weight, by_steps.weight) and torch.equal(by_epochs.bias, by_steps.bias)
    assert by_steps.weight.item() == pytest.approx(2.0, abs=0.5)  # it learnt the slope: the loop really trained


def test_max_steps_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="max_steps"):
        TrainingSettings(max_steps=0)
