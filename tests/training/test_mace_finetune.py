"""MACE fine-tuning on real Si frames (PBE MD at 2000 K, emmet Si tasks) with a tiny random ScaleShiftMACE."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from curate.errors import ConfigurationError
from curate.models import load_model
from curate.models.mace import MACEModel
from curate.training.data import TrainingSet
from curate.training.evaluate import evaluate
from curate.training.mace_finetune import bake_energy_scale, finetune_mace, reference_energies
from curate.training.settings import TrainingSettings

from ..models.builders import build_mace_file
from .conftest import relabel_scaled

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def mace(tmp_path_factory: pytest.TempPathFactory) -> MACEModel:
    path = build_mace_file(tmp_path_factory.mktemp("mace") / "tiny.model")
    return MACEModel(str(path), device="cpu", spec=f"mace:{path}")


def _relabel(data: TrainingSet, model: MACEModel, *, scale: float) -> TrainingSet:
    """Labels = the model's predictions with the interaction energy E - sum E0 (so forces, stress) x ``scale``."""
    predictions = model.predict(list(data), max_atoms_per_batch=256)
    return relabel_scaled(data, predictions, reference_energies(model.model, data), scale=scale)


def test_linear_scale_is_exact_and_survives_save(si: TrainingSet, mace: MACEModel, tmp_path: Path) -> None:
    structures = si.subset([1, 11])
    labels = _relabel(structures, mace, scale=1.2)
    result = finetune_mace(
        mace.model, mace.info, labels, None, method="linear", settings=TrainingSettings(), device="cpu"
    )
    assert result.energy_scale == pytest.approx(1.2, abs=1e-9)
    spec = result.save_model(tmp_path / "linear")
    assert spec == f"mace:{(tmp_path / 'linear' / 'model.model').resolve()}"
    reloaded = load_model(spec, device="cpu")
    original = mace.predict(list(structures), max_atoms_per_batch=256)
    refs = reference_energies(mace.model, structures)
    for model in (result.model, reloaded):
        scaled = model.predict(list(structures), max_atoms_per_batch=256)
        for p, q, r in zip(original, scaled, refs, strict=True):
            # E0 is not scaled: E' = R + 1.2 (E - R); forces and stress are exactly 1.2 x
            assert q.energy == pytest.approx(r + 1.2 * (p.energy - r), rel=1e-12, abs=1e-9)
            np.testing.assert_allclose(q.forces, 1.2 * p.forces, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(q.stress, 1.2 * p.stress, rtol=1e-10, atol=1e-12)


def test_plain_mace_becomes_scale_shift_with_same_numbers_times_s(si: TrainingSet, mace: MACEModel) -> None:
    """A MACE without scale_shift is promoted to ScaleShiftMACE(scale=s, shift=0): forces x s exactly."""
    from mace import modules

    from curate.models.base import ModelInfo

    frame = [si.configurations[1]]
    plain = _plain_copy(mace.model)
    info = ModelInfo("mace:plain", "mace:plain", "mace", "0", "unknown", "mace", "", "")
    before = MACEModel.from_module(plain, info=info, device="cpu").predict(frame, max_atoms_per_batch=64)[0]
    baked = bake_energy_scale(plain, 0.8)
    assert type(baked) is modules.ScaleShiftMACE
    after = MACEModel.from_module(baked, info=info, device="cpu").predict(frame, max_atoms_per_batch=64)[0]
    e0 = 64 * float(baked.atomic_energies_fn.atomic_energies[list(baked.atomic_numbers).index(14)])
    assert after.energy == pytest.approx(e0 + 0.8 * (before.energy - e0), rel=1e-12)
    np.testing.assert_allclose(after.forces, 0.8 * before.forces, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(after.stress, 0.8 * before.stress, rtol=1e-10, atol=1e-12)


def test_full_lowers_training_force_error_and_saves_what_it_predicts(
    si: TrainingSet, mace: MACEModel, tmp_path: Path
) -> None:
    train, val = si.subset([1, 2]), si.subset([3])
    settings = TrainingSettings(
        epochs=2, learning_rate=0.1, final_learning_rate=0.01, batch_size=2, atomref="trainable"
    )
    result = finetune_mace(mace.model, mace.info, train, val, method="full", settings=settings, device="cpu")
    before = evaluate(mace, train).force_mae_ev_per_ang
    after = evaluate(result.model, train).force_mae_ev_per_ang
    print(f"MACE full: train force MAE {before:.4f} -> {after:.4f} eV/A")
    assert after < 0.8 * before  # measured 0.472 -> 0.310 eV/A
    # the epoch kept is the one with the lowest validation force MAE
    val_maes = [r.val_force_mae_ev_per_ang for r in result.history]
    assert result.best_epoch == 1 + int(np.argmin(val_maes))
    # trainable E0: silicon's moved, the elements absent from the data got zero gradient and kept theirs
    e0_before = mace.model.atomic_energies_fn.atomic_energies.numpy()
    e0_after = result.model.model.atomic_energies_fn.atomic_energies.numpy()
    si_column = list(mace.model.atomic_numbers).index(14)
    assert e0_after[si_column] != e0_before[si_column]
    np.testing.assert_array_equal(np.delete(e0_after, si_column), np.delete(e0_before, si_column))
    # the saved file reloads through its spec and predicts the same numbers
    reloaded = load_model(result.save_model(tmp_path / "full"), device="cpu")
    a = result.model.predict(list(train), max_atoms_per_batch=256)
    b = reloaded.predict(list(train), max_atoms_per_batch=256)
    for x, y in zip(a, b, strict=True):
        assert y.energy == pytest.approx(x.energy, rel=1e-12)
        np.testing.assert_allclose(y.forces, x.forces, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(y.stress, x.stress, rtol=1e-10, atol=1e-12)


def test_heads_trains_only_last_block_and_readouts(si: TrainingSet, mace: MACEModel) -> None:
    train = si.subset([1, 10])
    settings = TrainingSettings(epochs=1, learning_rate=1e-2, final_learning_rate=1e-3, batch_size=2, atomref="refit")
    result = finetune_mace(mace.model, mace.info, train, None, method="heads", settings=settings, device="cpu")
    before = dict(mace.model.named_parameters())
    after = dict(result.model.model.named_parameters())
    trainable = ("interactions.1.", "products.1.", "readouts.")
    changed = {name for name in before if not np.array_equal(before[name].numpy(), after[name].numpy())}
    frozen = {name for name in before if not name.startswith(trainable)}
    assert frozen and not (changed & frozen)  # node_embedding, interactions.0, products.0 bit-identical
    assert changed == set(before) - frozen  # every tensor of the last block and the readouts moved
    assert result.trainable_parameters == sum(before[n].numel() for n in before if n.startswith(trainable))
    # refit E0 (frozen while training): Si = mean energy per atom of the two structures
    mean_per_atom = np.mean([c.energy / c.nsites for c in train])
    si_column = list(mace.model.atomic_numbers).index(14)
    e0 = result.model.model.atomic_energies_fn.atomic_energies.numpy()
    assert e0[si_column] == pytest.approx(mean_per_atom, abs=1e-12)
    assert result.extra["atomref_refit"]["fitted_elements"]["Si"]["refit"] == pytest.approx(mean_per_atom)
    with pytest.raises(ConfigurationError, match="2 interaction blocks"):
        finetune_mace(
            mace.model,
            mace.info,
            train,
            None,
            method="heads",
            settings=settings.with_changes(heads_trainable_blocks=3),
            device="cpu",
        )


def _plain_copy(model: object) -> object:
    """A plain MACE (E = sum E0 + readouts) computing what ``model`` (a ScaleShiftMACE, scale 1, shift 0) does."""
    import copy

    from mace import modules

    plain = copy.deepcopy(model)
    assert float(plain.scale_shift.scale) == 1.0 and float(plain.scale_shift.shift) == 0.0
    plain.__class__ = modules.MACE
    del plain.scale_shift
    return plain
