"""fairchem's ASE LMDB database (``.aselmdb``, the format of OMat24, OMol25, OMC25), written with ase-db-backends.

One row per configuration, laid out as :mod:`curate.exporters.ase_db` lays out an SQLite ASE database (the
same functions build both): a SinglePointCalculator with ``energy`` (eV, the raw DFT total energy, as OMat24
stores it: fairchem models are not trained on MP2020-corrected energies), ``forces`` (eV/angstrom),
``stress`` (eV/angstrom^3, ASE sign, Voigt xx yy zz yz xz xy: the stored GPa x ``ase.units.GPa``) and
``magmoms``; metadata as key-value pairs (``curate_id`` = the dataset row id, ``split``, ``functional``,
``hubbard_u``...). The row's ``data`` holds ``sid``, the row id again (fairchem's ``AseDBDataset`` copies
``data`` into ``atoms.info`` and takes ``info["sid"]`` as the system id), and ``REF_stress`` (full 3x3,
eV/angstrom^3).

Read it with ``ase.db.connect(path)`` (ASE >= 3.25 dispatches ``.aselmdb`` to ase-db-backends) or fairchem's
``AseDBDataset({"src": path})``. Both pick the backend from the file name, so the output must end in
``.aselmdb``. LMDB's ``<file>-lock`` companion is removed once the file is complete. ``curate import ase``
reads it back with every column and the same row ids (stress within one float64 step of the GPa).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import ClassVar

from curate.errors import ConfigurationError
from curate.exporters.ase_db import write_chunk
from curate.exporters.base import ExportCounts, ExportPlan, ExportRow

# one LMDB write transaction per chunk; reconnecting per chunk rebuilds the backend's id list (O(rows)),
# so chunks are larger than the SQLite exporter's, yet far below LMDB's dirty-page limit of a transaction
LMDB_COMMIT_ROWS = 10_000


class AseLmdbExporter:
    """fairchem-style ``.aselmdb`` (ASE database on LMDB) through ase-db-backends."""

    name: ClassVar[str] = "aselmdb"
    summary: ClassVar[str] = "fairchem .aselmdb (ase-db-backends): energy (eV), forces (eV/A), stress (eV/A^3)"
    energy_choice: ClassVar[bool] = False
    keyed_by_material: ClassVar[bool] = False
    suffix: ClassVar[str | None] = ".aselmdb"

    def write(self, rows: Iterable[ExportRow], path: Path, *, plan: ExportPlan) -> ExportCounts:
        """Write every row to a new ``.aselmdb`` at ``path``, one transaction per LMDB_COMMIT_ROWS rows.

        Raises ConfigurationError when the ase-db-backends package is not installed.
        """
        import ase.db

        try:
            import ase_db_backends.aselmdb  # noqa: F401 - ase.db.connect imports it by name; fail here, clearly
        except ImportError as exc:
            raise ConfigurationError(
                "aselmdb export needs the ase-db-backends package (pip install ase-db-backends==0.11.0)"
            ) from exc
        counts = ExportCounts()
        rows = iter(rows)
        append = False  # the first connection starts a new file
        try:
            while True:
                chunk = list(islice(rows, LMDB_COMMIT_ROWS))
                db = ase.db.connect(str(path), type="aselmdb", append=append)
                # the backend's context manager holds one write transaction, commits it and closes the
                # environment on exit, hence one connection per chunk
                with db:
                    write_chunk(db, chunk, counts, extra_data=lambda row_id: {"sid": row_id})
                append = True
                if len(chunk) < LMDB_COMMIT_ROWS:
                    return counts
        finally:
            Path(f"{path}-lock").unlink(missing_ok=True)
