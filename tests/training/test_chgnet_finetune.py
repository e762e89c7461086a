"""What only CHGNet fine-tuning shows (the shared contract is tests/training/test_fine_tuner_conformance.py):
on the real Si64 molecular-dynamics frames (PBE, 2000 K) CHGNet 0.3.0 is soft, and linear and full correct it."""

from __future__ import annotations

import numpy as np
import pytest

from curate.models import Model
from curate.training.data import TrainingSet
from curate.training.evaluate import evaluate
from curate.training.registry import FINE_TUNERS
from curate.training.settings import TrainingSettings

from .conftest import relabel_scaled

pytestmark = [pytest.mark.model, pytest.mark.slow]  # CHGNet on 64-atom frames: > 20 s per test on 2 cores
CHGNET = FINE_TUNERS["chgnet"]


def test_linear_with_whole_predictions_scaled(si64: TrainingSet, chgnet: Model) -> None:
    """Labels = every prediction x 1.2 (energies too): forces dominate the loss, s = 1.20 +- 0.01."""
    data = si64.subset(range(4))
    predictions, _ = CHGNET.fit_inputs(chgnet, CHGNET.native(chgnet), data)  # type: ignore[attr-defined]
    labels = relabel_scaled(data, predictions, [0.0] * len(data), scale=1.2)
    result = CHGNET.finetune(chgnet, labels, None, method="linear", settings=TrainingSettings(), device="cpu")
    assert result.energy_scale == pytest.approx(1.2, abs=0.01)
    assert evaluate(result.model, labels).softening_scale == pytest.approx(1.0, abs=0.01)


def test_linear_on_real_dft_corrects_softening(si64: TrainingSet, chgnet: Model) -> None:
    """CHGNet 0.3.0 is soft on 2000 K Si (slope 0.62); one frame's linear correction lifts held-out frames."""
    train, held_out = si64.subset([9]), si64.subset(range(0, 9))
    before = evaluate(chgnet, held_out)
    result = CHGNET.finetune(chgnet, train, None, method="linear", settings=TrainingSettings(), device="cpu")
    after = evaluate(result.model, held_out)
    assert before.softening_scale == pytest.approx(0.621, abs=0.01)
    assert result.energy_scale > 1.3
    assert abs(after.softening_scale - 1) < 0.1
    assert after.force_mae_ev_per_ang < before.force_mae_ev_per_ang - 0.1


def test_full_finetune_improves_held_out_forces_and_keeps_best_epoch(si64: TrainingSet, chgnet: Model) -> None:
    train, val = si64.subset([1, 5]), si64.subset([3, 7])
    settings = TrainingSettings(epochs=2, batch_size=2, seed=3)
    result = CHGNET.finetune(chgnet, train, val, method="full", settings=settings, device="cpu")
    assert len(result.history) == 2
    best = min(result.history, key=lambda r: r.val_force_mae_ev_per_ang or np.inf)
    assert result.best_epoch == best.epoch
    after = evaluate(result.model, val)
    assert after.force_mae_ev_per_ang == pytest.approx(best.val_force_mae_ev_per_ang, rel=1e-6)
    assert after.force_mae_ev_per_ang < evaluate(chgnet, val).force_mae_ev_per_ang - 0.05
    assert result.trainable_parameters > 390_000  # everything but AtomRef and the magmom head
    assert result.history[0].learning_rate == pytest.approx(1e-3)
