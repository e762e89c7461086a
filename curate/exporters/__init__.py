"""Exporters: a dataset -> one file a trainer reads, one module per format, and their registry.

An export makes two passes. The first reads a few scalar columns (:mod:`curate.exporters.scan`): it refuses a
file that would mix functionals or Hubbard U values, resolves ``--energy`` (:mod:`curate.exporters.energy`)
and, for ``mptrj-json``, groups rows into materials (:mod:`curate.dataset.material`). The second streams the rows
kept by ``--where`` (:mod:`curate.exporters.where`) batch by batch as :class:`ExportRow` (row id +
:class:`~curate.dataset.configuration.Configuration`) to the exporter, which writes one file. :func:`export_dataset`
writes to a hidden temporary name next to the output (:func:`curate.dataset.io.new_temporary`, owner pid in the
name) and renames it into place when complete, so a killed export never leaves a half-written file under the
requested name, and the next export to the same name removes the temporaries a killed one left.

Floats are written at full precision (shortest repr that reads back to the same float64): row ids round
labels to 1e-6, so any truncation could change an id on re-import.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, get_args

from curate.dataset.configuration import batch_to_configurations
from curate.dataset.io import new_temporary
from curate.dataset.store import Dataset
from curate.errors import ConfigurationError
from curate.exporters.base import (
    ASE_METADATA_KEYS,
    ID_KEY,
    ExportCounts,
    Exporter,
    ExportPlan,
    ExportReport,
    ExportRow,
    ase_metadata,
    format_hubbard_u,
)
from curate.exporters.energy import ENERGY_CHOICES, EnergyChoice, resolve_energy
from curate.exporters.scan import check_one_energy_scale, scan_dataset
from curate.exporters.where import RowFilter, Where, parse_where
from curate.registry import LazyRegistry

ExportFormat = Literal["extxyz", "mptrj-json", "ase-db", "aselmdb"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
BATCH_ROWS = 1024
_EXPORTERS: LazyRegistry[Exporter] = LazyRegistry(
    "export format",
    {
        "extxyz": "curate.exporters.extxyz:ExtxyzExporter",
        "mptrj-json": "curate.exporters.mptrj_json:MPtrjJsonExporter",
        "ase-db": "curate.exporters.ase_db:AseDbExporter",
        "aselmdb": "curate.exporters.aselmdb:AseLmdbExporter",
    },
)


def get_exporter(name: str) -> Exporter:
    """The exporter registered as ``name``; KeyError lists the known formats."""
    return _EXPORTERS.create(name)


def iter_rows(
    dataset: Dataset,
    *,
    row_filter: RowFilter,
    batch_rows: int = BATCH_ROWS,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[ExportRow]:
    """Stream the rows ``row_filter`` keeps, in dataset order, as (row id, configuration).

    ``on_progress`` is called with the number of rows scanned (kept or not) after each batch.
    """
    for batch in dataset.iter_batches(batch_rows=batch_rows):
        kept = row_filter.apply(batch)
        ids = kept.column("id").to_pylist()
        yield from map(ExportRow, ids, batch_to_configurations(kept))
        if on_progress:
            on_progress(batch.num_rows)


def plan_export(
    dataset: Dataset, exporter: Exporter, *, row_filter: RowFilter, energy: EnergyChoice | None
) -> tuple[ExportPlan, dict[str, int]]:
    """The first pass: (plan for the exporter, labelled kept rows per functional).

    Raises:
        ConfigurationError: ``energy`` given for a format without a choice of energy, rows mixing
            functionals or U values (:func:`~curate.exporters.scan.check_one_energy_scale`), or ``auto``
            energies on rows only partly correctable.
    """
    if energy is not None and not exporter.energy_choice:
        raise ConfigurationError(
            f"energy applies to mptrj-json only: {exporter.name} writes the raw DFT energy as the label "
            "(and a stored energy_corrected next to it where the format has a place for it)"
        )
    scan = scan_dataset(dataset, row_filter=row_filter, with_groups=exporter.keyed_by_material)
    check_one_energy_scale(scan)
    policy = None
    if exporter.energy_choice:
        policy = resolve_energy(energy or "auto", correctable=scan.correctable, uncorrectable=scan.uncorrectable)
    return ExportPlan(energy=policy, groups=scan.groups), scan.functionals


def export_dataset(
    dataset_dir: Path,
    *,
    format_name: str,
    out: Path,
    where: Where | None = None,
    energy: EnergyChoice | None = None,
    batch_rows: int = BATCH_ROWS,
    on_progress: Callable[[int], None] | None = None,
) -> ExportReport:
    """Export the dataset at ``dataset_dir`` to the file ``out`` (replaced if it exists) in ``format_name``.

    Args:
        where: column -> value, or -> values (any of them); see :mod:`curate.exporters.where`.
        energy: the energy written by formats with a choice (``mptrj-json``): one of ``auto`` (the default),
            ``corrected``, ``uncorrected``; see :mod:`curate.exporters.energy`. None: the format's default.

    Raises:
        DatasetError: ``dataset_dir`` is not a dataset.
        ConfigurationError: a bad ``where`` or ``energy``, an output name the format's readers would not
            open, or rows that cannot share one file (see :func:`plan_export`).

    The output appears under ``out`` only once it is complete.
    """
    dataset = Dataset.open(dataset_dir)
    row_filter = RowFilter(where)
    exporter = get_exporter(format_name)
    out = Path(out)
    if exporter.suffix is not None and out.suffix != exporter.suffix:
        raise ConfigurationError(
            f"{format_name} files must end in {exporter.suffix} (readers pick the backend from the name), got {out}"
        )
    started = time.perf_counter()
    plan, functionals = plan_export(dataset, exporter, row_filter=row_filter, energy=energy)
    scanned = 0

    def count(rows: int) -> None:
        nonlocal scanned
        scanned += rows
        if on_progress:
            on_progress(rows)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = new_temporary(out, suffix=exporter.suffix or "")
    try:
        rows = iter_rows(dataset, row_filter=row_filter, batch_rows=batch_rows, on_progress=count)
        counts = exporter.write(rows, tmp, plan=plan)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportReport(
        path=out,
        format_name=format_name,
        rows_scanned=scanned,
        rows_written=counts.written,
        skipped=dict(counts.skipped),
        where=dict(row_filter.where),
        energy="raw" if plan.energy is None else plan.energy.describe(),
        energies=dict(counts.energies),
        functionals=functionals,
        seconds=time.perf_counter() - started,
    )


__all__ = [
    "ASE_METADATA_KEYS",
    "ENERGY_CHOICES",
    "EXPORT_FORMATS",
    "ID_KEY",
    "ExportCounts",
    "ExportFormat",
    "ExportPlan",
    "ExportReport",
    "ExportRow",
    "Exporter",
    "ase_metadata",
    "export_dataset",
    "format_hubbard_u",
    "get_exporter",
    "iter_rows",
    "parse_where",
    "plan_export",
]
