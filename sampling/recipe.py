"""Generation recipes with their generators configured: which generators run, in which order, on what input.

The YAML schema and its loader are :mod:`curate.sources.recipes` (one schema for every file in ``datasets/``);
here each step's generator name and params become a configured :class:`~sampling.generators.Generator`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from curate.checks.quality import MIN_DISTANCE_FACTOR
from curate.dataset.configuration import Configuration
from curate.errors import ConfigurationError
from curate.sources.builtin import builtin_configuration
from curate.sources.recipes import PARENTS, RecipeSpec, parse_recipe, read_recipe
from sampling.generators import Generator, make_generator


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
    """A named, seeded sequence of steps, the quality-gate setting for their outputs, and built-in parents.

    ``structures`` (built-in structure names, each repeated ``supercell`` times) are the parents when the
    recipe runs without a parent dataset.
    """

    name: str
    seed: int
    steps: tuple[Step, ...]
    min_distance_factor: float = MIN_DISTANCE_FACTOR
    structures: tuple[str, ...] = ()
    supercell: tuple[int, int, int] = (1, 1, 1)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for the manifest's history); built-in parents only when the recipe has some."""
        out: dict[str, Any] = {
            "name": self.name,
            "seed": self.seed,
            "min_distance_factor": self.min_distance_factor,
            "steps": [s.as_dict() for s in self.steps],
        }
        if self.structures:
            out.update(structures=list(self.structures), supercell=list(self.supercell))
        return out

    def builtin_parents(self) -> list[Configuration]:
        """The recipe's built-in structures as unlabelled rows, in recipe order (empty when it names none)."""
        return [builtin_configuration(name, self.supercell) for name in self.structures]


def recipe_from_spec(spec: RecipeSpec) -> Recipe:
    """Configure every step's generator.

    Raises:
        ConfigurationError: an unknown generator or parameter, naming the recipe file and step.
    """
    steps = []
    for step in spec.steps:
        try:
            generator = make_generator(step.generator, step.params)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{step.where}: {exc}") from None
        steps.append(Step(name=step.name, generator=generator, input=step.input, take=step.take))
    return Recipe(
        name=spec.name,
        seed=spec.seed,
        steps=tuple(steps),
        min_distance_factor=spec.min_distance_factor,
        structures=spec.structures,
        supercell=spec.supercell,
    )


def recipe_from_mapping(data: Mapping[str, Any] | Any, *, origin: str, seed: int | None = None) -> Recipe:
    """A recipe from parsed YAML (or the same mapping built in code); ``seed`` overrides the recipe's own."""
    return recipe_from_spec(parse_recipe(data, origin=origin, seed=seed))


def load_recipe(text: str, *, seed: int | None = None) -> Recipe:
    """Read a recipe file (or a built-in recipe by name); ``seed`` overrides the file's seed when given."""
    return recipe_from_spec(read_recipe(text, seed=seed))
