"""Per-ionic-step frames from Materials Project's trajectory Delta Lake table, read with ``deltalake``.

mp-api 0.46 reads trajectories (``TaskRester.get_trajectory``) from the public table
``s3a://materialsproject-parsed/core/trajectories/`` with one SQL query per task through deltalake's
``QueryBuilder``; the location is fixed inside mp-api (``_get_delta_table`` builds an s3a URI from a bucket
name), so it cannot be pointed elsewhere. curate runs the same kind of query itself against a table URI
that defaults to MP's and may be any other Delta location (a local mirror, a test table): one query per
batch of tasks instead of one per task, and no REST traffic for the bulk of the data.

Rows follow emmet's ``RelaxTrajectory.to_arrow`` layout: ``identifier`` (the task's padded AlphaID),
``elements`` (Z per site), ``cart_coords`` (per step, angstrom), ``lattice`` (one 3x3 matrix when constant,
else one per step), ``e_fr_energy`` (eV), ``forces`` (eV/A), ``stress`` (kBar, VASP sign).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from curate.errors import RecordRejected

MP_TRAJECTORIES_URI = "s3a://materialsproject-parsed/core/trajectories/"
_MP_STORAGE_OPTIONS = {"AWS_SKIP_SIGNATURE": "true", "AWS_REGION": "us-east-1"}
_COLUMNS = "identifier, elements, cart_coords, lattice, e_fr_energy, forces, stress"


def alpha_identifier(task_id: str) -> str:
    """The ``identifier`` MP's Delta tables use for a task id: ``mp-djowr`` -> ``aaadjowr`` (padded AlphaID)."""
    from emmet.core.mpid import AlphaID

    return str(AlphaID(task_id, padlen=8)).split("-")[-1]


class TrajectoryTable:
    """A trajectory Delta table (MP's on S3 by default) queried with deltalake's SQL engine."""

    def __init__(self, uri: str = MP_TRAJECTORIES_URI):
        from deltalake import DeltaTable, QueryBuilder

        self.uri = uri
        options = _MP_STORAGE_OPTIONS if uri.startswith(("s3://", "s3a://")) else None
        try:
            table = DeltaTable(uri, storage_options=options)
        except Exception as exc:  # deltalake raises its own TableNotFoundError / OSError variants
            from curate.errors import ConfigurationError

            raise ConfigurationError(f"cannot open the trajectory Delta table {uri}: {exc}") from None
        self._query = QueryBuilder().register("traj", table)

    def _select(self, columns: str, task_ids: Iterable[str]) -> list[dict[str, Any]]:
        wanted = sorted({alpha_identifier(t) for t in task_ids})
        if not wanted:
            return []
        listed = ", ".join(f"'{w}'" for w in wanted if w.isalnum())
        import pyarrow as pa

        result = self._query.execute(f"SELECT {columns} FROM traj WHERE identifier IN ({listed})").read_all()
        return pa.table(result).to_pylist()

    def fetch(self, task_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Trajectory rows of ``task_ids``, keyed by the task id given (tasks without a row are absent)."""
        by_alpha = {alpha_identifier(t): t for t in task_ids}
        return {by_alpha[row["identifier"]]: row for row in self._select(_COLUMNS, by_alpha)}

    def count_steps(self, task_ids: Iterable[str]) -> int:
        """Total ionic steps stored for ``task_ids`` (before any frame policy)."""
        rows = self._select("cardinality(e_fr_energy) AS n", task_ids)
        return sum(int(r["n"] or 0) for r in rows)


def ionic_steps(row: dict[str, Any], *, task_id: str) -> list[dict[str, Any]]:
    """A trajectory row as MP task-document ``ionic_steps`` (structure dict with ``xyz``, energy, forces, stress).

    Raises RecordRejected naming the field when the row's arrays disagree in length.
    """
    from ase.data import chemical_symbols

    try:
        symbols = [chemical_symbols[int(z)] for z in row["elements"]]
        coords = row["cart_coords"]
        lattices = row["lattice"] or []
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise RecordRejected(f"trajectory row of task {task_id} is malformed ({exc})", field="elements") from None
    num_steps = len(coords)
    if len(lattices) not in (1, num_steps):
        raise RecordRejected(f"{len(lattices)} lattices for {num_steps} steps", field="lattice")
    per_step = {}
    for name in ("e_fr_energy", "forces", "stress"):
        values = row.get(name)
        if values is not None and len(values) != num_steps:
            raise RecordRejected(f"{len(values)} values for {num_steps} steps", field=name)
        per_step[name] = values
    steps = []
    for i in range(num_steps):
        matrix = lattices[0] if len(lattices) == 1 else lattices[i]
        sites = [
            {"species": [{"element": s, "occu": 1}], "xyz": xyz}
            for s, xyz in zip(symbols, coords[i] or [], strict=False)
        ]
        step: dict[str, Any] = {"structure": {"lattice": {"matrix": matrix}, "sites": sites}}
        for name, values in per_step.items():
            if values is not None:
                step[name] = values[i]
        steps.append(step)
    return steps
