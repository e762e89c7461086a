"""matgl fine-tuning on real Si frames (PBE MD at 2000 K, emmet Si tasks) with a tiny random M3GNet Potential."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from curate.errors import ConfigurationError
from curate.models import load_model
from curate.models.matgl import MatGLModel
from curate.training.data import TrainingSet
from curate.training.evaluate import evaluate
from curate.training.matgl_finetune import bake_energy_scale, copy_potential, finetune_matgl, reference_energies
from curate.training.settings import TrainingSettings

from ..models.builders import ELEMENTS
from .conftest import relabel_scaled

# element_refs (eV/atom, ELEMENTS order), data_mean (eV) and data_std: every term of E = std m + mean + R is live
ELEMENT_REFS = np.linspace(-6.0, -2.0, len(ELEMENTS))
pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def m3gnet(tmp_path_factory: pytest.TempPathFactory) -> MatGLModel:
    """A tiny random M3GNet (2 blocks) with element_refs, data_mean 0.1 eV and data_std 2, via Potential.save."""
    import torch
    from matgl.apps.pes import Potential
    from matgl.models import M3GNet

    path = tmp_path_factory.mktemp("matgl") / "m3gnet"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = M3GNet(element_types=ELEMENTS, units=16, nblocks=2, cutoff=4.0, threebody_cutoff=3.0)
    Potential(model=model, element_refs=ELEMENT_REFS, data_mean=0.1, data_std=2.0, calc_stresses=True).save(path)
    return MatGLModel(str(path), device="cpu", spec=f"matgl:{path}")


def _relabel(data: TrainingSet, model: MatGLModel, *, scale: float) -> TrainingSet:
    """Labels = the model's predictions with the interaction energy E - R (so forces, stress) x ``scale``."""
    predictions = model.predict(list(data), max_atoms_per_batch=256)
    return relabel_scaled(data, predictions, reference_energies(model.potential, data), scale=scale)


