"""Material-level split on real rows: no material, task, geometry, composition or lineage in two splits."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from curate.dataset.store import Dataset
from curate.errors import InputError
from curate.publish.split import SPLIT_COLUMNS, plan_split


def _table(path: Path) -> pa.Table:
    return Dataset.open(path).read(columns=[*SPLIT_COLUMNS, "functional", "generator"])


def _splits_per_key(table: pa.Table, split_of_row: dict[str, str], column: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for row_id, key in zip(table.column("id").to_pylist(), table.column(column).to_pylist(), strict=True):
        if key is not None:
            found[key].add(split_of_row[row_id])
    return found


def test_split_keeps_every_material_task_geometry_and_composition_in_one_split(mixed_dataset: Path) -> None:
    table = _table(mixed_dataset)
    plan = plan_split(table.to_batches(), seed=0)
    assert len(plan.split_of_row) == table.num_rows == 292
    # measured: the 196-row As2SO6 group (193 frames + 3 rattles) fills train; targets 233.6 / 29.2 / 29.2 rows
    assert plan.rows_per_split == {"train": 234, "validation": 29, "test": 29}
    assert plan.groups_per_split() == {"train": 34, "validation": 29, "test": 29}
    for column in ("material_id", "task_id", "geometry_hash", "parent_id", "chemical_formula_reduced"):
        leaks = {k: s for k, s in _splits_per_key(table, plan.split_of_row, column).items() if len(s) > 1}
        assert leaks == {}, column
    # generated rows follow their parent
    parent_of = dict(zip(table.column("id").to_pylist(), table.column("parent_id").to_pylist(), strict=True))
    generated = [row_id for row_id, parent in parent_of.items() if parent is not None]
    assert len(generated) == 6
    assert all(plan.split_of_row[g] == plan.split_of_row[parent_of[g]] for g in generated)


def test_split_is_seeded_and_independent_of_row_order(mixed_dataset: Path) -> None:
    table = _table(mixed_dataset)
    plan = plan_split(table.to_batches(), seed=7)
    reversed_rows = table.take(pa.array(range(table.num_rows - 1, -1, -1)))
    assert plan_split(reversed_rows.to_batches(max_chunksize=13), seed=7).split_of_row == plan.split_of_row
    other = plan_split(table.to_batches(), seed=8)
    moved = sum(plan.split_of_row[k] != other.split_of_row[k] for k in plan.split_of_row)
    assert moved > 0


def test_existing_split_is_kept_for_the_whole_group_and_conflicts_are_refused(mixed_dataset: Path) -> None:
    table = _table(mixed_dataset)
    formulas = table.column("chemical_formula_reduced")
    # mark one r2SCAN Fe row "test": its whole Fe group (PBE Fe task, r2SCAN Fe, 3 rattles) must follow
    fe = pc.equal(formulas, "Fe").to_pylist()
    first_fe = fe.index(True)
    splits = [("test" if i == first_fe else None) for i in range(table.num_rows)]
    marked = table.set_column(table.schema.get_field_index("split"), "split", pa.array(splits, pa.string()))
    plan = plan_split(marked.to_batches(), seed=0)
    fe_ids = [row_id for row_id, is_fe in zip(table.column("id").to_pylist(), fe, strict=True) if is_fe]
    assert len(fe_ids) == 5
    assert {plan.split_of_row[i] for i in fe_ids} == {"test"}
    assert plan.kept_existing == 1
    # ignoring the column gives the same plan as an unmarked dataset
    assert plan_split(marked.to_batches(), seed=0, keep_existing=False).split_of_row == (
        plan_split(table.to_batches(), seed=0).split_of_row
    )
    second_fe = fe.index(True, first_fe + 1)
    splits[second_fe] = "train"
    conflicting = table.set_column(table.schema.get_field_index("split"), "split", pa.array(splits, pa.string()))
    with pytest.raises(InputError, match=r"carries splits 'test' and 'train'.*keep_existing_split=False"):
        plan_split(conflicting.to_batches(), seed=0)
    splits[second_fe] = "holdout"
    bad = table.set_column(table.schema.get_field_index("split"), "split", pa.array(splits, pa.string()))
    with pytest.raises(InputError, match=r"field 'split'.*found 'holdout'"):
        plan_split(bad.to_batches(), seed=0)
