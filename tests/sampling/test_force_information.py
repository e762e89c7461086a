"""``curate sample``'s default on real CHGNet 0.3.0 passes: force_information by hand, one definition with the
learning curves (real Si64 DFT frames), deterministic herding picks, and a known answer on a rattled family."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from ase.data import atomic_numbers

from curate.dataset.configuration import Configuration, batch_to_configurations, configurations_to_batch
from curate.experiments.learning_curve_run import describe_set
from curate.experiments.linear_scale import PoolScaleStatistics
from curate.models import Model, load_model
from curate.models.base import DescribesStructures
from curate.models.information import DEFAULT_LOSS_WEIGHTS
from curate.sources.builtin import builtin_configuration
from curate.sources.ingest import import_paths
from curate.training.data import load_training_set
from curate.training.settings import TrainingSettings
from sampling.pool import builtin_pool
from sampling.sample import SampleResult, describe_candidates, score_and_select
from sampling.scoring import SCORERS, ScoringInputs
from sampling.selection.herding import standardised

pytestmark = [pytest.mark.model, pytest.mark.slow]  # every test runs CHGNet 0.3.0

SI64_MD = "vasp/pymatgen_core/outputs__vasprun.md.xml.gz"
DEFAULT = {"strategy": "herding", "score": "force_information", "min_distance": 0.02, "seed": 0}


@pytest.fixture(scope="module")
def chgnet() -> Model:
    return load_model("chgnet@0.3.0", device="cpu")


@pytest.fixture(scope="module")
def builtin_rows() -> pa.Table:
    """``curate sample``'s built-in pool for seed 0: 48 rattled and strained Si, Cu, NaCl and MgO cells."""
    return builtin_pool(seed=0).rows


@pytest.fixture(scope="module")
def default_pick(chgnet: Model, builtin_rows: pa.Table) -> SampleResult:
    return score_and_select(builtin_rows, chgnet, budget=3, **DEFAULT)  # type: ignore[arg-type]


def _by_hand(model: Model, structures: list[Configuration]) -> np.ndarray:
    """0.1 u^2 + 100 <f^2> + 0.1 <sigma^2> from plain predict() and CHGNet's AtomRef weights (eV per element)."""
    predictions = model.predict(structures, max_atoms_per_batch=64)
    atom_ref = model.model.composition_model.fc.weight.detach().numpy()[0]  # type: ignore[attr-defined]
    values = []
    for cfg, p in zip(structures, predictions, strict=True):
        reference = sum(float(atom_ref[atomic_numbers[s] - 1]) for s in cfg.species)
        u = (p.energy - reference) / cfg.nsites
        values.append(0.1 * u * u + 100.0 * np.mean(p.forces**2) + 0.1 * np.mean(p.stress**2))
    return np.array(values)


def test_the_default_scores_one_pass_of_the_corrected_model_by_hand(
    chgnet: Model, builtin_rows: pa.Table, default_pick: SampleResult
) -> None:
    assert (
        TrainingSettings().energy_weight,
        TrainingSettings().force_weight,
        TrainingSettings().stress_weight,
    ) == DEFAULT_LOSS_WEIGHTS
    pool = default_pick.pool
    assert list(pool.scores) == ["force_information"], "one model: no committee score is computed"
    assert default_pick.features == "chgnet@0.3.0 own features" and pool.features.shape == (48, 64)
    information = pool.scores["force_information"]
    picked = [p.index for p in default_pick.picks]
    by_hand = _by_hand(chgnet, [batch_to_configurations(builtin_rows)[i] for i in picked])
    np.testing.assert_allclose(information[picked], by_hand, rtol=1e-5)
    # the first pick is a 0.2 A silicon rattle holding half the pool's information: what herding's weighted
    # pool is made of; its force term dominates (100 <f^2>, forces of several eV/A)
    first = default_pick.picks[0]
    assert pool.formulas[first.index] == "Si" and information[first.index] == information.max()
    assert 0.45 < information[first.index] / information.sum() < 0.6
    assert first.scores["force_information"] == pytest.approx(7847.7, rel=1e-3)


