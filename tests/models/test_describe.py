"""A model's own description of structures: predictions, features and reference energies in one pass."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from curate.dataset.configuration import Configuration
from curate.models import load_model
from curate.models.base import DescribesStructures, ModelInfo
from curate.models.registry import ARCHITECTURES

from .builders import ELEMENTS, build_matgl_dir

# element references of the matgl potential built below, eV per atom
MATGL_REFS = dict(zip(ELEMENTS, np.linspace(-4.0, -0.5, len(ELEMENTS)).tolist(), strict=True))
# describe runs predict's own pass: equal to the bit for CHGNet and matgl; MACE's scatter sums on the CPU
# differ in the last bit between a process's first pass and later ones (1e-19 eV/A measured, predict vs predict)
PREDICTION_ATOL = {"chgnet": 0.0, "mace": 1e-12, "matgl": 0.0}
# how a cell doubled along a scales the features: CHGNet's crystal features sum the atom features (mlp_first,
# every shipped model), MACE's and matgl's describe averages them
DOUBLED_CELL_FACTOR = {"chgnet": 2.0, "mace": 1.0, "matgl": 1.0}
# feature agreement under atom order, translation, batching and doubling the cell (measured: CHGNet 2.3e-5, its
# float32 features summed over 64 atoms; MACE here in float64 8e-17; matgl float32 means 9e-8)
FEATURE_ATOL = {"chgnet": 1e-4, "mace": 1e-12, "matgl": 1e-6}


def _mace_e0_per_element() -> dict[str, float]:
    """The tiny random MACE's E0s as builders.build_mace_file sets them: linspace over atomic-number order."""
    from ase.data import atomic_numbers

    ordered = sorted(ELEMENTS, key=lambda s: atomic_numbers[s])
    return dict(zip(ordered, np.linspace(-3.0, -1.0, len(ordered)).tolist(), strict=True))


def _chgnet_atomref_per_element(model: DescribesStructures, species: set[str]) -> dict[str, float]:
    from ase.data import atomic_numbers

    weight = model.model.composition_model.fc.weight.detach().numpy()[0]  # type: ignore[attr-defined]
    return {s: float(weight[atomic_numbers[s] - 1]) for s in species}


def _reordered(structures: list[Configuration]) -> list[Configuration]:
    """The same structures with their atoms in a random order."""
    rng = np.random.default_rng(0)
    out = []
    for cfg in structures:
        perm = rng.permutation(cfg.nsites)
        out.append(replace(cfg, species=[cfg.species[i] for i in perm], positions=cfg.positions[perm]))
    return out


def _moved(cfg: Configuration) -> Configuration:
    """The same structure rigidly translated."""
    return replace(cfg, positions=cfg.positions + np.array([0.37, -1.21, 2.05]))


def _doubled(cfg: Configuration) -> Configuration:
    """The same crystal in a cell twice as long along its first lattice vector."""
    return replace(
        cfg,
        species=cfg.species * 2,
        positions=np.vstack([cfg.positions, cfg.positions + cfg.lattice[0]]),
        lattice=cfg.lattice * np.array([[2.0], [1.0], [1.0]]),
    )


@pytest.fixture(scope="module")
def mixed_structures(real_structures: list[Configuration]) -> list[Configuration]:
    """The five real Si structures plus the real Si8 with one O and one Li in place of two Si atoms."""
    si8 = next(c for c in real_structures if c.nsites == 8)
    mixed = replace(si8, species=["O", "Li", *si8.species[2:]])
    return [*real_structures, mixed]


