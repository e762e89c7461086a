"""The selection interface: a pool of scored candidates in, an explained ordered list of picks out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Target:
    """The structures a correction is to serve, as the model being corrected sees them; never their labels.

    Attributes:
        features: one vector per structure in the candidates' feature space, shape (M, d).
        weights: how much each one counts (for a linear correction: its force information), shape (M,), >= 0.
    """

    features: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        if self.features.ndim != 2 or len(self.features) == 0:
            raise ValueError(f"target features must have shape (M >= 1, d), got {self.features.shape}")
        if np.shape(self.weights) != (len(self.features),):
            raise ValueError(f"target weights must have shape ({len(self.features)},), got {np.shape(self.weights)}")
        weights = np.asarray(self.weights, dtype=np.float64)
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError("target weights must be finite, >= 0 and not all 0")

    def canonical(self) -> Target:
        """The same structures in one fixed row order (lexicographic in weight, then features), so that what is
        picked never depends on the order the target arrived in."""
        order = np.lexsort((*np.asarray(self.features, dtype=np.float64).T[::-1], self.weights))
        return Target(features=self.features[order], weights=np.asarray(self.weights)[order])


@dataclass(frozen=True)
class CandidatePool:
    """Candidates to choose from.

    Attributes:
        ids: row id of each candidate, length N.
        features: one descriptor vector per candidate, shape (N, d); distances between rows decide diversity.
        scores: uncertainty scores by name, each shape (N,), larger = more worth labelling.
        formulas: reduced formula per candidate (for explanations), length N.
        atom_features: per candidate, one feature vector per atom from the model being corrected, shape
            (nsites, d'); empty when the strategies in use do not need them.
        loss_gradients: per candidate, its label-free loss gradient over the weights a fine-tune trains,
            sketched, shape (N, D) (:mod:`curate.training.softening_gradients`); None when not needed.
        target: the structures the picks are to serve, when they are not the pool itself (read by ``herding``);
            None: the pool.
    """

    ids: Sequence[str]
    features: np.ndarray
    scores: Mapping[str, np.ndarray] = field(default_factory=dict)
    formulas: Sequence[str] = ()
    atom_features: Sequence[np.ndarray] = ()
    loss_gradients: np.ndarray | None = None
    target: Target | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.features.ndim != 2 or self.features.shape[0] != n:
            raise ValueError(f"features must have shape ({n}, d), got {self.features.shape}")
        for name, values in self.scores.items():
            if np.shape(values) != (n,):
                raise ValueError(f"score {name!r} must have shape ({n},), got {np.shape(values)}")
        if len(set(self.ids)) != n:
            raise ValueError("candidate ids must be unique")
        if self.atom_features and len(self.atom_features) != n:
            raise ValueError(f"atom features must be given for all {n} candidates, got {len(self.atom_features)}")
        if self.loss_gradients is not None and (self.loss_gradients.ndim != 2 or len(self.loss_gradients) != n):
            raise ValueError(f"loss gradients must have shape ({n}, D), got {self.loss_gradients.shape}")
        if self.target is not None and self.target.features.shape[1] != self.features.shape[1]:
            raise ValueError(
                f"target features have {self.target.features.shape[1]} columns, "
                f"the candidates' {self.features.shape[1]}"
            )

    def __len__(self) -> int:
        return len(self.ids)

    def in_id_order(self) -> tuple[CandidatePool, np.ndarray]:
        """The same candidates sorted by id, and ``order`` with ``sorted.ids[k] == self.ids[order[k]]``."""
        order = np.array(sorted(range(len(self.ids)), key=lambda i: self.ids[i]), dtype=np.int64)
        return (
            CandidatePool(
                ids=[self.ids[i] for i in order],
                features=self.features[order],
                scores={name: np.asarray(values)[order] for name, values in self.scores.items()},
                formulas=[self.formulas[i] for i in order] if self.formulas else (),
                atom_features=[self.atom_features[i] for i in order] if self.atom_features else (),
                loss_gradients=None if self.loss_gradients is None else self.loss_gradients[order],
                target=None if self.target is None else self.target.canonical(),
            ),
            order,
        )

    def score_summary(self, index: int) -> dict[str, float]:
        """Every score of candidate ``index`` as plain floats."""
        return {name: float(values[index]) for name, values in self.scores.items()}


def smallest_id_of_best(values: np.ndarray, ids: Sequence[str]) -> int:
    """The row of the largest of ``values``; exact ties go to the smallest id, so picks never depend on row order."""
    best = values.max()
    return min((int(i) for i in np.flatnonzero(values == best)), key=lambda i: ids[i])


def loss_gradient_matrix(pool: CandidatePool, needed_by: str) -> np.ndarray:
    """``pool.loss_gradients`` as float64 with NaN as 0, shape (N, D).

    Raises:
        KeyError: the pool has no loss gradients (naming ``needed_by``, the strategy that needs them).
    """
    if pool.loss_gradients is None:
        raise KeyError(f"{needed_by} needs the candidates' loss gradients (pool.loss_gradients)")
    return np.nan_to_num(np.asarray(pool.loss_gradients, dtype=np.float64))


@dataclass(frozen=True)
class Pick:
    """One chosen candidate with the reason it was chosen.

    Attributes:
        rank: 1 for the first pick.
        index: row of the candidate in the pool.
        candidate_id: its id.
        reason: one sentence a person can check against the numbers.
        scores: the candidate's scores.
    """

    rank: int
    index: int
    candidate_id: str
    reason: str
    scores: dict[str, float]


class Selector(Protocol):
    """Chooses up to ``budget`` candidates; deterministic for a given pool, budget and seed."""

    @property
    def name(self) -> str:
        """Registry name of the strategy."""
        ...

    def select(self, pool: CandidatePool, *, budget: int, seed: int) -> list[Pick]:
        """Ordered picks, most valuable first; fewer than ``budget`` only when the pool runs out."""
        ...


def pairwise_distances_to(features: np.ndarray, rows: Sequence[int]) -> np.ndarray:
    """Euclidean distance of every candidate to the nearest of ``rows``; +inf when ``rows`` is empty. Shape (N,)."""
    if not rows:
        return np.full(features.shape[0], np.inf)
    chosen = features[list(rows)]
    squared = ((features[:, None, :] - chosen[None, :, :]) ** 2).sum(axis=2)
    return np.sqrt(squared.min(axis=1))


@dataclass(frozen=True)
class IdOrdered:
    """Runs ``selector`` on the pool sorted by candidate id, so no strategy can depend on input order.

    Order-sensitive steps (BIRCH builds its tree one row at a time; a seeded random start picks a row index)
    then see the same rows in the same order whatever order the pool arrived in. Pick indices are mapped back
    to the caller's pool.
    """

    selector: Selector

    @property
    def name(self) -> str:
        return self.selector.name

    def select(self, pool: CandidatePool, *, budget: int, seed: int) -> list[Pick]:
        """The wrapped selector's picks on the id-sorted pool, indices into ``pool``."""
        ordered, order = pool.in_id_order()
        picks = self.selector.select(ordered, budget=budget, seed=seed)
        return [replace(pick, index=int(order[pick.index])) for pick in picks]
