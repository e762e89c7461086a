"""Recipes: the one YAML schema of ``datasets/*.yaml`` (and of a user's recipe file), and its one loader.

A recipe names the structures to start from (optional) and the generator steps that make new ones::

    name: high-energy
    description: ...             # optional, free text
    seed: 0                      # run seed: every per-structure seed is drawn from it
    min_distance_factor: 0.5     # quality gate: reject pairs closer than this x sum of covalent radii
    structures: [Si-diamond]     # optional: built-in parents (curate.sources.builtin), used when no parent
    supercell: [1, 1, 1]         #   dataset is given (curate sample's default pool, curate demo), repeated so
    steps:
      - generator: md            # a generator name (sampling.generators.GENERATOR_NAMES)
        params: {...}            # that generator's parameters
      - generator: strain
        input: md                # "parents" (default) or the name of an earlier step
        take: 4                  # at most this many of that step's structures per parent, evenly spaced
        params: {uniaxial: [-0.03, 0.03]}

A step's name is its ``name`` key, else its generator's name; names must be unique. This module checks the
schema; :mod:`sampling.recipe` turns the steps into configured generators.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from curate.checks.geometry import MAX_MIN_DISTANCE_FACTOR
from curate.checks.quality import MIN_DISTANCE_FACTOR
from curate.dataset.resources import packaged_file
from curate.errors import ConfigurationError
from curate.sources.builtin import check_structure_names

PARENTS = "parents"
RECIPE_KEYS = frozenset({"name", "description", "seed", "min_distance_factor", "structures", "supercell", "steps"})
STEP_KEYS = frozenset({"name", "generator", "params", "input", "take"})


@dataclass(frozen=True)
class StepSpec:
    """One step as written: a generator name and its parameters, what it reads, how much of it.

    Attributes:
        name: unique step name (what later steps refer to in ``input``).
        generator: generator registry name, not checked here.
        params: the generator's parameters, not checked here.
        input: ``parents`` or the name of an earlier step.
        take: at most this many input structures per parent; None takes all.
        where: where the step was written (``FILE: steps[k]``), for error messages.
    """

    name: str
    generator: str
    params: Mapping[str, Any] = field(default_factory=dict)
    input: str = PARENTS
    take: int | None = None
    where: str = ""


@dataclass(frozen=True)
class RecipeSpec:
    """A checked recipe: run seed, quality-gate setting, built-in parents (maybe none) and steps."""

    name: str
    seed: int
    steps: tuple[StepSpec, ...]
    min_distance_factor: float = MIN_DISTANCE_FACTOR
    structures: tuple[str, ...] = ()
    supercell: tuple[int, int, int] = (1, 1, 1)
    origin: str = ""


def _step(raw: Any, where: str, earlier: list[StepSpec]) -> StepSpec:
    """One checked step; ``earlier`` are the steps before it."""
    if not isinstance(raw, Mapping) or "generator" not in raw:
        raise ConfigurationError(f"{where}: each step needs a 'generator' key")
    unknown = sorted(set(raw) - STEP_KEYS)
    if unknown:
        raise ConfigurationError(f"{where}: unknown key(s) {unknown}; accepted: {', '.join(sorted(STEP_KEYS))}")
    params = raw.get("params") or {}
    if not isinstance(params, Mapping):
        raise ConfigurationError(f"{where}: 'params' must be a mapping")
    generator = str(raw["generator"])
    name = str(raw.get("name") or generator)
    source = str(raw.get("input") or PARENTS)
    if name in {s.name for s in earlier} or name == PARENTS:
        raise ConfigurationError(f"{where}: step name {name!r} is used twice; give the step a 'name'")
    if source != PARENTS and source not in {s.name for s in earlier}:
        raise ConfigurationError(f"{where}: input {source!r} is neither 'parents' nor an earlier step")
    take = raw.get("take")
    if take is not None and (not isinstance(take, int) or take < 1):
        raise ConfigurationError(f"{where}: 'take' must be a positive integer, got {take!r}")
    return StepSpec(name=name, generator=generator, params=dict(params), input=source, take=take, where=where)


def _structures(data: Mapping[str, Any], origin: str) -> tuple[tuple[str, ...], tuple[int, int, int]]:
    """The checked ``structures`` names and ``supercell`` repeats."""
    names = data.get("structures") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigurationError(f"{origin}: 'structures' must be a list of built-in structure names")
    check_structure_names(names, origin=origin)
    supercell = data.get("supercell", [1, 1, 1])
    if not (
        isinstance(supercell, list) and len(supercell) == 3 and all(isinstance(n, int) and n >= 1 for n in supercell)
    ):
        raise ConfigurationError(f"{origin}: 'supercell' must be three positive integers, got {supercell!r}")
    return tuple(names), (supercell[0], supercell[1], supercell[2])


def parse_recipe(data: Any, *, origin: str, seed: int | None = None) -> RecipeSpec:
    """Check parsed YAML against the recipe schema; ``seed`` (when given) overrides the recipe's own.

    Raises:
        ConfigurationError: naming ``origin`` and the offending key or step.
    """
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{origin}: a recipe must be a mapping with a 'steps' list")
    unknown = sorted(set(data) - RECIPE_KEYS)
    if unknown:
        raise ConfigurationError(f"{origin}: unknown key(s) {unknown}; accepted: {', '.join(sorted(RECIPE_KEYS))}")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ConfigurationError(f"{origin}: 'steps' must be a non-empty list")
    steps: list[StepSpec] = []
    for k, raw in enumerate(raw_steps):
        steps.append(_step(raw, f"{origin}: steps[{k}]", steps))
    run_seed = seed if seed is not None else data.get("seed", 0)
    if not isinstance(run_seed, int) or run_seed < 0:
        raise ConfigurationError(f"{origin}: 'seed' must be a non-negative integer, got {run_seed!r}")
    factor = data.get("min_distance_factor", MIN_DISTANCE_FACTOR)
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 <= factor <= MAX_MIN_DISTANCE_FACTOR:
        raise ConfigurationError(
            f"{origin}: 'min_distance_factor' must be a number in [0, {MAX_MIN_DISTANCE_FACTOR:g}], got {factor!r}"
        )
    structures, supercell = _structures(data, origin)
    return RecipeSpec(
        name=str(data.get("name") or Path(origin).stem),
        seed=run_seed,
        steps=tuple(steps),
        min_distance_factor=float(factor),
        structures=structures,
        supercell=supercell,
        origin=origin,
    )


def resolve_recipe_path(text: str) -> Path:
    """A recipe file: ``text`` as a path if it exists, else a built-in recipe in ``datasets/`` by name."""
    path = Path(text)
    if path.is_file():
        return path
    name = text if text.endswith((".yaml", ".yml")) else f"{text}.yaml"
    try:
        return packaged_file("datasets", name)
    except FileNotFoundError:
        raise ConfigurationError(f"recipe {text!r}: no such file, and no built-in recipe {name}") from None


def read_recipe(text: str, *, seed: int | None = None) -> RecipeSpec:
    """Read and check a recipe file (or a built-in recipe by name); ``seed`` overrides the file's seed."""
    path = resolve_recipe_path(text)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return parse_recipe(data, origin=str(path), seed=seed)
