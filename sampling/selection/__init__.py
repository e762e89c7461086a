"""Selection under a budget: one small class per strategy behind the :class:`Selector` interface."""

from __future__ import annotations

from typing import Literal, get_args

from sampling.selection.base import CandidatePool, Pick, Selector
from sampling.selection.direct import DirectSampling
from sampling.selection.fps import FarthestPoint
from sampling.selection.greedy import GreedyUncertainty
from sampling.selection.random_baseline import RandomBaseline

Strategy = Literal["greedy", "fps", "direct", "random"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)


def make_selector(name: str, *, score: str = "force_std_max", min_distance: float = 0.0) -> Selector:
    """The selector registered as ``name`` (``greedy`` uses ``score`` and the ``min_distance`` guard)."""
    if name == "greedy":
        return GreedyUncertainty(score=score, min_distance=min_distance)
    if name == "fps":
        return FarthestPoint(score=score)
    if name == "direct":
        return DirectSampling()
    if name == "random":
        return RandomBaseline()
    raise KeyError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")


__all__ = ["STRATEGIES", "CandidatePool", "Pick", "Selector", "Strategy", "make_selector"]
