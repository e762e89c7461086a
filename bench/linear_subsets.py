"""Linear correction on small pools, exactly (issue 14): every subset scored, and what each herding pick carries.

1. ``si64``: the 10 Si64 MD frames of ``../shared/data`` split in time at four points (pool = the first p frames,
   benchmark = the rest). For budgets 1 and 5, herding's benchmark force MAE is ranked among *all* subsets of that
   size (``itertools.combinations``, each scored in closed form by
   :class:`curate.experiments.linear_scale.PoolScaleStatistics`), next to the exact median, the whole pool's
   value and the best single scale. The split datasets are written under ``--work`` for ``curate learning-curve``.
2. ``order POOL...``: herding's first picks on labelled pools, each with its share of the pool's force information
   and its own fitted scale; a share near 0 is a pick whose label cannot move the scale.
3. ``splits DATASET...``: datasets no one tuned on, each split at random into pool (70 %) and benchmark
   (30 %) ``--splits`` times; at each budget, how often herding serving the pool and herding serving the
   benchmark's structures (``--target pool`` and ``benchmark`` of ``curate learning-curve``) reach a benchmark force
   MAE at or below the median of 1000 random subsets, and their median and worst distance from it.

Usage (from the project root)::

    .venv/bin/python bench/linear_subsets.py si64 --work /tmp/si64-splits
    .venv/bin/python bench/linear_subsets.py order ge-train li-train --budget 20
    .venv/bin/python bench/linear_subsets.py splits matpes as2so6 lifev --splits 20
"""

from __future__ import annotations

import itertools
from pathlib import Path

import click
import numpy as np

from curate.experiments.learning_curve_run import DescribedSet, describe_set, strategy_picks
from curate.experiments.linear_scale import BenchmarkErrors, PoolScaleStatistics
from curate.models.base import DescribesStructures

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SI64_MD = "vasp/pymatgen_core/outputs__vasprun.md.xml.gz"
MODEL = "chgnet@0.3.0"


def _with_stats(described: DescribedSet) -> tuple[DescribedSet, PoolScaleStatistics]:
    """``described`` and its per-structure scale sums (the loss weights of the default)."""
    from curate.training.settings import TrainingSettings

    settings = TrainingSettings()
    weights = (settings.energy_weight, settings.force_weight, settings.stress_weight)
    return described, PoolScaleStatistics.from_structures(described.ids, described.labels, weights=weights)


def _described(path: Path) -> tuple[DescribedSet, PoolScaleStatistics]:
    """``path`` as the model sees it, and its per-structure scale sums."""
    from curate.models.registry import load_model
    from curate.training.data import load_training_set

    model = load_model(MODEL, device="cpu")
    assert isinstance(model, DescribesStructures)
    return _with_stats(describe_set(load_training_set(path), model, max_atoms_per_batch=2000))


def _herding(described: DescribedSet, stats: PoolScaleStatistics, budget: int) -> list[int]:
    return list(strategy_picks(described, stats, ["herding"], seed=0)["herding"](budget))


def _write_splits(work: Path) -> list[int]:
    from curate.dataset.configuration import configurations_to_batch
    from curate.dataset.store import Dataset
    from curate.sources.ingest import import_paths
    from curate.training.data import load_training_set

    if not (work / "all").exists():
        import_paths([SHARED / SI64_MD], format_name="vasp", out=work / "all")
    frames = sorted(load_training_set(work / "all").configurations, key=lambda c: c.ionic_step or 0)
    splits = [5, 6, 7, 8]
    for p in splits:
        for role, part in (("pool", frames[:p]), ("bench", frames[p:])):
            if not (work / f"p{p}-{role}").exists():
                dataset = Dataset.create(work / f"p{p}-{role}")
                with dataset.writer() as writer:
                    writer.append(configurations_to_batch(part))
    return splits


@click.group()
def main() -> None:
    """Exact linear-correction checks on small pools."""


