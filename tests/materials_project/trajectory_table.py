"""Write real ionic steps as a Delta table in MP's trajectory layout (emmet ``RelaxTrajectory.to_arrow``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from .fake_mp_server import alpha_suffix, materials_from_tasks

KINDS = ("Structure Optimization", "Static")


def trajectory_arrow(doc: Mapping[str, Any]) -> pa.Table:
    """One task document's ionic steps (all calculations, time order) as one row of MP's trajectory table."""
    from ase.data import atomic_numbers
    from emmet.core.trajectory import RelaxTrajectory

    steps = [s for calc in reversed(doc["calcs_reversed"]) for s in calc["output"]["ionic_steps"]]
    sites = [step["structure"]["sites"] for step in steps]
    trajectory = RelaxTrajectory(
        elements=[atomic_numbers[site["species"][0]["element"]] for site in sites[0]],
        cart_coords=[[site["xyz"] for site in step_sites] for step_sites in sites],
        lattice=[step["structure"]["lattice"]["matrix"] for step in steps],
        energy=[s.get("e_0_energy") for s in steps],
        e_fr_energy=[s["e_fr_energy"] for s in steps],
        e_wo_entrp=[s["e_wo_entrp"] for s in steps],
        forces=[s["forces"] for s in steps],
        stress=[s["stress"] for s in steps],
        identifier=alpha_suffix(doc["task_id"]),
        run_type=doc.get("run_type"),
        task_type=doc.get("task_type"),
    )
    return trajectory.to_arrow()


def write_trajectory_table(docs: Iterable[Mapping[str, Any]], path: Path, extra: Iterable[pa.Table] = ()) -> int:
    """Write the trajectories of relaxations and statics in ``docs`` (and ``extra`` rows) as a Delta table at
    ``path``; returns the number of rows (tasks)."""
    from deltalake import write_deltalake

    tables = [trajectory_arrow(d) for d in docs if d.get("task_type") in KINDS and d.get("calcs_reversed")]
    tables.extend(extra)
    table = pa.concat_tables(tables, promote_options="default")
    write_deltalake(str(path), table, mode="overwrite")
    return table.num_rows


def thermo_from_tasks(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ThermoDoc-shaped entries: per material, the lowest final energy per atom of its relaxations and statics
    (thermo type r2SCAN for a material with only r2SCAN tasks, else GGA_GGA+U)."""
    by_task = {d["task_id"]: d for d in docs}
    thermo = []
    for material in materials_from_tasks(docs):
        runs = {by_task[t].get("run_type") for t in material["task_ids"]}
        thermo_type = "r2SCAN" if runs == {"r2SCAN"} else "GGA_GGA+U"
        energies = [
            by_task[t]["output"]["energy_per_atom"]
            for t in material["task_ids"]
            if by_task[t].get("run_type") in ("GGA", "GGA+U", "r2SCAN") and by_task[t].get("task_type") in KINDS
        ]
        if energies:
            thermo.append(
                {
                    "material_id": material["material_id"],
                    "thermo_type": thermo_type,
                    "formula_pretty": material["formula_pretty"],
                    "energy_per_atom": min(energies),
                    "uncorrected_energy_per_atom": min(energies),
                }
            )
    return thermo


def task_from_vasprun(directory: Path, task_id: str) -> tuple[dict[str, Any], pa.Table]:
    """A task's REST metadata (no ionic steps, as MP's core task documents) and its trajectory row, from a real
    VASP directory: what MP serves for a calculation it parsed."""
    from emmet.core.trajectory import RelaxTrajectory
    from pymatgen.io.vasp import Vasprun

    vasprun = Vasprun(directory / "vasprun.xml.gz", parse_dos=False, parse_eigen=False, parse_potcar_file=False)
    run_type = "r2SCAN" if str(vasprun.incar.get("METAGGA", "")).lower() == "r2scan" else "GGA"
    task_type = "Structure Optimization" if len(vasprun.ionic_steps) > 1 else "Static"
    final = vasprun.final_structure
    meta = {
        "task_id": task_id,
        "formula_pretty": final.composition.reduced_formula,
        "elements": sorted({str(e) for e in final.composition.elements}),
        "run_type": run_type,
        "task_type": task_type,
        "calc_type": f"{run_type} {task_type}",
        "input": {
            "incar": dict(vasprun.incar),
            "parameters": dict(vasprun.parameters),
            "potcar_spec": [{"titel": title} for title in vasprun.potcar_symbols],
        },
        "output": {"structure": final.as_dict(), "energy_per_atom": vasprun.final_energy / len(final)},
    }
    trajectory = RelaxTrajectory.from_vasprun(
        vasprun, store_electronic_steps=False, identifier=alpha_suffix(task_id), run_type=run_type, task_type=task_type
    )
    return meta, trajectory.to_arrow()
