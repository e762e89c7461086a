"""``curate learning-curve``: held-out error against budget for every strategy, linear correction, on real data.

One pass of the model being corrected over the pool and one over the benchmark give everything: its
predictions (for the closed-form scale of any subset and its benchmark errors), its own structure features and
each structure's force information (what the strategies select on). Labels of the pool are read only to score
the picks afterwards (retrospective), never by a strategy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from curate.errors import ConfigurationError
from curate.experiments.learning_curve import LearningCurve, PickFunction, linear_learning_curve
from curate.experiments.learning_curve_finetune import finetuned_learning_curve
from curate.experiments.linear_scale import (
    BenchmarkErrors,
    PoolScaleStatistics,
    StructureLabels,
    predicted_information,
)
from curate.experiments.scale_advice import advise
from curate.models.base import DescribesStructures, Model, default_max_atoms_per_batch
from curate.models.registry import load_model
from curate.training.data import TrainingSet, load_training_set
from curate.training.settings import FinetuneMethod, TrainingSettings
from sampling.sample import target_of
from sampling.selection import (
    DEFAULT_STRATEGY_FOR_METHOD,
    GRADIENT_STRATEGIES,
    CandidatePool,
    Target,
    make_selector,
)

INFORMATION_SCORE = "force_information"
CURVE_STRATEGIES: tuple[str, ...] = (
    "herding",
    "gradient",
    "maxdet",
    "representative",
    "information",
    "fps",
    "direct",
)
NOT_FOR_LINEAR = frozenset({*GRADIENT_STRATEGIES, "representative"})
"""Left out of a linear curve by default: a scale needs neither loss gradients nor atom features."""
CurveTarget = Literal["benchmark", "pool"]
CURVE_TARGETS: tuple[str, ...] = ("benchmark", "pool")
"""What herding's picks serve: the benchmark's structures (never its labels) or the pool itself."""


def default_strategies(method: FinetuneMethod) -> tuple[str, ...]:
    """The strategies a learning curve compares when none are named: every one, less ``gradient``, ``maxdet``
    and ``representative`` for ``linear`` (a scale needs neither loss gradients nor atom features)."""
    if method == "linear":
        return tuple(s for s in CURVE_STRATEGIES if s not in NOT_FOR_LINEAR)
    default = DEFAULT_STRATEGY_FOR_METHOD[method]
    return (default, *(s for s in CURVE_STRATEGIES if s != default))


@dataclass(frozen=True)
class DescribedSet:
    """A labelled dataset as the model sees it: labels with predictions, features, information per structure."""

    ids: tuple[str, ...]
    labels: tuple[StructureLabels, ...]
    features: np.ndarray
    atom_features: tuple[np.ndarray, ...] = ()
    loss_gradients: np.ndarray | None = None


def describe_set(data: TrainingSet, model: DescribesStructures, *, max_atoms_per_batch: int) -> DescribedSet:
    """Run the model once over ``data`` and pair its predictions with the DFT labels (schema units)."""
    described = model.describe(list(data.configurations), max_atoms_per_batch=max_atoms_per_batch)
    labels = tuple(
        StructureLabels.of(cfg, pred, reference)
        for cfg, pred, reference in zip(
            data.configurations, described.predictions, described.reference_energies_ev, strict=True
        )
    )
    return DescribedSet(tuple(data.ids), labels, described.features, described.atom_features)


def with_loss_gradients(
    pool: DescribedSet,
    data: TrainingSet,
    model: Model,
    *,
    method: FinetuneMethod,
    settings: TrainingSettings,
    say: Callable[[str], None] | None = None,
) -> DescribedSet:
    """``pool`` with each structure's label-free loss gradient over the weights ``method`` trains (``heads``'s
    for ``linear``, whose one weight has no gradient features), from the architecture's own training step."""
    from curate.training.softening_gradients import gradient_method, model_loss_gradients

    if say is not None:
        say(f"loss gradients of {len(data)} pool structures ({gradient_method(method)}) ...")
    gradients = model_loss_gradients(model, list(data.configurations), method=method, settings=settings)
    return replace(pool, loss_gradients=gradients)


