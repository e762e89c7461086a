"""Candidate pools as Arrow tables of the row schema: a recipe run on its built-in structures (the offline
default, ``datasets/sample-pool.yaml``: Si, Cu, NaCl and MgO cells rattled and strained), or a dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from curate.dataset.configuration import Configuration, Rejected, configurations_to_batch, row_hashes
from curate.dataset.store import Dataset
from curate.errors import ConfigurationError
from sampling.generate import GenerateTask, generate_task, task_seed
from sampling.recipe import Recipe, load_recipe

DEFAULT_POOL_RECIPE = "sample-pool"


@dataclass(frozen=True)
class Candidates:
    """Candidate rows (an Arrow table of the row schema) and the structures the quality gate turned away."""

    rows: pa.Table
    rejected: tuple[Rejected, ...] = ()


def recipe_candidates(recipe: Recipe) -> Candidates:
    """The recipe run in this process on its built-in structures: accepted rows in parent, then step, order.

    The rows are those ``curate generate`` would write for the same parents and seed (one task, seeded by the
    recipe's seed).

    Raises:
        ConfigurationError: the recipe names no built-in structures.
    """
    parents = recipe.builtin_parents()
    if not parents:
        raise ConfigurationError(f"recipe {recipe.name!r} names no built-in structures (key 'structures')")
    ids, _ = row_hashes(parents)
    task = GenerateTask(recipe, None, tuple(zip(parents, ids, strict=True)), task_seed(recipe.seed, 0))
    accepted: list[Configuration] = []
    rejected: list[Rejected] = []
    for per_step in generate_task(task).outputs:
        for items in per_step:
            accepted += [item for item in items if isinstance(item, Configuration)]
            rejected += [item for item in items if isinstance(item, Rejected)]
    return Candidates(pa.Table.from_batches([configurations_to_batch(accepted)]), tuple(rejected))


def builtin_pool(*, seed: int, recipe: str = DEFAULT_POOL_RECIPE) -> Candidates:
    """The offline default pool: ``recipe`` (a built-in name or a file) run with run seed ``seed``."""
    return recipe_candidates(load_recipe(recipe, seed=seed))


def read_pool(path: Path) -> Candidates:
    """Every row of the dataset at ``path`` as candidates, as stored."""
    return Candidates(Dataset.open(path).read())
