"""Materials Project task documents (emmet TaskDoc JSON): every ionic step of every calculation.

A file holds a list of task documents or a single document, gzipped or not. ``calcs_reversed`` is
newest-first, so it is reversed to give steps in time order. The energy stored is ``e_fr_energy`` (the
free energy TOTEN) because ``e_0_energy`` is 0 for most steps in these documents (a vasprun quirk).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from curate.dataset.configuration import Configuration, Rejected, stress_gpa_from_vasp_kbar
from curate.errors import RecordRejected
from curate.sources.base import ImportOptions, optional_array, structure_arrays
from curate.sources.jsonstream import decode, iter_top_level, open_binary, peek_kind, read_chunk
from curate.sources.validate import mapping, optional_float, record_id, strict_float
from curate.sources.vasp_inputs import functional_from_vasp, hubbard_u_from_vasp, potcar_element, species_blocks

ENERGY_FIELD = "e_fr_energy"


_MALFORMED = (KeyError, IndexError, TypeError, ValueError, AttributeError)


def _potcar_titles(calc_input: Mapping[str, Any]) -> list[str]:
    spec = calc_input.get("potcar_spec") or []
    titles = [s.get("titel", "") for s in spec if isinstance(s, Mapping)]
    if not titles:
        titles = [str(p) for p in calc_input.get("potcar") or []]
    if not all(isinstance(t, str) for t in titles):
        raise RecordRejected("expected POTCAR titles as text", field="input.potcar_spec")
    return titles


def _final_magmoms(calc_output: Mapping[str, Any], nsites: int) -> np.ndarray | None:
    outcar = calc_output.get("outcar") or {}
    magnetization = mapping(outcar, "output.outcar").get("magnetization") or []
    if not isinstance(magnetization, list) or len(magnetization) != nsites:
        return None
    return np.asarray(
        [
            strict_float(
                mapping(m, f"output.outcar.magnetization[{k}]").get("tot", 0.0), f"output.outcar.magnetization[{k}].tot"
            )
            for k, m in enumerate(magnetization)
        ],
        dtype=np.float64,
    )


def scf_converged(step: Mapping[str, Any], nelm: int) -> bool | None:
    """True when the step needed fewer electronic steps than NELM (VASP stops at NELM unconverged); None if unknown."""
    electronic = step.get("electronic_steps")
    if not electronic:
        return None
    return len(electronic) < nelm


@dataclass(frozen=True)
class _Calc:
    """What every step of one calculation shares, read and checked once."""

    titles: list[str]
    nelm: int
    functional: str
    incar: Mapping[str, Any] | None


def _calc_inputs(calc: Any) -> _Calc:
    calc = mapping(calc, "")
    calc_input = mapping(calc.get("input") or {}, "input")
    incar = calc_input.get("incar")
    parameters = calc_input.get("parameters")
    if incar is not None:
        mapping(incar, "input.incar")
    if parameters is not None:
        mapping(parameters, "input.parameters")
    titles = _potcar_titles(calc_input)
    nelm_value = {**(parameters or {}), **(incar or {})}.get("NELM", 60)
    if isinstance(nelm_value, bool) or not isinstance(nelm_value, int):
        raise RecordRejected(f"expected an integer NELM, found {nelm_value!r}", field="input.incar.NELM")
    return _Calc(titles, nelm_value, functional_from_vasp(incar, parameters, titles), incar)


def _step_configuration(
    step: Any, calc: _Calc, calc_output: Mapping[str, Any], *, last: bool, meta: dict[str, Any]
) -> Configuration:
    step = mapping(step, "")
    species, lattice, positions = structure_arrays(step.get("structure"))
    blocks = [potcar_element(t) for t in calc.titles] if calc.titles else species_blocks(species)
    stress = optional_array(step.get("stress"), "stress", (3, 3))
    energy = optional_float(step.get(ENERGY_FIELD), ENERGY_FIELD, unit="eV")
    return Configuration(
        species=species,
        lattice=lattice,
        positions=positions,
        energy=energy,
        energy_field=None if energy is None else ENERGY_FIELD,
        scf_converged=scf_converged(step, calc.nelm),
        forces=optional_array(step.get("forces"), "forces", (len(species), 3)),
        stress=None if stress is None else stress_gpa_from_vasp_kbar(stress),
        magmoms=_final_magmoms(calc_output, len(species)) if last else None,
        functional=calc.functional,
        hubbard_u=hubbard_u_from_vasp(calc.incar, blocks),
        source="mp-tasks",
        **meta,
    )


def task_configurations(doc: Any, *, display_name: str, record: str) -> Iterator[Configuration | Rejected]:
    """All ionic steps of one task document, in time order.

    A bad value costs only the step it is in (or, for a calculation's inputs, that calculation's steps); the
    field of each Rejected is its path inside the document (``calcs_reversed[0].output.ionic_steps[17].forces``).
    """
    try:
        doc = mapping(doc, "")
        task_id = record_id(doc.get("task_id"), "task_id")
        material_id = record_id(doc.get("material_id"), "material_id")
        calcs_reversed = doc.get("calcs_reversed") or []
        if not isinstance(calcs_reversed, list):
            raise RecordRejected("expected a list of calculations", field="calcs_reversed")
    except RecordRejected as exc:
        yield Rejected(record, exc.field or "(the document)", exc.reason)
        return
    label = f"{record} (task {task_id})"
    if not calcs_reversed:
        yield Rejected(label, "calcs_reversed", "task document has no calculations")
        return
    step_index = 0
    for calc_index, calc in enumerate(reversed(calcs_reversed)):
        prefix = f"calcs_reversed[{len(calcs_reversed) - 1 - calc_index}]"
        steps: Any = []
        try:
            steps = mapping(mapping(calc, "").get("output") or {}, "output").get("ionic_steps") or []
            if not isinstance(steps, list):
                raise RecordRejected("expected a list of ionic steps", field="output.ionic_steps")
            inputs = _calc_inputs(calc)
        except (RecordRejected, *_MALFORMED) as exc:
            problem = _as_rejection(exc, prefix)
            for _ in steps if isinstance(steps, list) and steps else [None]:
                yield Rejected(f"{label} calc {calc_index} step {step_index}", problem.field, problem.reason)
                step_index += 1
            continue
        for local_step, step in enumerate(steps):
            where = f"{label} calc {calc_index} step {step_index}"
            meta = {
                "source_file": display_name,
                "source_record": where,
                "material_id": material_id,
                "task_id": task_id,
                "calc_index": calc_index,
                "ionic_step": step_index,
            }
            try:
                yield _step_configuration(
                    step, inputs, calc.get("output") or {}, last=local_step == len(steps) - 1, meta=meta
                )
            except (RecordRejected, *_MALFORMED) as exc:
                problem = _as_rejection(exc, f"{prefix}.output.ionic_steps[{local_step}]")
                yield Rejected(where, problem.field, problem.reason)
            step_index += 1


def _as_rejection(exc: Exception, prefix: str) -> RecordRejected:
    """``exc`` as a RecordRejected whose field is the full path from the document (``prefix`` + its field)."""
    if isinstance(exc, RecordRejected):
        inner = exc.field or ""
        path = prefix + ("" if not inner else inner if inner.startswith("[") else f".{inner}")
        return RecordRejected(exc.reason, field=path)
    return RecordRejected(f"malformed value ({type(exc).__name__}: {exc})", field=prefix)


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
                reason = f"expected a task document (object), found {type(doc).__name__}"
                yield Rejected(f"document {index}", "(the document)", reason)
                continue
            yield from task_configurations(doc, display_name=display_name, record=f"document {index}")
