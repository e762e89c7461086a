"""The first, cheap pass of an export: a few scalar columns only, read before any frame is written.

It finds what one file must agree on before writing starts: the functionals and Hubbard U values of the
labelled rows kept by ``--where`` (one energy scale per file), which rows ``--energy auto`` could correct,
and, for formats that key frames by material, the material group of every row of the dataset (the grouping
of :mod:`curate.dataset.material` runs over the whole dataset, as publishing's split does, so an exported key never
splits a material because a filter left out the row that linked it).
"""

from __future__ import annotations

from dataclasses import dataclass

from curate.dataset.material import MATERIAL_COLUMNS, MaterialGrouper, MaterialGroups
from curate.dataset.store import Dataset
from curate.errors import ConfigurationError
from curate.exporters.energy import auto_correctable
from curate.exporters.where import RowFilter

SCAN_COLUMNS: tuple[str, ...] = ("functional", "hubbard_u", "energy", "energy_corrected", "source")
SCAN_BATCH_ROWS = 65536
# Materials Project's GGA/GGA+U scheme: U by composition, as in MPtrj and OMat24, one energy surface
MP_GGA_FAMILY = frozenset({"PBE", "PBE+U"})
UNKNOWN_FUNCTIONAL = "unknown functional"


@dataclass(frozen=True)
class DatasetScan:
    """What the first pass found.

    Attributes:
        rows_kept: rows ``--where`` keeps.
        functionals: labelled kept rows (with an energy) per functional.
        hubbard_u: element -> U_eff (eV) -> labelled kept rows using it.
        correctable: labelled kept rows ``--energy auto`` can correct (see :mod:`curate.exporters.energy`).
        uncorrectable: labelled kept rows it cannot, by ``"<source> <functional>"``.
        groups: material groups of every dataset row (None when the format does not need them).
    """

    rows_kept: int
    functionals: dict[str, int]
    hubbard_u: dict[str, dict[float, int]]
    correctable: int
    uncorrectable: dict[str, int]
    groups: MaterialGroups | None


def scan_dataset(dataset: Dataset, *, row_filter: RowFilter, with_groups: bool) -> DatasetScan:
    """Read the scan columns (and the material columns when ``with_groups``) of every row once."""
    columns = sorted({*SCAN_COLUMNS, *row_filter.columns, *(MATERIAL_COLUMNS if with_groups else ())})
    grouper = MaterialGrouper() if with_groups else None
    kept = correctable = 0
    functionals: dict[str, int] = {}
    hubbard_u: dict[str, dict[float, int]] = {}
    uncorrectable: dict[str, int] = {}
    for batch in dataset.iter_batches(columns=columns, batch_rows=SCAN_BATCH_ROWS):
        if grouper is not None:
            grouper.add(batch)
        selected = row_filter.apply(batch)
        kept += selected.num_rows
        for row in selected.select(list(SCAN_COLUMNS)).to_pylist():
            if row["energy"] is None:
                continue  # no energy, no energy scale
            functional = row["functional"] or UNKNOWN_FUNCTIONAL
            functionals[functional] = functionals.get(functional, 0) + 1
            for entry in row["hubbard_u"] or ():
                per_value = hubbard_u.setdefault(entry["element"], {})
                per_value[entry["u_ev"]] = per_value.get(entry["u_ev"], 0) + 1
            has_stored = row["energy_corrected"] is not None
            if auto_correctable(functional=row["functional"], source=row["source"], has_stored=has_stored):
                correctable += 1
            else:
                key = f"{row['source']} {functional}"
                uncorrectable[key] = uncorrectable.get(key, 0) + 1
    return DatasetScan(
        rows_kept=kept,
        functionals=functionals,
        hubbard_u=hubbard_u,
        correctable=correctable,
        uncorrectable=uncorrectable,
        groups=None if grouper is None else grouper.groups(),
    )


def check_one_energy_scale(scan: DatasetScan) -> None:
    """Refuse a file whose labelled rows mix functionals (PBE with PBE+U excepted) or U values of one element.

    A trainer reads one energy per frame and no functional: rows of two functionals (or two U values for one
    element) would put one target on two scales without the model being able to tell.

    Raises:
        ConfigurationError: one line naming the functionals (or U values) with their row counts and the
            ``--where`` filter that gives one file per functional.
    """
    names = set(scan.functionals)
    if len(names) > 1 and not names <= MP_GGA_FAMILY:
        found = ", ".join(f"{name} ({n} rows)" for name, n in sorted(scan.functionals.items()))
        raise ConfigurationError(
            f"the rows to export mix functionals: {found}; their energies lie on different scales and a trainer "
            "cannot tell them apart: write one file per functional, keeping where functional=NAME (PBE and PBE+U, "
            "Materials Project's GGA/GGA+U scheme, may share one: where functional is PBE or PBE+U)"
        )
    for element, values in sorted(scan.hubbard_u.items()):
        if len(values) > 1:
            found = ", ".join(f"{u!r} eV ({n} rows)" for u, n in sorted(values.items()))
            raise ConfigurationError(
                f"the rows to export use more than one Hubbard U for {element}: {found}; energies with different "
                "U lie on different scales: keep one U per element in a file, e.g. with where source_file=FILE"
            )
