"""Replay fine-tuning (:mod:`curate.training.replay`): the mixed set's loss weights, and the known answer that
replay from a benchmark's own distribution removes a planted out-of-domain degradation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from curate.errors import ConfigurationError
from curate.models import Model
from curate.sources import ImportOptions, get_importer
from curate.training.data import TrainingSet
from curate.training.evaluate import evaluate
from curate.training.out_of_domain import bounded_part
from curate.training.registry import fine_tuner_for
from curate.training.replay import Replay, ReplaySettings, replay_training_set
from curate.training.settings import TrainingSettings

AS2SO6 = "emmet/test_As2SO6_tasks.json.gz"


@pytest.fixture(scope="module")
def as2so6_halves(shared_data: Path) -> tuple[TrainingSet, TrainingSet]:
    """As2SO6 task steps (<= 8 per task, one per geometry), alternately: even rows (replay reference), odd rows
    (benchmark): two draws from one distribution."""
    items = get_importer("mp-tasks").read(shared_data / AS2SO6, display_name=AS2SO6, options=ImportOptions())
    part = bounded_part("As2SO6", [c for c in items if not hasattr(c, "reason")], steps_per_task=8).data
    rows = range(len(part))
    return part.subset(rows[0::2], origin="As2SO6 even rows"), part.subset(rows[1::2], origin="As2SO6 odd rows")


def as_the_model_sees_it(model: Model, data: TrainingSet) -> TrainingSet:
    """``data`` labelled with ``model``'s own predictions: the model's errors on it start at exactly 0."""
    predictions = model.predict(list(data.configurations), max_atoms_per_batch=4096)
    relabelled = [
        dataclasses.replace(c, energy=p.energy, forces=p.forces, stress=p.stress)
        for c, p in zip(data.configurations, predictions, strict=True)
    ]
    return TrainingSet(tuple(relabelled), data.ids, f"{data.origin}, the model's own labels")


@pytest.mark.model
@pytest.mark.slow  # 16 min on 2 cores shared at a load of 12
def test_replay_from_the_benchmark_distribution_removes_a_planted_degradation(
    chgnet: Model, si64: TrainingSet, as2so6_halves: tuple[TrainingSet, TrainingSet]
) -> None:
    # the benchmark and the replay reference: two halves of one distribution, labelled as the untouched model
    # predicts them, so every change of the model there is a degradation measured from exactly 0
    reference, benchmark = (as_the_model_sees_it(chgnet, half) for half in as2so6_halves)
    assert evaluate(chgnet, benchmark).force_mae_ev_per_ang < 1e-5
    # the plant: one Si64 MD frame whose DFT forces are doubled; full fine-tuning stiffens the whole model
    frame = si64.configurations[9]
    planted = dataclasses.replace(frame, forces=2.0 * np.asarray(frame.forces), stress=None)
    target = TrainingSet((planted,), (si64.ids[9],), "Si64 frame 9, forces x2")
    settings = TrainingSettings(epochs=6, learning_rate=1e-3, final_learning_rate=1e-4, batch_size=4)
    tuner = fine_tuner_for(chgnet)
    plain = tuner.finetune(chgnet, target, None, method="full", settings=settings)
    # replay weight 5: the replay structures' forces (~0.1-1 eV/A, relaxation steps) weigh against the
    # planted frame's (~4.6 eV/A mean) in the same MSE
    replay = Replay(reference, ReplaySettings(count=6, weight=5.0, strategy="fps"))
    replayed = tuner.finetune(chgnet, target, None, method="full", settings=settings, replay=replay)
    degraded, restored = evaluate(plain.model, benchmark), evaluate(replayed.model, benchmark)
    print(len(reference), len(benchmark), degraded, restored, sep="\n")
    assert replayed.extra["replay"]["structures"] == 6
    assert set(replayed.extra["replay"]["ids"]) <= set(reference.ids)
    assert not set(replayed.extra["replay"]["ids"]) & set(benchmark.ids)
    # measured: force MAE 0 -> 0.0256 eV/A without replay, 0.0162 with (-37 %); cMAE 0.0212 -> 0.0092 (-57 %)
    assert degraded.force_mae_ev_per_ang > 0.02  # the plant reached a chemistry it never saw
    assert restored.force_mae_ev_per_ang < 0.75 * degraded.force_mae_ev_per_ang
    assert restored.force_cmae_ev_per_ang < 0.6 * degraded.force_cmae_ev_per_ang


def test_replay_settings_size_and_refusals() -> None:
    assert ReplaySettings(ratio=2.0).size_for(5, 100) == 10
    assert ReplaySettings(count=7, ratio=2.0).size_for(5, 100) == 7
    assert ReplaySettings(count=70).size_for(5, 30) == 30
    assert ReplaySettings(ratio=0.01).size_for(5, 30) == 1
    with pytest.raises(ConfigurationError, match="replay strategy"):
        ReplaySettings(strategy="greedy")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="replay weight"):
        ReplaySettings(weight=-1.0)


@pytest.mark.model
@pytest.mark.slow
def test_mixed_set_carries_energy_free_replay_weights_and_linear_refuses_it(
    chgnet: Model, si: TrainingSet, as2so6_halves: tuple[TrainingSet, TrainingSet]
) -> None:
    reference, _ = as2so6_halves
    train = si.subset([10, 11])
    replay = Replay(reference, ReplaySettings(count=3, weight=0.5, strategy="fps"))
    mixed, record = replay_training_set(chgnet, train, replay)
    assert len(mixed) == 5 and mixed.ids[:2] == train.ids
    assert mixed.loss_weights == ((1.0, 1.0, 1.0),) * 2 + ((0.0, 0.5, 0.5),) * 3
    assert record["ids"] == list(mixed.ids[2:]) and set(record["ids"]) <= set(reference.ids)
    again, _ = replay_training_set(chgnet, train, replay)
    assert again.ids == mixed.ids  # the draw is deterministic
    assert mixed.subset([4, 0]).loss_weights == ((0.0, 0.5, 0.5), (1.0, 1.0, 1.0))
    settings = TrainingSettings(epochs=1)
    with pytest.raises(ConfigurationError, match="replay needs gradient training"):
        fine_tuner_for(chgnet).finetune(chgnet, train, None, method="linear", settings=settings, replay=replay)


@pytest.mark.model
@pytest.mark.slow
def test_chgnet_weighted_loss_equals_the_plain_loss_at_unit_weights_and_drops_replay_energies(
    chgnet: Model, si: TrainingSet
) -> None:

    from curate.training.chgnet_finetune import (
        _criterion,
        _loss,
        _weighted_loss,
        build_training_graphs,
        forward_efs_for_training,
        label_tensors,
    )

    data = si.subset([10, 11, 12])
    native = chgnet.model  # type: ignore[attr-defined]
    graphs = build_training_graphs(native, data)
    labels = label_tensors(data)
    settings = TrainingSettings()
    batch = np.arange(3)
    unit = dataclasses.replace(data, loss_weights=((1.0, 1.0, 1.0),) * 3)
    no_energy = dataclasses.replace(data, loss_weights=((0.0, 1.0, 1.0),) * 3)
    energy_only = dataclasses.replace(settings, force_weight=0.0, stress_weight=0.0)
    predicted = forward_efs_for_training(native, graphs)
    plain, _ = _loss(predicted, labels, batch, settings, _criterion(settings), "cpu")
    weighted, _ = _weighted_loss(predicted, labels, batch, settings, _criterion(settings), "cpu", train=unit)
    assert float(weighted) == pytest.approx(float(plain), rel=1e-6)
    energy_term, _ = _weighted_loss(predicted, labels, batch, energy_only, _criterion(settings), "cpu", train=unit)
    dropped, _ = _weighted_loss(predicted, labels, batch, energy_only, _criterion(settings), "cpu", train=no_energy)
    assert float(energy_term) > 0 and float(dropped) == 0.0


@pytest.mark.model
@pytest.mark.slow
def test_mace_trains_with_replay_weights_and_matgl_refuses_them(
    mace: Model, m3gnet: Model, si: TrainingSet, as2so6_halves: tuple[TrainingSet, TrainingSet]
) -> None:
    reference, _ = as2so6_halves
    train = si.subset([11, 12])
    replay = Replay(reference, ReplaySettings(count=2, weight=2.0, strategy="fps"))
    settings = TrainingSettings(epochs=1, batch_size=4)
    result = fine_tuner_for(mace).finetune(mace, train, None, method="full", settings=settings, replay=replay)
    assert result.train_structures == 4 and result.extra["replay"]["structures"] == 2
    assert np.isfinite(result.history[0].train_loss)
    huber = settings.with_changes(loss="huber")
    with pytest.raises(ConfigurationError, match="loss=mse"):
        fine_tuner_for(mace).finetune(mace, train, None, method="full", settings=huber, replay=replay)
    with pytest.raises(ConfigurationError, match="matgl's loss has no per-structure weights"):
        fine_tuner_for(m3gnet).finetune(m3gnet, train, None, method="full", settings=settings, replay=replay)


@pytest.mark.model
@pytest.mark.slow
def test_replay_draws_only_structures_the_starting_model_reproduces(
    chgnet: Model, si: TrainingSet, as2so6_halves: tuple[TrainingSet, TrainingSet]
) -> None:
    # replay anchors the model where it already is: a reference structure it misses (here forces off by
    # 0.3 eV/A, or stress off by 10 GPa) would be a second correction target, so it is never drawn
    reference = as_the_model_sees_it(chgnet, as2so6_halves[0])
    planted = list(reference.configurations)
    planted[0] = dataclasses.replace(planted[0], forces=np.asarray(planted[0].forces) + 0.3)
    planted[1] = dataclasses.replace(planted[1], stress=np.asarray(planted[1].stress) + 10.0)
    reference = TrainingSet(tuple(planted), reference.ids, "As2SO6 with two labels the model misses")
    replay = Replay(reference, ReplaySettings(count=len(reference), strategy="fps"))
    mixed, record = replay_training_set(chgnet, si.subset([10]), replay)
    assert record["structures"] == len(reference) - 2 == len(mixed) - 1
    assert set(record["ids"]) == set(reference.ids[2:])
    unbounded = ReplaySettings(count=len(reference), max_force_error_ev_per_ang=None, max_stress_error_gpa=None)
    _, everything = replay_training_set(chgnet, si.subset([10]), Replay(reference, unbounded))
    assert set(everything["ids"]) == set(reference.ids)
    with pytest.raises(ConfigurationError, match="nothing to anchor"):
        tight = ReplaySettings(count=3, max_force_error_ev_per_ang=1e-12)
        replay_training_set(chgnet, si.subset([10]), Replay(reference.subset([0]), tight))
    with pytest.raises(ConfigurationError, match="max_stress_error_gpa"):
        ReplaySettings(max_stress_error_gpa=0.0)
