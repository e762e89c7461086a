"""The out-of-domain benchmark (:mod:`curate.training.out_of_domain`): its default parts from the shared real
data, the per-part verdict, and ``curate finetune`` reporting it next to the in-domain numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.training.data import TrainingSet
from curate.training.evaluate import Metrics
from curate.training.out_of_domain import (
    OutOfDomainChange,
    bounded_part,
    change_markdown,
    default_parts,
    pooled_reference,
    without_ids,
)


@pytest.fixture(scope="module")
def si64_train_val(si64: TrainingSet, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Si64 frame 9 (the hottest) as a training dataset, frames 0-8 as validation."""
    from curate.dataset.configuration import configurations_to_batch
    from curate.dataset.store import Dataset

    root = tmp_path_factory.mktemp("si64ood")
    for name, rows in (("train", [9]), ("val", list(range(9)))):
        dataset = Dataset.create(root / name)
        with dataset.writer() as writer:
            writer.append(configurations_to_batch([si64.configurations[i] for i in rows]))
    return root / "train", root / "val"


def _metrics(force: float, energy: float) -> Metrics:
    return Metrics(
        structures=10,
        energy_mae_ev_per_atom=energy,
        force_mae_ev_per_ang=force,
        stress_mae_gpa=None,
        softening_scale=0.9,
        force_cmae_ev_per_ang=force,
    )


def test_default_parts_are_bounded_deduplicated_and_deterministic(shared_data: Path) -> None:
    parts = default_parts(shared_data)
    assert [p.name for p in parts] == ["matpes-pbe", "mp-tasks"]
    matpes, tasks = (p.data for p in parts)
    # 89 MatPES elements, 2 with more than 32 atoms left out; 65 MP steps: <= 3 per task, PBE/PBE+U only
    assert (len(matpes), matpes.num_atoms) == (87, 292)
    assert (len(tasks), tasks.num_atoms) == (65, 383)
    assert {c.functional for c in tasks} == {"PBE", "PBE+U"} and {c.source for c in tasks} == {"mp-tasks"}
    assert all(c.nsites <= 32 for p in parts for c in p.data)
    per_task: dict[str | None, int] = {}
    for c in tasks:
        per_task[c.task_id] = per_task.get(c.task_id, 0) + 1
    assert max(per_task.values()) == 3
    again = default_parts(shared_data)
    assert [p.data.content_hash for p in again] == [p.data.content_hash for p in parts]
    assert len(set(tasks.ids)) == len(tasks)
    pooled = pooled_reference(parts)
    assert len(pooled) == 152 and pooled.ids[:87] == matpes.ids
    held = without_ids(parts, list(tasks.ids[:5]))
    assert [len(p.data) for p in held] == [87, 60]


def test_bounded_part_keeps_first_last_and_middle_step_and_one_per_geometry(shared_data: Path) -> None:
    from curate.sources import ImportOptions, get_importer

    path = shared_data / "emmet/test_As2SO6_tasks.json.gz"
    items = [c for c in get_importer("mp-tasks").read(path, display_name="as", options=ImportOptions())]
    part = bounded_part("as", items, steps_per_task=2, max_structures=1000).data
    tasks = {c.task_id for c in items}
    assert len(part) <= 2 * len(tasks)
    assert len({c.ionic_step for c in part if c.task_id == part.configurations[0].task_id}) <= 2


def test_verdict_names_every_part_and_metric_over_the_threshold() -> None:
    before = {"a": _metrics(0.100, 0.010), "b": _metrics(0.050, 0.020)}
    after = {"a": _metrics(0.112, 0.0104), "b": _metrics(0.049, 0.030)}
    change = OutOfDomainChange({"a": {}, "b": {}}, before, after, threshold_percent=5.0)
    assert change.changes()["a"]["force_mae_percent"] == pytest.approx(12.0)
    assert change.changes()["a"]["energy_mae_percent"] == pytest.approx(4.0)
    assert change.changes()["b"]["force_mae_percent"] == pytest.approx(-2.0)
    assert change.worse() == ["a force MAE +12.0 %", "b energy MAE +50.0 %"]
    assert change.verdict() == "worse outside its target: a force MAE +12.0 %; b energy MAE +50.0 % (threshold +5 %)"
    calm = OutOfDomainChange({"a": {}}, {"a": before["a"]}, {"a": _metrics(0.104, 0.010)})
    assert calm.verdict().startswith("no worse outside its target")
    table = change_markdown(change.as_dict())
    assert "| a | 10 | 0.1000 → 0.1120 | +12.0 % | 10.0 → 10.4 | +4.0 % |" in table


@pytest.mark.model
@pytest.mark.slow  # ~2 min on 2 cores
def test_finetune_reports_out_of_domain_change_and_verdict(
    si64_train_val: tuple[Path, Path], shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURATE_REFERENCE_DATA", str(shared_data))
    train, val = si64_train_val
    out = tmp_path / "linear"
    args = ["finetune", "-m", "chgnet@0.3.0", "--train", str(train), "--val", str(val), "--method", "linear"]
    result = CliRunner().invoke(main, [*args, "--out", str(out), "--device", "cpu", "--ood", str(val)])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "training.json").read_text())["extra"]["out_of_domain"]
    assert sorted(record["before"]) == sorted(["matpes-pbe", "mp-tasks", str(val)])  # training.json sorts keys
    # the untouched model's errors on the default parts (the same numbers every run)
    assert record["before"]["matpes-pbe"]["force_mae_ev_per_ang"] == pytest.approx(0.0548, abs=5e-4)
    assert record["before"]["mp-tasks"]["force_mae_ev_per_ang"] == pytest.approx(0.0468, abs=5e-4)
    # a linear scale of ~1.6 fitted on one hot Si64 frame stiffens every chemistry: worse outside Si
    assert record["verdict"].startswith("worse outside its target")
    assert record["change_percent"]["mp-tasks"]["force_mae_percent"] > 5
    assert "out of domain mp-tasks" in result.stderr and "worse outside its target" in result.stderr