def strategy_picks(
    pool: DescribedSet, stats: PoolScaleStatistics, names: Sequence[str], *, seed: int, target: Target | None = None
) -> dict[str, PickFunction]:
    """Name -> function of the budget returning pool rows, for the label-free strategies in ``names``.

    herding: information-weighted kernel herding in the model's feature space (the default), towards ``target``
    when given (the structures the correction is to serve), else towards the pool;
    gradient: picks whose mean label-free loss gradient matches the pool's (needs ``pool.loss_gradients``);
    maxdet: greedy max-det of the raw loss gradients (each pick the one the earlier picks constrain least);
    representative: uniform kernel herding of the structures' atomic environments in the model's atom features;
    information: the largest force information first; fps: farthest-point in feature space from the most
    informative structure; direct: DIRECT's PCA + BIRCH clusters of the features.
    """
    unknown = sorted(set(names) - set(CURVE_STRATEGIES))
    if unknown:
        raise ConfigurationError(f"unknown strategies {unknown}; known: {', '.join(CURVE_STRATEGIES)}")
    candidates = CandidatePool(
        ids=list(pool.ids),
        features=pool.features,
        scores={INFORMATION_SCORE: predicted_information(pool.labels, stats.weights)},
        atom_features=pool.atom_features,
        loss_gradients=pool.loss_gradients,
        target=target,
    )
    selectors = {
        "herding": make_selector("herding", score=INFORMATION_SCORE),
        "representative": make_selector("representative"),
        "gradient": make_selector("gradient"),
        "maxdet": make_selector("maxdet"),
        "information": make_selector("greedy", score=INFORMATION_SCORE),
        "fps": make_selector("fps", score=INFORMATION_SCORE),
        "direct": make_selector("direct"),
    }

    def picker(name: str) -> Callable[[int], list[int]]:
        return lambda budget: [p.index for p in selectors[name].select(candidates, budget=budget, seed=seed)]

    return {name: picker(name) for name in names}


def run_learning_curve(
    pool_dir: Path,
    benchmark_dir: Path,
    *,
    model_spec: str,
    budgets: Sequence[int],
    strategies: Sequence[str] = CURVE_STRATEGIES,
    draws: int = 1000,
    seed: int = 0,
    settings: TrainingSettings | None = None,
    device: str | None = None,
    max_atoms_per_batch: int | None = None,
    method: FinetuneMethod = "linear",
    target: CurveTarget = "benchmark",
    on_progress: Callable[[str], None] | None = None,
) -> LearningCurve:
    """The learning curve of ``model_spec`` corrected by ``method`` on a labelled pool and a held-out benchmark.

    ``linear`` is scored in closed form; ``heads`` and ``full`` fine-tune one model per pick and per random
    draw (:func:`curate.experiments.learning_curve_finetune.finetuned_learning_curve`, seeded by
    ``settings.seed``; ``seed`` seeds the linear curve's draws and the strategies' tie-breaks). ``target``
    benchmark: herding serves the benchmark's structures, as the model sees them (features and force information
    from its predictions; the benchmark's labels only score); pool: herding serves the pool, as ``curate sample``
    does without ``--target``.

    Raises:
        ConfigurationError: a budget larger than the pool, a benchmark sharing rows with the pool, a model that
            cannot describe structures (its own features), or an unknown strategy.
    """
    settings = settings or TrainingSettings()
    pool_set, bench_set = load_training_set(pool_dir), load_training_set(benchmark_dir)
    shared = sorted(set(pool_set.ids) & set(bench_set.ids))
    if shared:
        raise ConfigurationError(f"the benchmark shares {len(shared)} rows with the pool (e.g. {shared[0]})")
    if max(budgets) > len(pool_set):
        raise ConfigurationError(f"budget {max(budgets)} exceeds the pool's {len(pool_set)} structures")
    model = load_model(model_spec, device=device)
    if not isinstance(model, DescribesStructures):
        raise ConfigurationError(f"{model_spec}: this model cannot return its own structure features yet")
    atoms = max_atoms_per_batch or default_max_atoms_per_batch()
    pool = describe_set(pool_set, model, max_atoms_per_batch=atoms)
    if GRADIENT_STRATEGIES & set(strategies):
        pool = with_loss_gradients(pool, pool_set, model, method=method, settings=settings, say=on_progress)
    bench = describe_set(bench_set, model, max_atoms_per_batch=atoms)
    weights = (settings.energy_weight, settings.force_weight, settings.stress_weight)
    stats = PoolScaleStatistics.from_structures(pool.ids, pool.labels, weights=weights)
    served = None
    if target == "benchmark":
        served = target_of(bench.features, predicted_information(bench.labels, weights), what=str(benchmark_dir))
    picks = strategy_picks(pool, stats, strategies, seed=seed, target=served)
    untouched = BenchmarkErrors.from_structures(bench.labels)
    if method != "linear":
        return finetuned_learning_curve(
            pool_set,
            bench_set,
            untouched,
            base=model,
            method=method,
            budgets=budgets,
            strategies=picks,
            draws=draws,
            settings=settings,
            max_atoms_per_batch=atoms,
            say=on_progress or (lambda _line: None),
        )

    def applies(rows: Sequence[int]) -> bool:
        return advise([pool.labels[i] for i in rows], weights=weights).apply

    return linear_learning_curve(
        stats, untouched, budgets=budgets, strategies=picks, draws=draws, seed=seed, applies=applies
    )
