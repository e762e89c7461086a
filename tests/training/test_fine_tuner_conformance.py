"""Every registered fine-tuner keeps one contract, checked on real Si frames (PBE MD at 2000 K, emmet Si tasks).

Models: CHGNet 0.3.0 from its wheel, a tiny random ScaleShiftMACE (float64) and a tiny random M3GNet with
element_refs (float32), each reached through ``FINE_TUNERS[model.info.architecture]``. Known answers:

* ``linear`` on labels that are the model's own predictions with the interaction energy E - R (so forces and
  stress) times 1.2 learns s = 1.2, and the model the printed spec loads predicts those labels;
* ``heads`` leaves every tensor outside the trainable modules bit-identical; a refitted reference energy of
  silicon (the only element of the data) is the mean energy per atom, every other element shifted as much;
* ``full`` lowers the training force error; trainable reference energies move for silicon only;
* ``fresh_copy`` is the same architecture (class, tensor names and shapes, reference energies) with other
  weights, the same for the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from curate.dataset.configuration import Configuration
from curate.errors import ConfigurationError
from curate.models import ARCHITECTURES, Model, Prediction, load_model
from curate.training.data import TrainingSet
from curate.training.evaluate import evaluate
from curate.training.fine_tuner import FineTuner, TorchFineTuner
from curate.training.registry import FINE_TUNER_NAMES, FINE_TUNERS, fine_tuner_for
from curate.training.settings import TrainingSettings

from .conftest import relabel_scaled

pytestmark = [pytest.mark.model, pytest.mark.slow]
SCALE = 1.2


@dataclass(frozen=True)
class Close:
    """How close two predictions of one structure must be (energy eV, forces eV/A, stress GPa)."""

    energy_rel: float
    energy_abs: float
    force_rtol: float
    force_atol: float
    stress_rtol: float
    stress_atol: float

    def check(self, got: Prediction, want: Prediction | Configuration) -> None:
        assert got.energy == pytest.approx(want.energy, rel=self.energy_rel, abs=self.energy_abs)
        np.testing.assert_allclose(got.forces, want.forces, rtol=self.force_rtol, atol=self.force_atol)
        np.testing.assert_allclose(got.stress, want.stress, rtol=self.stress_rtol, atol=self.stress_atol)


@dataclass(frozen=True)
class Case:
    """One architecture's model fixture, its numeric precision and what its ``heads`` and ``full`` runs train.

    Tolerances follow the model's floating-point type: MACE here is float64 (the scale is exact to
    rounding), CHGNet and M3GNet are float32.
    """

    fixture: str
    model_file: str
    scale_abs: float  # |s - 1.2|
    labels: Close  # the linear model's predictions vs the relabelled structures
    reload: Close  # a saved model's predictions vs the in-memory model's
    atomref_abs: float  # a refitted reference energy vs its known answer, eV/atom
    atomref_module: str  # the module holding the reference energies (refitted, not trained, in heads)
    heads_modules: tuple[str, ...]  # trainable modules of heads with one trainable block
    heads_moved: tuple[str, ...] | None  # modules with a changed tensor after one step; None: every tensor of all
    heads_mostly_frozen: bool  # fewer trainable than frozen weights
    full: TrainingSettings
    full_train: tuple[int, ...]
    full_val: tuple[int, ...]
    full_factor: float  # training force MAE after full < full_factor x before


CASES = {
    "chgnet": Case(
        fixture="chgnet",
        model_file="chgnet-finetuned.pth.tar",
        scale_abs=1e-4,
        labels=Close(1.9e-5, 0.0, 1e-3, 1e-4, 1e-3, 1e-3),  # energy: 1e-4 eV/atom of ~5.3 eV/atom
        reload=Close(0.0, 1e-5, 1e-7, 1e-6, 1e-7, 1e-6),
        atomref_abs=1e-5,
        atomref_module="composition_model",
        heads_modules=("atom_conv_layers.3", "readout_norm", "mlp"),
        heads_moved=("mlp",),
        heads_mostly_frozen=True,
        full=TrainingSettings(epochs=2, batch_size=1, seed=3, atomref="trainable"),
        full_train=(1,),
        full_val=(3,),
        full_factor=1.0,
    ),
    "mace": Case(
        fixture="mace",
        model_file="model.model",
        scale_abs=1e-9,
        labels=Close(1e-12, 1e-9, 1e-10, 1e-12, 1e-10, 1e-12),
        reload=Close(1e-12, 1e-12, 1e-10, 1e-12, 1e-10, 1e-12),
        atomref_abs=1e-12,
        atomref_module="atomic_energies_fn",
        heads_modules=("interactions.1", "products.1", "readouts.0", "readouts.1"),
        heads_moved=None,
        heads_mostly_frozen=False,
        full=TrainingSettings(epochs=2, learning_rate=0.1, final_learning_rate=0.01, batch_size=2, atomref="trainable"),
        full_train=(1, 2),
        full_val=(3,),
        full_factor=0.8,  # measured 0.472 -> 0.310 eV/A
    ),
    "matgl": Case(
        fixture="m3gnet",
        model_file="model",
        scale_abs=1e-5,
        labels=Close(1e-5, 0.0, 1e-4, 1e-6, 1e-4, 1e-5),
        reload=Close(1e-6, 1e-12, 1e-5, 1e-6, 1e-5, 1e-5),
        atomref_abs=5e-6,  # float32 element_refs: 1e-6 of ~5.3 eV/atom
        atomref_module="element_refs",
        heads_modules=("model.three_body_interactions.1", "model.graph_layers.1", "model.final_layer"),
        heads_moved=None,
        heads_mostly_frozen=False,
        full=TrainingSettings(epochs=4, learning_rate=0.1, final_learning_rate=0.01, batch_size=1, atomref="trainable"),
        full_train=(1, 2),
        full_val=(3,),
        full_factor=0.8,  # measured 0.473 -> 0.281 eV/A
    ),
}
ARCHITECTURE_PARAMS = [
    pytest.param("chgnet", marks=pytest.mark.slow, id="chgnet"),  # loads CHGNet 0.3.0 (412k weights)
    pytest.param("mace", id="mace"),
    pytest.param("matgl", id="matgl"),
]


@pytest.fixture(params=ARCHITECTURE_PARAMS)
def case(request: pytest.FixtureRequest) -> tuple[TorchFineTuner, Model, Case]:
    """The registered fine-tuner of one architecture, its model and its case."""
    spec = CASES[request.param]
    model = request.getfixturevalue(spec.fixture)
    tuner = fine_tuner_for(model)
    assert isinstance(tuner, TorchFineTuner) and tuner.architecture == request.param
    return tuner, model, spec


def _relabel(tuner: TorchFineTuner, model: Model, data: TrainingSet) -> tuple[TrainingSet, list[float]]:
    """Labels = the model's predictions with E - R (so forces, stress) x 1.2; also R of each structure (eV)."""
    predictions, references = tuner.fit_inputs(model, tuner.native(model), data)
    return relabel_scaled(data, predictions, references, scale=SCALE), references


