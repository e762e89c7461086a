"""A committee of models: several uMLIPs over the same structures, neighbour graphs built once per graph key.

This module is the one definition of a committee: its default members (the three CHGNet models shipped in
the chgnet wheel), its minimum size (two), how its members are loaded and run, and the arrays its
predictions come back as, which committee-disagreement scores read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curate.dataset.configuration import Configuration
from curate.errors import ConfigurationError
from curate.models.base import Model, Prediction, SharesGraphs, max_atoms_for
from curate.models.registry import CHGNET_SPECS, load_model, parse_spec

DEFAULT_COMMITTEE: tuple[str, ...] = CHGNET_SPECS
MIN_MEMBERS = 2


def predict_committee(
    models: Sequence[Model],
    structures: Sequence[Configuration],
    *,
    max_atoms_per_batch: int,
    share_graphs: bool = True,
) -> dict[str, list[Prediction]]:
    """Predictions of every model for ``structures``, keyed by model name, each list in input order.

    Models implementing :class:`SharesGraphs` with equal ``graph_key()`` get the graphs built once (CHGNet
    0.3.0 and r2scan share 6 A / 3 A cutoffs; 0.2.0 uses 5 A and gets its own). ``share_graphs=False`` builds
    them per model (for measuring what sharing saves).
    """
    nsites = [c.nsites for c in structures]
    graphs: dict[tuple[Any, ...], list[Any]] = {}
    out: dict[str, list[Prediction]] = {}
    for model in models:
        if share_graphs and isinstance(model, SharesGraphs):
            key = model.graph_key()
            if key not in graphs:
                graphs[key] = model.build_graphs(structures)
            out[model.info.name] = model.predict_graphs(graphs[key], nsites, max_atoms_per_batch=max_atoms_per_batch)
        else:
            out[model.info.name] = model.predict(structures, max_atoms_per_batch=max_atoms_per_batch)
    return out


@dataclass(frozen=True)
class CommitteePredictions:
    """Every member's energy and forces for N structures, as arrays (structures in input order).

    Attributes:
        members: provenance of each member (:meth:`~curate.models.base.ModelInfo.as_dict`), length M.
        energy_ev: total energies, shape (M, N), eV.
        forces_ev_per_ang: forces on every atom, structure after structure (ragged by ``nsites``), shape
            (M, A, 3) with A = nsites.sum(), eV/A.
        nsites: atoms per structure, shape (N,).
    """

    members: tuple[dict[str, str], ...]
    energy_ev: np.ndarray
    forces_ev_per_ang: np.ndarray
    nsites: np.ndarray

    def __post_init__(self) -> None:
        m, n, atoms = len(self.members), len(self.nsites), int(np.sum(self.nsites))
        if self.energy_ev.shape != (m, n):
            raise ValueError(f"energy_ev must have shape (members={m}, structures={n}), got {self.energy_ev.shape}")
        if self.forces_ev_per_ang.shape != (m, atoms, 3):
            raise ValueError(
                f"forces_ev_per_ang must have shape (members={m}, atoms={atoms}, 3), got {self.forces_ev_per_ang.shape}"
            )

    def __len__(self) -> int:
        return len(self.nsites)

    @property
    def atom_starts(self) -> np.ndarray:
        """Index of each structure's first atom in ``forces_ev_per_ang``, shape (N,)."""
        nsites = np.asarray(self.nsites, dtype=np.int64)
        return np.cumsum(nsites) - nsites

    def take(self, indices: Sequence[int] | np.ndarray) -> CommitteePredictions:
        """The predictions of the structures ``indices``, in that order."""
        rows = np.asarray(indices, dtype=np.int64)
        starts, nsites = self.atom_starts[rows], np.asarray(self.nsites)[rows]
        atoms = [np.arange(s, s + n, dtype=np.int64) for s, n in zip(starts, nsites, strict=True)]
        return CommitteePredictions(
            members=self.members,
            energy_ev=self.energy_ev[:, rows],
            forces_ev_per_ang=self.forces_ev_per_ang[:, np.concatenate([np.zeros(0, dtype=np.int64), *atoms])],
            nsites=nsites,
        )


@dataclass(frozen=True)
class Committee:
    """At least two distinct models that predict the same structures (their spread measures uncertainty)."""

    models: tuple[Model, ...]

    def __post_init__(self) -> None:
        check_members([m.info.name for m in self.models])

    @classmethod
    def load(cls, specs: Sequence[str] = DEFAULT_COMMITTEE, *, device: str | None = None) -> Committee:
        """Load every member by its model spec on ``device`` (cpu, cuda, or auto/None).

        Raises:
            ConfigurationError: fewer than two specs, a spec given twice, or a spec the registry refuses
                (checked before any model is loaded).
        """
        check_members([parse_spec(spec).text for spec in specs])
        return cls(tuple(load_model(spec, device=device) for spec in specs))

    @property
    def members(self) -> tuple[dict[str, str], ...]:
        """Provenance of each member, in order."""
        return tuple(m.info.as_dict() for m in self.models)

    def predict(
        self, structures: Sequence[Configuration], *, max_atoms_per_batch: int | None = None
    ) -> CommitteePredictions:
        """Every member's energy (eV) and forces (eV/A) for ``structures``; atoms per forward pass default to
        :func:`~curate.models.base.max_atoms_for` the members."""
        atoms = max_atoms_per_batch or max_atoms_for(self.models)
        predicted = predict_committee(self.models, structures, max_atoms_per_batch=atoms)
        by_member = [predicted[m.info.name] for m in self.models]
        nsites = np.array([c.nsites for c in structures], dtype=np.int64)
        forces = [
            np.concatenate([np.asarray(p.forces, dtype=np.float64) for p in member]) if member else np.zeros((0, 3))
            for member in by_member
        ]
        return CommitteePredictions(
            members=self.members,
            energy_ev=np.array([[p.energy for p in member] for member in by_member], dtype=np.float64).reshape(
                len(self.models), len(structures)
            ),
            forces_ev_per_ang=np.stack(forces),
            nsites=nsites,
        )


def check_members(names: Sequence[str]) -> None:
    """ConfigurationError unless ``names`` (model specs or names) are at least two and all distinct."""
    if len(names) < MIN_MEMBERS:
        raise ConfigurationError(f"a committee needs at least {MIN_MEMBERS} models, got {len(names)}: {list(names)}")
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        raise ConfigurationError(f"committee members must differ; given more than once: {repeated}")