def test_linear_scale_is_exact_and_survives_save(si: TrainingSet, m3gnet: MatGLModel, tmp_path: Path) -> None:
    structures = si.subset([1, 11])
    labels = _relabel(structures, m3gnet, scale=1.2)
    result = finetune_matgl(
        m3gnet.potential, m3gnet.info, labels, None, method="linear", settings=TrainingSettings(), device="cpu"
    )
    assert result.energy_scale == pytest.approx(1.2, abs=1e-5)  # float32 model
    spec = result.save_model(tmp_path / "linear")
    assert spec == f"matgl:{(tmp_path / 'linear' / 'model').resolve()}"
    reloaded = load_model(spec, device="cpu")
    original = m3gnet.predict(list(structures), max_atoms_per_batch=256)
    refs = reference_energies(m3gnet.potential, structures)
    assert refs[1] == pytest.approx(2 * ELEMENT_REFS[ELEMENTS.index("Si")], rel=1e-6)
    for model in (result.model, reloaded):
        scaled = model.predict(list(structures), max_atoms_per_batch=256)
        for p, q, r in zip(original, scaled, refs, strict=True):
            # element_refs are not scaled: E' = R + 1.2 (E - R); forces and stress are exactly 1.2 x
            assert q.energy == pytest.approx(r + 1.2 * (p.energy - r), rel=1e-5)
            np.testing.assert_allclose(q.forces, 1.2 * p.forces, rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(q.stress, 1.2 * p.stress, rtol=1e-4, atol=1e-5)
    assert float(reloaded.potential.data_std) == pytest.approx(2.0 * result.energy_scale, rel=1e-6)


def test_linear_refuses_zbl_repulsion(m3gnet: MatGLModel) -> None:
    """ZBL repulsion is outside data_std and data_mean: no exact bake, so a clear refusal."""
    potential = copy_potential(m3gnet.potential)  # after a forward pass, which plain deepcopy refuses
    potential.calc_repuls = True
    with pytest.raises(ConfigurationError, match="ZBL repulsion"):
        bake_energy_scale(potential, 1.1)


def test_full_lowers_training_force_error_and_saves_what_it_predicts(
    si: TrainingSet, m3gnet: MatGLModel, tmp_path: Path
) -> None:
    train, val = si.subset([1, 2]), si.subset([3])
    settings = TrainingSettings(
        epochs=4, learning_rate=0.1, final_learning_rate=0.01, batch_size=1, atomref="trainable"
    )
    result = finetune_matgl(m3gnet.potential, m3gnet.info, train, val, method="full", settings=settings, device="cpu")
    before = evaluate(m3gnet, train).force_mae_ev_per_ang
    after = evaluate(result.model, train).force_mae_ev_per_ang
    print(f"matgl full: train force MAE {before:.4f} -> {after:.4f} eV/A")
    assert after < 0.8 * before  # measured 0.473 -> 0.281 eV/A
    val_maes = [r.val_force_mae_ev_per_ang for r in result.history]
    assert result.best_epoch == 1 + int(np.argmin(val_maes))
    # trainable element_refs: silicon's moved, the elements absent from the data got zero gradient
    refs_after = result.model.potential.element_refs.property_offset.numpy()
    si_index = ELEMENTS.index("Si")
    assert refs_after[si_index] != pytest.approx(ELEMENT_REFS[si_index], abs=1e-6)
    np.testing.assert_allclose(np.delete(refs_after, si_index), np.delete(ELEMENT_REFS, si_index), rtol=1e-6)
    reloaded = load_model(result.save_model(tmp_path / "full"), device="cpu")
    a = result.model.predict(list(train), max_atoms_per_batch=256)
    b = reloaded.predict(list(train), max_atoms_per_batch=256)
    for x, y in zip(a, b, strict=True):
        assert y.energy == pytest.approx(x.energy, rel=1e-6)
        np.testing.assert_allclose(y.forces, x.forces, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(y.stress, x.stress, rtol=1e-5, atol=1e-5)


def test_heads_trains_only_last_block_and_readout(si: TrainingSet, m3gnet: MatGLModel) -> None:
    train = si.subset([1, 10])
    settings = TrainingSettings(epochs=1, learning_rate=1e-2, final_learning_rate=1e-3, batch_size=2, atomref="refit")
    result = finetune_matgl(m3gnet.potential, m3gnet.info, train, None, method="heads", settings=settings, device="cpu")
    before = dict(m3gnet.potential.named_parameters())
    after = dict(result.model.potential.named_parameters())
    trainable = ("model.three_body_interactions.1.", "model.graph_layers.1.", "model.final_layer.")
    changed = {
        name for name in before if not np.array_equal(before[name].detach().numpy(), after[name].detach().numpy())
    }
    frozen = {name for name in before if not name.startswith(trainable)}
    assert frozen and not (changed & frozen)  # embedding and block 0 bit-identical
    assert changed == set(before) - frozen  # every tensor of block 1 and the readout moved
    assert result.trainable_parameters == sum(before[n].numel() for n in before if n.startswith(trainable))
    # refit element_refs (frozen while training): Si = mean energy per atom of the two structures, the
    # others shifted by the same amount as Si
    mean_per_atom = np.mean([c.energy / c.nsites for c in train])
    refs = result.model.potential.element_refs.property_offset.numpy()
    si_index = ELEMENTS.index("Si")
    assert refs[si_index] == pytest.approx(mean_per_atom, rel=1e-6)
    np.testing.assert_allclose(refs - ELEMENT_REFS, mean_per_atom - ELEMENT_REFS[si_index], rtol=1e-5)
    with pytest.raises(ConfigurationError, match="2 interaction blocks"):
        finetune_matgl(
            m3gnet.potential,
            m3gnet.info,
            train,
            None,
            method="heads",
            settings=settings.with_changes(heads_trainable_blocks=3),
            device="cpu",
        )
