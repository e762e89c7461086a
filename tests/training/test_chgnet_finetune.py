"""CHGNet fine-tuning on the real Si64 molecular-dynamics frames (PBE, 2000 K): linear, full, heads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from curate.models import load_model
from curate.models.chgnet import CHGNetModel
from curate.training.chgnet_finetune import (
    build_training_graphs,
    finetune_chgnet,
    fresh_chgnet_like,
    reference_energies,
)
from curate.training.data import TrainingSet
from curate.training.evaluate import evaluate
from curate.training.settings import TrainingSettings

from .conftest import relabel_scaled

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def chgnet() -> CHGNetModel:
    return CHGNetModel.pretrained("0.3.0", device="cpu")


def _relabel(data: TrainingSet, model: CHGNetModel, *, scale: float, keep_reference: bool) -> TrainingSet:
    """Labels = the model's own predictions with the interaction energy (or everything) times ``scale``."""
    graphs = build_training_graphs(model.model, data)
    predictions = model.predict_graphs(graphs, [c.nsites for c in data], max_atoms_per_batch=256)
    references = reference_energies(model.model, graphs) if keep_reference else [0.0] * len(data)
    return relabel_scaled(data, predictions, references, scale=scale)


def test_linear_learns_planted_scale_exactly(si64: TrainingSet, chgnet: CHGNetModel, tmp_path: Path) -> None:
    labels = _relabel(si64.subset(range(4)), chgnet, scale=1.2, keep_reference=True)
    result = finetune_chgnet(
        chgnet.model, chgnet.info, labels, None, method="linear", settings=TrainingSettings(), device="cpu"
    )
    assert result.energy_scale == pytest.approx(1.2, abs=1e-4)
    after = evaluate(result.model, labels)
    assert after.softening_scale == pytest.approx(1.0, abs=1e-3)
    assert after.energy_mae_ev_per_atom < 1e-4
    # the saved file reloads through the spec a user types and predicts the same numbers
    spec = result.save_model(tmp_path / "linear")
    assert spec.startswith("chgnet:")
    reloaded = load_model(spec, device="cpu")
    a = result.model.predict(list(labels.configurations[:2]), max_atoms_per_batch=256)
    b = reloaded.predict(list(labels.configurations[:2]), max_atoms_per_batch=256)
    for x, y in zip(a, b, strict=True):
        assert y.energy == pytest.approx(x.energy, abs=1e-5)
        np.testing.assert_allclose(y.forces, x.forces, atol=1e-6)
    # the starting model is untouched
    before = evaluate(chgnet, labels)
    assert before.softening_scale == pytest.approx(1 / 1.2, abs=1e-3)


def test_linear_with_whole_predictions_scaled(si64: TrainingSet, chgnet: CHGNetModel) -> None:
    """Labels = every prediction x 1.2 (energies too): forces dominate the loss, s = 1.20 +- 0.01."""
    labels = _relabel(si64.subset(range(4)), chgnet, scale=1.2, keep_reference=False)
    result = finetune_chgnet(
        chgnet.model, chgnet.info, labels, None, method="linear", settings=TrainingSettings(), device="cpu"
    )
    assert result.energy_scale == pytest.approx(1.2, abs=0.01)
    assert evaluate(result.model, labels).softening_scale == pytest.approx(1.0, abs=0.01)


def test_linear_on_real_dft_corrects_softening(si64: TrainingSet, chgnet: CHGNetModel) -> None:
    """CHGNet 0.3.0 is soft on 2000 K Si (slope 0.62); one frame's linear correction lifts held-out frames."""
    train, held_out = si64.subset([9]), si64.subset(range(0, 9))
    before = evaluate(chgnet, held_out)
    result = finetune_chgnet(
        chgnet.model, chgnet.info, train, None, method="linear", settings=TrainingSettings(), device="cpu"
    )
    after = evaluate(result.model, held_out)
    assert before.softening_scale == pytest.approx(0.621, abs=0.01)
    assert result.energy_scale > 1.3
    assert abs(after.softening_scale - 1) < 0.1
    assert after.force_mae_ev_per_ang < before.force_mae_ev_per_ang - 0.1


def test_full_finetune_improves_held_out_forces_and_keeps_best_epoch(si64: TrainingSet, chgnet: CHGNetModel) -> None:
    train, val = si64.subset([1, 5]), si64.subset([3, 7])
    settings = TrainingSettings(epochs=2, batch_size=2, seed=3)
    result = finetune_chgnet(chgnet.model, chgnet.info, train, val, method="full", settings=settings, device="cpu")
    assert len(result.history) == 2
    best = min(result.history, key=lambda r: r.val_force_mae_ev_per_ang or np.inf)
    assert result.best_epoch == best.epoch
    after = evaluate(result.model, val)
    assert after.force_mae_ev_per_ang == pytest.approx(best.val_force_mae_ev_per_ang, rel=1e-6)
    assert after.force_mae_ev_per_ang < evaluate(chgnet, val).force_mae_ev_per_ang - 0.05
    assert result.trainable_parameters > 390_000  # everything but AtomRef and the magmom head
    assert result.history[0].learning_rate == pytest.approx(1e-3)


def test_heads_freezes_early_blocks(si64: TrainingSet, chgnet: CHGNetModel, tmp_path: Path) -> None:
    settings = TrainingSettings(epochs=1, batch_size=1, heads_trainable_blocks=1)
    result = finetune_chgnet(
        chgnet.model, chgnet.info, si64.subset([2]), None, method="heads", settings=settings, device="cpu"
    )
    tuned = result.model.model.state_dict()
    original = chgnet.model.state_dict()
    changed = {k for k in original if not np.array_equal(original[k].numpy(), tuned[k].cpu().numpy())}
    assert changed, "heads training changed nothing"
    assert all(k.startswith(("atom_conv_layers.3.", "mlp.", "readout_norm.")) for k in changed), sorted(changed)
    assert any(k.startswith("mlp.") for k in changed)
    assert result.trainable_parameters < result.frozen_parameters


def test_fresh_model_has_same_architecture_and_new_weights(chgnet: CHGNetModel) -> None:
    import torch

    fresh = fresh_chgnet_like(chgnet.model, seed=1)
    again = fresh_chgnet_like(chgnet.model, seed=1)
    state, pretrained = fresh.state_dict(), chgnet.model.state_dict()
    assert state.keys() == pretrained.keys()
    assert not torch.equal(state["mlp.layers.0.weight"], pretrained["mlp.layers.0.weight"])
    assert torch.equal(state["mlp.layers.0.weight"], again.state_dict()["mlp.layers.0.weight"])
    assert torch.equal(state["composition_model.fc.weight"], pretrained["composition_model.fc.weight"])
