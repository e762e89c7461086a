"""Stream a dataset through a committee of models into a predictions dataset, with bounded memory.

On the CPU the rows are cut into tasks of at most :data:`CPU_TASK_ATOMS` atoms, whatever runs them, so the
forward passes (and so the numbers) are the same in-process, in a process pool and on Dask. A large CPU job
of CHGNet models runs on a pool of one single-threaded worker process per core: CHGNet's small graphs gain
~1.5x from a second torch thread but ~1.9x from a second process.
"""

from __future__ import annotations

import shutil
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from curate.dataset.configuration import Configuration
from curate.dataset.store import Dataset
from curate.errors import ConfigurationError, DatasetError
from curate.execution.base import Executor
from curate.execution.local import InProcessExecutor, ProcessPoolExecutorAdapter, default_workers
from curate.models.base import Model
from curate.models.committee import predict_committee
from curate.models.predictions import (
    DATA_DIR,
    LOCK_NAME,
    MANIFEST_NAME,
    Predictions,
    PredictionWriter,
    locked_prediction_writer,
    new_manifest,
    predictions_to_batch,
)

STRUCTURE_COLUMNS = [
    "id",
    "nsites",
    "species_at_sites",
    "lattice_vectors",
    "cartesian_site_positions",
    "dimension_types",
]
# atoms per task on the CPU: ~1 s of CHGNet committee work on one thread, so every worker gets tasks and
# the last one finishes soon after the others
CPU_TASK_ATOMS = 256
MIN_TASK_ATOMS = 64  # the last tasks of a job: one CHGNet forward pass each
# atoms x models below which a CPU job stays in-process: starting the workers (imports, model loads) takes
# ~4 s on 2 cores and the pool saves ~0.5 ms per atom x model (CHGNet committee), so it pays from ~7,000
POOL_MIN_ATOM_PASSES = 15_000
# modules the predict pool's fork server imports once, so each worker starts with torch and chgnet loaded
POOL_PRELOAD = ("torch", "chgnet.model", "curate.models.chgnet", "curate.models.run")


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


def warm_worker(task: PredictTask) -> dict[str, object]:
    """Run ``task`` (loading its models in this worker); return :func:`~curate.execution.models.model_loads`.

    A worker whose models were already loaded waits 0.2 s after the task, leaving the other warm-up tasks
    to the workers still cold.
    """
    from curate.execution.models import model_loads

    loads = model_loads()["loads"]
    warm = isinstance(loads, dict) and all(f"{spec}@{task.device}" in loads for spec in task.specs)
    predict_task(task)
    if warm:
        time.sleep(0.2)
    return model_loads()


def start_predict_pool(
    models: Sequence[Model], *, warm_up: pa.RecordBatch | None = None, workers: int | None = None
) -> ProcessPoolExecutorAdapter:
    """A local process pool for :func:`predict_dataset`: ``workers`` processes (default: one per usable core).

    The fork server imports torch and chgnet once. With ``warm_up`` (a few rows with STRUCTURE_COLUMNS) every
    worker loads the models and predicts those rows before this returns, so that a timed run that follows
    pays no start-up cost. Close the pool with ``.close()``.

    Raises:
        RuntimeError: a worker could not be warmed up after several rounds.
    """
    pool = ProcessPoolExecutorAdapter(workers or default_workers(), preload=POOL_PRELOAD)
    if warm_up is None:
        return pool
    task = PredictTask(tuple(m.info.spec for m in models), models[0].device, warm_up, 10**9, True, 1)
    warmed: set[object] = set()  # process ids
    for _ in range(4 * pool.workers):
        warmed.update(r["pid"] for r in pool.map(warm_worker, [task] * (pool.workers - len(warmed))))
        if len(warmed) == pool.workers:
            return pool
    pool.close()
    raise RuntimeError(f"warmed {len(warmed)} of {pool.workers} predict workers")


def _reloadable(model: Model) -> bool:
    """True when a worker process can load the same model from its spec (shipped weights or an existing file)."""
    from curate.models.registry import parse_spec

    try:
        spec = parse_spec(model.info.spec)
    except ConfigurationError:  # e.g. ``chgnet@0.3.0+full``: a fine-tuned model that lives only in memory
        return False
    return not spec.is_file or Path(spec.location).exists()


def wants_pool(models: Sequence[Model], atoms: int) -> bool:
    """Whether :func:`predict_dataset` without an executor starts a process pool for ``atoms`` atoms.

    Only CHGNet committees on the CPU, whose weights a worker can load by spec, with at least
    :data:`POOL_MIN_ATOM_PASSES` atoms x models, on a machine with more than one usable core.
    """
    return (
        default_workers() > 1
        and all(m.device == "cpu" and m.info.architecture == "chgnet" and _reloadable(m) for m in models)
        and atoms * len(models) >= POOL_MIN_ATOM_PASSES
    )


