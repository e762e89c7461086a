"""Generation recipes: which generators run, in which order, on what input, with which run seed.

A recipe is a YAML mapping (see ``datasets/high-energy.yaml``)::

    name: high-energy
    seed: 0                      # run seed: every per-structure seed is drawn from it
    min_distance_factor: 0.5     # quality gate: reject pairs closer than this x sum of covalent radii
    steps:
      - generator: md            # a registry name (sampling.generators.GENERATOR_NAMES)
        params: {...}            # that generator's parameters
      - generator: strain
        input: md                # "parents" (default) or the name of an earlier step
        take: 4                  # at most this many of that step's structures per parent, evenly spaced
        params: {uniaxial: [-0.03, 0.03]}

A step's name is its ``name`` key, else its generator's name; names must be unique.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from curate.checks.quality import MIN_DISTANCE_FACTOR
from curate.dataset.resources import packaged_file
from curate.errors import ConfigurationError
from sampling.generators import Generator, make_generator

PARENTS = "parents"
_RECIPE_KEYS = {"name", "seed", "min_distance_factor", "steps", "description"}
_STEP_KEYS = {"name", "generator", "params", "input", "take"}


@dataclass(frozen=True)
class Step:
    """One generator applied to the parents or to the accepted outputs of an earlier step.

    Attributes:
        name: unique step name (what later steps refer to in ``input``).
        generator: the configured generator.
        input: ``parents`` or the name of an earlier step.
        take: at most this many input structures per parent (evenly spaced in output order); None takes all.
    """

    name: str
    generator: Generator
    input: str = PARENTS
    take: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for the manifest's history)."""
        return {
            "name": self.name,
            "generator": self.generator.name,
            "params": self.generator.params(),
            "input": self.input,
            "take": self.take,
        }


@dataclass(frozen=True)
class Recipe:
    """A named, seeded sequence of steps and the quality-gate setting for their outputs."""

    name: str
    seed: int
    steps: tuple[Step, ...]
    min_distance_factor: float = MIN_DISTANCE_FACTOR

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for the manifest's history)."""
        return {
            "name": self.name,
            "seed": self.seed,
            "min_distance_factor": self.min_distance_factor,
            "steps": [s.as_dict() for s in self.steps],
        }


def recipe_from_mapping(data: Any, *, origin: str, seed: int | None = None) -> Recipe:
    """Build a recipe from parsed YAML; ``seed`` (when given) overrides the recipe's own.

    Raises:
        ConfigurationError: naming ``origin`` and the offending key or step.
    """
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{origin}: a recipe must be a mapping with a 'steps' list")
    unknown = sorted(set(data) - _RECIPE_KEYS)
    if unknown:
        raise ConfigurationError(f"{origin}: unknown key(s) {unknown}; accepted: {', '.join(sorted(_RECIPE_KEYS))}")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ConfigurationError(f"{origin}: 'steps' must be a non-empty list")
    steps: list[Step] = []
    for k, raw in enumerate(raw_steps):
        where = f"{origin}: steps[{k}]"
        if not isinstance(raw, Mapping) or "generator" not in raw:
            raise ConfigurationError(f"{where}: each step needs a 'generator' key")
        unknown = sorted(set(raw) - _STEP_KEYS)
        if unknown:
            raise ConfigurationError(f"{where}: unknown key(s) {unknown}; accepted: {', '.join(sorted(_STEP_KEYS))}")
        params = raw.get("params") or {}
        if not isinstance(params, Mapping):
            raise ConfigurationError(f"{where}: 'params' must be a mapping")
        try:
            generator = make_generator(str(raw["generator"]), params)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}: {exc}") from None
        name = str(raw.get("name") or generator.name)
        source = str(raw.get("input") or PARENTS)
        if name in {s.name for s in steps} or name == PARENTS:
            raise ConfigurationError(f"{where}: step name {name!r} is used twice; give the step a 'name'")
        if source != PARENTS and source not in {s.name for s in steps}:
            raise ConfigurationError(f"{where}: input {source!r} is neither 'parents' nor an earlier step")
        take = raw.get("take")
        if take is not None and (not isinstance(take, int) or take < 1):
            raise ConfigurationError(f"{where}: 'take' must be a positive integer, got {take!r}")
        steps.append(Step(name=name, generator=generator, input=source, take=take))
    run_seed = seed if seed is not None else data.get("seed", 0)
    if not isinstance(run_seed, int) or run_seed < 0:
        raise ConfigurationError(f"{origin}: 'seed' must be a non-negative integer, got {run_seed!r}")
    factor = data.get("min_distance_factor", MIN_DISTANCE_FACTOR)
    if not isinstance(factor, int | float) or factor < 0:
        raise ConfigurationError(f"{origin}: 'min_distance_factor' must be a non-negative number, got {factor!r}")
    return Recipe(
        name=str(data.get("name") or Path(origin).stem),
        seed=run_seed,
        steps=tuple(steps),
        min_distance_factor=float(factor),
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


def load_recipe(text: str, *, seed: int | None = None) -> Recipe:
    """Read a recipe file (or a built-in recipe by name); ``seed`` overrides the file's seed when given."""
    path = resolve_recipe_path(text)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return recipe_from_mapping(data, origin=str(path), seed=seed)
