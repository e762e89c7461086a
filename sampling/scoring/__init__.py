"""Scores per candidate structure behind one interface (:class:`Scorer`), and their registry of names.

====================  ========  ==========================================================================
name                  unit      what it measures (larger = more worth a DFT label)
====================  ========  ==========================================================================
force_information     loss      the model being corrected: w_E u^2 + w_F <f^2> + w_S <sigma^2> of its own
                                predictions (how sharply the candidate pins down a linear correction)
force_std_max         eV/A      committee: max over atoms of the RMS deviation of the members' forces
force_std_mean        eV/A      committee: its mean over atoms
energy_std_per_atom   eV/atom   committee: spread of the members' energies per atom, centred per composition
novelty               0-2       reference: SOAP distance of the least-covered atom to a reference dataset
====================  ========  ==========================================================================

:data:`SCORE_NAMES` is what ``curate sample --score`` offers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

from sampling.scoring.base import Need, Scorer, ScoringInputs, check_needs
from sampling.scoring.committee import COMMITTEE_SCORERS, force_deviation_per_atom
from sampling.scoring.information import ForceInformation
from sampling.scoring.novelty import Novelty

ScoreName = Literal["force_information", "force_std_max", "force_std_mean", "energy_std_per_atom", "novelty"]
SCORE_NAMES: tuple[str, ...] = get_args(ScoreName)
SCORERS: dict[str, Scorer] = {scorer.name: scorer for scorer in (ForceInformation(), *COMMITTEE_SCORERS, Novelty())}
assert tuple(SCORERS) == SCORE_NAMES


def score_candidates(inputs: ScoringInputs, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Scores by name, each shape (N,), in registry order.

    Args:
        inputs: the candidates and whatever the scorers read.
        names: the scores wanted; None computes every registered score whose needs ``inputs`` meet.

    Raises:
        ConfigurationError: an unknown name, or a wanted score whose needs ``inputs`` do not meet.
    """
    from curate.errors import ConfigurationError

    unknown = sorted(set(names or ()) - set(SCORERS))
    if unknown:
        raise ConfigurationError(f"unknown score(s) {unknown}; known: {', '.join(SCORE_NAMES)}")
    chosen = [
        scorer
        for name, scorer in SCORERS.items()
        if (name in names if names is not None else scorer.needs <= inputs.available)
    ]
    scores = {}
    for scorer in chosen:
        check_needs(scorer, inputs.available)
        scores[scorer.name] = scorer.score(inputs)
    return scores


__all__ = [
    "SCORERS",
    "SCORE_NAMES",
    "Need",
    "ScoreName",
    "Scorer",
    "ScoringInputs",
    "check_needs",
    "force_deviation_per_atom",
    "score_candidates",
]