def _row_tasks(
    dataset: Dataset, *, batch_rows: int, task_atoms: int | None, total_atoms: int | None = None
) -> Iterator[tuple[pa.RecordBatch, bool]]:
    """Record batches of at most ``batch_rows`` rows, cut further to ``task_atoms`` atoms each when given.

    Towards the end of the dataset (``total_atoms`` in all) pieces shrink to a quarter of the atoms left, down
    to :data:`MIN_TASK_ATOMS`, so that workers finish together. The cut depends on the dataset only, never
    on the executor. Yields each piece and whether it ends its record batch (the unit written out).
    """
    remaining = total_atoms if total_atoms is not None else 4 * (task_atoms or 0)
    for batch in dataset.iter_batches(columns=STRUCTURE_COLUMNS, batch_rows=batch_rows):
        if task_atoms is None:
            yield batch, True
            continue
        nsites = batch.column("nsites").to_numpy().tolist()
        start = 0
        while start < len(nsites):
            cap = max(MIN_TASK_ATOMS, min(task_atoms, remaining // 4))
            stop, atoms = start + 1, nsites[start]
            while stop < len(nsites) and atoms + nsites[stop] <= cap:
                atoms += nsites[stop]
                stop += 1
            if total_atoms is not None:
                remaining -= atoms
            yield batch.slice(start, stop - start), stop == len(nsites)
            start = stop


def _predicted_pieces(
    pieces: Iterator[tuple[pa.RecordBatch, bool]],
    models: Sequence[Model],
    executor: Executor | None,
    *,
    max_atoms_per_batch: int,
    share_graphs: bool,
) -> Iterator[tuple[list[pa.RecordBatch], bool]]:
    """Predictions of each piece (one record batch per model, in model order) and its end-of-batch flag."""
    if executor is None or isinstance(executor, InProcessExecutor):
        for batch, last in pieces:
            ids = batch.column("id").to_pylist()
            predicted = predict_committee(
                models, structures_from_batch(batch), max_atoms_per_batch=max_atoms_per_batch, share_graphs=share_graphs
            )
            yield [predictions_to_batch(ids, m.info.name, predicted[m.info.name]) for m in models], last
        return
    specs = tuple(m.info.spec for m in models)
    threads = 1 if executor.workers > 1 else None
    ends: deque[bool] = deque()

    def tasks() -> Iterator[PredictTask]:
        for batch, last in pieces:
            ends.append(last)
            yield PredictTask(specs, models[0].device, batch, max_atoms_per_batch, share_graphs, threads)

    for results in executor.map(predict_task, tasks()):
        yield results, ends.popleft()


def _write_pieces(
    writer: PredictionWriter,
    predicted: Iterator[tuple[list[pa.RecordBatch], bool]],
    n_models: int,
    *,
    on_progress: Callable[[int], None] | None,
) -> int:
    """Append predicted pieces to ``writer``, one write per model per record batch; returns the rows written."""
    done = 0
    pending: list[list[pa.RecordBatch]] = []
    for results, last in predicted:
        pending.append(results)
        if last:  # one write per model per record batch, as many rows per row group as without the cut
            for m in range(n_models):
                writer.append(pa.concat_batches([p[m] for p in pending]))
            pending.clear()
        done += results[0].num_rows
        if on_progress is not None:
            on_progress(results[0].num_rows)
    return done


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
    if not out.exists() or not any(p.name != LOCK_NAME for p in out.iterdir()):
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
    raise DatasetError(f"{out}: already holds other files or other predictions; pass overwrite, or another out")


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

    Rows stream ``batch_rows`` at a time, cut on the CPU into tasks of at most :data:`CPU_TASK_ATOMS` atoms;
    neighbour graphs are shared between models that allow it; each forward pass holds at most
    ``max_atoms_per_batch`` atoms. Re-running on the same dataset content with the same models is a no-op.
    With an ``executor`` the tasks are predicted on its workers (each loading each model once, one torch
    thread per worker), results written in dataset order: the same predictions. Without one, a large CPU job
    of CHGNet models (see :func:`wants_pool`) starts a pool of one worker per core for this call
    (:func:`start_predict_pool`); pass :class:`~curate.execution.InProcessExecutor` to stay in-process.

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
    parameters: dict[str, Any] = {
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
    manifest = new_manifest(reference=reference, models=[m.info for m in models], parameters=parameters)
    with locked_prediction_writer(out, manifest) as writer:
        started = time.perf_counter()
        task_atoms = min(max_atoms_per_batch, CPU_TASK_ATOMS) if models[0].device == "cpu" else None
        total_atoms = _total_atoms(dataset)
        own_pool = None
        if executor is None and wants_pool(models, total_atoms):
            executor = own_pool = start_predict_pool(models)
        try:
            pieces = _row_tasks(dataset, batch_rows=batch_rows, task_atoms=task_atoms, total_atoms=total_atoms)
            predicted = _predicted_pieces(
                pieces, models, executor, max_atoms_per_batch=max_atoms_per_batch, share_graphs=share_graphs
            )
            done = _write_pieces(writer, predicted, len(models), on_progress=on_progress)
            parameters["executor"] = executor.describe() if executor is not None else {"kind": "in-process"}
        finally:
            if own_pool is not None:
                own_pool.close()
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


def _total_atoms(dataset: Dataset) -> int:
    """Atoms over all rows of ``dataset`` (reads only the nsites column)."""
    return int(sum(b.column("nsites").to_numpy().sum() for b in dataset.iter_batches(columns=["nsites"])))
