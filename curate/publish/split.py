"""Material-level, seeded train/validation/test split: no material ever appears in two splits.

Rows are grouped into *materials* by :mod:`curate.dataset.material` (union-find over material_id, task_id,
geometry_hash, pair_id, parent_id, and the reduced formula for groups without any material_id): the same
definition the exporters key frames by.

Groups are then taken largest first, ties in the order of ``sha256(f"{seed}:{group key}")`` (deterministic and
independent of row and shard order), and each goes to the split furthest below its target number of rows. An
existing ``split`` value is kept: its whole group goes to that split (a group whose rows already carry two
different splits is refused, since it leaks one material across splits).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

from curate.dataset.material import MATERIAL_COLUMNS, MaterialGrouper
from curate.dataset.split import assign_groups
from curate.errors import ConfigurationError, InputError

SplitName = Literal["train", "validation", "test"]
SPLIT_NAMES: tuple[SplitName, ...] = ("train", "validation", "test")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)
SPLIT_COLUMNS = [*MATERIAL_COLUMNS, "split"]


@dataclass(frozen=True)
class SplitPlan:
    """The split of every row and the material groups behind it.

    Attributes:
        seed: seed of the group ordering.
        fractions: target share of rows for train, validation, test.
        split_of_row: row id -> split name.
        group_of_row: row id -> material group key (a ``material:``, ``task:``, ``formula:``... key).
        group_split: material group key -> split name.
        kept_existing: rows whose split came from the dataset's own ``split`` column.
    """

    seed: int
    fractions: tuple[float, float, float]
    split_of_row: dict[str, SplitName]
    group_of_row: dict[str, str]
    group_split: dict[str, SplitName]
    kept_existing: int = 0
    rows_per_split: dict[str, int] = field(default_factory=dict)

    def groups_per_split(self) -> dict[str, int]:
        """Number of material groups in each split."""
        counts: dict[str, int] = dict.fromkeys(SPLIT_NAMES, 0)
        for split in self.group_split.values():
            counts[split] += 1
        return counts


def _assign_groups(
    group_rows: Mapping[str, int],
    group_existing: Mapping[str, SplitName],
    *,
    seed: int,
    fractions: Sequence[float],
) -> tuple[dict[str, SplitName], dict[str, int]]:
    """The split of every material group (:func:`curate.dataset.split.assign_groups`), and its rows per split."""
    fixed = {group: SPLIT_NAMES.index(split) for group, split in group_existing.items()}
    part_of, filled = assign_groups(group_rows, fractions, seed=seed, fixed=fixed)
    group_split = {group: SPLIT_NAMES[part] for group, part in part_of.items()}
    return group_split, {SPLIT_NAMES[i]: rows for i, rows in enumerate(filled)}


def plan_split(
    batches: Iterable[pa.RecordBatch],
    *,
    seed: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    keep_existing: bool = True,
) -> SplitPlan:
    """Assign every row to train/validation/test so that no material is in two splits.

    Args:
        batches: record batches with at least the columns in :data:`SPLIT_COLUMNS`.
        seed: seed of the deterministic group ordering (recorded in the card).
        fractions: target share of rows per split (train, validation, test); each >= 0, summing to 1.
        keep_existing: keep the dataset's own ``split`` values (False: ignore them and split afresh).

    Returns:
        The :class:`SplitPlan`.

    Raises:
        InputError: a row carries a split name other than train/validation/test, or one material group
            already carries two different splits.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ConfigurationError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    grouper = MaterialGrouper()
    existing_of_row: list[tuple[str, SplitName | None]] = []
    for batch in batches:
        grouper.add(batch)
        for row_id, existing in zip(batch.column("id").to_pylist(), batch.column("split").to_pylist(), strict=True):
            existing = existing if keep_existing else None
            if existing is not None and existing not in SPLIT_NAMES:
                raise InputError(
                    f"split must be one of {', '.join(SPLIT_NAMES)} or null, found {existing!r}",
                    record=row_id,
                    field="split",
                )
            existing_of_row.append((row_id, existing))
    group_of_row = grouper.groups().group_of_row
    group_rows: dict[str, int] = {}
    group_existing: dict[str, SplitName] = {}
    kept = 0
    for row_id, existing in existing_of_row:
        group = group_of_row[row_id]
        group_rows[group] = group_rows.get(group, 0) + 1
        if existing is not None:
            kept += 1
            previous = group_existing.setdefault(group, existing)
            if previous != existing:
                raise InputError(
                    f"material group {group} already carries splits {previous!r} and {existing!r}; "
                    "clear the split column or split afresh (keep_existing_split=False)",
                    record=row_id,
                    field="split",
                )
    group_split, filled = _assign_groups(group_rows, group_existing, seed=seed, fractions=fractions)
    split_of_row = {row_id: group_split[group] for row_id, group in group_of_row.items()}
    return SplitPlan(
        seed=seed,
        fractions=tuple(fractions),  # type: ignore[arg-type]
        split_of_row=split_of_row,
        group_of_row=group_of_row,
        group_split=group_split,
        kept_existing=kept,
        rows_per_split=filled,
    )
