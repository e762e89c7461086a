"""Run several models over the same structures, building shared neighbour graphs once per graph key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from curate.dataset.configuration import Configuration
from curate.models.base import Model, Prediction, SharesGraphs


def predict_committee(
    models: Sequence[Model],
    structures: Sequence[Configuration],
    *,
    max_atoms_per_batch: int,
    share_graphs: bool = True,
) -> dict[str, list[Prediction]]:
    """Predictions of every model for ``structures``, keyed by model name, each list in input order.

    Models implementing :class:`SharesGraphs` with equal ``graph_key()`` get the graphs built once (CHGNet
    0.3.0 and r2scan share 6 A / 3 A cutoffs; 0.2.0 uses 5 A and gets its own). ``share_graphs=False`` builds
    them per model (for measuring what sharing saves).
    """
    nsites = [c.nsites for c in structures]
    graphs: dict[tuple[Any, ...], list[Any]] = {}
    out: dict[str, list[Prediction]] = {}
    for model in models:
        if share_graphs and isinstance(model, SharesGraphs):
            key = model.graph_key()
            if key not in graphs:
                graphs[key] = model.build_graphs(structures)
            out[model.info.name] = model.predict_graphs(graphs[key], nsites, max_atoms_per_batch=max_atoms_per_batch)
        else:
            out[model.info.name] = model.predict(structures, max_atoms_per_batch=max_atoms_per_batch)
    return out
