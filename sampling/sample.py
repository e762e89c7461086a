"""``curate sample`` as a flow over record batches: candidate rows -> model(s) -> scores -> features -> picks.

The candidates stay an Arrow table (the row schema) from the pool to the output. They become per-structure
objects once, at the model boundary; what comes back are arrays (energies, forces, scores, features) indexed
like the table's rows.

Which models run follows from the score and the strategy (:func:`model_specs`): ``force_information`` and
``herding`` read one model, the model being corrected, through one ``describe()`` pass (its predictions,
its own structure features, its reference energies); committee scores read a committee's predictions;
``novelty`` reads only a reference dataset. ``herding`` selects in the corrected model's own features (as
``curate learning-curve`` measured it), ``representative`` in its atom features, ``gradient`` and ``maxdet`` on each
candidate's label-free loss gradient (computed by the caller's :data:`LossGradients`: fine-tuning is a later stage than
sampling); greedy, fps and direct in mean-SOAP space.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from curate.dataset.configuration import Configuration, batch_to_configurations
from curate.errors import ConfigurationError
from curate.models.base import DescribesStructures, Description, Model, max_atoms_for
from curate.models.committee import DEFAULT_COMMITTEE, MIN_MEMBERS, Committee
from curate.models.registry import load_model
from sampling.scoring import SCORERS, Need, ScoringInputs, check_needs, score_candidates
from sampling.selection import (
    DEFAULT_STRATEGY_FOR_METHOD,
    GRADIENT_STRATEGIES,
    CandidatePool,
    Pick,
    Target,
    make_selector,
)
from sampling.selection.features import structure_descriptors

DEFAULT_CORRECTED_MODEL = "chgnet@0.3.0"
DEFAULT_STRATEGY, DEFAULT_SCORE = DEFAULT_STRATEGY_FOR_METHOD["linear"], "force_information"
"""``curate sample``'s defaults: what ``curate learning-curve`` measured best for a linear correction."""
MODEL_FEATURE_STRATEGIES: frozenset[str] = frozenset({"herding", "representative", *GRADIENT_STRATEGIES})
"""Strategies that select on what the corrected model says of the candidates (its description) or its gradients."""
MEAN_SOAP = "mean SOAP"

LossGradients = Callable[[Model, Sequence[Configuration]], np.ndarray]
"""The corrected model's label-free loss gradient of every candidate, (N, D): what ``gradient`` selects on."""
ScoringModels = Committee | Model | None
"""What scores the candidates: a committee (two or more models), one model (the model being corrected), none."""


@dataclass(frozen=True)
class SampleResult:
    """The scored pool (ids, features, scores, formulas indexed like the candidate rows) and the picks.

    Attributes:
        features: what the pool's features are: ``mean SOAP`` or ``<spec> own features``.
    """

    pool: CandidatePool
    picks: list[Pick]
    features: str = MEAN_SOAP


def inputs_needed(score: str, strategy: str) -> frozenset[Need]:
    """What ``score`` and ``strategy`` read besides the candidates.

    Raises:
        ConfigurationError: an unknown score, or a committee score with herding (which reads one model).
    """
    if score not in SCORERS:
        raise ConfigurationError(f"unknown score {score!r}; known: {', '.join(SCORERS)}")
    needs: frozenset[Need] = SCORERS[score].needs
    if strategy in MODEL_FEATURE_STRATEGIES:
        if "committee" in needs:
            raise ConfigurationError(
                f"strategy {strategy!r} selects in the features of one model, the model being corrected; score "
                f"{score!r} needs a committee: use score 'force_information' with {strategy!r}, or a committee "
                "score with greedy, fps or direct"
            )
        needs = needs | {"description"}
    return needs


