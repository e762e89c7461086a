"""Score a candidate pool: committee disagreement from uMLIP predictions, a descriptor per structure, novelty.

The descriptor of a structure is the mean of its atoms' unit-norm SOAP vectors (curate.descriptors.soap,
species = every element in the pool): structures that differ only by small displacements sit close, other
chemistries far apart, which is what the diversity guard and the clustering strategies need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from curate.dataset.configuration import Configuration, configurations_to_batch
from sampling.scores import committee_scores
from sampling.selection import CandidatePool


@dataclass(frozen=True)
class CommitteeRun:
    """What the committee said: scores per candidate and the models' provenance."""

    scores: dict[str, np.ndarray]
    models: list[dict[str, str]]


def run_committee(
    configurations: Sequence[Configuration], model_specs: Sequence[str], *, device: str | None = None
) -> CommitteeRun:
    """Predict every candidate with every model (graphs shared where models allow) and score the spread."""
    from curate.dataset.configuration import reduced_formula
    from curate.models.committee import Committee

    committee = Committee.load(model_specs, device=device)
    predictions = committee.predict(configurations)
    scores = committee_scores(predictions, [reduced_formula(c.species) for c in configurations])
    return CommitteeRun(scores=scores, models=list(committee.members))


def structure_descriptors(configurations: Sequence[Configuration]) -> np.ndarray:
    """Mean unit-norm SOAP vector of each structure, shape (N, n_features)."""
    from curate.descriptors.soap import SoapDescriptor

    species = sorted({s for c in configurations for s in c.species})
    descriptor = SoapDescriptor(species)
    environments = descriptor.from_batch(configurations_to_batch(list(configurations)))
    sums = np.zeros((len(configurations), environments.features.shape[1]))
    np.add.at(sums, environments.row_index, environments.features)
    counts = np.bincount(environments.row_index, minlength=len(configurations))
    return sums / counts[:, None]


def build_pool(
    ids: Sequence[str], configurations: Sequence[Configuration], scores: dict[str, np.ndarray]
) -> CandidatePool:
    """A CandidatePool with SOAP-mean features and the given scores."""
    from curate.dataset.configuration import reduced_formula

    return CandidatePool(
        ids=list(ids),
        features=structure_descriptors(configurations),
        scores=scores,
        formulas=[reduced_formula(c.species) for c in configurations],
    )
