"""Exporters: a dataset -> one file a trainer reads, one module per format, and their registry.

An export makes two passes. The first reads a few scalar columns (:mod:`curate.exporters.scan`): it refuses a
file that would mix functionals or Hubbard U values, resolves ``--energy`` (:mod:`curate.exporters.energy`)
and, for ``mptrj-json``, groups rows into materials (:mod:`curate.dataset.material`). The second streams the rows
kept by ``--where`` (:mod:`curate.exporters.where`) batch by batch as :class:`ExportRow` (row id +
:class:`~curate.dataset.configuration.Configuration`) to the exporter, which writes one file. :func:`export_dataset`
writes to a hidden temporary name next to the output and renames it into place when complete, so a killed
export never leaves a half-written file under the requested name.

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
from typing import ClassVar, Literal, NamedTuple, Protocol, get_args

from curate.dataset.configuration import Configuration, batch_to_configurations
from curate.dataset.material import MaterialGroups
from curate.dataset.store import Dataset
from curate.errors import ConfigurationError
from curate.exporters.energy import ENERGY_CHOICES, EnergyChoice, EnergyPolicy, resolve_energy
from curate.exporters.scan import check_one_energy_scale, scan_dataset
from curate.exporters.where import RowFilter, Where, parse_where

ExportFormat = Literal["extxyz", "mptrj-json", "ase-db", "aselmdb"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
BATCH_ROWS = 1024
# the row id (a content hash) in ASE info / key-value pairs: "id" itself is reserved by ase.db
ID_KEY = "curate_id"


class ExportRow(NamedTuple):
    """One dataset row on its way to a file: its id (content hash) and its configuration (schema units)."""

    row_id: str
    configuration: Configuration


@dataclass
class ExportCounts:
    """What an exporter wrote: rows written, energies written per kind, rows it could not carry per reason."""

    written: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    energies: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def wrote(self, energy_kind: str | None) -> None:
        """Count one written row and the kind of energy it carries (None: the row has no energy)."""
        self.written += 1
        if energy_kind is not None:
            self.energies[energy_kind] = self.energies.get(energy_kind, 0) + 1


@dataclass(frozen=True)
class ExportPlan:
    """What the first pass decided for one file, handed to the exporter.

    Attributes:
        energy: the energy to write (formats with a choice of energy; None for the others).
        groups: material group of every dataset row (formats keyed by material; None for the others).
    """

    energy: EnergyPolicy | None = None
    groups: MaterialGroups | None = None


@dataclass(frozen=True)
class ExportReport:
    """One export run.

    Attributes:
        path, format_name: the file written and its format.
        rows_scanned: dataset rows read; rows_written: rows in the file.
        skipped: rows left out, per reason.
        where: the ``--where`` filter (column -> accepted values).
        energy: the energy choice as resolved (``auto -> corrected``); ``raw`` for formats without a choice.
        energies: rows written per kind of energy (:mod:`curate.exporters.energy` kinds).
        functionals: labelled rows per functional among the rows kept by ``where``.
        seconds: wall time.
    """

    path: Path
    format_name: str
    rows_scanned: int
    rows_written: int
    skipped: dict[str, int]
    where: dict[str, tuple[str, ...]]
    energy: str
    energies: dict[str, int]
    functionals: dict[str, int]
    seconds: float

    @property
    def rows_skipped(self) -> int:
        return sum(self.skipped.values())


class Exporter(Protocol):
    """Writes rows (schema units: angstrom, eV, eV/angstrom, GPa with the ASE sign) to one file.

    Class attributes: ``name`` and ``summary`` (for the CLI), ``energy_choice`` (True when the format writes
    the energy ``--energy`` selects, else it writes raw DFT energies), ``keyed_by_material`` (True when it needs
    :attr:`ExportPlan.groups`) and ``suffix`` (the file name ending its readers require, or None).
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    energy_choice: ClassVar[bool]
    keyed_by_material: ClassVar[bool]
    suffix: ClassVar[str | None]

    def write(self, rows: Iterable[ExportRow], path: Path, *, plan: ExportPlan) -> ExportCounts:
        """Write every row it can carry to ``path`` (a new file); count the ones it cannot, with the reason."""
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


def ase_metadata(cfg: Configuration, *, row_id: str | None = None) -> dict[str, str | int | float | bool]:
    """The row's metadata as the ``ase`` importer reads it from ``atoms.info``; null values are left out.

    Keys are :data:`ID_KEY` (the dataset row id, so a trainer's frame traces back to its row; the importer
    recomputes ids from content, which gives the same id), :data:`ASE_METADATA_KEYS` (``split`` among them),
    ``REF_energy_corrected`` (eV) and ``hubbard_u`` (U_eff in eV as ``"Co=3.32,Fe=5.3"``).
    """
    info: dict[str, str | int | float | bool] = {} if row_id is None else {ID_KEY: row_id}
    for key in ASE_METADATA_KEYS:
        value = getattr(cfg, key)
        if value is not None:
            info[key] = value
    if cfg.energy_corrected is not None:
        info["REF_energy_corrected"] = float(cfg.energy_corrected)
    if cfg.hubbard_u:
        info["hubbard_u"] = format_hubbard_u(cfg.hubbard_u)
    return info


def _extxyz() -> Exporter:
    from curate.exporters.extxyz import ExtxyzExporter

    return ExtxyzExporter()


def _mptrj_json() -> Exporter:
    from curate.exporters.mptrj_json import MPtrjJsonExporter

    return MPtrjJsonExporter()


def _ase_db() -> Exporter:
    from curate.exporters.ase_db import AseDbExporter

    return AseDbExporter()


def _aselmdb() -> Exporter:
    from curate.exporters.aselmdb import AseLmdbExporter

    return AseLmdbExporter()


_FACTORIES: dict[str, Callable[[], Exporter]] = {
    "extxyz": _extxyz,
    "mptrj-json": _mptrj_json,
    "ase-db": _ase_db,
    "aselmdb": _aselmdb,
}


def get_exporter(name: str) -> Exporter:
    """The exporter registered as ``name``; KeyError lists the known formats."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise KeyError(f"unknown export format {name!r}; known: {', '.join(EXPORT_FORMATS)}") from None
    return factory()


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
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp{exporter.suffix or ''}")
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