@main.command()
@click.option("--work", type=click.Path(path_type=Path, file_okay=False), required=True, help="Split datasets go here.")
def si64(work: Path) -> None:
    """Herding among every subset of the Si64 pools split in time."""
    for p in _write_splits(work):
        pool, stats = _described(work / f"p{p}-pool")
        bench, _ = _described(work / f"p{p}-bench")
        errors = BenchmarkErrors.from_structures(bench.labels)
        whole = float(errors.force_mae(stats.scales(np.arange(p)[None, :]))[0])
        for budget in (1, 5):
            subsets = np.array(list(itertools.combinations(range(p), budget)))
            values = errors.force_mae(stats.scales(subsets))
            picks = sorted(_herding(pool, stats, budget))
            herding = float(errors.force_mae(stats.scales(np.array([picks])))[0])
            at_or_below = int((values <= herding + 1e-12).sum())
            click.echo(
                f"frames 0-{p - 1}, budget {budget}: herding {herding:.4f} (frames {picks}); every subset: median "
                f"{np.median(values):.4f}, {at_or_below} of {len(values)} at or below herding; whole pool "
                f"{whole:.4f}; best scale {errors.best_force_scale():.3f}"
            )


@main.command()
@click.argument("pools", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--budget", default=20, show_default=True, type=click.IntRange(min=1), help="Herding picks listed.")
def order(pools: tuple[Path, ...], budget: int) -> None:
    """Herding's picks with their share of the pool's force information."""
    for path in pools:
        described, stats = _described(path)
        information, own = stats.information(), stats.structure_scales()
        median = float(np.median(information) / information.sum())
        click.echo(f"{path}: {len(information)} structures, median share {median:.3%}")
        for rank, row in enumerate(_herding(described, stats, min(budget, len(information))), start=1):
            larger = int((information > information[row]).sum())
            click.echo(
                f"  pick {rank}: {described.ids[row]} holds {information[row] / information.sum():.3%} of the "
                f"information ({larger} structures hold more), own scale {own[row]:.3f}"
            )


def _subset(described: DescribedSet, rows: np.ndarray) -> tuple[DescribedSet, PoolScaleStatistics]:
    return _with_stats(
        DescribedSet(
            tuple(described.ids[i] for i in rows), tuple(described.labels[i] for i in rows), described.features[rows]
        )
    )


def _against_random(
    pool: tuple[DescribedSet, PoolScaleStatistics], bench: tuple[DescribedSet, PoolScaleStatistics], budget: int
) -> tuple[float, float, float]:
    """(random median of 1000 subsets, herding serving the pool, herding serving the benchmark): force MAE."""
    from curate.experiments.linear_scale import predicted_information
    from sampling.selection import Target

    errors = BenchmarkErrors.from_structures(bench[0].labels)
    rng = np.random.default_rng(0)
    draws = np.array([rng.choice(len(pool[0].ids), budget, replace=False) for _ in range(1000)])
    median = float(np.median(errors.force_mae(pool[1].scales(draws))))
    target = Target(features=bench[0].features, weights=predicted_information(bench[0].labels, bench[1].weights))
    served = []
    for towards in (None, target):
        picks = strategy_picks(pool[0], pool[1], ["herding"], seed=0, target=towards)["herding"](budget)
        served.append(float(errors.force_mae(pool[1].scales(np.array([picks])))[0]))
    return median, served[0], served[1]


@main.command()
@click.argument("datasets", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--splits", default=20, show_default=True, type=click.IntRange(min=1), help="Random splits per dataset.")
@click.option("--budgets", default="1,5,10", show_default=True, help="Comma-separated budgets.")
def splits(datasets: tuple[Path, ...], splits: int, budgets: str) -> None:
    """Herding serving the pool or the benchmark against random, over random pool/benchmark splits."""
    sizes = [int(b) for b in budgets.split(",")]
    for path in datasets:
        described, _ = _described(path)
        rng = np.random.default_rng(2026)
        results: dict[int, list[tuple[float, float, float]]] = {b: [] for b in sizes}
        for _ in range(splits):
            order = rng.permutation(len(described.ids))
            cut = int(0.7 * len(order))
            pool, bench = _subset(described, np.sort(order[:cut])), _subset(described, np.sort(order[cut:]))
            for budget in sizes:
                results[budget].append(_against_random(pool, bench, budget))
        for budget in sizes:
            rows = np.array(results[budget])
            line = f"{path.name} budget {budget}:"
            for column, name in ((1, "serving the pool"), (2, "serving the benchmark")):
                relative = rows[:, column] / rows[:, 0] - 1
                line += (
                    f" {name} at or below the random median in {int((relative <= 1e-12).sum())}/{len(rows)} splits"
                    f" (median {np.median(relative):+.2%}, worst {relative.max():+.2%});"
                )
            click.echo(line)


if __name__ == "__main__":
    main()
