"""Exporters: a dataset -> one file a trainer reads, one module per format, and their registry.

Every exporter receives the dataset's rows as :class:`~curate.dataset.configuration.Configuration` objects streamed
batch by batch (memory bounded by one batch, or by one material for ``mptrj-json``) and writes one file.
:func:`export_dataset` writes to a hidden temporary name next to the output and renames it into place when
complete, so a killed export never leaves a half-written file under the requested name.

Floats are written at full precision (shortest repr that reads back to the same float64): row ids round
labels to 1e-6, so any truncation could change an id on re-import.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, Protocol, get_args

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.dataset.configuration import Configuration, batch_to_configurations
from curate.dataset.schema import row_schema
from curate.dataset.store import Dataset
from curate.errors import ConfigurationError
from curate.registry import LazyRegistry

ExportFormat = Literal["extxyz", "mptrj-json", "ase-db"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
BATCH_ROWS = 1024


@dataclass
class ExportCounts:
    """What an exporter wrote: rows written, and rows the format cannot carry, counted per reason."""

    written: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


@dataclass(frozen=True)
class ExportReport:
    """One export run: output path, format, rows scanned/written/skipped (with reasons) and wall time."""

    path: Path
    format_name: str
    rows_scanned: int
    rows_written: int
    skipped: dict[str, int]
    where: dict[str, str]
    seconds: float

    @property
    def rows_skipped(self) -> int:
        return sum(self.skipped.values())


class Exporter(Protocol):
    """Writes configurations (schema units: angstrom, eV, eV/angstrom, GPa with the ASE sign) to one file."""

    name: ClassVar[str]
    summary: ClassVar[str]

    def write(self, configurations: Iterable[Configuration], path: Path) -> ExportCounts:
        """Write every configuration it can carry to ``path`` (a new file); count the ones it cannot."""
        ...


# Metadata columns written as ASE info / key-value pairs, under the names the ``ase`` importer reads back.
ASE_METADATA_KEYS: tuple[str, ...] = (
    "functional",
    "material_id",
    "task_id",
    "calc_index",
    "ionic_step",
    "energy_field",
    "scf_converged",
    "parent_id",
    "generator",
    "generator_params",
    "seed",
    "pair_id",
    "split",
    "source_record",
)


def format_hubbard_u(hubbard_u: Mapping[str, float]) -> str:
    """``{"Fe": 5.3, "Co": 3.32}`` -> ``"Co=3.32,Fe=5.3"`` (elements alphabetical, U in eV, full precision)."""
    return ",".join(f"{element}={float(u)!r}" for element, u in sorted(hubbard_u.items()))


def ase_metadata(cfg: Configuration) -> dict[str, str | int | float | bool]:
    """The row's metadata as the ``ase`` importer reads it from ``atoms.info``; null values are left out.

    Keys are :data:`ASE_METADATA_KEYS` plus ``REF_energy_corrected`` (eV) and ``hubbard_u`` (U_eff in eV as
    ``"Co=3.32,Fe=5.3"``).
    """
    info: dict[str, str | int | float | bool] = {}
    for key in ASE_METADATA_KEYS:
        value = getattr(cfg, key)
        if value is not None:
            info[key] = value
    if cfg.energy_corrected is not None:
        info["REF_energy_corrected"] = float(cfg.energy_corrected)
    if cfg.hubbard_u:
        info["hubbard_u"] = format_hubbard_u(cfg.hubbard_u)
    return info


_EXPORTERS: LazyRegistry[Exporter] = LazyRegistry(
    "export format",
    {
        "extxyz": "curate.exporters.extxyz:ExtxyzExporter",
        "mptrj-json": "curate.exporters.mptrj_json:MPtrjJsonExporter",
        "ase-db": "curate.exporters.ase_db:AseDbExporter",
    },
)


def get_exporter(name: str) -> Exporter:
    """The exporter registered as ``name``; KeyError lists the known formats."""
    return _EXPORTERS.create(name)


def parse_where(terms: Iterable[str]) -> dict[str, str]:
    """``["functional=PBE", "split=train"]`` -> ``{"functional": "PBE", "split": "train"}``.

    Raises ConfigurationError for a term without ``=``.
    """
    where: dict[str, str] = {}
    for term in terms:
        column, sep, value = term.partition("=")
        if not sep or not column.strip():
            raise ConfigurationError(f"--where expects COLUMN=VALUE (e.g. functional=PBE), got {term!r}")
        where[column.strip()] = value
    return where


def _where_scalars(where: Mapping[str, str]) -> dict[str, pa.Scalar]:
    """Each ``where`` value as a scalar of its column's type; ConfigurationError for unusable columns."""
    schema = row_schema().arrow
    scalars: dict[str, pa.Scalar] = {}
    for column, value in where.items():
        index = schema.get_field_index(column)
        if index < 0:
            raise ConfigurationError(f"--where: no column {column!r}; known: {', '.join(schema.names)}")
        kind = schema.field(index).type
        if pa.types.is_string(kind):
            scalars[column] = pa.scalar(value, type=kind)
        elif pa.types.is_integer(kind):
            try:
                scalars[column] = pa.scalar(int(value), type=kind)
            except ValueError as exc:
                raise ConfigurationError(f"--where {column}: expected an integer, got {value!r}") from exc
        else:
            raise ConfigurationError(
                f"--where {column}: only string and integer columns can be filtered, {column} is {kind}"
            )
    return scalars


