"""The scorer interface: what a scorer reads (:class:`ScoringInputs`) and the one method it implements.

A score is one number per candidate structure, larger = more worth a DFT label. Scorers read the candidate
rows (an Arrow table of the row schema) and, as they declare in ``needs``, a committee's predictions, one
model's description of the candidates (the model being corrected: predictions, features, reference energies)
or a reference dataset to measure novelty against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from curate.errors import ConfigurationError
from curate.models.base import Description
from curate.models.committee import CommitteePredictions

Need = Literal["committee", "description", "reference"]


@dataclass(frozen=True)
class ScoringInputs:
    """Everything a scorer may read, for N candidates.

    Attributes:
        candidates: the candidate rows (row schema: ``id``, ``nsites``, ``species_at_sites``, positions, ...),
            N rows.
        committee: the committee's predictions for the same N candidates in the same order, or None.
        description: one model's description of the same N candidates in the same order (the model being
            corrected: :meth:`~curate.models.base.DescribesStructures.describe`), or None.
        reference: directory of a reference (training) dataset to measure novelty against, or None.
    """

    candidates: pa.Table
    committee: CommitteePredictions | None = None
    reference: Path | None = None
    description: Description | None = None

    def __post_init__(self) -> None:
        for covers, given in (
            ("committee predictions cover", self.committee),
            ("the description covers", self.description),
        ):
            if given is not None and len(given) != self.candidates.num_rows:
                raise ValueError(f"{covers} {len(given)} structures, candidates {self.candidates.num_rows}")

    @property
    def available(self) -> frozenset[Need]:
        """The inputs present: ``committee``, ``description`` and/or ``reference``."""
        present: set[Need] = set()
        if self.committee is not None:
            present.add("committee")
        if self.description is not None:
            present.add("description")
        if self.reference is not None:
            present.add("reference")
        return frozenset(present)

    def take(self, indices: np.ndarray) -> ScoringInputs:
        """The same inputs for the candidates ``indices``, in that order."""
        rows = pa.array(np.asarray(indices, dtype=np.int64))
        return ScoringInputs(
            candidates=self.candidates.take(rows),
            committee=None if self.committee is None else self.committee.take(indices),
            reference=self.reference,
            description=None if self.description is None else self.description.take(indices),
        )


@runtime_checkable
class Scorer(Protocol):
    """One score per candidate; larger = more worth labelling.

    ``score`` must return shape (N,) float64, finite, in the unit ``unit``, and must not depend on the order of
    the candidates (permuting the candidates permutes the scores the same way).
    """

    @property
    def name(self) -> str:
        """Registry name, also the score's column name in outputs."""
        ...

    @property
    def unit(self) -> str:
        """Unit of the score (``eV/A``, ``eV/atom``, ...)."""
        ...

    @property
    def needs(self) -> frozenset[Need]:
        """What the scorer reads besides the candidates: ``committee`` predictions, one model's ``description``,
        a ``reference`` dataset."""
        ...

    def score(self, inputs: ScoringInputs) -> np.ndarray:
        """The score of every candidate of ``inputs``, shape (N,)."""
        ...


NEED_DESCRIPTIONS: dict[str, str] = {
    "committee": "committee predictions (argument committee)",
    "description": "the description of the candidates by the model being corrected (argument description)",
    "reference": "a reference dataset (argument reference)",
}


def check_needs(scorer: Scorer, available: frozenset[Need]) -> None:
    """ConfigurationError naming what ``scorer`` needs and is not ``available``."""
    missing = sorted(scorer.needs - available)
    if missing:
        raise ConfigurationError(f"score {scorer.name!r} needs {' and '.join(NEED_DESCRIPTIONS[m] for m in missing)}")
