"""The one seeded split of material groups into parts (train/validation/test, or any shares).

Groups are taken largest first (one relaxation can hold hundreds of rows), ties in the order of
``sha256(f"{seed}:{group}")``, which depends on neither row nor shard order; each goes to the part furthest
below its target number of rows, so the shares land close to the targets. Groups already assigned (a dataset's
own ``split`` column) keep their part and count towards it. With ``every_part_filled``, each part with a
non-zero share first receives one group (the largest unassigned ones, in part order of decreasing share), so
no such part is left empty: what a training split needs, where an empty validation set is an error.

Publishing (:mod:`curate.publish.split`), fine-tuning and the experiments (:mod:`curate.training.data`) split
with this function over the groups of :mod:`curate.dataset.material`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np

from curate.errors import ConfigurationError


def assign_groups(
    group_rows: Mapping[str, int],
    fractions: Sequence[float],
    *,
    seed: int,
    fixed: Mapping[str, int] | None = None,
    every_part_filled: bool = False,
) -> tuple[dict[str, int], list[int]]:
    """The part of every group, and the rows each part then holds.

    Args:
        group_rows: group key -> number of rows.
        fractions: target share of rows per part (>= 0, positive sum; normalised).
        seed: seed of the tie order.
        fixed: group key -> part index, kept as is (and counted).
        every_part_filled: give every part with a non-zero share at least one group.

    Raises:
        ConfigurationError: a negative share, no positive share, or (with ``every_part_filled``) fewer groups
            than parts to fill.
    """
    if any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ConfigurationError(f"split fractions must be >= 0 with a positive sum, got {list(fractions)}")
    shares = np.asarray(fractions, dtype=float) / float(sum(fractions))
    total = sum(group_rows.values())
    targets = [float(s) * total for s in shares]
    filled = [0] * len(shares)
    part_of: dict[str, int] = {}
    for group, part in (fixed or {}).items():
        part_of[group] = part
        filled[part] += group_rows[group]
    order = sorted(
        (g for g in group_rows if g not in part_of),
        key=lambda g: (-group_rows[g], hashlib.sha256(f"{seed}:{g}".encode()).hexdigest()),
    )
    if every_part_filled:
        empty = [p for p in np.argsort(-shares, kind="stable") if shares[p] > 0 and filled[p] == 0]
        if len(order) < len(empty):
            raise ConfigurationError(f"{len(group_rows)} group(s) cannot fill {len(empty)} parts without sharing")
        for part, group in zip(empty, order[: len(empty)], strict=True):
            part_of[group] = int(part)
            filled[int(part)] += group_rows[group]
        order = order[len(empty) :]
    for group in order:
        best = max(range(len(shares)), key=lambda i: (targets[i] - filled[i], -i))
        part_of[group] = best
        filled[best] += group_rows[group]
    return part_of, filled
