"""Which tasks of which materials a pull takes: functional family, task kind, no deprecated tasks.

A material document lists its tasks (``task_ids``), their calculation types (``calc_types``: task id ->
"GGA Structure Optimization", "GGA+U Static", "r2SCAN Structure Optimization", ...) and the tasks MP has
deprecated (``deprecated_tasks``). GGA means GGA and GGA+U; r2SCAN means r2SCAN and r2SCAN+U. Which of
GGA / GGA+U a row is comes from that task's INCAR (the ``functional`` and ``hubbard_u`` columns).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from curate.errors import ConfigurationError

Functional = Literal["gga", "r2scan", "both"]
What = Literal["relaxation-frames", "statics", "both"]
FUNCTIONAL_CHOICES: tuple[str, ...] = ("gga", "r2scan", "both")
WHAT_CHOICES: tuple[str, ...] = ("relaxation-frames", "statics", "both")
PULL_FUNCTIONALS: tuple[str, ...] = ("PBE", "r2SCAN")
"""The families a pull chooses from, named as the functional column names their plain member: PBE is MP's GGA
(PBE, with +U where MP applies it: rows say PBE or PBE+U), r2SCAN is r2SCAN (and r2SCAN+U)."""
MATERIAL_FIELDS = ["material_id", "calc_types", "deprecated_tasks"]
_FAMILIES = {"GGA": "gga", "GGA+U": "gga", "r2SCAN": "r2scan", "r2SCAN+U": "r2scan"}
_KINDS = {"Structure Optimization": "relaxation", "Static": "static"}


def functional_family(functionals: Iterable[str]) -> Functional:
    """The pull ``functional`` (gga, r2scan or both) taking the families of these :data:`PULL_FUNCTIONALS` names.

    Raises:
        ConfigurationError: no name, or a name not in PULL_FUNCTIONALS.
    """
    names = set(functionals)
    if not names or not names <= set(PULL_FUNCTIONALS):
        raise ConfigurationError(f"functionals {sorted(names)}: a pull takes {', '.join(PULL_FUNCTIONALS)}")
    if names == {"PBE"}:
        return "gga"
    return "r2scan" if names == {"r2SCAN"} else "both"


@dataclass(frozen=True, order=True)
class PlannedTask:
    """One task to pull: its material, functional family ("gga"/"r2scan") and kind ("relaxation"/"static")."""

    material_id: str
    task_id: str
    family: str
    kind: str
    calc_type: str


def parse_calc_type(calc_type: str) -> tuple[str, str] | None:
    """(family, kind) of an MP calc type such as "GGA+U Structure Optimization"; None for NSCF, DFPT, ..."""
    for run_type, family in sorted(_FAMILIES.items(), key=lambda item: -len(item[0])):
        prefix = run_type + " "
        if calc_type.startswith(prefix):
            kind = _KINDS.get(calc_type[len(prefix) :])
            return (family, kind) if kind else None
    return None


def plan_tasks(
    materials: Iterable[Mapping[str, Any]], *, functional: Functional, what: What
) -> tuple[list[PlannedTask], int]:
    """Tasks to pull from material documents, sorted by material then task id; also the deprecated count skipped."""
    families = {"gga", "r2scan"} if functional == "both" else {functional}
    kinds = {"relaxation-frames": {"relaxation"}, "statics": {"static"}, "both": {"relaxation", "static"}}[what]
    planned: list[PlannedTask] = []
    deprecated_skipped = 0
    for material in materials:
        material_id = str(material["material_id"])
        deprecated = {str(t) for t in material.get("deprecated_tasks") or []}
        for task_id, calc_type in sorted((material.get("calc_types") or {}).items()):
            parsed = parse_calc_type(str(calc_type))
            if parsed is None or parsed[0] not in families or parsed[1] not in kinds:
                continue
            if str(task_id) in deprecated:
                deprecated_skipped += 1
                continue
            planned.append(PlannedTask(material_id, str(task_id), parsed[0], parsed[1], str(calc_type)))
    return sorted(planned), deprecated_skipped
