"""Closed-form linear-correction scales of subsets, checked against the fitter and on planted answers."""

from __future__ import annotations

import numpy as np
import pytest

from curate.dataset.configuration import Configuration
from curate.experiments.linear_scale import (
    BenchmarkErrors,
    PoolScaleStatistics,
    StructureLabels,
    force_scale_uncertainty,
    random_subsets,
)
from curate.models.base import Prediction
from curate.training.data import TrainingSet
from curate.training.linear import fit_energy_scale
from curate.training.settings import TrainingSettings


def _structures(seed: int, n: int = 12, *, planted_scale: float | None = None) -> list[StructureLabels]:
    """Structures of 4-9 atoms with random predictions; labels = planted_scale x prediction when given."""
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(n):
        nsites = int(rng.integers(4, 10))
        forces = rng.normal(0.0, rng.uniform(0.05, 2.0), (nsites, 3))
        stress = rng.normal(0.0, 2.0, (3, 3))
        reference = -3.0 * nsites
        interaction = -2.0 * nsites + rng.normal(0, 0.3)
        if planted_scale is None:
            labels = (forces * rng.normal(1.3, 0.2), stress * 1.1, reference + 1.2 * interaction)
        else:
            labels = (forces * planted_scale, stress * planted_scale, reference + planted_scale * interaction)
        items.append(
            StructureLabels(
                nsites=nsites,
                energy_pred_ev=reference + interaction,
                reference_energy_ev=reference,
                energy_dft_ev=labels[2],
                forces_pred=forces,
                forces_dft=labels[0],
                stress_pred=stress,
                stress_dft=labels[1],
            )
        )
    return items


def _as_training_set(items: list[StructureLabels]) -> tuple[TrainingSet, list[Prediction], list[float]]:
    configurations = []
    predictions = []
    for item in items:
        species = ["Si"] * item.nsites
        configurations.append(
            Configuration(
                species=species,
                lattice=np.eye(3) * 10.0,
                positions=np.arange(item.nsites * 3, dtype=float).reshape(-1, 3),
                pbc=(1, 1, 1),
                energy=item.energy_dft_ev,
                forces=item.forces_dft,
                stress=item.stress_dft,
            )
        )
        predictions.append(Prediction(item.energy_pred_ev, item.forces_pred, item.stress_pred))
    ids = tuple(f"{k:064x}" for k in range(len(items)))
    return TrainingSet(tuple(configurations), ids, "in memory"), predictions, [i.reference_energy_ev for i in items]


def test_subset_scales_equal_the_fitter_on_those_structures() -> None:
    items = _structures(0)
    settings = TrainingSettings()
    stats = PoolScaleStatistics.from_structures(
        [str(k) for k in range(len(items))],
        items,
        weights=(settings.energy_weight, settings.force_weight, settings.stress_weight),
    )
    subsets = random_subsets(len(items), 3, 20, seed=4)
    closed_form = stats.scales(subsets)
    train, predictions, references = _as_training_set(items)
    for subset, expected in zip(subsets, closed_form, strict=True):
        rows = [int(i) for i in subset]
        fitted = fit_energy_scale(
            train.subset(rows),
            [predictions[i] for i in rows],
            settings,
            reference_energies_ev=[references[i] for i in rows],
        )
        assert expected == pytest.approx(fitted, rel=1e-12)


def test_an_exact_scaled_copy_gives_the_planted_scale_for_every_subset() -> None:
    items = _structures(1, planted_scale=1.37)
    stats = PoolScaleStatistics.from_structures([str(k) for k in range(12)], items, weights=(0.1, 100.0, 0.1))
    scales = stats.scales(random_subsets(12, 2, 200, seed=0))
    assert np.allclose(scales, 1.37, rtol=1e-12)
    bench = BenchmarkErrors.from_structures(items)
    assert bench.best_force_scale() == pytest.approx(1.37, rel=1e-12)
    assert bench.force_mae(np.array([1.37]))[0] == pytest.approx(0.0, abs=1e-12)
    assert bench.softening_scale(1.0) == pytest.approx(1 / 1.37, rel=1e-12)
    assert bench.softening_scale(1.37) == pytest.approx(1.0, rel=1e-12)


def test_the_uncertainty_shrinks_with_the_force_signal() -> None:
    rng = np.random.default_rng(2)
    noise = rng.normal(0.0, 0.05, 300)
    errors = []
    for amplitude in (0.05, 0.5, 5.0):
        predicted = rng.normal(0.0, amplitude, 300)
        scale, error = force_scale_uncertainty(predicted, 1.25 * predicted + noise)
        assert scale == pytest.approx(1.25, abs=5 * error)
        errors.append(error)
    assert errors[0] > 5 * errors[1] > 25 * errors[2]


