"""Replay fine-tuning: train on the correction set mixed with a diverse replay set from a reference dataset.

A model fine-tuned only on its correction set drifts away from its pretraining distribution (MACE's study of
fine-tuning strategies, mace PR #1707: only replaying pretraining data kept models robust outside the new
domain). :func:`replay_training_set` draws ``count`` structures from a reference dataset (an MPtrj or MatPES
import; by default the out-of-domain benchmark's default sources) with one of curate's own selectors
(:func:`sampling.selection.make_selector`: ``fps``, ``direct``, ``herding`` or ``random``) on the starting
model's own structure features, and appends them to the training set with per-structure loss multipliers
(:attr:`curate.training.data.TrainingSet.loss_weights`).

Energies: a replay structure's energy term is switched off (multiplier 0); it trains on forces and stress
only, each multiplied by ``weight``. Replay data come from other calculations (MatPES, Materials Project,
MPtrj) whose total energies sit on other reference scales than the correction set's (MatPES vs MP settings,
MP2020 corrections, a user's own DFT settings); fitted together with the correction set, an energy offset
between the sources would be learned as a real energy error. Forces and stress are derivatives of the energy
and carry no reference offset, so they anchor the potential-energy surface outside the target without that
conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from curate.errors import ConfigurationError
from curate.models.base import DescribesStructures, Model, max_atoms_for
from curate.training.data import TrainingSet

ReplayStrategy = Literal["fps", "direct", "herding", "random"]
REPLAY_STRATEGIES: tuple[str, ...] = get_args(ReplayStrategy)
UNIFORM_SCORE = "uniform"


@dataclass(frozen=True)
class ReplaySettings:
    """How many replay structures, how they are chosen and how much they weigh.

    Attributes:
        count: replay structures to draw; None: ``round(ratio x training structures)``.
        ratio: replay structures per training structure (used when ``count`` is None).
        weight: multiplier of a replay structure's force and stress loss terms (its energy term is 0).
        strategy: the selector that picks them for diversity in the model's feature space.
        seed: seed of the selector (recorded).
    """

    count: int | None = None
    ratio: float = 1.0
    weight: float = 1.0
    strategy: ReplayStrategy = "fps"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.count is not None and self.count < 1:
            raise ConfigurationError(f"replay count must be >= 1, got {self.count}")
        if self.ratio <= 0:
            raise ConfigurationError(f"replay ratio must be > 0, got {self.ratio}")
        if self.weight < 0:
            raise ConfigurationError(f"replay weight must be >= 0, got {self.weight}")
        if self.strategy not in REPLAY_STRATEGIES:
            raise ConfigurationError(
                f"unknown replay strategy {self.strategy!r}; expected one of {', '.join(REPLAY_STRATEGIES)}"
            )

    def size_for(self, n_train: int, n_reference: int) -> int:
        """Structures to draw for a training set of ``n_train``, at most the reference's ``n_reference``."""
        wanted = self.count if self.count is not None else max(1, round(self.ratio * n_train))
        return min(wanted, n_reference)


@dataclass(frozen=True)
class Replay:
    """A reference dataset to replay from and the settings of the draw."""

    reference: TrainingSet
    settings: ReplaySettings


def structure_features(model: Model, data: TrainingSet) -> np.ndarray:
    """The model's own structure features (N, d) when it offers them, else mean SOAP vectors (dimensionless)."""
    if isinstance(model, DescribesStructures):
        described = model.describe(list(data.configurations), max_atoms_per_batch=max_atoms_for([model]))
        return np.asarray(described.features, dtype=np.float64)
    import pyarrow as pa

    from curate.dataset.configuration import configurations_to_batch
    from sampling.selection.features import structure_descriptors

    return structure_descriptors(pa.Table.from_batches([configurations_to_batch(list(data.configurations))]))


def pick_replay(model: Model, reference: TrainingSet, *, size: int, strategy: str, seed: int) -> list[int]:
    """Indices into ``reference`` of ``size`` structures chosen by ``strategy`` in ``model``'s feature space.

    ``fps`` starts from the first structure by id and adds the farthest one each time; ``direct`` clusters
    (PCA + BIRCH) and takes structures from each cluster; ``herding`` matches the reference's feature mean;
    ``random`` is the seeded baseline. Every candidate weighs the same (score ``uniform``).
    """
    from sampling.selection import CandidatePool, make_selector

    features = structure_features(model, reference)
    unique_ids = [f"{i:08d}:{row_id}" for i, row_id in enumerate(reference.ids)]
    candidates = CandidatePool(ids=unique_ids, features=features, scores={UNIFORM_SCORE: np.ones(len(reference))})
    picks = make_selector(strategy, score=UNIFORM_SCORE).select(candidates, budget=size, seed=seed)
    return [p.index for p in picks]


def replay_training_set(model: Model, train: TrainingSet, replay: Replay) -> tuple[TrainingSet, dict[str, Any]]:
    """``train`` followed by the replay structures (energy multiplier 0, force and stress ``weight``), and
    the record of the draw (reference provenance, settings, chosen ids).

    Raises:
        ConfigurationError: the reference dataset is empty.
    """
    settings = replay.settings
    if len(replay.reference) == 0:
        raise ConfigurationError(f"the replay reference {replay.reference.origin} is empty")
    size = settings.size_for(len(train), len(replay.reference))
    chosen = pick_replay(model, replay.reference, size=size, strategy=settings.strategy, seed=settings.seed)
    drawn = replay.reference.subset(chosen)
    weights = (0.0, settings.weight, settings.weight)
    mixed = TrainingSet(
        train.configurations + drawn.configurations,
        train.ids + drawn.ids,
        f"{train.origin} + replay {len(drawn)} from {replay.reference.origin}",
        train.content_hash,
        tuple(train.weights_of(i) for i in range(len(train))) + (weights,) * len(drawn),
    )
    record = {
        "reference": replay.reference.describe(),
        "settings": {
            "count": settings.count,
            "ratio": settings.ratio,
            "weight": settings.weight,
            "strategy": settings.strategy,
            "seed": settings.seed,
        },
        "structures": len(drawn),
        "ids": list(drawn.ids),
        "energy": "replay structures train on forces and stress only (energy multiplier 0): their energies "
        "may sit on another reference scale than the training set's",
    }
    return mixed, record
