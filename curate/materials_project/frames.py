"""The frame policy for relaxation trajectories, as MPtrj did: drop near-repeats, keep first and last.

Consecutive relaxation steps often differ by almost nothing; MPtrj kept a frame only when it was different
enough from the frame kept before it. Here frame i is kept when

    |E_i - E_k| / N >= energy_threshold_ev_per_atom   or   max_{a,c} |F_i[a,c] - F_k[a,c]| >= force_threshold

where k is the last kept frame (E in eV, N sites, F and the force threshold in eV/A). The first and the last
frame of every task are always kept (the starting point and the relaxed structure). Statics are kept whole.
Thresholds of 0 keep every frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from curate.dataset.configuration import Configuration, Rejected

DEFAULT_ENERGY_THRESHOLD_EV_PER_ATOM = 0.002
DEFAULT_FORCE_THRESHOLD_EV_PER_ANG = 0.05


@dataclass(frozen=True)
class FramePolicy:
    """Thresholds of the frame policy (see the module docstring); both 0 keeps every frame."""

    energy_threshold_ev_per_atom: float = DEFAULT_ENERGY_THRESHOLD_EV_PER_ATOM
    force_threshold_ev_per_ang: float = DEFAULT_FORCE_THRESHOLD_EV_PER_ANG

    @property
    def keeps_everything(self) -> bool:
        return self.energy_threshold_ev_per_atom <= 0 and self.force_threshold_ev_per_ang <= 0

    def differs(self, frame: Configuration, kept: Configuration) -> bool:
        """True when ``frame`` differs from ``kept`` by at least one threshold (missing labels count as different)."""
        if frame.energy is None or kept.energy is None or frame.nsites != kept.nsites:
            return True
        energy_change = abs(frame.energy - kept.energy) / frame.nsites
        if energy_change >= self.energy_threshold_ev_per_atom:
            return True
        if frame.forces is None or kept.forces is None:
            return True
        return float(np.max(np.abs(frame.forces - kept.forces))) >= self.force_threshold_ev_per_ang


def select_frames(
    items: Iterable[Configuration | Rejected], policy: FramePolicy
) -> tuple[list[Configuration | Rejected], int]:
    """Apply ``policy`` to the steps of one relaxation task (time order); rejected items pass through.

    Returns (items kept, number of frames dropped as near-repeats).
    """
    items = list(items)
    frames = [(i, item) for i, item in enumerate(items) if isinstance(item, Configuration)]
    if policy.keeps_everything or len(frames) <= 2:
        return items, 0
    keep = {frames[0][0], frames[-1][0]}
    kept = frames[0][1]
    for index, frame in frames[1:-1]:
        if policy.differs(frame, kept):
            keep.add(index)
            kept = frame
    selected = [item for i, item in enumerate(items) if isinstance(item, Rejected) or i in keep]
    return selected, len(frames) - len(keep)
