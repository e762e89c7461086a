"""CHGNet's MPtrj JSON: ``{material_id: {frame_id: {structure, energies, force, stress, magmom, mp_id}}}``.

Each frame holds ``structure`` (pymatgen ``Structure.as_dict()``, with ``xyz`` set to the stored Cartesian
positions so no fractional round trip blurs them), ``uncorrected_total_energy`` (eV), ``corrected_total_energy``
(eV, null when the row has none), ``energy_per_atom`` (eV/atom: the corrected energy when known, else the
uncorrected one, which is what CHGNet trains on), ``force`` (eV/angstrom), ``stress`` (kBar with VASP's sign,
positive = compressive: -10 x the stored GPa; CHGNet multiplies by -0.1 to get GPa back, which
reproduces the stored value exactly when it came from kBar, as every VASP-derived row did), ``magmom`` (Bohr
magnetons or null) and ``mp_id``. Load it with ``chgnet.data.dataset.StructureJsonData(path, graph_converter)``.

Frames are grouped under ``material_id`` (``task_id`` when the row has none, else ``curate-<geometry hash>``).
Frame ids are the row's original MPtrj frame id when it came from MPtrj (``source_record`` "mp-1/frame"),
else ``{task_id}-{calc_index}-{ionic_step}`` as in MPtrj, else ``{material}-{row}``; a repeated id gets
``#{row}`` appended. Rows are spilled to a temporary SQLite file so that grouping needs no more memory than
one material, whatever the row order.

Rows without energy or forces (MPtrj frames need both) and rows not periodic in 3D are skipped and counted,
each with its reason. Columns the layout cannot carry, i.e. lost on re-import with ``curate import mptrj``:
functional and hubbard_u (re-derived by the Materials Project GGA/GGA+U rule, so only PBE/PBE+U rows with MP's
U values come back unchanged), energy_field, source, source_file, source_record, calc_index, ionic_step,
parent_id, generator, generator_params, seed, pair_id, split; material_id comes back as the grouping key and
task_id as parsed from the frame id.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import orjson
from pymatgen.core import Lattice, Structure

from curate.dataset.configuration import Configuration, geometry_hash, stress_vasp_kbar_from_gpa
from curate.exporters import ExportCounts

SKIP_UNLABELLED = "no energy or no forces (an MPtrj frame needs both)"
SKIP_NOT_PERIODIC = "not periodic along all three lattice vectors (MPtrj holds crystals)"


def material_key(cfg: Configuration) -> str:
    """The top-level MPtrj key of a row: material_id, else task_id, else ``curate-<geometry hash[:16]>``."""
    return cfg.material_id or cfg.task_id or f"curate-{geometry_hash(cfg)[:16]}"


def frame_key(cfg: Configuration, *, material: str, row: int) -> str:
    """The frame id of a row (see the module docstring); ``row`` is its position in the export."""
    if cfg.source == "mptrj" and cfg.source_record and "/" in cfg.source_record:
        return cfg.source_record.split("/", 1)[1]
    if cfg.task_id:
        step = row if cfg.ionic_step is None else cfg.ionic_step
        return f"{cfg.task_id}-{cfg.calc_index or 0}-{step}"
    return f"{material}-{row}"


def structure_dict(cfg: Configuration) -> dict[str, Any]:
    """pymatgen ``Structure.as_dict()`` of the row with ``xyz`` set to the exact stored positions (angstrom)."""
    lattice = Lattice(cfg.lattice, pbc=tuple(bool(p) for p in cfg.pbc))
    structure = Structure(lattice, cfg.species, cfg.positions, coords_are_cartesian=True)
    as_dict = structure.as_dict()
    # pymatgen recomputes xyz from fractional coordinates, which moves them by ~1e-15 angstrom
    for site, xyz in zip(as_dict["sites"], cfg.positions.tolist(), strict=True):
        site["xyz"] = xyz
    return as_dict


def frame_dict(cfg: Configuration, *, material: str) -> dict[str, Any]:
    """One MPtrj frame (units in the module docstring); the row must have energy and forces."""
    if cfg.energy is None or cfg.forces is None:
        raise ValueError(f"row {cfg.source_record!r} has no energy or no forces; an MPtrj frame needs both")
    per_atom = cfg.energy_corrected if cfg.energy_corrected is not None else cfg.energy
    return {
        "structure": structure_dict(cfg),
        "uncorrected_total_energy": float(cfg.energy),
        "corrected_total_energy": None if cfg.energy_corrected is None else float(cfg.energy_corrected),
        "energy_per_atom": float(per_atom) / cfg.nsites,
        "force": cfg.forces.tolist(),
        "stress": None if cfg.stress is None else stress_vasp_kbar_from_gpa(cfg.stress).tolist(),
        "magmom": None if cfg.magmoms is None else cfg.magmoms.tolist(),
        "mp_id": material,
    }


class MPtrjJsonExporter:
    """CHGNet's MPtrj JSON layout; rows grouped by material through a temporary SQLite spill."""

    name: ClassVar[str] = "mptrj-json"
    summary: ClassVar[str] = "CHGNet MPtrj JSON {material: {frame: {...}}}, stress in kBar (VASP sign)"

    def write(self, configurations: Iterable[Configuration], path: Path) -> ExportCounts:
        """Write the labelled configurations to ``path``, material by material, in first-seen order."""
        counts = ExportCounts()
        with tempfile.TemporaryDirectory(prefix="curate-mptrj-") as spill_dir:
            spill = sqlite3.connect(Path(spill_dir) / "frames.sqlite")
            try:
                spill.execute(
                    "CREATE TABLE frames (material_order INTEGER, seq INTEGER, material TEXT, frame TEXT, "
                    "body BLOB, UNIQUE (material, frame))"
                )
                self._spill(configurations, spill, counts)
                spill.execute("CREATE INDEX frame_order ON frames (material_order, seq)")
                with open(path, "wb") as fh:
                    self._emit(spill, fh)
            finally:
                spill.close()
        return counts

    @staticmethod
    def _spill(configurations: Iterable[Configuration], spill: sqlite3.Connection, counts: ExportCounts) -> None:
        material_order: dict[str, int] = {}
        for row, cfg in enumerate(configurations):
            if cfg.energy is None or cfg.forces is None:
                counts.skip(SKIP_UNLABELLED)
                continue
            if not all(cfg.pbc):
                counts.skip(SKIP_NOT_PERIODIC)
                continue
            material = material_key(cfg)
            order = material_order.setdefault(material, len(material_order))
            frame = frame_key(cfg, material=material, row=row)
            body = orjson.dumps(frame_dict(cfg, material=material))
            try:
                spill.execute("INSERT INTO frames VALUES (?, ?, ?, ?, ?)", (order, row, material, frame, body))
            except sqlite3.IntegrityError:
                spill.execute(
                    "INSERT INTO frames VALUES (?, ?, ?, ?, ?)", (order, row, material, f"{frame}#{row}", body)
                )
            counts.written += 1
        spill.commit()

    @staticmethod
    def _emit(spill: sqlite3.Connection, fh: Any) -> None:
        fh.write(b"{")
        current: str | None = None
        cursor = spill.execute("SELECT material, frame, body FROM frames ORDER BY material_order, seq")
        for material, frame, body in cursor:
            if material != current:
                fh.write((b"}, " if current is not None else b"") + orjson.dumps(material) + b": {")
                current = material
            else:
                fh.write(b", ")
            fh.write(orjson.dumps(frame) + b": " + body)
        fh.write(b"}}" if current is not None else b"}")