def _state(tuner: TorchFineTuner, model: Model) -> dict[str, np.ndarray]:
    """Every tensor of the model (weights and buffers), by name."""
    return {k: v.detach().cpu().numpy().copy() for k, v in tuner.native(model).state_dict().items()}


def _weights(tuner: TorchFineTuner, model: Model) -> dict[str, np.ndarray]:
    """Every parameter of the model, by name."""
    return {k: v.detach().cpu().numpy().copy() for k, v in tuner.native(model).named_parameters()}


def test_registry_is_keyed_by_the_adapters_architecture(mace: Model) -> None:
    assert FINE_TUNER_NAMES == ARCHITECTURES == ("chgnet", "mace", "matgl")
    for name, tuner in FINE_TUNERS.items():
        assert isinstance(tuner, FineTuner) and tuner.architecture == name
    assert fine_tuner_for(mace) is FINE_TUNERS["mace"]
    assert FINE_TUNERS["mace"].supports(mace) and not FINE_TUNERS["matgl"].supports(mace)
    with pytest.raises(ConfigurationError, match="cannot train"):
        FINE_TUNERS["matgl"].finetune(
            mace, TrainingSet((), (), "empty"), None, method="linear", settings=TrainingSettings()
        )


def test_linear_scale_is_exact_and_survives_save(
    case: tuple[TorchFineTuner, Model, Case], si: TrainingSet, tmp_path: Path
) -> None:
    tuner, model, spec = case
    structures = si.subset([1, 11])  # a Si64 MD frame and a Si2 cell
    before = model.predict(list(structures), max_atoms_per_batch=256)
    labels, references = _relabel(tuner, model, structures)
    result = tuner.finetune(model, labels, None, method="linear", settings=TrainingSettings(), device="cpu")
    assert result.energy_scale == pytest.approx(SCALE, abs=spec.scale_abs)
    assert (result.trainable_parameters, result.history, result.best_epoch) == (1, [], None)
    printed = result.save_model(tmp_path / "linear")
    assert printed == f"{tuner.architecture}:{(tmp_path / 'linear' / spec.model_file).resolve()}"
    reloaded = load_model(printed, device="cpu")
    in_memory = result.model.predict(list(structures), max_atoms_per_batch=256)
    from_file = reloaded.predict(list(structures), max_atoms_per_batch=256)
    for label, p, q in zip(labels, in_memory, from_file, strict=True):
        # the reference energy R is not scaled: E' = R + 1.2 (E - R); forces and stress are 1.2 x
        spec.labels.check(p, label)
        spec.labels.check(q, label)
        spec.reload.check(q, p)
    assert tuner.fit_inputs(reloaded, tuner.native(reloaded), structures)[1] == pytest.approx(references, rel=1e-12)
    # the starting model is untouched
    for p, q in zip(before, model.predict(list(structures), max_atoms_per_batch=256), strict=True):
        assert q.energy == pytest.approx(p.energy, rel=1e-9)
        np.testing.assert_allclose(q.forces, p.forces, rtol=1e-7, atol=1e-9)


