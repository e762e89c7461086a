"""Elemental reference energies (AtomRef): per-element energies fitted to total energies by least squares.

CHGNet's AtomRef (and the GGA -> r2SCAN transfer-learning recipe that refits it on r2SCAN data) models the
composition-only part of the energy per atom as a linear function of the fractional composition:

    E / N  ~=  sum_e  x_e * mu_e,        x_e = n_e / N

with E the total energy (eV), N the number of atoms, n_e the atoms of element e and mu_e the fitted
reference energy of element e (eV/atom). mu minimises sum_rows (E/N - x . mu)^2 (numpy ``lstsq``; when
the compositions do not determine every mu_e, the minimum-norm solution is returned and ``rank`` says so).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from curate.errors import ConfigurationError

METHOD = "least squares of energy per atom on fractional composition: E/N = sum_e x_e mu_e"


@dataclass(frozen=True)
class AtomRef:
    """Fitted reference energies of one functional.

    Attributes:
        energies_ev_per_atom: element -> mu_e (eV/atom).
        num_rows: structures fitted.
        rank: rank of the composition matrix (== number of elements when every mu_e is determined).
        rmse_ev_per_atom: root-mean-square residual of E/N (eV/atom).
    """

    energies_ev_per_atom: dict[str, float]
    num_rows: int
    rank: int
    rmse_ev_per_atom: float

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for the manifest."""
        return {
            "energies_ev_per_atom": dict(sorted(self.energies_ev_per_atom.items())),
            "num_rows": self.num_rows,
            "rank": self.rank,
            "num_elements": len(self.energies_ev_per_atom),
            "rmse_ev_per_atom": self.rmse_ev_per_atom,
        }

    def predict_per_atom(self, counts: Mapping[str, float]) -> float:
        """sum_e x_e mu_e for element counts ``counts`` (eV/atom); KeyError for an element not fitted."""
        total = sum(counts.values())
        return sum(n / total * self.energies_ev_per_atom[e] for e, n in counts.items())


def fit_atomref(compositions: Sequence[Mapping[str, float]], energies_ev: Sequence[float]) -> AtomRef:
    """Fit mu_e to total energies ``energies_ev`` (eV) of structures with element counts ``compositions``.

    Raises ConfigurationError for no rows or mismatched lengths.
    """
    if len(compositions) != len(energies_ev):
        raise ConfigurationError(f"{len(compositions)} compositions but {len(energies_ev)} energies")
    if not compositions:
        raise ConfigurationError("no structures with an energy to fit reference energies to")
    elements = sorted({e for c in compositions for e in c})
    column = {e: i for i, e in enumerate(elements)}
    x = np.zeros((len(compositions), len(elements)))
    y = np.empty(len(compositions))
    for i, (counts, energy) in enumerate(zip(compositions, energies_ev, strict=True)):
        total = float(sum(counts.values()))
        for element, n in counts.items():
            x[i, column[element]] = n / total
        y[i] = float(energy) / total
    mu, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
    rmse = float(np.sqrt(np.mean((x @ mu - y) ** 2)))
    return AtomRef({e: float(mu[column[e]]) for e in elements}, len(y), int(rank), rmse)


def counts_of(species: Iterable[str]) -> dict[str, int]:
    """Element -> number of sites."""
    counts: dict[str, int] = {}
    for symbol in species:
        counts[symbol] = counts.get(symbol, 0) + 1
    return counts
