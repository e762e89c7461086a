"""Material-level, seeded train/validation/test split: no material ever appears in two splits.

Rows are grouped into *materials* with a union-find over the keys that tie rows to one material:

1. the same ``material_id``;
2. the same ``task_id`` (frames of one calculation are one material);
3. the same ``geometry_hash`` (one geometry labelled by two functionals);
4. the same ``pair_id`` (rows linked across functionals);
5. ``parent_id`` (a generated row joins the group of the row it was generated from, when that row is present);
6. a group with no ``material_id`` at all is merged with every group of the same ``chemical_formula_reduced``
   (identified or not): without a database id the composition is the only safe material key, so an
   unidentified composition never spans two splits (an Fe task without id joins mp-13 and every other Fe).

Groups are then taken largest first, ties in the order of ``sha256(f"{seed}:{group key}")`` (deterministic and
independent of row and shard order), and each goes to the split furthest below its target number of rows. An
existing ``split`` value is kept: its whole group goes to that split (a group whose rows already carry two
different splits is refused, since it leaks one material across splits).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

from curate.errors import ConfigurationError, InputError

SplitName = Literal["train", "validation", "test"]
SPLIT_NAMES: tuple[SplitName, ...] = ("train", "validation", "test")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)
SPLIT_COLUMNS = [
    "id",
    "material_id",
    "task_id",
    "geometry_hash",
    "pair_id",
    "parent_id",
    "chemical_formula_reduced",
    "split",
]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        parent = self.parent.setdefault(key, key)
        if parent == key:
            return key
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:  # path compression
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, a: str, b: str) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            # the smaller key wins so that the group's name does not depend on insertion order
            low, high = sorted((root_a, root_b))
            self.parent[high] = low


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


def _row_keys(row: dict[str, str | None]) -> list[str]:
    keys = [f"row:{row['id']}"]
    for column, prefix in (
        ("material_id", "material"),
        ("task_id", "task"),
        ("geometry_hash", "geometry"),
        ("pair_id", "pair"),
    ):
        if row[column] is not None:
            keys.append(f"{prefix}:{row[column]}")
    if row["parent_id"] is not None:
        keys.append(f"row:{row['parent_id']}")
    return keys


def _assign_groups(
    group_rows: Mapping[str, int],
    group_existing: Mapping[str, SplitName],
    *,
    seed: int,
    fractions: Sequence[float],
) -> tuple[dict[str, SplitName], dict[str, int]]:
    """The split of every material group, and the rows each split then holds.

    Args:
        group_rows: material group key -> number of rows.
        group_existing: group key -> the split its rows already carry (kept as is).
        seed: seed of the tie order.
        fractions: target share of rows for train, validation, test.
    """
    total = sum(group_rows.values())
    targets = [f * total for f in fractions]
    filled: dict[str, int] = dict.fromkeys(SPLIT_NAMES, 0)
    group_split: dict[str, SplitName] = {}
    for group, split in group_existing.items():
        group_split[group] = split
        filled[split] += group_rows[group]
    # largest groups first (one relaxation can hold hundreds of frames), ties in a seeded hash order; each goes
    # to the split furthest below its target row count, so the shares land close to the targets
    order = sorted(
        (g for g in group_rows if g not in group_split),
        key=lambda g: (-group_rows[g], hashlib.sha256(f"{seed}:{g}".encode()).hexdigest()),
    )
    for group in order:
        best = max(range(3), key=lambda i: (targets[i] - filled[SPLIT_NAMES[i]], -i))
        group_split[group] = SPLIT_NAMES[best]
        filled[SPLIT_NAMES[best]] += group_rows[group]
    return group_split, filled


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
    union = _UnionFind()
    rows: list[tuple[str, str, str | None, SplitName | None]] = []  # id, first key, formula, existing split
    material_keys: set[str] = set()
    for batch in batches:
        for row in batch.select(SPLIT_COLUMNS).to_pylist():
            keys = _row_keys(row)
            for key in keys[1:]:
                union.union(keys[0], key)
            if row["material_id"] is not None:
                material_keys.add(keys[0])
            existing = row["split"] if keep_existing else None
            if existing is not None and existing not in SPLIT_NAMES:
                raise InputError(
                    f"split must be one of {', '.join(SPLIT_NAMES)} or null, found {existing!r}",
                    record=row["id"],
                    field="split",
                )
            rows.append((row["id"], keys[0], row["chemical_formula_reduced"], existing))
    identified = {union.find(key) for key in material_keys}
    unidentified_formulas = {formula for _, key, formula, _ in rows if union.find(key) not in identified}
    for _, key, formula, _ in rows:
        if formula in unidentified_formulas:
            union.union(key, f"formula:{formula}")
    # a parent_id that names a row absent from the dataset is a dangling "row:" key: harmless, it only joins
    group_rows: dict[str, int] = {}
    group_existing: dict[str, SplitName] = {}
    group_of_row: dict[str, str] = {}
    kept = 0
    for row_id, key, _, existing in rows:
        group = union.find(key)
        group_of_row[row_id] = group
        group_rows[group] = group_rows.get(group, 0) + 1
        if existing is not None:
            kept += 1
            previous = group_existing.setdefault(group, existing)
            if previous != existing:
                raise InputError(
                    f"material group {group} already carries splits {previous!r} and {existing!r}; "
                    "clear the split column or publish with --resplit",
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
