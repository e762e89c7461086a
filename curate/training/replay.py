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

Anchors only: replay is there to keep the model where it already is outside the target, so a reference
structure is drawn only when the starting model already reproduces it (per-structure force MAE <=
``max_force_error_ev_per_ang``, stress MAE <= ``max_stress_error_gpa``). A structure the model misses is
not an anchor but a second correction target, and fitting it moves the model away from its pretraining
surface; farthest-point sampling picks exactly such outliers first (bench/RESULTS.md, "replay and
out-of-domain evidence": the first ionic step of an As2SO6 relaxation, force MAE 0.21 eV/A, and a
non-magnetic Fe static, stress off by 27 GPa, made the Materials Project steps' force MAE +66 %).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import numpy as np

from curate.dataset.configuration import Configuration
from curate.errors import ConfigurationError
from curate.models.base import DescribesStructures, Model, Prediction, max_atoms_for
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
        max_force_error_ev_per_ang: a reference structure whose force MAE under the starting model is above
            this (eV/A) is not drawn; None: no bound.
        max_stress_error_gpa: likewise for the stress MAE over its 9 components (GPa); structures without a
            stress label are not bounded by it; None: no bound.
    """

    count: int | None = None
    ratio: float = 1.0
    weight: float = 1.0
    strategy: ReplayStrategy = "fps"
    seed: int = 0
    max_force_error_ev_per_ang: float | None = 0.1
    max_stress_error_gpa: float | None = 2.0

    def __post_init__(self) -> None:
        if self.count is not None and self.count < 1:
            raise ConfigurationError(f"replay count must be >= 1, got {self.count}")
        if self.ratio <= 0:
            raise ConfigurationError(f"replay ratio must be > 0, got {self.ratio}")
        if self.weight < 0:
            raise ConfigurationError(f"replay weight must be >= 0, got {self.weight}")
        for name in ("max_force_error_ev_per_ang", "max_stress_error_gpa"):
            bound = getattr(self, name)
            if bound is not None and bound <= 0:
                raise ConfigurationError(f"replay {name} must be > 0 or None, got {bound}")
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


def features_and_predictions(model: Model, data: TrainingSet) -> tuple[np.ndarray, list[Prediction]]:
    """The model's own structure features (N, d) and predictions, in one pass when it offers
    :class:`DescribesStructures`; else mean SOAP vectors (dimensionless) and a separate prediction."""
    max_atoms = max_atoms_for([model])
    if isinstance(model, DescribesStructures):
        described = model.describe(list(data.configurations), max_atoms_per_batch=max_atoms)
        return np.asarray(described.features, dtype=np.float64), list(described.predictions)
    import pyarrow as pa

    from curate.dataset.configuration import configurations_to_batch
    from sampling.selection.features import structure_descriptors

    batch = pa.Table.from_batches([configurations_to_batch(list(data.configurations))])
    return structure_descriptors(batch), model.predict(list(data.configurations), max_atoms_per_batch=max_atoms)


def reproduced(data: TrainingSet, predictions: Sequence[Prediction], settings: ReplaySettings) -> list[int]:
    """Indices of the structures of ``data`` whose labels the predictions reproduce within the settings'
    bounds: force MAE (eV/A) <= ``max_force_error_ev_per_ang``, stress MAE (GPa) <= ``max_stress_error_gpa``."""
    kept = []
    for k, (cfg, predicted) in enumerate(zip(data.configurations, predictions, strict=True)):
        force_mae = float(np.mean(np.abs(np.asarray(cfg.forces) - np.asarray(predicted.forces))))
        if settings.max_force_error_ev_per_ang is not None and force_mae > settings.max_force_error_ev_per_ang:
            continue
        if _stress_error_gpa(cfg, predicted) > (settings.max_stress_error_gpa or np.inf):
            continue
        kept.append(k)
    return kept


def _stress_error_gpa(cfg: Configuration, predicted: Prediction) -> float:
    """Stress MAE over the 9 components (GPa); 0 when either side has no stress."""
    if cfg.stress is None or predicted.stress is None:
        return 0.0
    return float(np.mean(np.abs(np.asarray(cfg.stress) - np.asarray(predicted.stress))))


def pick_replay(model: Model, reference: TrainingSet, *, size: int, settings: ReplaySettings) -> list[int]:
    """Indices into ``reference`` of ``size`` structures chosen by ``settings.strategy`` in ``model``'s feature
    space, among the structures ``model`` reproduces (:func:`reproduced`); fewer when fewer qualify.

    ``fps`` starts from the first structure by id and adds the farthest one each time; ``direct`` clusters
    (PCA + BIRCH) and takes structures from each cluster; ``herding`` matches the reference's feature mean;
    ``random`` is the seeded baseline. Every candidate weighs the same (score ``uniform``).
    """
    from sampling.selection import CandidatePool, make_selector

    features, predictions = features_and_predictions(model, reference)
    anchors = reproduced(reference, predictions, settings)
    if not anchors:
        return []
    unique_ids = [f"{i:08d}:{reference.ids[i]}" for i in anchors]
    candidates = CandidatePool(
        ids=unique_ids, features=features[anchors], scores={UNIFORM_SCORE: np.ones(len(anchors))}
    )
    picks = make_selector(settings.strategy, score=UNIFORM_SCORE).select(
        candidates, budget=min(size, len(anchors)), seed=settings.seed
    )
    return [anchors[p.index] for p in picks]


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
    chosen = pick_replay(model, replay.reference, size=size, settings=settings)
    if not chosen:
        raise ConfigurationError(
            f"no structure of the replay reference {replay.reference.origin} is reproduced by {model.info.spec} "
            f"within force MAE {settings.max_force_error_ev_per_ang} eV/A and stress MAE "
            f"{settings.max_stress_error_gpa} GPa: nothing to anchor the model with"
        )
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
        "settings": asdict(settings),
        "structures": len(drawn),
        "ids": list(drawn.ids),
        "energy": "replay structures train on forces and stress only (energy multiplier 0): their energies "
        "may sit on another reference scale than the training set's",
    }
    return mixed, record
