"""Every parallel command on a 2-worker LocalCluster writes the dataset the in-process run writes.

One LocalCluster (2 single-threaded worker processes) serves the whole module. Import runs on a real MPtrj
layout (As2SO6 task documents, replicated with seeded noise), label and generate on `curate demo`'s 30 EMT rows.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import distributed
import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.configuration import batch_to_configurations
from curate.dataset.store import Dataset
from curate.execution.dask_executor import DaskExecutor
from curate.sources.ingest import import_paths

from ..sources.test_mptrj import write_replicated_mptrj

CHUNK_BYTES = 64 << 10  # about 50 tasks for the 772-frame file, so both workers are busy when one is killed
FRAMES_PER_MATERIAL = 8  # chunks are cut between materials: many small materials make many chunks


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    with distributed.Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


@pytest.fixture(scope="module")
def mptrj(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """772 distinct real frames (4 noisy copies of the 193 As2SO6 frames), 100 materials, MPtrj layout."""
    return write_replicated_mptrj(
        shared_data, tmp_path_factory.mktemp("mptrj") / "mptrj.json", copies=4, frames_per_material=FRAMES_PER_MATERIAL
    )


@pytest.fixture(scope="module")
def in_process_import(mptrj: Path, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    out = tmp_path_factory.mktemp("in-process") / "d"
    report = import_paths([mptrj], format_name="mptrj", out=out, workers=1, shard_rows=150)
    assert report.rows_added == 772 and report.quarantined == 0
    return Dataset.open(out)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo"
    result = CliRunner().invoke(main, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert Dataset.open(out).num_rows == 30
    return out


def _ids(path: Path) -> list[str]:
    return Dataset.open(path).read().column("id").to_pylist()


def test_import_on_dask_equals_in_process(
    client: distributed.Client, mptrj: Path, in_process_import: Dataset, tmp_path: Path
) -> None:
    executor = DaskExecutor.from_client(client)
    report = import_paths(
        [mptrj], format_name="mptrj", out=tmp_path / "d", executor=executor, chunk_bytes=CHUNK_BYTES, shard_rows=150
    )
    assert (report.rows_added, report.duplicates, report.quarantined) == (772, 0, 0)
    dataset = Dataset.open(tmp_path / "d")
    assert dataset.content_hash == in_process_import.content_hash
    assert _ids(tmp_path / "d") == in_process_import.read().column("id").to_pylist()  # same order, too
    execution = dataset.manifest["history"][-1]["execution"]
    assert execution["executor"] == "dask" and execution["workers"] == 2


def test_truncated_file_on_dask_keeps_the_rows_before_the_damage(
    client: distributed.Client, mptrj: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.json"
    data = mptrj.read_bytes()
    damaged.write_bytes(data[: int(len(data) * 0.7)])
    local = import_paths([damaged], format_name="mptrj", out=tmp_path / "local", workers=1)
    on_dask = import_paths(
        [damaged],
        format_name="mptrj",
        out=tmp_path / "dask",
        executor=DaskExecutor.from_client(client),
        chunk_bytes=CHUNK_BYTES,
    )
    assert 400 < on_dask.rows_added == local.rows_added < 772
    assert on_dask.files[0].error is not None and "damaged.json" in on_dask.files[0].error
    assert Dataset.open(tmp_path / "dask").content_hash == Dataset.open(tmp_path / "local").content_hash


def test_label_and_generate_cli_on_dask_equal_in_process(
    client: distributed.Client, demo: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    address = client.scheduler.address
    label = ["label", str(demo), "--model", "emt", "--task-rows", "4"]
    generate = ["generate", str(demo), "--rattle", "0.05", "--strain-uniaxial", "0.02", "--task-rows", "4"]
    for name, args, rows in (("label", label, 30), ("generate", generate, 210)):
        local = runner.invoke(main, [*args, "--out", str(tmp_path / f"{name}-local")])
        on_dask = runner.invoke(main, [*args, "--out", str(tmp_path / f"{name}-dask"), "--scheduler", address])
        assert local.exit_code == 0 and on_dask.exit_code == 0, (local.output, on_dask.output)
        local_set, dask_set = Dataset.open(tmp_path / f"{name}-local"), Dataset.open(tmp_path / f"{name}-dask")
        assert local_set.num_rows == dask_set.num_rows == rows
        assert local_set.content_hash == dask_set.content_hash
        assert _ids(tmp_path / f"{name}-local") == _ids(tmp_path / f"{name}-dask")
        history = dask_set.manifest["history"][-1]
        assert history["execution"]["executor"] == "dask" and history["execution"]["scheduler"] == address
    # 30 parents x (1 rattle + 3 axes x 2 signs): 8 tasks of 4 parents, 30 distinct rattle seeds
    table = Dataset.open(tmp_path / "generate-dask").read()
    generators = table.column("generator").to_pylist()
    seeds = [s for s, g in zip(table.column("seed").to_pylist(), generators, strict=True) if g != "strain"]
    assert len(seeds) == len(set(seeds)) == 30


def test_generate_task_partition_does_not_change_small_runs(demo: Path, tmp_path: Path) -> None:
    """30 parents in one task (the default 256) = the single seed stream every earlier version used."""
    from sampling.generate import generate_dataset, task_seed
    from sampling.recipe import recipe_from_mapping

    recipe = recipe_from_mapping(
        {"steps": [{"generator": "gaussian-rattle", "params": {"std_ang": [0.05]}}]}, origin="test", seed=3
    )
    generate_dataset(demo, tmp_path / "one", recipe)
    generate_dataset(demo, tmp_path / "split", recipe, parents_per_task=7)
    seeds_one = Dataset.open(tmp_path / "one").read().column("seed").to_pylist()
    seeds_split = Dataset.open(tmp_path / "split").read().column("seed").to_pylist()
    assert seeds_one[:7] == seeds_split[:7]  # task 0 draws from the run seed itself
    assert seeds_one[7:] != seeds_split[7:] and len(set(seeds_one + seeds_split)) == 30 + 23
    assert task_seed(3, 0) == 3 and task_seed(3, 1) == task_seed(3, 1) != task_seed(3, 2)


def test_killed_worker_mid_import_loses_and_duplicates_nothing(
    client: distributed.Client, mptrj: Path, in_process_import: Dataset, tmp_path: Path
) -> None:
    pids = client.run(os.getpid)
    killed: list[tuple[str, int, int]] = []

    def kill_busiest_worker(rows: int) -> None:
        if killed:
            return
        processing = client.processing()
        address = max(processing, key=lambda a: len(processing[a]))
        if processing[address]:  # else try again after the next result: kill a worker that has work
            killed.append((address, pids[address], len(processing[address])))
            os.kill(pids[address], signal.SIGKILL)

    report = import_paths(
        [mptrj],
        format_name="mptrj",
        out=tmp_path / "d",
        executor=DaskExecutor.from_client(client),
        chunk_bytes=CHUNK_BYTES,
        shard_rows=150,
        on_progress=kill_busiest_worker,
    )
    assert killed, "no worker had a task assigned when results arrived"
    address, pid, busy = killed[0]
    assert busy >= 1
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker process
    assert pid not in client.run(os.getpid).values()
    # the scheduler saw the worker die unexpectedly holding chunk tasks, and ran them again elsewhere
    (removal,) = [event for _, event in client.get_events(address) if event.get("action") == "remove-worker"]
    lost = [*removal["processing-tasks"], *removal["lost-computed-tasks"]]
    assert removal["expected"] is False and lost and all(str(k).startswith("process_chunk") for k in lost)
    assert (report.rows_added, report.duplicates, report.quarantined, report.files[0].rows_read) == (772, 0, 0, 772)
    dataset = Dataset.open(tmp_path / "d")
    assert dataset.content_hash == in_process_import.content_hash
    assert len(dataset.ids()) == dataset.num_rows == 772


@pytest.mark.model
@pytest.mark.slow
def test_model_loaded_once_per_worker(client: distributed.Client, demo: Path) -> None:
    from curate.execution.models import model_loads
    from curate.labelling.calculator import label_with_calculator

    batch = Dataset.open(demo).read().slice(0, 12)
    rows = list(zip(batch.column("id").to_pylist(), batch_to_configurations(batch), strict=True))
    before = client.run(model_loads)
    labelled = list(
        label_with_calculator(
            rows, "chgnet@0.3.0", device="cpu", executor=DaskExecutor.from_client(client), rows_per_task=2
        )
    )
    after = client.run(model_loads)
    loads = [info["loads"].get("chgnet@0.3.0@cpu", 0) for info in after.values()]
    assert all(info["loads"].get("chgnet@0.3.0@cpu", 0) == 0 for info in before.values())
    assert sum(loads) <= 2 and max(loads) == 1  # 6 tasks, at most one load per worker
    assert [c.source_record for c in labelled] == [f"candidate {i} labelled by model:chgnet@0.3.0" for i, _ in rows]
    local = list(label_with_calculator(rows, "chgnet@0.3.0", device="cpu", rows_per_task=2))
    for remote, here in zip(labelled, local, strict=True):
        assert remote.energy == pytest.approx(here.energy, abs=1e-6)


def test_local_process_pool_equals_in_process(mptrj: Path, in_process_import: Dataset, tmp_path: Path) -> None:
    report = import_paths([mptrj], format_name="mptrj", out=tmp_path / "d", workers=2, chunk_bytes=CHUNK_BYTES)
    assert (report.rows_added, report.duplicates) == (772, 0)
    assert Dataset.open(tmp_path / "d").content_hash == in_process_import.content_hash


def test_conflicting_execution_options_are_one_line_errors(demo: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["label", str(demo), "--model", "emt", "--out", str(tmp_path / "l")]
    result = runner.invoke(main, [*base, "--executor", "local", "--scheduler", "tcp://127.0.0.1:8786"])
    assert result.exit_code == 2 and result.output.strip() == "curate: error: --scheduler needs --executor dask"
    result = runner.invoke(main, [*base, "--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"])
    assert result.exit_code == 2 and "--workers sizes a local cluster" in result.output


def test_import_cli_on_dask_equals_in_process(
    client: distributed.Client, mptrj: Path, in_process_import: Dataset, tmp_path: Path
) -> None:
    address = client.scheduler.address
    result = CliRunner().invoke(
        main, ["import", "mptrj", str(mptrj), "--out", str(tmp_path / "d"), "--scheduler", address]
    )
    assert result.exit_code == 0, result.output
    assert "772 rows added, 0 already present, 0 quarantined" in result.output
    assert Dataset.open(tmp_path / "d").content_hash == in_process_import.content_hash


def test_chained_md_recipe_on_dask_builds_the_recipe_once_per_worker(
    client: distributed.Client, demo: Path, tmp_path: Path
) -> None:
    from curate.execution.cache import builds

    recipe = tmp_path / "mini-high-energy.yaml"
    recipe.write_text(
        "name: mini-high-energy\nseed: 3\nsteps:\n"
        "  - generator: md\n    params: {calculator: emt, temperature_k: 1000, interval_steps: 5, n_frames: 3}\n"
        "  - generator: strain\n    input: md\n    take: 2\n    params: {uniaxial: [-0.03, 0.03]}\n"
    )
    args = ["generate", str(demo), "--recipe", str(recipe), "--limit", "8", "--task-rows", "2"]
    before = client.run(builds)
    on_dask = CliRunner().invoke(
        main, [*args, "--out", str(tmp_path / "dask"), "--scheduler", client.scheduler.address]
    )
    after = client.run(builds)
    local = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "local")])
    assert on_dask.exit_code == 0 and local.exit_code == 0, (on_dask.output, local.output)
    # 8 parents x (3 MD frames + 2 frames x 6 strains) in 4 tasks
    assert Dataset.open(tmp_path / "dask").num_rows == Dataset.open(tmp_path / "local").num_rows == 8 * 15
    assert Dataset.open(tmp_path / "dask").content_hash == Dataset.open(tmp_path / "local").content_hash
    new_recipes = [
        count
        for worker, counts in after.items()
        for key, count in counts.items()
        if key[0] == "recipe" and key not in before.get(worker, {})
    ]
    assert 1 <= len(new_recipes) <= 2 and set(new_recipes) == {1}  # 4 tasks, one copy kept per worker


@pytest.mark.slow  # 36 s of CPU (SOAP on both sides, two workers)
def test_coverage_on_dask_equals_in_process(client: distributed.Client, shared_data: Path, tmp_path: Path) -> None:
    from curate.diagnostics.coverage import CoverageOptions, compute_coverage

    import_paths([shared_data / "emmet" / "test_As2SO6_tasks.json.gz"], format_name="mp-tasks", out=tmp_path / "ref")
    import_paths(
        [shared_data / "vasp" / "pymatgen_core" / "outputs__vasprun.lifepo4.xml.gz"],
        format_name="vasp",
        out=tmp_path / "target",
    )
    options = CoverageOptions(batch_rows=16)  # 13 reference and 1 target task
    reference, target = Dataset.open(tmp_path / "ref"), Dataset.open(tmp_path / "target")
    alone = compute_coverage(reference, target, options)
    on_dask = compute_coverage(reference, target, options, executor=DaskExecutor.from_client(client))
    np.testing.assert_array_equal(on_dask.center_z, alone.center_z)
    np.testing.assert_allclose(on_dask.distances, alone.distances, rtol=0, atol=1e-6)
    nsites = target.read(columns=["nsites"]).column(0).to_pylist()
    assert len(nsites) == 11 and len(alone.distances) == sum(nsites)  # every environment of the 11 LiFePO4 steps


@pytest.mark.model
@pytest.mark.slow
def test_predict_on_dask_equals_in_process(client: distributed.Client, demo: Path, tmp_path: Path) -> None:
    from curate.models import load_model
    from curate.models.predictions import Predictions
    from curate.models.run import predict_dataset

    models = [load_model("chgnet@0.3.0", device="cpu")]
    alone = predict_dataset(demo, models, tmp_path / "alone", max_atoms_per_batch=128, batch_rows=8)
    on_dask = predict_dataset(
        demo,
        models,
        tmp_path / "dask",
        max_atoms_per_batch=128,
        batch_rows=8,
        executor=DaskExecutor.from_client(client),
    )
    assert alone.structures == on_dask.structures == 30
    name = models[0].info.name
    a = [r for batch in Predictions(tmp_path / "alone").iter_model(name) for r in batch.to_pylist()]
    b = [r for batch in Predictions(tmp_path / "dask").iter_model(name) for r in batch.to_pylist()]
    assert [r["id"] for r in a] == [r["id"] for r in b]
    # the same numbers bit for bit, though workers run one torch thread and the in-process run two
    assert a == b