@pytest.fixture(scope="module")
def matgl_with_refs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random M3GNet with element references (MATGL_REFS), saved with Potential.save."""
    refs = [MATGL_REFS[s] for s in ELEMENTS]
    return build_matgl_dir(tmp_path_factory.mktemp("matgl-refs") / "tiny-m3gnet", element_refs=refs)


@pytest.mark.slow
@pytest.mark.model
def test_chgnet_describes_with_the_same_predictions_its_crystal_features_and_atomref(
    real_structures: list[Configuration],
) -> None:
    model = load_model("chgnet@0.3.0", device="cpu")
    assert isinstance(model, DescribesStructures)
    described = model.describe(real_structures, max_atoms_per_batch=128)
    plain = model.predict(real_structures, max_atoms_per_batch=128)
    for a, b in zip(described.predictions, plain, strict=True):
        assert a.energy == b.energy
        assert np.array_equal(a.forces, b.forces) and np.array_equal(a.stress, b.stress)
    assert described.features.shape == (len(real_structures), 64)
    assert np.all(np.isfinite(described.features))
    # Si only: the AtomRef energy is nsites x CHGNet's fitted Si reference
    per_atom = described.reference_energies_ev / np.array([c.nsites for c in real_structures])
    assert np.allclose(per_atom, per_atom[0], atol=1e-5) and -8.0 < per_atom[0] < -2.0
    # the same structure described alone and in a batch: features agree (pooled per structure)
    alone = model.describe(real_structures[:1], max_atoms_per_batch=128)
    assert np.allclose(alone.features[0], described.features[0], atol=1e-5)


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_architecture_describes_by_the_same_contract(
    architecture: str, mixed_structures: list[Configuration], request: pytest.FixtureRequest
) -> None:
    """Predictions equal predict's; features (N, d) finite, physical invariants, distinct per structure; R by hand."""
    if architecture == "chgnet":
        model = load_model("chgnet@0.3.0", device="cpu")
    elif architecture == "mace":
        model = load_model(f"mace:{request.getfixturevalue('mace_file')}", device="cpu")
    else:
        model = load_model(f"matgl:{request.getfixturevalue('matgl_with_refs')}", device="cpu")
    assert isinstance(model, DescribesStructures), f"{architecture} cannot describe structures"
    structures = mixed_structures
    plain = model.predict(structures, max_atoms_per_batch=128)
    described = model.describe(structures, max_atoms_per_batch=128)
    atol = PREDICTION_ATOL[architecture]
    for a, b in zip(described.predictions, plain, strict=True):
        assert abs(a.energy - b.energy) <= atol
        np.testing.assert_allclose(a.forces, b.forces, rtol=0, atol=atol)
        np.testing.assert_allclose(a.stress, b.stress, rtol=0, atol=atol)

    features = described.features
    assert features.ndim == 2 and features.shape[0] == len(structures) and features.shape[1] > 0
    assert np.all(np.isfinite(features))
    tol = FEATURE_ATOL[architecture]
    # a structure's features are a property of the structure: not of atom order, origin or batch companions
    shuffled, moved = _reordered(structures), [_moved(c) for c in structures]
    deviations = [model.describe(v, max_atoms_per_batch=128).features - features for v in (shuffled, moved)]
    deviations.append(model.describe(structures[-1:], max_atoms_per_batch=1).features[0] - features[-1])
    # the Si2 cell doubled along a is the same crystal: the same atom features, twice the reference energy
    twice = model.describe([_doubled(structures[4])], max_atoms_per_batch=128)
    deviations.append(twice.features[0] - DOUBLED_CELL_FACTOR[architecture] * features[4])
    largest_deviation = max(float(np.abs(d).max()) for d in deviations)
    assert largest_deviation <= tol
    assert twice.reference_energies_ev[0] == pytest.approx(2 * described.reference_energies_ev[4], rel=1e-6)
    # different structures (three hot Si64 frames, Si2, the SiOLi-substituted Si8) differ by far more than the
    # same structure rearranged; the pure Si8 is left out: it is the Si2's crystal (diamond, 20.44 A^3/atom)
    distinct = features[[0, 1, 2, 4, 5]]
    distances = np.linalg.norm(distinct[:, None] - distinct[None, :], axis=-1)[~np.eye(5, dtype=bool)]
    assert distances.min() > 10 * largest_deviation, (distances.min(), largest_deviation)

    if architecture == "chgnet":
        per_element = _chgnet_atomref_per_element(model, {s for c in structures for s in c.species})
    elif architecture == "mace":
        per_element = _mace_e0_per_element()
    else:
        per_element = MATGL_REFS
    by_hand = [sum(per_element[s] for s in c.species) for c in structures]
    np.testing.assert_allclose(described.reference_energies_ev, by_hand, rtol=1e-6, atol=1e-6)
    assert described.reference_energies_ev[-1] != pytest.approx(described.reference_energies_ev[3])


