"""Materials Project task documents (emmet TaskDoc JSON): every ionic step of every calculation.

A file holds a list of task documents or a single document, gzipped or not. ``calcs_reversed`` is
newest-first, so it is reversed to give steps in time order. The energy stored is ``e_fr_energy`` (the
free energy TOTEN) because ``e_0_energy`` is 0 for most steps in these documents (a vasprun quirk).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from curate.dataset.configuration import Configuration, Rejected, stress_gpa_from_vasp_kbar
from curate.errors import RecordRejected
from curate.sources.base import ImportOptions, optional_array, structure_arrays
from curate.sources.jsonstream import decode, iter_top_level, open_binary, peek_kind, read_chunk
from curate.sources.vasp_inputs import functional_from_vasp, hubbard_u_from_vasp, potcar_element, species_blocks

ENERGY_FIELD = "e_fr_energy"


def _potcar_titles(calc_input: Mapping[str, Any]) -> list[str]:
    spec = calc_input.get("potcar_spec") or []
    titles = [s.get("titel", "") for s in spec if isinstance(s, Mapping)]
    if not titles:
        titles = [str(p) for p in calc_input.get("potcar") or []]
    return titles


def _final_magmoms(calc_output: Mapping[str, Any], nsites: int) -> np.ndarray | None:
    outcar = calc_output.get("outcar") or {}
    magnetization = outcar.get("magnetization") or []
    if len(magnetization) != nsites:
        return None
    return np.asarray([float(m.get("tot", 0.0)) for m in magnetization], dtype=np.float64)


def scf_converged(step: Mapping[str, Any], nelm: int) -> bool | None:
    """True when the step needed fewer electronic steps than NELM (VASP stops at NELM unconverged); None if unknown."""
    electronic = step.get("electronic_steps")
    if not electronic:
        return None
    return len(electronic) < nelm


def task_configurations(
    doc: Mapping[str, Any], *, display_name: str, record: str
) -> Iterator[Configuration | Rejected]:
    """All ionic steps of one task document, in time order."""
    task_id = doc.get("task_id")
    task_id = None if task_id is None else str(task_id)
    material_id = doc.get("material_id")
    label = f"{record} (task {task_id})"
    calcs = list(reversed(doc.get("calcs_reversed") or []))
    if not calcs:
        yield Rejected(label, "calcs_reversed", "task document has no calculations")
        return
    step_index = 0
    for calc_index, calc in enumerate(calcs):
        calc_input = calc.get("input") or {}
        calc_output = calc.get("output") or {}
        steps = calc_output.get("ionic_steps") or []
        titles = _potcar_titles(calc_input)
        nelm = int({**(calc_input.get("parameters") or {}), **(calc_input.get("incar") or {})}.get("NELM", 60))
        try:
            functional = functional_from_vasp(calc_input.get("incar"), calc_input.get("parameters"), titles)
        except RecordRejected as exc:
            for _ in steps:
                yield Rejected(f"{label} calc {calc_index} step {step_index}", exc.field, exc.reason)
                step_index += 1
            continue
        for local_step, step in enumerate(steps):
            where = f"{label} calc {calc_index} step {step_index}"
            try:
                species, lattice, positions = structure_arrays(step.get("structure") or {})
                blocks = [potcar_element(t) for t in titles] if titles else species_blocks(species)
                hubbard = hubbard_u_from_vasp(calc_input.get("incar"), blocks)
                stress = optional_array(step.get("stress"), "stress")
                energy = step.get(ENERGY_FIELD)
                cfg = Configuration(
                    species=species,
                    lattice=lattice,
                    positions=positions,
                    energy=None if energy is None else float(energy),
                    energy_field=None if energy is None else ENERGY_FIELD,
                    scf_converged=scf_converged(step, nelm),
                    forces=optional_array(step.get("forces"), "forces"),
                    stress=None if stress is None else stress_gpa_from_vasp_kbar(stress),
                    magmoms=_final_magmoms(calc_output, len(species)) if local_step == len(steps) - 1 else None,
                    functional=functional,
                    hubbard_u=hubbard,
                    source="mp-tasks",
                    source_file=display_name,
                    source_record=where,
                    material_id=None if material_id is None else str(material_id),
                    task_id=task_id,
                    calc_index=calc_index,
                    ionic_step=step_index,
                )
            except RecordRejected as exc:
                yield Rejected(where, exc.field, exc.reason)
            else:
                yield cfg
            step_index += 1


class MPTaskImporter:
    """Materials Project task documents: a JSON list or single dict, gzip or not."""

    name: ClassVar[str] = "mp-tasks"
    summary: ClassVar[str] = (
        "Materials Project task documents (calcs_reversed -> ionic steps), list or dict, .gz or not"
    )

    def read(self, path: Path, *, display_name: str, options: ImportOptions) -> Iterator[Configuration | Rejected]:
        """Every configuration of ``path`` in file order; InputError after the last good record on damage."""
        if peek_kind(path) == "{":
            with open_binary(path) as fh:
                raw = read_chunk(fh, -1, path, "while reading the document")
            try:
                doc = decode(raw)
            except RecordRejected as exc:
                yield Rejected("0", None, exc.reason)
                return
            yield from task_configurations(doc, display_name=display_name, record="document 0")
            return
        for index, raw in iter_top_level(path):
            try:
                doc = decode(raw)
            except RecordRejected as exc:
                yield Rejected(f"document {index}", None, exc.reason)
                continue
            if not isinstance(doc, dict):
                yield Rejected(
                    f"document {index}", None, f"expected a task document (object), found {type(doc).__name__}"
                )
                continue
            yield from task_configurations(doc, display_name=display_name, record=f"document {index}")