def test_the_default_picks_are_deterministic_and_independent_of_candidate_order(
    chgnet: Model, builtin_rows: pa.Table, default_pick: SampleResult
) -> None:
    reversed_rows = builtin_rows.take(pa.array(np.arange(builtin_rows.num_rows)[::-1]))
    again = score_and_select(reversed_rows, chgnet, budget=3, **DEFAULT)  # type: ignore[arg-type]
    assert [p.candidate_id for p in again.picks] == [p.candidate_id for p in default_pick.picks]
    assert len({p.candidate_id for p in again.picks}) == 3
    # the scorer itself: permuting the candidates permutes the scores (ScoringInputs' contract)
    description = describe_candidates(chgnet, builtin_rows)
    inputs = ScoringInputs(builtin_rows, description=description)
    values = SCORERS["force_information"].score(inputs)
    order = np.random.default_rng(1).permutation(builtin_rows.num_rows)
    np.testing.assert_allclose(SCORERS["force_information"].score(inputs.take(order)), values[order], rtol=1e-12)
    np.testing.assert_allclose(values, default_pick.pool.scores["force_information"], rtol=1e-6)


def test_one_definition_with_the_learning_curves_on_si64_dft_frames(
    chgnet: Model, shared_data: Path, tmp_path: Path
) -> None:
    """The learning curves' information (labels in hand, stress labelled) equals the label-free score."""
    import_paths([shared_data / SI64_MD], format_name="vasp", out=tmp_path / "si64")
    frames = load_training_set(tmp_path / "si64").subset(range(4))
    assert all(c.stress is not None for c in frames.configurations)
    assert isinstance(chgnet, DescribesStructures)
    described = describe_set(frames, chgnet, max_atoms_per_batch=256)
    settings = TrainingSettings()
    weights = (settings.energy_weight, settings.force_weight, settings.stress_weight)
    curves = PoolScaleStatistics.from_structures(described.ids, described.labels, weights=weights).information()
    rows = pa.Table.from_batches([configurations_to_batch(list(frames.configurations))])
    sample = SCORERS["force_information"].score(ScoringInputs(rows, description=describe_candidates(chgnet, rows)))
    np.testing.assert_allclose(sample, curves, rtol=1e-6)
    # the first four frames of the MD run heat up: bench/RESULTS.md's Si64 table (0.17, 6.2, 18.4, 39.7)
    np.testing.assert_allclose(sample, [0.1675, 6.209, 18.41, 39.69], rtol=2e-3)


def test_herding_picks_the_information_weighted_centre_of_a_rattled_family(chgnet: Model) -> None:
    """One Si cell displaced along one fixed random direction by 0.02-0.24 A: a one-parameter family.

    Force information grows with the amplitude. With a kernel as wide as the family, herding's first pick maximises
    the kernel-smoothed information-weighted density: the frame nearest the information-weighted mean of the
    features, here the information-weighted median amplitude, neither the most informative frame (what ranking
    by information picks) nor the unweighted middle of the family.
    """
    base = builtin_configuration("Si-diamond")
    rng = np.random.default_rng(0)
    direction = rng.normal(size=base.positions.shape)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    amplitudes = np.round(np.arange(1, 13) * 0.02, 3)
    family = [dataclasses.replace(base, positions=base.positions + a * direction) for a in amplitudes]
    rows = pa.Table.from_batches([configurations_to_batch(family)])
    result = score_and_select(rows, chgnet, budget=3, **DEFAULT)  # type: ignore[arg-type]
    information = result.pool.scores["force_information"]
    assert np.all(np.diff(information) > 0), "more displacement, larger predicted forces"
    weights = information / information.sum()
    x = standardised(result.pool.features)
    weighted_centre = int(np.argmin(np.linalg.norm(x - weights @ x, axis=1)))
    middle = int(np.argmin(np.linalg.norm(x - x.mean(axis=0), axis=1)))
    weighted_median = int(np.searchsorted(np.cumsum(weights), 0.5))
    first = result.picks[0].index
    assert first == weighted_centre == weighted_median
    assert amplitudes[first] == 0.22
    assert first != int(np.argmax(information)) and first != middle
    assert len({p.index for p in result.picks}) == 3
