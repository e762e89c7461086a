"""What every exporter shares: the row it receives, what it reports, its interface, and ASE metadata keys."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, NamedTuple, Protocol

from curate.dataset.configuration import Configuration
from curate.dataset.material import MaterialGroups
from curate.exporters.energy import EnergyPolicy

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
