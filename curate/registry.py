"""A registry of named implementations imported on first use.

Importers, exporters (and later models, fine-tuners, scorers) are chosen by name on the command line. Each
implementation lives in its own module, often behind a heavy import (ASE's database, pymatgen's VASP
parsers); the registry names them as ``"module:attribute"`` strings, so listing the choices imports nothing
and choosing one imports only its module.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class LazyRegistry(Generic[T]):
    """Names -> ``"module:attribute"`` of a zero-argument factory (usually a class) of ``T``.

    Args:
        kind: what a name names, for error messages (``"import format"``).
        targets: name -> ``"package.module:Attribute"``, in the order choices are listed.
    """

    def __init__(self, kind: str, targets: Mapping[str, str]) -> None:
        for name, target in targets.items():
            module_name, sep, attribute = target.partition(":")
            if not (module_name and sep and attribute):
                raise ValueError(f"{kind} {name!r}: target must be 'module:attribute', got {target!r}")
        self.kind = kind
        self._targets = dict(targets)

    @property
    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._targets)

    def create(self, name: str) -> T:
        """A new instance of what ``name`` is registered to; KeyError lists the known names."""
        try:
            target = self._targets[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self._targets)}") from None
        module_name, _, attribute = target.partition(":")
        factory = getattr(importlib.import_module(module_name), attribute)
        instance: T = factory()
        return instance


__all__ = ["LazyRegistry"]
