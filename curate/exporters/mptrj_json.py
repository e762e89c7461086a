"""CHGNet's MPtrj JSON: ``{material: {frame_id: {structure, energies, force, stress, magmom, mp_id}}}``.

Each frame holds ``structure`` (pymatgen ``Structure.as_dict()``, with ``xyz`` set to the stored Cartesian
positions so no fractional round trip blurs them), ``uncorrected_total_energy`` (eV, the raw DFT energy),
``corrected_total_energy`` (eV: the row's stored ``energy_corrected`` or the MP2020 correction computed for it,
null when neither is known), ``energy_per_atom`` (eV/atom, what CHGNet trains on: the energy ``--energy``
selects, see :mod:`curate.exporters.energy`; with ``auto``, the default, MP2020-corrected energies for
Materials Project rows as in MPtrj, raw energies for an r2SCAN file), ``force`` (eV/angstrom), ``stress``
(kBar with VASP's sign, positive = compressive: -10 x the stored GPa; CHGNet multiplies by -0.1 to get GPa
back, which reproduces the stored value exactly when it came from kBar, as every VASP-derived row did),
``magmom`` (Bohr magnetons or null) and ``mp_id``. Load it with
``chgnet.data.dataset.StructureJsonData(path, graph_converter)``.

Frames are grouped by *material* (:mod:`curate.dataset.material`, the grouping publishing splits by): the key and
``mp_id`` are the group's material_id, else its reduced formula (the 11 As2SO6 task documents, without a
material id, are one key ``As2O6S``). CHGNet splits train/validation/test by this key, so one material never
lands in two splits. Frame ids are the row's original MPtrj frame id when it came from MPtrj
(``source_record`` "mp-1/frame"), else ``{task_id}-{calc_index}-{ionic_step}`` as in MPtrj, else
``{material}-{row}``; a repeated id gets ``#{row}`` appended. Rows are spilled to a SQLite file beside the output so
that the frames of a material come together whatever the row order; the first pass keeps a few strings per
dataset row (the material groups), no structure.

Rows without energy or forces (MPtrj frames need both), rows not periodic in 3D and rows without the energy
``--energy`` asks for are skipped and counted, each with its reason. The file holds no functional, so rows
of different functionals (PBE with PBE+U excepted, as in MPtrj) or different U values are refused before
writing. Columns the layout cannot carry, i.e. lost on re-import with ``curate import mptrj``: functional
and hubbard_u (re-derived by the Materials Project GGA/GGA+U rule, so only PBE/PBE+U rows with MP's U values
come back unchanged), energy_field, source, source_file, source_record, calc_index, ionic_step, parent_id,
generator, generator_params, seed, pair_id, split; material_id comes back as the material key, task_id as
parsed from the frame id, energy_corrected as corrected_total_energy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

import orjson
from pymatgen.core import Lattice, Structure

from curate.dataset.configuration import Configuration, stress_vasp_kbar_from_gpa
from curate.exporters.base import ExportCounts, ExportPlan, ExportRow
from curate.exporters.energy import EnergyLabel, EnergyPolicy, MP2020Corrections, NoEnergy, energy_label

SKIP_UNLABELLED = "no energy or no forces (an MPtrj frame needs both)"
SKIP_NOT_PERIODIC = "not periodic along all three lattice vectors (MPtrj holds crystals)"


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
    a, b, c = (bool(p) for p in cfg.pbc)
    lattice = Lattice(cfg.lattice, pbc=(a, b, c))
    structure = Structure(lattice, cfg.species, cfg.positions, coords_are_cartesian=True)
    as_dict = structure.as_dict()
    # pymatgen recomputes xyz from fractional coordinates, which moves them by ~1e-15 angstrom
    for site, xyz in zip(as_dict["sites"], cfg.positions.tolist(), strict=True):
        site["xyz"] = xyz
    return as_dict


def frame_dict(cfg: Configuration, *, material: str, energy: EnergyLabel) -> dict[str, Any]:
    """One MPtrj frame (units in the module docstring); the row must have energy and forces."""
    if cfg.energy is None or cfg.forces is None:
        raise ValueError(f"row {cfg.source_record!r} has no energy or no forces; an MPtrj frame needs both")
    return {
        "structure": structure_dict(cfg),
        "uncorrected_total_energy": float(cfg.energy),
        "corrected_total_energy": energy.corrected_ev,
        "energy_per_atom": energy.target_ev / cfg.nsites,
        "force": cfg.forces.tolist(),
        "stress": None if cfg.stress is None else stress_vasp_kbar_from_gpa(cfg.stress).tolist(),
        "magmom": None if cfg.magmoms is None else cfg.magmoms.tolist(),
        "mp_id": material,
    }


class MPtrjJsonExporter:
    """CHGNet's MPtrj JSON layout; frames keyed by material, grouped through a temporary SQLite spill."""

    name: ClassVar[str] = "mptrj-json"
    summary: ClassVar[str] = "CHGNet MPtrj JSON {material: {frame: {...}}}, stress in kBar (VASP sign)"
    energy_choice: ClassVar[bool] = True
    keyed_by_material: ClassVar[bool] = True
    suffix: ClassVar[str | None] = None

    def write(self, rows: Iterable[ExportRow], path: Path, *, plan: ExportPlan) -> ExportCounts:
        """Write the labelled rows to ``path``, material by material, in first-seen order.

        ``plan`` must carry the energy policy and the material groups of every row.
        """
        if plan.energy is None or plan.groups is None:
            raise ValueError("mptrj-json needs plan.energy and plan.groups (see curate.exporters.plan_export)")
        counts = ExportCounts()
        # beside the output: a temporary's spill carries its owner pid, so a killed export's is removed on re-run
        spill_path = Path(f"{path}-spill.sqlite")
        spill_path.unlink(missing_ok=True)
        try:
            spill = sqlite3.connect(spill_path)
            try:
                spill.execute(
                    "CREATE TABLE frames (material_order INTEGER, seq INTEGER, material TEXT, frame TEXT, "
                    "body BLOB, UNIQUE (material, frame))"
                )
                self._spill(rows, spill, counts, policy=plan.energy, material_of_row=plan.groups.name_of_row)
                spill.execute("CREATE INDEX frame_order ON frames (material_order, seq)")
                with open(path, "wb") as fh:
                    self._emit(spill, fh)
            finally:
                spill.close()
        finally:
            for leftover in (spill_path, Path(f"{spill_path}-journal")):
                leftover.unlink(missing_ok=True)
        return counts

    @staticmethod
    def _spill(
        rows: Iterable[ExportRow],
        spill: sqlite3.Connection,
        counts: ExportCounts,
        *,
        policy: EnergyPolicy,
        material_of_row: Callable[[str], str],
    ) -> None:
        material_order: dict[str, int] = {}
        corrections = MP2020Corrections()
        for seq, (row_id, cfg) in enumerate(rows):
            if cfg.energy is None or cfg.forces is None:
                counts.skip(SKIP_UNLABELLED)
                continue
            if not all(cfg.pbc):
                counts.skip(SKIP_NOT_PERIODIC)
                continue
            try:
                energy = energy_label(cfg, policy=policy, corrections=corrections)
            except NoEnergy as exc:
                counts.skip(exc.reason)
                continue
            material = material_of_row(row_id)
            order = material_order.setdefault(material, len(material_order))
            frame = frame_key(cfg, material=material, row=seq)
            body = orjson.dumps(frame_dict(cfg, material=material, energy=energy))
            try:
                spill.execute("INSERT INTO frames VALUES (?, ?, ?, ?, ?)", (order, seq, material, frame, body))
            except sqlite3.IntegrityError:
                spill.execute(
                    "INSERT INTO frames VALUES (?, ?, ?, ?, ?)", (order, seq, material, f"{frame}#{seq}", body)
                )
            counts.wrote(energy.kind)
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
