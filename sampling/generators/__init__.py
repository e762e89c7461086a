"""Structure generators behind one interface (:class:`Generator`), and their registry of names.

=================  ==========================================================================================
name               what it makes from one parent
=================  ==========================================================================================
gaussian-rattle    independent Gaussian displacements of every atom (a fresh seed per structure)
mc-rattle          hiphive-style Monte-Carlo rattle: no two atoms closer than d_min
strain             isotropic, uniaxial along each lattice vector, and shear strains
vacancy            one vacancy per inequivalent site of a supercell
antisite           each inequivalent site occupied by each other element
interstitial       an extra atom at the largest empty spheres of a supercell
surface            pymatgen slabs, Miller index <= 2, vacuum >= 10 A
md                 NVT molecular dynamics at high temperature with CHGNet (or EMT), frames at an interval
=================  ==========================================================================================

Every row made carries ``parent_id``, ``generator``, ``generator_params`` and ``seed``; none carries labels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args

from curate.errors import ConfigurationError
from sampling.generators.base import Generator, SeedStream, derived

GeneratorName = Literal[
    "gaussian-rattle", "mc-rattle", "strain", "vacancy", "antisite", "interstitial", "surface", "md"
]
GENERATOR_NAMES: tuple[str, ...] = get_args(GeneratorName)


def _classes() -> dict[str, Callable[..., Generator]]:
    from sampling.generators.defects import Antisite, Interstitial, Vacancy
    from sampling.generators.md import MolecularDynamics
    from sampling.generators.rattle import GaussianRattle, MonteCarloRattle
    from sampling.generators.strain import Strain
    from sampling.generators.surfaces import Surfaces

    classes = (GaussianRattle, MonteCarloRattle, Strain, Vacancy, Antisite, Interstitial, Surfaces, MolecularDynamics)
    return {cls.name: cls for cls in classes}


def make_generator(name: str, params: Mapping[str, Any] | None = None) -> Generator:
    """The generator registered as ``name`` with ``params`` (lists become tuples).

    Raises:
        ConfigurationError: unknown name (the valid ones are listed), unknown parameter (the valid ones are
            listed) or a value out of range.
    """
    classes = _classes()
    if name not in classes:
        raise ConfigurationError(f"unknown generator {name!r}; known: {', '.join(GENERATOR_NAMES)}")
    cls = classes[name]
    accepted = [f.name for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")]  # type: ignore[arg-type]
    accepted = [a for a in accepted if a not in ("calculator_override", "calculator_device")]  # run-time choices
    params = dict(params or {})
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigurationError(f"generator {name!r}: unknown parameter(s) {unknown}; accepted: {', '.join(accepted)}")
    tuple_fields = {f.name for f in dataclasses.fields(cls) if isinstance(f.default, tuple)}  # type: ignore[arg-type]
    values = {
        k: tuple(v) if isinstance(v, list | tuple) else (v,) if k in tuple_fields else v for k, v in params.items()
    }
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigurationError(f"generator {name!r}: {exc}") from None


__all__ = ["GENERATOR_NAMES", "Generator", "GeneratorName", "SeedStream", "derived", "make_generator"]