@pytest.mark.slow
@pytest.mark.model
def test_mace_features_are_the_mean_of_maces_own_descriptors(
    mace_file: Path, mixed_structures: list[Configuration]
) -> None:
    """Every interaction layer's invariant node features, as mace's ``get_descriptors`` gives them per atom."""
    import ase
    from mace.calculators import MACECalculator

    model = load_model(f"mace:{mace_file}", device="cpu")
    assert isinstance(model, DescribesStructures)
    described = model.describe(mixed_structures, max_atoms_per_batch=128)
    # the tiny model: 8x0e+8x1o after the first layer, 8x0e after the last; 8 + 8 invariant channels
    assert described.features.shape == (len(mixed_structures), 16)
    calculator = MACECalculator(model_paths=str(mace_file), device="cpu", default_dtype="float64")
    for cfg, features in zip(mixed_structures, described.features, strict=True):
        atoms = ase.Atoms(cfg.species, positions=cfg.positions, cell=cfg.lattice, pbc=True)
        descriptors = calculator.get_descriptors(atoms)  # (nsites, 16): invariants of all layers
        np.testing.assert_allclose(features, descriptors.mean(axis=0), rtol=0, atol=1e-12)


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.parametrize("kind", ["CHGNet", "TensorNet"])
def test_matgl_describes_chgnet_and_tensornet_by_their_readout_features(
    kind: str, mixed_structures: list[Configuration]
) -> None:
    """matgl's own CHGNet and TensorNet: the per-atom features their readout reads, AtomRef as references."""
    import torch
    from matgl.apps.pes import Potential
    from matgl.models import CHGNet, TensorNet

    from curate.models.matgl import MatGLModel

    torch.manual_seed(0)
    network: torch.nn.Module
    if kind == "CHGNet":
        network = CHGNet(
            element_types=ELEMENTS,
            dim_atom_embedding=16,
            dim_bond_embedding=16,
            dim_angle_embedding=16,
            num_blocks=2,
            cutoff=4.0,
            threebody_cutoff=3.0,
        )
    else:
        network = TensorNet(element_types=ELEMENTS, units=16, nblocks=1, cutoff=4.0, is_intensive=False)
    potential = Potential(model=network, calc_stresses=True, element_refs=[MATGL_REFS[s] for s in ELEMENTS])
    info = ModelInfo.for_local_file(f"matgl:{kind}", Path(__file__), architecture="matgl", library="matgl")
    model = MatGLModel.from_potential(potential, info=info, device="cpu")
    described = model.describe(mixed_structures, max_atoms_per_batch=128)
    plain = model.predict(mixed_structures, max_atoms_per_batch=128)
    assert [d.energy for d in described.predictions] == [p.energy for p in plain]
    assert described.features.shape == (len(mixed_structures), 16) and np.all(np.isfinite(described.features))
    by_hand = [sum(MATGL_REFS[s] for s in c.species) for c in mixed_structures]
    np.testing.assert_allclose(described.reference_energies_ev, by_hand, rtol=1e-6)


@pytest.mark.slow
@pytest.mark.model
def test_matgl_refuses_to_describe_with_a_readout_it_does_not_know(mixed_structures: list[Configuration]) -> None:
    """SO3Net predicts, but curate does not know which features its readout reads: describe names it."""
    from matgl.apps.pes import Potential
    from matgl.models import SO3Net

    from curate.errors import ConfigurationError
    from curate.models.matgl import MatGLModel

    network = SO3Net(element_types=ELEMENTS, units=8, nmax=3, lmax=1, nblocks=1, cutoff=4.0, is_intensive=False)
    info = ModelInfo.for_local_file("matgl:so3net", Path(__file__), architecture="matgl", library="matgl")
    model = MatGLModel.from_potential(Potential(model=network, calc_stresses=True), info=info, device="cpu")
    assert np.isfinite(model.predict(mixed_structures[-1:], max_atoms_per_batch=128)[0].energy)
    with pytest.raises(ConfigurationError, match=r"matgl:so3net: .* this is a SO3Net"):
        model.describe(mixed_structures[-1:], max_atoms_per_batch=128)
