"""Stream a dataset through a committee of models into a predictions dataset, with bounded memory."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from curate.configuration import Configuration
from curate.errors import DatasetError
from curate.execution.base import Executor
from curate.models.base import Model
from curate.models.committee import predict_committee
from curate.models.predictions import (
    DATA_DIR,
    MANIFEST_NAME,
    Predictions,
    PredictionWriter,
    new_manifest,
    predictions_to_batch,
)
from curate.store import Dataset

STRUCTURE_COLUMNS = [
    "id",
    "nsites",
    "species_at_sites",
    "lattice_vectors",
    "cartesian_site_positions",
    "dimension_types",
]


def structures_from_batch(batch: pa.RecordBatch) -> list[Configuration]:
    """Unlabelled configurations (species, lattice, positions, pbc) of a record batch with STRUCTURE_COLUMNS."""
    nsites = batch.column("nsites").to_numpy()
    positions = batch.column("cartesian_site_positions").flatten().flatten().to_numpy().reshape(-1, 3)
    lattices = batch.column("lattice_vectors").flatten().flatten().to_numpy().reshape(-1, 3, 3)
    pbc = batch.column("dimension_types").flatten().to_numpy().reshape(-1, 3)
    species = batch.column("species_at_sites").to_pylist()
    starts = np.concatenate([[0], np.cumsum(nsites)])
    return [
        Configuration(
            species=list(species[k]),
            lattice=lattices[k].copy(),
            positions=positions[starts[k] : starts[k + 1]].copy(),
            pbc=(int(pbc[k][0]), int(pbc[k][1]), int(pbc[k][2])),
        )
        for k in range(len(nsites))
    ]


@dataclass(frozen=True)
class PredictTask:
    """One record batch (STRUCTURE_COLUMNS) to predict on a worker with the models named by spec."""

    specs: tuple[str, ...]
    device: str
    batch: pa.RecordBatch
    max_atoms_per_batch: int
    share_graphs: bool
    torch_threads: int | None


def predict_task(task: PredictTask) -> list[pa.RecordBatch]:
    """Predictions of one batch by every model, one record batch per model in spec order.

    Models come from :func:`curate.execution.models.worker_model`, so each worker process loads each model once.
    ``torch_threads`` caps torch's intra-op threads in the worker (one per worker process beats two threads
    on small graphs).
    """
    from curate.execution.models import worker_model

    if task.torch_threads is not None:
        import torch

        torch.set_num_threads(task.torch_threads)
    models = [worker_model(spec, device=task.device) for spec in task.specs]
    structures = structures_from_batch(task.batch)
    ids = task.batch.column("id").to_pylist()
    predicted = predict_committee(
        models, structures, max_atoms_per_batch=task.max_atoms_per_batch, share_graphs=task.share_graphs
    )
    return [predictions_to_batch(ids, m.info.name, predicted[m.info.name]) for m in models]


@dataclass(frozen=True)
class PredictReport:
    """What :func:`predict_dataset` did: structures predicted per model, wall time (s), output folder."""

    structures: int
    models: tuple[str, ...]
    seconds: float
    out: Path
    up_to_date: bool

    @property
    def structures_per_second(self) -> float:
        """Structures per second for the whole committee (every model ran on each structure)."""
        return self.structures / self.seconds if self.seconds > 0 else float("inf")


def _prepare_out(out: Path, dataset: Dataset, names: list[str], *, overwrite: bool) -> bool:
    """True when ``out`` already holds complete predictions of these models for this dataset content."""
    if not out.exists() or not any(out.iterdir()):
        return False
    if (out / MANIFEST_NAME).is_file():
        existing = Predictions(out)
        same = (
            existing.manifest.get("complete")
            and existing.manifest["reference"].get("content_hash") == dataset.content_hash
            and existing.model_names == names
        )
        if same and not overwrite:
            return True
        if overwrite:
            shutil.rmtree(out / DATA_DIR, ignore_errors=True)
            (out / MANIFEST_NAME).unlink()
            return False
    raise DatasetError(f"{out}: already holds other files or other predictions; pass --overwrite or another --out")


def predict_dataset(
    dataset_path: str | Path,
    models: Sequence[Model],
    out: str | Path,
    *,
    max_atoms_per_batch: int,
    batch_rows: int = 256,
    overwrite: bool = False,
    share_graphs: bool = True,
    command: str = "curate predict",
    on_progress: Callable[[int], None] | None = None,
    executor: Executor | None = None,
) -> PredictReport:
    """Predict energy, forces and stress of every row of a dataset with every model; write a predictions dataset.

    Rows stream ``batch_rows`` at a time; neighbour graphs are shared between models that allow it; each
    forward pass holds at most ``max_atoms_per_batch`` atoms. Re-running on the same dataset content with the
    same models is a no-op. With an ``executor`` the batches are predicted on its workers (each loading each
    model once, one torch thread per worker), results written in dataset order: the same predictions.

    Raises:
        DatasetError: ``out`` holds something else and ``overwrite`` is False.
    """
    dataset = Dataset.open(dataset_path)
    out = Path(out)
    names = [m.info.name for m in models]
    if len(set(names)) != len(names):
        raise DatasetError(f"the same model was given twice: {names}")
    if _prepare_out(out, dataset, names, overwrite=overwrite):
        return PredictReport(dataset.num_rows, tuple(names), 0.0, out, up_to_date=True)
    parameters = {
        "max_atoms_per_batch": max_atoms_per_batch,
        "batch_rows": batch_rows,
        "device": models[0].device,
        "share_graphs": share_graphs,
    }
    reference = {
        "path": str(Path(dataset_path).resolve()),
        "content_hash": dataset.content_hash,
        "num_rows": dataset.num_rows,
    }
    writer = PredictionWriter(
        out, new_manifest(reference=reference, models=[m.info for m in models], parameters=parameters)
    )
    started = time.perf_counter()
    done = 0
    batches = dataset.iter_batches(columns=STRUCTURE_COLUMNS, batch_rows=batch_rows)
    if executor is None:
        for batch in batches:
            structures = structures_from_batch(batch)
            ids = batch.column("id").to_pylist()
            for name, predictions in predict_committee(
                models, structures, max_atoms_per_batch=max_atoms_per_batch, share_graphs=share_graphs
            ).items():
                writer.append(predictions_to_batch(ids, name, predictions))
            done += len(ids)
            if on_progress is not None:
                on_progress(len(ids))
    else:
        specs = tuple(m.info.spec for m in models)
        threads = 1 if executor.workers > 1 else None
        tasks = (PredictTask(specs, models[0].device, b, max_atoms_per_batch, share_graphs, threads) for b in batches)
        for results in executor.map(predict_task, tasks):
            for result in results:
                writer.append(result)
            done += results[0].num_rows
            if on_progress is not None:
                on_progress(results[0].num_rows)
    parameters["executor"] = executor.describe() if executor is not None else {"kind": "in-process"}
    seconds = time.perf_counter() - started
    writer.close(
        history={
            "command": command,
            "models": names,
            "parameters": parameters,
            "rows": done,
            "seconds": round(seconds, 3),
        }
    )
    return PredictReport(done, tuple(names), seconds, out, up_to_date=False)