def test_one_informative_frame_determines_the_scale_and_the_rest_do_not() -> None:
    """Nine near-equilibrium frames (forces ~1e-3 eV/A, noisy labels) and one hot frame with a clean scale."""
    rng = np.random.default_rng(3)
    items = []
    for k in range(10):
        amplitude = 1.0 if k == 6 else 1e-3
        forces = rng.normal(0.0, amplitude, (8, 3))
        labels = 1.4 * forces + rng.normal(0.0, 1e-3, forces.shape)
        items.append(StructureLabels(8, -16.0, -24.0, -24.0 + 1.4 * 8.0, forces, labels))
    stats = PoolScaleStatistics.from_structures([str(k) for k in range(10)], items, weights=(0.0, 1.0, 0.0))
    assert int(np.argmax(stats.information())) == 6
    assert stats.structure_scales()[6] == pytest.approx(1.4, abs=0.01)
    quiet = [k for k in range(10) if k != 6]
    assert np.std(stats.structure_scales()[quiet]) > 0.1, "a near-equilibrium frame barely determines the scale"
    _, hot_error = force_scale_uncertainty(items[6].forces_pred, items[6].forces_dft)
    _, quiet_error = force_scale_uncertainty(items[0].forces_pred, items[0].forces_dft)
    assert quiet_error > 100 * hot_error


def test_best_force_scale_minimises_the_mae() -> None:
    bench = BenchmarkErrors.from_structures(_structures(5))
    best = bench.best_force_scale()
    grid = np.linspace(best - 0.3, best + 0.3, 601)
    assert bench.force_mae(np.array([best]))[0] <= bench.force_mae(grid).min() + 1e-12


def test_random_subsets_are_seeded_distinct_and_uniform() -> None:
    a = random_subsets(20, 5, 4000, seed=9)
    assert np.array_equal(a, random_subsets(20, 5, 4000, seed=9))
    assert all(len(set(row)) == 5 for row in a[:200])
    counts = np.bincount(a.reshape(-1), minlength=20)
    assert counts.min() > 0.8 * counts.mean()


def test_advice_applies_a_clean_scale_and_refuses_one_that_cannot_help() -> None:
    from curate.experiments.scale_advice import advise

    helped = advise(_structures(7, n=3, planted_scale=1.3), weights=(0.1, 100.0, 0.1))
    assert helped.apply and helped.scale == pytest.approx(1.3, rel=1e-9) and helped.check == "leave-one-out"
    assert helped.standard_error == pytest.approx(0.0, abs=1e-9)
    rng = np.random.default_rng(8)
    unhelped = []
    for item in _structures(8, n=3):
        # labels unrelated to the prediction's direction: no scale of the prediction can come closer
        noise = rng.normal(0.0, np.abs(item.forces_pred).mean() * 2, item.forces_pred.shape)
        unhelped.append(
            StructureLabels(
                item.nsites,
                item.energy_pred_ev,
                item.reference_energy_ev,
                item.energy_pred_ev,
                item.forces_pred,
                item.forces_pred + noise,
            )
        )
    verdict = advise(unhelped, weights=(0.1, 100.0, 0.1))
    assert not verdict.apply
    assert "will not help" in verdict.reason or "barely determines" in verdict.reason


def test_advice_flags_a_set_of_near_equilibrium_frames_as_ill_conditioned() -> None:
    from curate.experiments.scale_advice import advise

    rng = np.random.default_rng(9)
    forces = rng.normal(0.0, 1e-3, (8, 3))
    item = StructureLabels(8, -10.0, -12.0, -10.0, forces, 1.3 * forces + rng.normal(0, 2e-3, forces.shape))
    verdict = advise([item], weights=(0.1, 100.0, 0.1))
    assert verdict.ill_conditioned and not verdict.apply and verdict.check == "in-sample"


def test_learning_curve_reports_random_quartiles_and_a_planted_best_strategy() -> None:
    from curate.experiments.learning_curve import RANDOM, linear_learning_curve

    pool = _structures(10, n=30)
    stats = PoolScaleStatistics.from_structures([str(k) for k in range(30)], pool, weights=(0.0, 1.0, 0.0))
    bench = BenchmarkErrors.from_structures(_structures(11, n=10))
    best_single = int(np.argmin(bench.force_mae(stats.structure_scales())))
    curve = linear_learning_curve(
        stats, bench, budgets=[1, 2, 5], strategies={"oracle": lambda k: [best_single, *range(k - 1)][:k]}, draws=500
    )
    random_points = curve.curve(RANDOM)
    assert [p.budget for p in random_points] == [1, 2, 5] and all(p.draws == 500 for p in random_points)
    assert all(p.force_mae_q25 <= p.force_mae <= p.force_mae_q75 for p in random_points)
    assert curve.curve("oracle")[0].force_mae <= random_points[0].force_mae_q25
    assert curve.best_force_mae <= min(p.force_mae for p in curve.points) + 1e-12
    assert np.isnan(curve.curve("oracle")[0].marginal_force_mae)


