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

DEFAULT_COMMITTEE = ("chgnet@0.3.0", "chgnet@0.2.0", "chgnet@r2scan")


@dataclass(frozen=True)
class CommitteeRun:
    """What the committee said: scores per candidate and the models' provenance."""

    scores: dict[str, np.ndarray]
    models: list[dict[str, str]]


def run_committee(
    configurations: Sequence[Configuration], model_specs: Sequence[str], *, device: str | None = None
) -> CommitteeRun:
    """Predict every candidate with every model (graphs shared where models allow) and score the spread."""
    from curate.models.base import max_atoms_for
    from curate.models.committee import predict_committee
    from curate.models.registry import load_model

    models = [load_model(spec, device=device) for spec in model_specs]
    predictions = predict_committee(models, configurations, max_atoms_per_batch=max_atoms_for(models))
    names = [m.info.name for m in models]
    forces = [[p.forces for p in predictions[name]] for name in names]
    energies = np.array([[p.energy for p in predictions[name]] for name in names])
    from curate.dataset.configuration import reduced_formula

    compositions = [reduced_formula(c.species) for c in configurations]
    scores = committee_scores(forces, energies, [c.nsites for c in configurations], compositions)
    return CommitteeRun(scores=scores, models=[m.info.as_dict() for m in models])


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
