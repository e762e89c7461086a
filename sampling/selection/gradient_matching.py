"""Gradient matching: picks whose mean label-free loss gradient direction is the pool's, so a short fine-tune on
them takes the steps a fine-tune on the whole pool would.

A ``heads`` or ``full`` fine-tune on a handful of structures is a few dozen optimiser steps from the pretrained
weights; where it goes is set by the mean gradient of its training loss. Under the softening prior every
candidate's loss gradient is known before any DFT up to one common factor
(:mod:`curate.training.softening_gradients`), so a set can be chosen whose mean gradient matches the pool's
mean gradient: the coreset idea of CRAIG and GRAD-MATCH (Mirzasoleiman et al. 2020; Killamsetty et al. 2021)
with uniform weights, solved by kernel herding with the linear kernel on the (sketched) gradients. The
benchmark is drawn from the same distribution as the pool, so the pool's mean gradient is the best label-free
stand-in for the benchmark's.

Each candidate's gradient is scaled to unit length first, so the set matches the pool's mean *direction*:
the prior fixes directions better than sizes (its size carries the structure's own (s_i - 1), which varies
from structure to structure; a surface frame with large forces may not be soft at all), and Adam, which
fine-tunes here, takes steps of about the learning rate whatever the gradient's size. Measured on mlearn Ge
and Li (bench/RESULTS.md): raw gradients overshoot on Li (its heads fine-tunes end stiffer than DFT).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sampling.selection.base import CandidatePool, Pick, loss_gradient_matrix
from sampling.selection.herding import Kernel, herd


@dataclass(frozen=True)
class GradientMatching:
    """Uniform kernel herding on the unit-length ``pool.loss_gradients`` (see the module docstring)."""

    name: str = "gradient"

    def select(self, pool: CandidatePool, *, budget: int, seed: int) -> list[Pick]:
        """Ordered picks; each brings the picks' mean loss gradient closest to the pool's."""
        gradients = loss_gradient_matrix(pool, "gradient matching")
        if len(pool) == 0 or budget <= 0:
            return []
        norms = np.linalg.norm(gradients, axis=1, keepdims=True)
        gradients = np.divide(gradients, norms, out=np.zeros_like(gradients), where=norms > 0)
        target = gradients.mean(axis=0)
        picks: list[Pick] = []
        total = np.zeros_like(target)
        for best in herd(Kernel(embedding=gradients), np.ones(len(pool)), budget, pool.ids):
            total += gradients[best]
            mean = total / (len(picks) + 1)
            cosine = float(mean @ target / max(np.linalg.norm(mean) * np.linalg.norm(target), 1e-300))
            reason = (
                "brings the picks' mean label-free loss-gradient direction closest to the pool's "
                f"(cosine {cosine:.3f} between the two)"
            )
            picks.append(Pick(len(picks) + 1, best, pool.ids[best], reason, pool.score_summary(best)))
        return picks