def _described(items: list[StructureLabels], seed: int):  # type: ignore[no-untyped-def]
    """Items as the learning curve sees them, with random model features, atom features and loss gradients
    (what the strategies read)."""
    from curate.experiments.learning_curve_run import DescribedSet

    rng = np.random.default_rng(seed)
    features = rng.normal(size=(len(items), 6))
    atom_features = tuple(rng.normal(size=(item.nsites, 4)) for item in items)
    gradients = rng.normal(size=(len(items), 8))
    ids = tuple(f"{k:03d}" for k in range(len(items)))
    return DescribedSet(ids, tuple(items), features, atom_features, gradients)


def test_the_default_strategy_picks_the_one_informative_frame() -> None:
    """The planted frame of the test above: its scale is determined, the others' not, and herding picks it."""
    from curate.experiments.learning_curve_run import strategy_picks
    from curate.experiments.scale_advice import advise
    from sampling.selection import DEFAULT_STRATEGY_FOR_METHOD

    rng = np.random.default_rng(3)
    items = []
    for k in range(10):
        forces = rng.normal(0.0, 1.0 if k == 6 else 1e-3, (8, 3))
        items.append(
            StructureLabels(8, -16.0, -24.0, -24.0 + 1.4 * 8.0, forces, 1.4 * forces + rng.normal(0, 1e-3, (8, 3)))
        )
    stats = PoolScaleStatistics.from_structures([str(k) for k in range(10)], items, weights=(0.0, 1.0, 0.0))
    picks = strategy_picks(_described(items, 0), stats, [DEFAULT_STRATEGY_FOR_METHOD["linear"], "information"], seed=0)
    assert picks[DEFAULT_STRATEGY_FOR_METHOD["linear"]](1) == [6] and picks["information"](1) == [6]
    determined, quiet = advise([items[6]], weights=(0.0, 1.0, 0.0)), advise([items[0]], weights=(0.0, 1.0, 0.0))
    assert determined.scale == pytest.approx(1.4, abs=0.01) and not determined.ill_conditioned and determined.apply
    assert quiet.ill_conditioned and not quiet.apply and "barely determines" in quiet.reason


def test_every_strategy_recovers_an_exactly_scaled_copy() -> None:
    from curate.experiments.learning_curve_run import CURVE_STRATEGIES, strategy_picks

    items = _structures(12, n=15, planted_scale=0.83)
    stats = PoolScaleStatistics.from_structures([str(k) for k in range(15)], items, weights=(0.1, 100.0, 0.1))
    picks = strategy_picks(_described(items, 1), stats, CURVE_STRATEGIES, seed=0)
    for name, pick in picks.items():
        for budget in (1, 3, 7):
            rows = pick(budget)
            assert len(set(rows)) == budget, name
            assert stats.scales(np.array([rows]))[0] == pytest.approx(0.83, rel=1e-12), name


def test_the_advice_uncertainty_shrinks_with_the_force_signal() -> None:
    """A scaled copy with label noise 0.05 eV/A: the advised scale's standard error falls as forces grow."""
    from curate.experiments.scale_advice import advise

    rng = np.random.default_rng(13)
    errors = []
    for amplitude in (0.02, 0.2, 2.0):
        forces = rng.normal(0.0, amplitude, (16, 3))
        item = StructureLabels(
            16, -30.0, -40.0, -40.0 + 1.2 * 10.0, forces, 1.2 * forces + rng.normal(0, 0.05, (16, 3))
        )
        verdict = advise([item], weights=(0.1, 100.0, 0.1))
        assert verdict.force_scale == pytest.approx(1.2, abs=5 * verdict.standard_error)
        errors.append(verdict.standard_error)
    assert errors[0] > 5 * errors[1] > 25 * errors[2]


def test_the_recommendation_keeps_the_untouched_model_when_no_scale_helps() -> None:
    from curate.experiments.correction_advice import recommendation
    from curate.experiments.scale_advice import advise
    from curate.training.evaluate import Metrics

    def metrics(mae: float, cmae: float) -> Metrics:
        return Metrics(3, 0.01, mae, None, 0.9, cmae)

    helped = advise(_structures(7, n=3, planted_scale=1.3), weights=(0.1, 100.0, 0.1))
    flat = recommendation(metrics(0.200, 0.199), metrics(0.201, 0.200), helped)
    assert flat["recommended"] == "untouched" and flat["recommended_force_mae_ev_per_ang"] == 0.200
    assert flat["message"].startswith("a scale correction will not help") and not flat["scale_can_help"]
    soft = recommendation(metrics(0.200, 0.160), metrics(0.165, 0.160), helped)
    assert soft["recommended"] == "corrected" and soft["recommended_force_mae_ev_per_ang"] == 0.165
    assert soft["best_scale_gain"] == pytest.approx(0.2)
