"""A companion dataset of model predictions keyed by the reference rows' ``id``.

Layout::

    PRED/
      data/part-00000-<token>.parquet   rows of schemas/predictions.v1.json: id, model, nsites, energy, forces, stress
      manifest.json                     format, schema, units, reference dataset (path, content hash), models
                                        (spec, version, functional, library, file sha256), parameters, history

Rows are written in the order of the reference dataset, so a reader can walk reference and predictions in
lockstep (:func:`iter_aligned`) with memory bounded by one batch. Shards appear atomically (temporary name,
fsync, rename), as in :mod:`curate.dataset.store`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate import __version__
from curate.dataset.io import atomic_write_text, exclusive_lock
from curate.dataset.schema import RowSchema, load_schema
from curate.dataset.shards import ShardFile, next_shard_sequence, shard_name
from curate.errors import DatasetError
from curate.models.base import ModelInfo, Prediction

SCHEMA_FILE_NAME = "predictions.v1.json"
FORMAT_NAME = "curate-predictions"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
DATA_DIR = "data"
LOCK_NAME = ".curate.lock"


def predictions_schema() -> RowSchema:
    """The schema of ``schemas/predictions.v1.json`` (Arrow schema with units in field metadata)."""
    return load_schema(SCHEMA_FILE_NAME)


def predictions_to_batch(ids: Sequence[str], model: str, predictions: Sequence[Prediction]) -> pa.RecordBatch:
    """One record batch of the predictions schema for ``model``'s predictions of rows ``ids`` (same order)."""
    schema = predictions_schema().arrow
    nsites = np.array([len(p.forces) for p in predictions], dtype=np.int32)
    offsets = np.zeros(len(predictions) + 1, dtype=np.int32)
    np.cumsum(nsites, out=offsets[1:])
    flat_forces = np.concatenate([p.forces.reshape(-1) for p in predictions]) if predictions else np.zeros(0)
    forces = pa.ListArray.from_arrays(
        pa.array(offsets), pa.FixedSizeListArray.from_arrays(pa.array(flat_forces, type=pa.float64()), 3)
    )
    flat_stress = np.concatenate([p.stress.reshape(9) for p in predictions]) if predictions else np.zeros(0)
    stress = pa.FixedSizeListArray.from_arrays(
        pa.FixedSizeListArray.from_arrays(pa.array(flat_stress, type=pa.float64()), 3), 3
    )
    arrays = [
        pa.array(list(ids), type=pa.string()),
        pa.array([model] * len(ids), type=pa.string()),
        pa.array(nsites),
        pa.array([p.energy for p in predictions], type=pa.float64()),
        forces,
        stress,
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class PredictionWriter:
    """Writes prediction batches into atomically committed shards and keeps the manifest current."""

    def __init__(self, path: Path, manifest: dict[str, Any], *, shard_rows: int = 100_000):
        self.path = path
        self.manifest = manifest
        self.shard_rows = shard_rows
        self._shard: ShardFile | None = None
        (path / DATA_DIR).mkdir(parents=True, exist_ok=True)
        self._write_manifest()

    def _write_manifest(self) -> None:
        atomic_write_text(self.path / MANIFEST_NAME, json.dumps(self.manifest, indent=2, sort_keys=True) + "\n")

    def append(self, batch: pa.RecordBatch) -> None:
        """Add rows (predictions schema); commits a shard every ``shard_rows`` rows."""
        if self._shard is None:
            sequence = next_shard_sequence([shard["file"] for shard in self.manifest["shards"]])
            self._shard = ShardFile(self.path / DATA_DIR, shard_name(sequence), predictions_schema().arrow)
        self._shard.write(batch)
        if self._shard.num_rows >= self.shard_rows:
            self.flush()

    def flush(self) -> None:
        """Commit the open shard (verified, fsynced, renamed) and record it in the manifest."""
        if self._shard is None:
            return
        shard, self._shard = self._shard, None
        shard.commit()
        self.manifest["shards"].append({"file": shard.name, "num_rows": shard.num_rows})
        self.manifest["num_rows"] = sum(s["num_rows"] for s in self.manifest["shards"])
        self._write_manifest()

    def close(self, *, history: dict[str, Any]) -> None:
        """Flush, mark the dataset complete and append a history entry (command, parameters, timings)."""
        self.flush()
        self.manifest["complete"] = True
        self.manifest["history"].append({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **history})
        self._write_manifest()


@contextmanager
def locked_prediction_writer(
    path: Path, manifest: dict[str, Any], *, shard_rows: int = 100_000
) -> Iterator[PredictionWriter]:
    """A :class:`PredictionWriter` on ``path`` held under the folder's exclusive lock.

    A failed write (full disk, file too large, I/O error) becomes one :class:`DatasetError` naming the folder;
    the shards committed before it stay readable.

    Raises:
        DatasetError: another process is writing ``path``, its lock file is a link, or a write failed.
    """
    path.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(path / LOCK_NAME, busy=f"{path}: another curate process is writing these predictions"):
        try:
            yield PredictionWriter(path, manifest, shard_rows=shard_rows)
        except OSError as exc:
            raise DatasetError(
                f"{path}: a write failed ({exc}); the committed shards stay readable; re-run with overwrite"
            ) from exc


def new_manifest(
    *, reference: dict[str, Any], models: Sequence[ModelInfo], parameters: dict[str, Any]
) -> dict[str, Any]:
    """Manifest of an empty predictions dataset for ``models`` run over the ``reference`` dataset."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        **predictions_schema().manifest_header(),
        "reference": reference,
        "models": [m.as_dict() for m in models],
        "parameters": parameters,
        "num_rows": 0,
        "shards": [],
        "complete": False,
        "history": [],
        "created_with": {"curate": __version__},
    }


class Predictions:
    """A predictions dataset opened for reading."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        manifest_path = self.path / MANIFEST_NAME
        if not manifest_path.is_file():
            raise DatasetError(f"{self.path}: not a curate predictions dataset (no {MANIFEST_NAME})")
        try:
            self.manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{manifest_path}: manifest is not valid JSON ({exc})") from exc
        if self.manifest.get("format") != FORMAT_NAME:
            raise DatasetError(f"{manifest_path}: not a predictions manifest (format={self.manifest.get('format')!r})")

    @property
    def model_names(self) -> list[str]:
        return [m["name"] for m in self.manifest["models"]]

    def model_info(self, name: str) -> dict[str, str]:
        """Provenance of model ``name`` as stored in the manifest; raises DatasetError when absent."""
        for m in self.manifest["models"]:
            if m["name"] == name:
                return dict(m)
        raise DatasetError(f"{self.path}: no predictions of model {name!r}; it holds {self.model_names}")

    def iter_model(self, name: str, *, batch_rows: int = 1024) -> Iterator[pa.RecordBatch]:
        """Stream the rows of model ``name`` in stored order (the reference dataset's order)."""
        self.model_info(name)
        for shard in self.manifest["shards"]:
            parquet = pq.ParquetFile(self.path / DATA_DIR / shard["file"])
            for batch in parquet.iter_batches(batch_size=batch_rows):
                selected = batch.filter(pc.equal(batch.column("model"), name))
                if selected.num_rows:
                    yield selected


def iter_aligned(
    reference_batches: Iterator[pa.RecordBatch], predictions: Iterator[pa.RecordBatch], *, where: str
) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch]]:
    """Pair each reference batch with the prediction rows of the same ids, walking both streams in lockstep.

    Raises DatasetError naming ``where`` when the predictions do not follow the reference order (made for
    another dataset, or the dataset changed since).
    """
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for ref in reference_batches:
        if ref.num_rows == 0:
            continue
        while pending_rows < ref.num_rows:
            try:
                nxt = next(predictions)
            except StopIteration:
                raise DatasetError(f"{where}: predictions end before the reference dataset does") from None
            pending.append(nxt)
            pending_rows += nxt.num_rows
        table = pa.Table.from_batches(pending).combine_chunks()
        head = table.slice(0, ref.num_rows)
        rest = table.slice(ref.num_rows)
        pending = rest.to_batches() if rest.num_rows else []
        pending_rows = rest.num_rows
        pred = head.to_batches()[0]
        if not pc.all(pc.equal(pred.column("id"), ref.column("id"))).as_py():
            raise DatasetError(
                f"{where}: prediction rows are not in the reference dataset's order (re-run curate predict on it)"
            )
        yield ref, pred
    if pending_rows or next(predictions, None) is not None:
        raise DatasetError(f"{where}: predictions hold more rows than the reference dataset")
