"""Force information: how sharply a candidate, once labelled, would pin down a linear correction's scale.

Label-free: it reads only the description of the candidates by the model being corrected (its predictions
and elemental reference energies; :func:`curate.models.information.prediction_information`, the one
definition, shared with the learning curves). I = w_E u^2 + w_F <f^2> + w_S <sigma^2> with u the predicted
interaction energy per atom (eV/atom), f the predicted force components (eV/A), sigma the predicted stress
components (GPa), and the loss weights (0.1, 100, 0.1) by default. It is the weight ``herding`` selects by.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from curate.models.information import DEFAULT_LOSS_WEIGHTS, prediction_information
from sampling.scoring.base import Need, ScoringInputs, check_needs


@dataclass(frozen=True)
class ForceInformation:
    """sum_t w_t x mean squared predicted component of term t (energy per atom, forces, stress), per candidate.

    Attributes:
        weights: loss weights of the energy (eV/atom), force (eV/A) and stress (GPa) terms.
    """

    weights: tuple[float, float, float] = DEFAULT_LOSS_WEIGHTS
    name: ClassVar[str] = "force_information"
    unit: ClassVar[str] = "loss units: w_E (eV/atom)^2 + w_F (eV/A)^2 + w_S GPa^2"
    needs: ClassVar[frozenset[Need]] = frozenset({"description"})

    def score(self, inputs: ScoringInputs) -> np.ndarray:
        """Shape (N,), >= 0."""
        check_needs(self, inputs.available)
        assert inputs.description is not None
        return prediction_information(inputs.description, self.weights)
