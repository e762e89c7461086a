"""``curate predict``: a companion predictions dataset keyed by id, with model provenance; CHGNet committee."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.configuration import batch_to_configurations
from curate.dataset.io import sha256_of_path
from curate.dataset.store import Dataset
from curate.models import load_model, run
from curate.models.base import ModelInfo
from curate.models.committee import predict_committee
from curate.models.predictions import Predictions, predictions_schema


@pytest.fixture(scope="module")
def predicted(tmp_path_factory: pytest.TempPathFactory, real_dataset: Path, mace_file: Path, matgl_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("pred") / "si-pred"
    args = ["predict", str(real_dataset), "-m", f"mace:{mace_file}", "-m", f"matgl:{matgl_dir}", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--max-atoms-per-batch", "70", "--batch-rows", "6"])
    assert result.exit_code == 0, result.output
    assert "17 rows x 2 model(s)" in result.output
    return out


@pytest.mark.model
@pytest.mark.slow
def test_predictions_are_keyed_by_id_in_dataset_order(predicted: Path, real_dataset: Path, mace_file: Path) -> None:
    reference = Dataset.open(real_dataset)
    preds = Predictions(predicted)
    assert preds.manifest["num_rows"] == 2 * reference.num_rows == 34
    assert preds.manifest["complete"] is True
    assert preds.manifest["reference"]["content_hash"] == reference.content_hash
    ref_ids = reference.read(columns=["id"]).column("id").to_pylist()
    for name in preds.model_names:
        rows = [b for b in preds.iter_model(name, batch_rows=5)]
        assert [i for b in rows for i in b.column("id").to_pylist()] == ref_ids
    table = pq.read_table(predicted / "data")
    assert table.schema.equals(predictions_schema().arrow, check_metadata=False)
    assert table.schema.field("stress").metadata[b"unit"] == b"GPa"
    assert table.schema.field("energy").metadata[b"unit"] == b"eV"


@pytest.mark.model
@pytest.mark.slow
def test_manifest_records_model_version_and_file_hash(predicted: Path, mace_file: Path, matgl_dir: Path) -> None:
    models = {m["name"]: m for m in Predictions(predicted).manifest["models"]}
    mace = models[f"mace:{mace_file}"]
    assert mace["file_sha256"] == sha256_of_path(mace_file) and mace["version"] == mace["file_sha256"][:12]
    assert models[f"matgl:{matgl_dir}"]["file_sha256"] == sha256_of_path(matgl_dir)
    history = Predictions(predicted).manifest["history"][-1]
    assert history["rows"] == 17 and history["parameters"]["max_atoms_per_batch"] == 70


@pytest.mark.model
@pytest.mark.slow
def test_stored_values_equal_the_adapter(predicted: Path, real_dataset: Path, mace_file: Path) -> None:
    structures = batch_to_configurations(Dataset.open(real_dataset).read())
    direct = load_model(f"mace:{mace_file}", device="cpu").predict(structures, max_atoms_per_batch=1000)
    stored = pq.read_table(predicted / "data").to_pylist()
    stored = [r for r in stored if r["model"] == f"mace:{mace_file}"]
    for row, cfg, pred in zip(stored, structures, direct, strict=True):
        assert row["nsites"] == cfg.nsites
        assert row["energy"] == pytest.approx(pred.energy, abs=1e-9)
        np.testing.assert_allclose(np.asarray(row["forces"]), pred.forces, atol=1e-9)
        np.testing.assert_allclose(np.asarray(row["stress"]), pred.stress, atol=1e-9)


@pytest.mark.model
@pytest.mark.slow
def test_rerun_is_a_no_op_and_foreign_out_is_refused(
    predicted: Path, real_dataset: Path, mace_file: Path, matgl_dir: Path
) -> None:
    manifest_before = (predicted / "manifest.json").read_text()
    args = [
        "predict",
        str(real_dataset),
        "-m",
        f"mace:{mace_file}",
        "-m",
        f"matgl:{matgl_dir}",
        "--out",
        str(predicted),
    ]
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "already holds predictions" in again.output
    assert (predicted / "manifest.json").read_text() == manifest_before
    other = CliRunner().invoke(main, ["predict", str(real_dataset), "-m", f"mace:{mace_file}", "--out", str(predicted)])
    assert other.exit_code == 2 and "pass overwrite, or another out" in other.output


@pytest.mark.model
@pytest.mark.slow
def test_mace_import_leaves_the_environment_alone(mace_file: Path) -> None:
    """mace/__init__ sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 process-wide; the adapter restores it."""
    code = (
        "import os; from curate.models import load_model; "
        f"load_model('mace:{mace_file}', device='cpu'); "
        "print(os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'))"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == "None"


@pytest.mark.model
@pytest.mark.slow
def test_chgnet_committee_shares_graphs_and_matches_each_model(real_structures) -> None:
    models = [load_model(s, device="cpu") for s in ("chgnet@0.3.0", "chgnet@0.2.0", "chgnet@r2scan")]
    keys = [m.graph_key() for m in models]  # type: ignore[attr-defined]
    assert keys[0] == keys[2] != keys[1]  # 0.2.0 uses a 5 A atom-graph cutoff, the others 6 A
    structures = real_structures[:2] + real_structures[3:]
    committee = predict_committee(models, structures, max_atoms_per_batch=200)
    assert list(committee) == ["chgnet@0.3.0", "chgnet@0.2.0", "chgnet@r2scan"]
    for model in models:
        alone = model.predict(structures, max_atoms_per_batch=200)
        for a, b in zip(committee[model.info.name], alone, strict=True):
            assert a.energy == pytest.approx(b.energy, abs=1e-4)
            np.testing.assert_allclose(a.forces, b.forces, atol=1e-5)
    # the three models disagree: they are different potentials
    e = [committee[m.info.name][0].energy for m in models]
    assert len({round(x, 3) for x in e}) == 3
    assert json.dumps(models[2].info.as_dict())  # provenance is JSON-serialisable
    assert models[2].info.functional == "r2SCAN" and models[0].info.functional == "PBE"


@pytest.mark.model
@pytest.mark.slow
def test_chgnet_mixed_batch_equals_each_structure_alone(shared_data: Path, tmp_path: Path, real_structures) -> None:
    """CHGNet 0.2.0 skips its angle layers only in batches without angles: a Li cell without angles must not
    share a batch with Si64 (0.74 eV difference on a 3-atom Li cell if it does)."""
    from curate.sources.ingest import import_paths

    import_paths([shared_data / "emmet" / "tasks_Li_Fe_V.json.gz"], format_name="mp-tasks", out=tmp_path / "lifev")
    rows = batch_to_configurations(Dataset.open(tmp_path / "lifev").read())
    lithium = [c for c in rows if set(c.species) == {"Li"} and c.nsites <= 4][:2]
    structures = [real_structures[0], lithium[0], real_structures[3], lithium[1]]
    model = load_model("chgnet@0.2.0", device="cpu")
    assert [g.bond_graph.numel() == 0 for g in model.build_graphs(structures)] == [False, True, False, True]
    together = model.predict(structures, max_atoms_per_batch=1000)
    alone = model.predict(structures, max_atoms_per_batch=1)
    for a, b in zip(together, alone, strict=True):
        assert a.energy == pytest.approx(b.energy, abs=1e-4)
        np.testing.assert_allclose(a.forces, b.forces, atol=1e-5)


@dataclass
class _StandIn:
    """Just what :func:`wants_pool` reads of a model: its provenance and device."""

    info: ModelInfo
    device: str


def _stand_in(spec: str, architecture: str = "chgnet", device: str = "cpu") -> _StandIn:
    info = ModelInfo(spec, spec, architecture, "v", "PBE", "lib", "file", "0" * 64)
    return _StandIn(info, device)


def test_only_large_cpu_chgnet_jobs_start_a_pool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    mace_file = tmp_path / "tiny.model"  # wants_pool reads the spec, never the file
    mace_file.write_bytes(b"")
    monkeypatch.setattr(run, "default_workers", lambda: 2)
    committee = [_stand_in(s) for s in ("chgnet@0.3.0", "chgnet@0.2.0", "chgnet@r2scan")]
    assert run.POOL_MIN_ATOM_PASSES == 15_000
    assert run.wants_pool(committee, 5_000)  # 5,000 atoms x 3 models
    assert not run.wants_pool(committee, 4_999)
    assert not run.wants_pool(committee[:1], 14_999) and run.wants_pool(committee[:1], 15_000)
    assert not run.wants_pool([_stand_in("chgnet@0.3.0", device="cuda")], 10**6)
    assert not run.wants_pool([_stand_in(f"mace:{mace_file}", architecture="mace")], 10**6)
    # a fine-tuned model that lives only in memory, or a file that is gone, cannot be loaded by a worker
    assert not run.wants_pool([_stand_in("chgnet@0.3.0+full")], 10**6)
    assert not run.wants_pool([_stand_in("chgnet:/nonexistent/model.pth.tar")], 10**6)
    monkeypatch.setattr(run, "default_workers", lambda: 1)
    assert not run.wants_pool(committee, 10**6)


def test_cpu_tasks_hold_at_most_task_atoms_end_each_record_batch_and_shrink_at_the_end(real_dataset: Path) -> None:
    dataset = Dataset.open(real_dataset)
    table = dataset.read(columns=["id", "nsites"])
    pieces = list(run._row_tasks(dataset, batch_rows=6, task_atoms=100))
    ids = [i for piece, _ in pieces for i in piece.column("id").to_pylist()]
    assert ids == table.column("id").to_pylist()  # every row once, in dataset order
    for piece, _ in pieces:
        atoms = piece.column("nsites").to_numpy()
        assert atoms.sum() <= 100 or len(atoms) == 1  # a 64-atom frame and a 64-atom frame: two tasks
    # record batches of <= 6 rows within a shard (10 Si64 frames, then 7 Si task steps) end after rows
    # 6, 10, 16 and 17: the pieces that end them say so
    ends = np.cumsum([p.num_rows for p, _ in pieces])
    assert [int(e) for (_, last), e in zip(pieces, ends, strict=True) if last] == [6, 10, 16, 17]
    # knowing the total (660 atoms), tasks shrink to a quarter of the atoms left (>= 64) so workers end together
    guided = run._row_tasks(dataset, batch_rows=256, task_atoms=256, total_atoms=run._total_atoms(dataset))
    assert [p.column("nsites").to_pylist() for p, _ in guided] == [
        [64, 64],  # 660 left: at most 165 atoms
        [64, 64],  # 532 left: at most 133
        *[[64]] * 6,  # 404 left: at most 101, then the 64-atom floor
        [8, 2, 2, 2, 2, 2, 2],  # the Si task steps: their own record batch (another shard)
    ]


@pytest.mark.model
@pytest.mark.slow
def test_warm_pool_predicts_the_in_process_numbers_bit_for_bit(real_dataset: Path, tmp_path: Path) -> None:
    """Two single-threaded workers, tasks of <= 256 atoms: the same stored rows as in-process on two threads."""
    from curate.execution import InProcessExecutor

    models = [load_model(s, device="cpu") for s in ("chgnet@0.3.0", "chgnet@0.2.0")]
    trainable = [p.requires_grad for p in models[0].model.parameters()]  # type: ignore[attr-defined]
    first = next(Dataset.open(real_dataset).iter_batches(columns=run.STRUCTURE_COLUMNS, batch_rows=2))
    pool = run.start_predict_pool(models, warm_up=first, workers=2)
    try:
        task = run.PredictTask(("chgnet@0.3.0", "chgnet@0.2.0"), "cpu", first, 10**9, True, 1)
        loads = list(pool.map(run.warm_worker, [task] * 4))
        # every worker loaded each model once, during the warm-up
        assert all(r["loads"] == {"chgnet@0.3.0@cpu": 1, "chgnet@0.2.0@cpu": 1} for r in loads)
        pooled = run.predict_dataset(real_dataset, models, tmp_path / "pool", max_atoms_per_batch=1024, executor=pool)
    finally:
        pool.close()
    alone = run.predict_dataset(
        real_dataset, models, tmp_path / "alone", max_atoms_per_batch=1024, executor=InProcessExecutor()
    )
    assert pooled.structures == alone.structures == 17
    assert pq.read_table(tmp_path / "pool" / "data").equals(pq.read_table(tmp_path / "alone" / "data"))
    history = Predictions(tmp_path / "pool").manifest["history"][-1]
    assert history["parameters"]["executor"] == {"executor": "local", "workers": 2}
    # the weights were frozen for inference only
    assert any(trainable)
    assert [p.requires_grad for p in models[0].model.parameters()] == trainable  # type: ignore[attr-defined]
