"""What a *material* is: the one grouping of rows that publishing splits and exporters key frames by.

Rows are grouped with a union-find over the keys that tie rows to one material:

1. the same ``material_id``;
2. the same ``task_id`` (frames of one calculation are one material);
3. the same ``geometry_hash`` (one geometry labelled by two functionals);
4. the same ``pair_id`` (rows linked across functionals);
5. ``parent_id`` (a generated row joins the group of the row it was generated from, when that row is present);
6. a group with no ``material_id`` at all is merged with every group of the same ``chemical_formula_reduced``
   (identified or not): without a database id the composition is the only safe material key, so an
   unidentified composition never spans two groups (an Fe task without id joins mp-13 and every other Fe).

A group's *key* is the smallest of its union-find keys (``formula:As2O6S``, ``material:mp-13``, ``task:...``,
``row:...``): it does not depend on row order, and publishing seeds its split order with it. A group's *name*
is what a person (or CHGNet's ``mp_id``) reads: its smallest ``material_id`` when it has one, else its
smallest reduced formula (``formula:`` prefixed only if that text is also some group's material id). Both
are unique per group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pyarrow as pa

MATERIAL_COLUMNS: tuple[str, ...] = (
    "id",
    "material_id",
    "task_id",
    "geometry_hash",
    "pair_id",
    "parent_id",
    "chemical_formula_reduced",
)
_LINK_COLUMNS = (("material_id", "material"), ("task_id", "task"), ("geometry_hash", "geometry"), ("pair_id", "pair"))


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
            # the smaller key wins, so a group's key is its smallest key whatever the insertion order
            low, high = sorted((root_a, root_b))
            self.parent[high] = low


def _row_keys(row: Mapping[str, str | None]) -> list[str]:
    keys = [f"row:{row['id']}"]
    for column, prefix in _LINK_COLUMNS:
        if row[column] is not None:
            keys.append(f"{prefix}:{row[column]}")
    if row["parent_id"] is not None:
        keys.append(f"row:{row['parent_id']}")
    return keys


@dataclass(frozen=True)
class MaterialGroups:
    """The material group of every row.

    Attributes:
        group_of_row: row id -> group key (the group's smallest union-find key, e.g. ``formula:As2O6S``).
        name_of_group: group key -> readable unique name (``mp-13``, or the reduced formula ``As2O6S``).
    """

    group_of_row: dict[str, str]
    name_of_group: dict[str, str]

    def name_of_row(self, row_id: str) -> str:
        """The readable name of the group of row ``row_id`` (KeyError for a row not grouped)."""
        return self.name_of_group[self.group_of_row[row_id]]

    def rows_per_group(self) -> dict[str, int]:
        """Group key -> number of rows."""
        counts: dict[str, int] = {}
        for group in self.group_of_row.values():
            counts[group] = counts.get(group, 0) + 1
        return counts


class MaterialGrouper:
    """Builds :class:`MaterialGroups` from record batches fed one at a time (streaming, any row order).

    Memory: a few strings per row (ids and link keys); no structure or label is kept.
    """

    def __init__(self) -> None:
        self._union = _UnionFind()
        # row id, first key, formula, material id
        self._rows: list[tuple[str, str, str, str | None]] = []
        self._identified_keys: set[str] = set()

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Add the rows of ``batch`` (it needs the columns in :data:`MATERIAL_COLUMNS`)."""
        for row in batch.select(list(MATERIAL_COLUMNS)).to_pylist():
            keys = _row_keys(row)
            for key in keys[1:]:
                self._union.union(keys[0], key)
            if row["material_id"] is not None:
                self._identified_keys.add(keys[0])
            self._rows.append((row["id"], keys[0], row["chemical_formula_reduced"], row["material_id"]))

    def groups(self) -> MaterialGroups:
        """The groups of every row added so far (rule 6, the formula merge, is applied here)."""
        union = self._union
        identified = {union.find(key) for key in self._identified_keys}
        unidentified_formulas = {formula for _, key, formula, _ in self._rows if union.find(key) not in identified}
        for _, key, formula, _ in self._rows:
            if formula in unidentified_formulas:
                union.union(key, f"formula:{formula}")
        # a parent_id naming a row absent from the dataset is a dangling "row:" key: harmless, it only joins
        group_of_row: dict[str, str] = {}
        material_of_group: dict[str, str] = {}
        formula_of_group: dict[str, str] = {}
        for row_id, key, formula, material_id in self._rows:
            group = union.find(key)
            group_of_row[row_id] = group
            if material_id is not None and (group not in material_of_group or material_id < material_of_group[group]):
                material_of_group[group] = material_id
            if group not in formula_of_group or formula < formula_of_group[group]:
                formula_of_group[group] = formula
        taken = set(material_of_group.values())
        name_of_group = {
            group: material_of_group.get(group, f"formula:{formula}" if formula in taken else formula)
            for group, formula in formula_of_group.items()
        }
        return MaterialGroups(group_of_row=group_of_row, name_of_group=name_of_group)


def material_groups(batches: Iterable[pa.RecordBatch | pa.Table]) -> MaterialGroups:
    """Group every row of ``batches`` (columns :data:`MATERIAL_COLUMNS`) into materials (rules above)."""
    grouper = MaterialGrouper()
    for batch in batches:
        grouper.add(batch)
    return grouper.groups()


__all__ = ["MATERIAL_COLUMNS", "MaterialGrouper", "MaterialGroups", "material_groups"]