def test_heads_leaves_frozen_tensors_bit_identical(case: tuple[TorchFineTuner, Model, Case], si: TrainingSet) -> None:
    tuner, model, spec = case
    train = si.subset([1, 10])  # a Si64 MD frame and the Si8 cell
    settings = TrainingSettings(epochs=1, learning_rate=1e-2, final_learning_rate=1e-3, batch_size=2, atomref="refit")
    original = _weights(tuner, model)
    result = tuner.finetune(model, train, None, method="heads", settings=settings, device="cpu")
    tuned = _weights(tuner, result.model)
    assert tuple(result.extra["trainable_modules"]) == spec.heads_modules
    trainable = tuple(f"{name}." for name in spec.heads_modules)
    parameters = dict(tuner.native(model).named_parameters())
    refitted = {k for k in parameters if k.startswith(f"{spec.atomref_module}.")}  # checked below
    changed = {k for k in original if not np.array_equal(original[k], tuned[k])} - refitted
    frozen = {k for k in parameters if not k.startswith(trainable)} - refitted
    assert frozen and changed and not (changed & frozen), sorted(changed & frozen)  # frozen: bit-identical
    if spec.heads_moved is None:
        assert changed == set(parameters) - frozen - refitted  # every tensor of the trained modules moved
    else:
        assert all(any(k.startswith(f"{m}.") for k in changed) for m in spec.heads_moved)
    if spec.heads_mostly_frozen:
        assert result.trainable_parameters < result.frozen_parameters
    assert result.trainable_parameters == sum(parameters[k].numel() for k in parameters if k.startswith(trainable))
    assert result.frozen_parameters == sum(parameters[k].numel() for k in frozen | refitted)
    # refit reference energies (frozen while training): Si = mean energy per atom of the two structures, every
    # other element shifted by the same amount
    mean_per_atom = float(np.mean([c.energy / c.nsites for c in train]))
    old, new = tuner.atomref_values(tuner.native(model)), tuner.atomref_values(tuner.native(result.model))
    assert old is not None and new is not None and new.keys() == old.keys()
    assert new["Si"] == pytest.approx(mean_per_atom, abs=spec.atomref_abs)
    assert result.extra["atomref_refit"]["fitted_elements"]["Si"]["refit"] == pytest.approx(mean_per_atom)
    shifts = np.array([new[e] - old[e] for e in old])
    np.testing.assert_allclose(shifts, mean_per_atom - old["Si"], rtol=1e-5)


