"""Learning curves of a trained correction (``heads`` or ``full``): a real fine-tune per pick and per random draw.

Unlike the linear correction, there is no closed form: each strategy's picks at each budget and each of
``draws`` seeded random subsets train one model (the fine-tuner registered for the architecture, the same
settings and seed for all), and each is evaluated on the benchmark (force, energy and stress MAE, softening
scale). Random is reported as the median and interquartile range over its draws, as for ``linear``; the
strategies select on the model's own description of the pool (:mod:`curate.experiments.learning_curve_run`).
The untouched model's errors and the best single scale come from the same describe pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from curate.experiments.correction_gain import BenchmarkEvaluator, SetTrainer
from curate.experiments.learning_curve import RANDOM, CurvePoint, LearningCurve, PickFunction, point_from_runs
from curate.experiments.linear_scale import BenchmarkErrors, random_subsets
from curate.models.base import Model
from curate.training.data import TrainingSet
from curate.training.evaluate import Metrics
from curate.training.settings import FinetuneMethod, TrainingSettings


def _point(strategy: str, budget: int, runs: Sequence[Metrics], previous: float) -> CurvePoint:
    """One point from the benchmark metrics of one run (a strategy) or of many (random: median and IQR)."""
    errors = {
        "force_mae": np.array([m.force_mae_ev_per_ang for m in runs]),
        "softening_deviation": np.array([abs(1.0 - m.softening_scale) for m in runs]),
        "energy_mae": np.array([m.energy_mae_ev_per_atom for m in runs]),
        "stress_mae": np.array([np.nan if m.stress_mae_gpa is None else m.stress_mae_gpa for m in runs]),
    }
    return point_from_runs(strategy, budget, scale=float("nan"), errors=errors, previous=previous)


def finetuned_learning_curve(
    pool_set: TrainingSet,
    bench_set: TrainingSet,
    untouched: BenchmarkErrors,
    *,
    base: Model,
    method: FinetuneMethod,
    budgets: Sequence[int],
    strategies: Mapping[str, PickFunction],
    draws: int,
    settings: TrainingSettings,
    max_atoms_per_batch: int,
    say: Callable[[str], None] = lambda _line: None,
) -> LearningCurve:
    """Benchmark errors after fine-tuning ``base`` with ``method`` on each strategy's picks and on random draws.

    Args:
        pool_set, bench_set: the labelled pool and held-out benchmark.
        untouched: the untouched model's benchmark predictions with the labels (its errors, the best scale).
        base: the loaded model being corrected (not modified).
        method: ``heads`` or ``full``.
        budgets: training-set sizes, each at most the pool size.
        strategies: name -> pool rows a label-free strategy picks at a budget.
        draws: random subsets per budget (seeded by ``settings.seed`` and the budget).
        settings: training hyper-parameters, the same for every run.
        max_atoms_per_batch: atoms per forward pass when evaluating.
        say: receives one line per finished run.
    """
    from curate.training.registry import fine_tuner_for

    evaluator = BenchmarkEvaluator(bench_set, base, max_atoms_per_batch=max_atoms_per_batch)
    trainer = SetTrainer(
        base, fine_tuner_for(base), evaluator, method=method, settings=settings, val_fraction=None, say=say
    )
    points: list[CurvePoint] = []
    for name in [*strategies, RANDOM]:
        previous = float("nan")
        for budget in sorted(budgets):
            if name == RANDOM:
                rows_list = [list(r) for r in random_subsets(len(pool_set), budget, draws, seed=settings.seed + budget)]
            else:
                rows_list = [list(strategies[name](budget))]
            runs = [
                trainer.run(f"{name} {budget} #{k}", "random", pool_set.subset(rows), rows).metrics
                for k, rows in enumerate(rows_list, start=1)
            ]
            points.append(_point(name, budget, runs, previous))
            previous = points[-1].force_mae
    return LearningCurve.on_benchmark(points, untouched)
