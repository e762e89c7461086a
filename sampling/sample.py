"""``curate sample`` as a flow over record batches: candidate rows -> committee -> scores -> features -> picks.

The candidates stay an Arrow table (the row schema) from the pool to the output. They become per-structure
objects once, at the model boundary (the committee's forward passes); what comes back are arrays (energies,
forces, scores, features) indexed like the table's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from curate.dataset.configuration import batch_to_configurations
from curate.errors import ConfigurationError
from curate.models.committee import Committee
from sampling.scoring import SCORERS, ScoringInputs, check_needs, score_candidates
from sampling.selection import CandidatePool, Pick, make_selector
from sampling.selection.features import structure_descriptors


@dataclass(frozen=True)
class SampleResult:
    """The scored pool (ids, features, scores, formulas indexed like the candidate rows) and the picks."""

    pool: CandidatePool
    picks: list[Pick]


def score_and_select(
    candidates: pa.Table,
    committee: Committee,
    *,
    budget: int,
    strategy: str,
    score: str,
    min_distance: float,
    seed: int,
    reference: Path | None = None,
) -> SampleResult:
    """Score every candidate row (every registered score whose inputs are present) and pick ``budget`` of them.

    Args:
        candidates: candidate rows of the row schema, N >= 1.
        committee: the models whose disagreement scores the candidates.
        budget: how many to pick.
        strategy: a selection strategy (:data:`sampling.selection.STRATEGIES`).
        score: the score greedy and fps rank by (:data:`sampling.scoring.SCORE_NAMES`).
        min_distance: greedy's diversity guard in mean-SOAP space (dimensionless).
        seed: seed of the random choices (random strategy, fps without scores, DIRECT's k-means fallback).
        reference: a reference dataset; adds the ``novelty`` score.

    Raises:
        ConfigurationError: no candidates, an unknown score, or a score whose inputs are missing (checked before
            the committee runs).
    """
    if candidates.num_rows == 0:
        raise ConfigurationError("the candidate pool is empty")
    if score not in SCORERS:
        raise ConfigurationError(f"unknown score {score!r}; known: {', '.join(SCORERS)}")
    check_needs(SCORERS[score], frozenset({"committee", "reference"} if reference is not None else {"committee"}))
    predictions = committee.predict(batch_to_configurations(candidates))
    scores = score_candidates(ScoringInputs(candidates, committee=predictions, reference=reference))
    pool = CandidatePool(
        ids=candidates.column("id").to_pylist(),
        features=structure_descriptors(candidates),
        scores=scores,
        formulas=candidates.column("chemical_formula_reduced").to_pylist(),
    )
    picks = make_selector(strategy, score=score, min_distance=min_distance).select(pool, budget=budget, seed=seed)
    return SampleResult(pool=pool, picks=picks)