def model_specs(score: str, strategy: str, specs: Sequence[str] = ()) -> list[str]:
    """The models to load for ``score`` and ``strategy``: ``specs``, or the default the inputs need.

    Committee scores default to the three CHGNet models of its wheel; ``force_information`` and ``herding``
    to the model being corrected, :data:`DEFAULT_CORRECTED_MODEL`; ``novelty`` alone to none.

    Raises:
        ConfigurationError: a committee score with fewer than two models, one model's score or strategy with
            several (checked before any model is loaded).
    """
    needs = inputs_needed(score, strategy)
    chosen = list(specs)
    if "committee" in needs:
        chosen = chosen or list(DEFAULT_COMMITTEE)
        if len(chosen) < MIN_MEMBERS:
            raise ConfigurationError(
                f"score {score!r} measures a committee's disagreement and needs at least {MIN_MEMBERS} models "
                f"(argument models); got {chosen}"
            )
    elif "description" in needs:
        chosen = chosen or [DEFAULT_CORRECTED_MODEL]
        if len(chosen) != 1:
            reader = f"strategy {strategy!r}" if "description" not in SCORERS[score].needs else f"score {score!r}"
            raise ConfigurationError(
                f"{reader} reads one model, the model being corrected (argument models); got {len(chosen)}: {chosen}"
            )
    return chosen


def load_scoring_models(specs: Sequence[str], *, device: str | None = None) -> ScoringModels:
    """None for no specs, the model for one, a :class:`Committee` for two or more."""
    if not specs:
        return None
    if len(specs) == 1:
        return load_model(specs[0], device=device)
    return Committee.load(specs, device=device)


def describe_candidates(model: Model, candidates: pa.Table) -> Description:
    """The model's one ``describe()`` pass over the candidate rows (predictions, own features, reference energies).

    Raises:
        ConfigurationError: the model cannot describe structures; the message names its spec.
    """
    if not isinstance(model, DescribesStructures):
        raise ConfigurationError(
            f"{model.info.spec}: this model cannot describe structures (its own features and reference energies) "
            "yet; score 'force_information' and strategy 'herding' read them"
        )
    return model.describe(batch_to_configurations(candidates), max_atoms_per_batch=max_atoms_for([model]))


def _available(models: ScoringModels, reference: Path | None) -> frozenset[Need]:
    present: set[Need] = set() if reference is None else {"reference"}
    if isinstance(models, Committee):
        present.add("committee")
    elif models is not None:
        present.add("description")
    return frozenset(present)


def _check_inputs(score: str, strategy: str, models: ScoringModels, reference: Path | None) -> None:
    """ConfigurationError naming what the score or the strategy reads and ``models``/``reference`` lack."""
    needs = inputs_needed(score, strategy)
    available = _available(models, reference)
    check_needs(SCORERS[score], available)
    missing = needs - available
    if missing:
        given = "a committee" if isinstance(models, Committee) else "no model"
        raise ConfigurationError(
            f"strategy {strategy!r} selects in the own features of one model, the model being corrected "
            f"(argument models); got {given}"
        )


def check_target(target: pa.Table, *, strategy: str, score: str) -> None:
    """ConfigurationError unless the target has rows and ``strategy`` and ``score`` can serve it: only ``herding``
    weighted by ``force_information`` does (cheap: the CLI checks before any model is loaded)."""
    if strategy != "herding" or score != "force_information":
        raise ConfigurationError(
            f"a target is served by strategy 'herding' with score 'force_information'; got strategy {strategy!r}, "
            f"score {score!r}"
        )
    if target.num_rows == 0:
        raise ConfigurationError("the target dataset has no rows")


def target_of(features: np.ndarray, information: np.ndarray, *, what: str) -> Target:
    """The target ``what`` with its force information as weights (NaN as 0, as for candidates).

    Raises:
        ConfigurationError: no structure of it has any information (nothing to match).
    """
    weights = np.clip(np.nan_to_num(np.asarray(information, dtype=np.float64)), 0.0, None)
    if len(weights) == 0 or weights.sum() <= 0:
        raise ConfigurationError(f"{what}: no structure has any force information to serve ({len(weights)} rows)")
    return Target(features=np.asarray(features), weights=weights)


def served_target(target: pa.Table, models: ScoringModels, *, strategy: str, score: str) -> Target:
    """The structures the picks are to serve, as the model being corrected sees them: its own features of each
    and their force information (one ``describe()`` pass; a target needs no labels).

    Raises:
        ConfigurationError: an empty target, or a strategy or score that cannot serve one (:func:`check_target`).
    """
    check_target(target, strategy=strategy, score=score)
    assert models is not None and not isinstance(models, Committee)
    description = describe_candidates(models, target)
    weights = SCORERS["force_information"].score(ScoringInputs(target, description=description))
    return target_of(description.features, weights, what="the target dataset")


