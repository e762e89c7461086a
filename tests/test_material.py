"""Material groups on real rows: one As2SO6 material from 11 task ids, ids win over formulas, order-free."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from curate.dataset.configuration import Configuration, configurations_to_batch
from curate.dataset.material import MATERIAL_COLUMNS, material_groups
from curate.dataset.store import Dataset
from curate.sources.ingest import import_paths


@pytest.fixture(scope="module")
def mixed_table(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    out = tmp_path_factory.mktemp("material") / "d"
    for relative, format_name in (
        ("emmet/test_As2SO6_tasks.json.gz", "mp-tasks"),  # 11 tasks of one material, no material id
        ("emmet/magnetism_task_docs.json.gz", "mp-tasks"),  # Fe, Si, La2CoO4, MnSi2Tc tasks, no material id
        ("matcalc/MatPES-r2SCAN-Element-Refs.json.gz", "matpes"),  # 89 elements, each with its mp id
    ):
        assert import_paths([shared_data / relative], format_name=format_name, out=out).quarantined == 0
    return Dataset.open(out).read(columns=[*MATERIAL_COLUMNS, "source"])


def test_as2so6_tasks_are_one_material_named_by_formula(mixed_table: pa.Table) -> None:
    groups = material_groups(mixed_table.to_batches())
    rows = mixed_table.to_pylist()
    as2so6 = [r for r in rows if r["chemical_formula_reduced"] == "As2O6S"]
    assert len(as2so6) == 193 and len({r["task_id"] for r in as2so6}) == 11
    assert {groups.group_of_row[r["id"]] for r in as2so6} == {"formula:As2O6S"}
    assert {groups.name_of_row(r["id"]) for r in as2so6} == {"As2O6S"}


def test_unidentified_rows_join_the_material_id_of_their_formula(mixed_table: pa.Table) -> None:
    groups = material_groups(mixed_table.to_batches())
    rows = mixed_table.to_pylist()
    for element in ("Fe", "Si"):
        matpes = [r for r in rows if r["chemical_formula_reduced"] == element and r["source"] == "matpes"]
        task = [r for r in rows if r["chemical_formula_reduced"] == element and r["source"] == "mp-tasks"]
        assert len(matpes) == 1 and len(task) == 1 and task[0]["material_id"] is None
        assert groups.name_of_row(task[0]["id"]) == groups.name_of_row(matpes[0]["id"]) == matpes[0]["material_id"]
    # 89 matpes materials (Fe and Si absorb the two tasks), As2O6S, CoLa2O4, MnSi2Tc
    assert len(groups.name_of_group) == 89 + 3
    assert len(set(groups.name_of_group.values())) == len(groups.name_of_group)  # names are unique


def test_groups_do_not_depend_on_row_order(mixed_table: pa.Table) -> None:
    forward = material_groups(mixed_table.to_batches())
    backward = material_groups(mixed_table.take(pa.array(range(mixed_table.num_rows - 1, -1, -1))).to_batches(29))
    assert forward == backward


def test_a_formula_name_never_takes_a_material_id_already_in_use() -> None:
    def row(species: list[str], material_id: str | None, energy: float) -> Configuration:
        return Configuration(
            species=species,
            lattice=np.eye(3) * 4.0,
            positions=np.arange(3.0 * len(species)).reshape(-1, 3) * 0.5,
            energy=energy,
            functional="PBE",
            material_id=material_id,
        )

    # an odd but legal id: a material of formula NaCl whose id reads "Si"; an unidentified Si row
    batch = configurations_to_batch([row(["Na", "Cl"], "Si", -7.0), row(["Si", "Si"], None, -10.8)])
    groups = material_groups([batch])
    assert sorted(groups.name_of_group.values()) == ["Si", "formula:Si"]
