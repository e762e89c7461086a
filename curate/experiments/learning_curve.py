"""Learning curves of the linear correction: held-out error against budget, every strategy against random.

For each budget k the strategies' picks are scored in closed form (:mod:`curate.experiments.linear_scale`):
the scale fitted on the k picks and the benchmark's force MAE, |1 - softening scale|, energy and stress MAE
after applying it. Random selection is the baseline: ``draws`` seeded random subsets per budget, reported as
median and interquartile range. The marginal value of a strategy's k-th budget step is the drop in force MAE
from the previous budget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from curate.experiments.linear_scale import BenchmarkErrors, PoolScaleStatistics, random_subsets

RANDOM = "random"
PickFunction = Callable[[int], Sequence[int]]


@dataclass(frozen=True)
class CurvePoint:
    """One strategy at one budget (for ``random``: the median over draws, with quartiles of the force MAE).

    Attributes:
        strategy: strategy name, or ``random``.
        budget: structures in the correction set.
        scale: fitted scale (random: median over draws).
        force_mae: benchmark force MAE after the correction, eV/angstrom (random: median).
        force_mae_q25, force_mae_q75: random only: quartiles of the force MAE over draws (else equal to it).
        softening_deviation: |1 - softening scale| on the benchmark after the correction.
        energy_mae: eV/atom; stress_mae: GPa (NaN without stress labels).
        marginal_force_mae: force MAE change from the previous budget of the same strategy (NaN for the first).
        draws: random subsets scored (1 for a strategy).
        advised_force_mae: a strategy's force MAE of the model its picks' scale advice recommends (the
            untouched model's when the advice is not to apply the scale); NaN for random or without advice.
    """

    strategy: str
    budget: int
    scale: float
    force_mae: float
    force_mae_q25: float
    force_mae_q75: float
    softening_deviation: float
    energy_mae: float
    stress_mae: float
    marginal_force_mae: float
    draws: int
    advised_force_mae: float = float("nan")

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


@dataclass(frozen=True)
class LearningCurve:
    """Every strategy's curve, the untouched model's errors and the best any single scale can do.

    Attributes:
        points: one per strategy and budget, budgets ascending within a strategy.
        untouched_force_mae: benchmark force MAE of the uncorrected model, eV/angstrom.
        untouched_softening_scale: its softening scale on the benchmark.
        best_scale: the scale minimising the benchmark force MAE (an oracle: it reads the benchmark labels).
        best_force_mae: the force MAE at that scale.
    """

    points: tuple[CurvePoint, ...]
    untouched_force_mae: float
    untouched_softening_scale: float
    best_scale: float
    best_force_mae: float

    @property
    def best_gain(self) -> float:
        """The most a scale correction can lower the benchmark force MAE, as a fraction of the untouched MAE."""
        return (self.untouched_force_mae - self.best_force_mae) / self.untouched_force_mae

    def curve(self, strategy: str) -> list[CurvePoint]:
        """The points of one strategy, budgets ascending."""
        return [p for p in self.points if p.strategy == strategy]

    def strategies(self) -> list[str]:
        return list(dict.fromkeys(p.strategy for p in self.points))

    @classmethod
    def on_benchmark(cls, points: Sequence[CurvePoint], bench: BenchmarkErrors) -> LearningCurve:
        """The curve of ``points`` with the untouched model's errors and the best single scale on ``bench``."""
        best = bench.best_force_scale()
        return cls(
            points=tuple(points),
            untouched_force_mae=float(bench.force_mae(np.array([1.0]))[0]),
            untouched_softening_scale=float(bench.softening_scale(1.0)),
            best_scale=best,
            best_force_mae=float(bench.force_mae(np.array([best]))[0]),
        )


def point_from_runs(
    strategy: str, budget: int, *, scale: float, errors: Mapping[str, np.ndarray], previous: float
) -> CurvePoint:
    """One point from the benchmark errors of one run (a strategy) or many (random: median and IQR).

    ``errors`` holds one value per run for ``force_mae``, ``softening_deviation``, ``energy_mae`` and
    ``stress_mae`` (NaN where a run has none); ``previous`` is the same strategy's force MAE one budget lower.
    """
    force, stress = errors["force_mae"], errors["stress_mae"]
    median = float(np.nanmedian(force))
    return CurvePoint(
        strategy=strategy,
        budget=budget,
        scale=scale,
        force_mae=median,
        force_mae_q25=float(np.nanpercentile(force, 25)),
        force_mae_q75=float(np.nanpercentile(force, 75)),
        softening_deviation=float(np.nanmedian(errors["softening_deviation"])),
        energy_mae=float(np.nanmedian(errors["energy_mae"])),
        stress_mae=float(np.nanmedian(stress)) if np.isfinite(stress).any() else np.nan,
        marginal_force_mae=median - previous,
        draws=len(force),
    )


def _errors(bench: BenchmarkErrors, scales: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "force_mae": bench.force_mae(scales),
        "softening_deviation": np.abs(1.0 - bench.softening_scale(scales)),
        "energy_mae": bench.energy_mae(scales),
        "stress_mae": bench.stress_mae(scales),
    }


def _point(strategy: str, budget: int, scales: np.ndarray, bench: BenchmarkErrors, previous: float) -> CurvePoint:
    scale = float(np.nanmedian(scales))
    return point_from_runs(strategy, budget, scale=scale, errors=_errors(bench, scales), previous=previous)


def linear_learning_curve(
    stats: PoolScaleStatistics,
    bench: BenchmarkErrors,
    *,
    budgets: Sequence[int],
    strategies: Mapping[str, PickFunction],
    draws: int = 1000,
    seed: int = 0,
    applies: Callable[[Sequence[int]], bool] | None = None,
) -> LearningCurve:
    """Benchmark errors after a linear correction fitted on each strategy's picks, and on random draws.

    Args:
        stats: per-structure sums of the labelled pool.
        bench: the held-out benchmark.
        budgets: correction-set sizes, each between 1 and the pool size.
        strategies: name -> function returning the pool row indices a strategy picks at a budget.
        draws: random subsets per budget (seeded by ``seed`` and the budget).
        seed: seed of the random draws.
        applies: whether the scale advice on a strategy's picks (their labels only) says to apply it; gives
            each strategy point's ``advised_force_mae``.

    Raises:
        ValueError: a budget outside 1..pool size, or a strategy returning a wrong number of picks.
    """
    points: list[CurvePoint] = []
    for name, pick in strategies.items():
        previous = np.nan
        for budget in sorted(budgets):
            rows = np.asarray(list(pick(budget)), dtype=np.int64)
            if len(rows) != budget:
                raise ValueError(f"strategy {name!r} picked {len(rows)} structures at budget {budget}")
            point = _point(name, budget, stats.scales(rows[None, :]), bench, previous)
            if applies is not None:
                kept = point.force_mae if applies([int(r) for r in rows]) else float(bench.force_mae(np.ones(1))[0])
                point = replace(point, advised_force_mae=kept)
            points.append(point)
            previous = point.force_mae
    previous = np.nan
    for budget in sorted(budgets):
        subsets = random_subsets(len(stats), budget, draws, seed=seed + budget)
        points.append(_point(RANDOM, budget, stats.scales(subsets), bench, previous))
        previous = points[-1].force_mae
    return LearningCurve.on_benchmark(points, bench)