def score_pool(
    candidates: pa.Table,
    models: ScoringModels,
    *,
    strategy: str,
    score: str,
    reference: Path | None = None,
    loss_gradients: LossGradients | None = None,
    target: pa.Table | None = None,
) -> tuple[CandidatePool, str]:
    """Every registered score whose inputs are present, and the features ``strategy`` selects in.

    Returns the scored pool (indexed like the candidate rows) and what its features are (``mean SOAP`` or
    ``<spec> own features``). The arguments are those of :func:`score_and_select`.
    """
    if candidates.num_rows == 0:
        raise ConfigurationError("the candidate pool is empty")
    _check_inputs(score, strategy, models, reference)
    if strategy in GRADIENT_STRATEGIES and loss_gradients is None:
        raise ConfigurationError(f"strategy {strategy!r} needs the candidates' loss gradients (loss_gradients)")
    served = None if target is None else served_target(target, models, strategy=strategy, score=score)
    committee = description = None
    if isinstance(models, Committee):
        committee = models.predict(batch_to_configurations(candidates))
    elif models is not None:
        description = describe_candidates(models, candidates)
    scores = score_candidates(
        ScoringInputs(candidates, committee=committee, reference=reference, description=description)
    )
    if strategy in MODEL_FEATURE_STRATEGIES:
        assert description is not None and models is not None and not isinstance(models, Committee)
        features, features_label = description.features, f"{models.info.spec} own features"
    else:
        features, features_label = structure_descriptors(candidates), MEAN_SOAP
    gradients = None
    if strategy in GRADIENT_STRATEGIES:
        assert loss_gradients is not None and models is not None and not isinstance(models, Committee)
        gradients = loss_gradients(models, batch_to_configurations(candidates))
    pool = CandidatePool(
        ids=candidates.column("id").to_pylist(),
        features=features,
        scores=scores,
        formulas=candidates.column("chemical_formula_reduced").to_pylist(),
        atom_features=description.atom_features if description is not None and strategy == "representative" else (),
        loss_gradients=gradients,
        target=served,
    )
    return pool, features_label


def score_and_select(
    candidates: pa.Table,
    models: ScoringModels,
    *,
    budget: int,
    strategy: str,
    score: str,
    min_distance: float,
    seed: int,
    reference: Path | None = None,
    loss_gradients: LossGradients | None = None,
    target: pa.Table | None = None,
) -> SampleResult:
    """Score every candidate row (every registered score whose inputs are present) and pick ``budget`` of them.

    Args:
        candidates: candidate rows of the row schema, N >= 1.
        models: a committee (its disagreement scores), one model (the model being corrected: one ``describe()``
            pass gives ``force_information`` and its own features) or None (``novelty`` only).
        budget: how many to pick.
        strategy: a selection strategy (:data:`sampling.selection.STRATEGIES`).
        score: the score greedy and fps rank by and herding weights by (:data:`sampling.scoring.SCORE_NAMES`).
        min_distance: greedy's diversity guard in mean-SOAP space (dimensionless).
        seed: seed of the random choices (random strategy, fps without scores, DIRECT's k-means fallback).
        reference: a reference dataset; adds the ``novelty`` score.
        loss_gradients: computes the candidates' loss gradients for ``gradient`` and ``maxdet`` (the CLI passes
            the fine-tuner's).
        target: rows of the structures the picks are to serve (e.g. frames of the simulation the corrected model
            will run; labels unused): ``herding`` matches their weighted distribution instead of the pool's.

    Raises:
        ConfigurationError: no candidates, an unknown score, a score or strategy whose inputs are missing, or a
            model that cannot describe structures (checked before the models run).
    """
    pool, features = score_pool(
        candidates,
        models,
        strategy=strategy,
        score=score,
        reference=reference,
        loss_gradients=loss_gradients,
        target=target,
    )
    picks = make_selector(strategy, score=score, min_distance=min_distance).select(pool, budget=budget, seed=seed)
    return SampleResult(pool=pool, picks=picks, features=features)
