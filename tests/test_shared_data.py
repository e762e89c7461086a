"""Every real file in ../shared/data imports into one dataset, with the right counts and functionals."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main

# files that are not atomic configurations, or that a directory import reads as inputs of its vasprun
NOT_CONFIGURATIONS = {
    "SOURCES.md": "documentation",
    "matbench_discovery/2023-02-07-mp-elemental-reference-entries.json.gz": (
        "ComputedEntry documents: energies per composition with no structure (reference energies, not rows)"
    ),
    "vasp/GaAs_r2scan_static/MP_compatible_GaAs_r2SCAN_static.json.gz": "a validation report of the same run",
    "matcalc/mp-binary-pbe-elasticity-2025.1.json.gz": (
        "structures with DFT bulk and shear moduli, no energies or forces: an elasticity benchmark, not rows"
    ),
}
DIRECTORY_INPUTS = {"INCAR.gz", "POSCAR.gz", "CONTCAR.gz", "OSZICAR.gz", "POTCAR.spec.gz", "OUTCAR.gz"}
IMPORTS = [
    ("mp-tasks", "emmet/test_As2SO6_tasks.json.gz", 193),
    ("mp-tasks", "emmet/tasks_Li_Fe_V.json.gz", 100),
    ("mp-tasks", "emmet/magnetism_task_docs.json.gz", 4),
    ("mp-tasks", "emmet/test_si_tasks.json.gz", 7),
    ("mp-tasks", "emmet/task_doc_mp-2766060_PBEsol.json.gz", 6),
    ("matpes", "matcalc/MatPES-PBE-Element-Refs.json.gz", 89),
    ("matpes", "matcalc/MatPES-r2SCAN-Element-Refs.json.gz", 89),
    ("vasp", "vasp/r2scan_relax_Lu3", 6),
    ("vasp", "vasp/GaAs_r2scan_static", 1),
    ("mlearn", "mlearn/Ge_training.json", 228),
    ("mlearn", "mlearn/Ge_test.json", 25),
    ("mlearn", "mlearn/Li_training.json", 241),
    ("mlearn", "mlearn/Li_test.json", 29),
]


def _covered(shared_data: Path) -> set[str]:
    covered = set(NOT_CONFIGURATIONS)
    for _, relative, _ in IMPORTS:
        path = shared_data / relative
        covered |= {str(p.relative_to(shared_data)) for p in ([path] if path.is_file() else path.rglob("*"))}
    covered |= {str(p.relative_to(shared_data)) for p in (shared_data / "vasp" / "pymatgen_core").iterdir()}
    return covered


def test_every_file_is_accounted_for(shared_data: Path) -> None:
    every = {str(p.relative_to(shared_data)) for p in shared_data.rglob("*") if p.is_file()}
    assert every - _covered(shared_data) == set()
    for _, relative, _ in IMPORTS:
        if (shared_data / relative).is_dir():
            names = {p.name for p in (shared_data / relative).iterdir()}
            assert names - DIRECTORY_INPUTS - {"vasprun.xml.gz"} <= {Path(k).name for k in NOT_CONFIGURATIONS}


@pytest.mark.slow
def test_everything_imports_into_one_dataset(shared_data: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "all"
    for fmt, relative, steps in IMPORTS:
        result = runner.invoke(main, ["import", fmt, str(shared_data / relative), "--out", str(out), "--strict"])
        assert result.exit_code == 0, result.output
        added, present = (int(w) for w in result.output.split()[0:5:3])
        assert added + present == steps, (relative, result.output)
    result = runner.invoke(main, ["import", "vasp", str(shared_data / "vasp" / "pymatgen_core"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out / "data", columns=["functional", "source"]).to_pylist()
    # SOURCES.md, counted by hand: mp-tasks PBE 193 + 55 distinct Li/Fe/V + 3 + 7, La2CoO4 PBE+U 1, CrAs PBEsol 6;
    # MatPES 89 + 89; VASP PBE+U LiFePO4 11 + Fe2O3 3 + V2O5 5, PBE Si MD 10 + Si 5 + Li 3 + Si static 1,
    # r2SCAN Lu 6 + GaAs 1 + Rb2F 3 + Al 2 + LiF 1 + LiH 1, SCAN LiF 1; mlearn (PBE) Ge 228 + 25, Li 241 + 29
    assert Counter((r["source"], r["functional"]) for r in rows) == {
        ("mp-tasks", "PBE"): 258,
        ("mp-tasks", "PBE+U"): 1,
        ("mp-tasks", "PBEsol"): 6,
        ("matpes", "PBE"): 89,
        ("matpes", "r2SCAN"): 89,
        ("vasp", "PBE+U"): 19,
        ("vasp", "PBE"): 19,
        ("vasp", "r2SCAN"): 14,
        ("vasp", "SCAN"): 1,
        ("mlearn", "PBE"): 523,
    }
    assert len(rows) == 1019