def _row_mask(batch: pa.RecordBatch, scalars: Mapping[str, pa.Scalar]) -> pa.Array:
    mask = pa.array(np.ones(batch.num_rows, dtype=bool))
    for column, scalar in scalars.items():
        mask = pc.and_(mask, pc.fill_null(pc.equal(batch.column(column), scalar), False))
    return mask


def iter_configurations(
    dataset: Dataset,
    *,
    where: Mapping[str, str] | None = None,
    batch_rows: int = BATCH_ROWS,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[Configuration]:
    """Stream the dataset's rows as configurations, keeping rows whose columns equal every ``where`` value.

    ``on_progress`` is called with the number of rows scanned (kept or not) after each batch.
    """
    scalars = _where_scalars(where or {})
    for batch in dataset.iter_batches(batch_rows=batch_rows):
        kept = batch.filter(_row_mask(batch, scalars)) if scalars else batch
        yield from batch_to_configurations(kept)
        if on_progress:
            on_progress(batch.num_rows)


def export_dataset(
    dataset_dir: Path,
    *,
    format_name: str,
    out: Path,
    where: Mapping[str, str] | None = None,
    batch_rows: int = BATCH_ROWS,
    on_progress: Callable[[int], None] | None = None,
) -> ExportReport:
    """Export the dataset at ``dataset_dir`` to the file ``out`` (replaced if it exists) in ``format_name``.

    Raises DatasetError when ``dataset_dir`` is not a dataset, ConfigurationError for a bad ``where``.
    The output appears under ``out`` only once it is complete.
    """
    dataset = Dataset.open(dataset_dir)
    _where_scalars(where or {})
    exporter = get_exporter(format_name)
    started = time.perf_counter()
    scanned = 0

    def count(rows: int) -> None:
        nonlocal scanned
        scanned += rows
        if on_progress:
            on_progress(rows)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    try:
        rows = iter_configurations(dataset, where=where, batch_rows=batch_rows, on_progress=count)
        counts = exporter.write(rows, tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportReport(
        path=out,
        format_name=format_name,
        rows_scanned=scanned,
        rows_written=counts.written,
        skipped=dict(counts.skipped),
        where=dict(where or {}),
        seconds=time.perf_counter() - started,
    )


__all__ = [
    "ASE_METADATA_KEYS",
    "EXPORT_FORMATS",
    "ExportCounts",
    "ExportFormat",
    "ExportReport",
    "Exporter",
    "ase_metadata",
    "export_dataset",
    "format_hubbard_u",
    "get_exporter",
    "iter_configurations",
    "parse_where",
]