def test_full_lowers_training_error_and_saves_what_it_predicts(
    case: tuple[TorchFineTuner, Model, Case], si: TrainingSet, tmp_path: Path
) -> None:
    tuner, model, spec = case
    train, val = si.subset(list(spec.full_train)), si.subset(list(spec.full_val))
    old_refs = tuner.atomref_values(tuner.native(model))
    result = tuner.finetune(model, train, val, method="full", settings=spec.full, device="cpu")
    before = evaluate(model, train).force_mae_ev_per_ang
    after = evaluate(result.model, train).force_mae_ev_per_ang
    print(f"{tuner.architecture} full: train force MAE {before:.4f} -> {after:.4f} eV/A")
    assert after < spec.full_factor * before
    # the epoch kept is the one with the lowest validation force MAE
    val_maes = [r.val_force_mae_ev_per_ang for r in result.history]
    assert len(result.history) == spec.full.epochs and result.best_epoch == 1 + int(np.argmin(val_maes))
    assert result.history[0].learning_rate == pytest.approx(spec.full.learning_rate)
    # trainable reference energies: silicon's moved; the elements absent from the data got zero gradient
    new_refs = tuner.atomref_values(tuner.native(result.model))
    assert old_refs is not None and new_refs is not None
    assert new_refs["Si"] != pytest.approx(old_refs["Si"], abs=1e-6)
    assert {e: v for e, v in new_refs.items() if e != "Si"} == {e: v for e, v in old_refs.items() if e != "Si"}
    assert result.extra["atomref_trained_ev"] == new_refs
    # the saved model reloads through its spec and predicts the same numbers
    reloaded = load_model(result.save_model(tmp_path / "full"), device="cpu")
    a = result.model.predict(list(train), max_atoms_per_batch=256)
    b = reloaded.predict(list(train), max_atoms_per_batch=256)
    for x, y in zip(a, b, strict=True):
        spec.reload.check(y, x)


def test_fresh_copy_is_the_same_architecture_with_new_weights(
    case: tuple[TorchFineTuner, Model, Case], si: TrainingSet
) -> None:
    tuner, model, _ = case
    fresh, again = (tuner.fresh_copy(model, seed=1) for _ in range(2))
    assert fresh.info.architecture == model.info.architecture and fresh.info.spec == f"fresh:{model.info.spec}"
    assert type(tuner.native(fresh)) is type(tuner.native(model))
    pretrained, state = _state(tuner, model), _state(tuner, fresh)
    assert state.keys() == pretrained.keys()
    assert all(state[k].shape == pretrained[k].shape for k in state)
    weights = [k for k, _ in tuner.native(model).named_parameters()]
    assert sum(not np.array_equal(state[k], pretrained[k]) for k in weights) >= 0.9 * len(weights)
    assert all(np.array_equal(state[k], _state(tuner, again)[k]) for k in state)  # seeded
    assert tuner.atomref_values(tuner.native(fresh)) == tuner.atomref_values(tuner.native(model))
    prediction = fresh.predict([si.configurations[11]], max_atoms_per_batch=64)[0]
    assert np.isfinite(prediction.energy) and np.all(np.isfinite(prediction.forces))
