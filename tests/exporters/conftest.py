"""Datasets imported once per session from the real files in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.sources.ingest import import_paths

AS2SO6 = ("emmet/test_As2SO6_tasks.json.gz", "mp-tasks")  # 193 PBE frames, 11 tasks, one material, no id
MAGNETISM = ("emmet/magnetism_task_docs.json.gz", "mp-tasks")  # Fe, Si, MnSi2Tc PBE; La2CoO4 PBE+U (Co 3.32)
LU_R2SCAN = ("vasp/r2scan_relax_Lu3", "vasp")  # 6 r2SCAN relaxation steps of Lu (a VASP folder)
SI_MD = ("vasp/pymatgen_core/outputs__vasprun.md.xml.gz", "vasp")  # 10 PBE MD steps of Si64, no task id
LIFEPO4 = ("vasp/pymatgen_core/outputs__vasprun.lifepo4.xml.gz", "vasp")  # 11 PBE+U steps, Fe U = 4.3 eV
FE2O3 = ("vasp/pymatgen_core/outputs__vasprun.magmom_ldau.xml.gz", "vasp")  # 3 PBE+U steps, Fe U = 5.3 eV

# name -> files imported into one dataset
REAL_FILES: dict[str, tuple[tuple[str, str], ...]] = {
    "as2so6": (AS2SO6,),
    "magnetism": (MAGNETISM,),
    "matpes_r2scan": (("matcalc/MatPES-r2SCAN-Element-Refs.json.gz", "matpes"),),
    "lu_r2scan": (LU_R2SCAN,),
    "si_md": (SI_MD,),
    "lifepo4": (LIFEPO4,),
    "as2so6_and_lu_r2scan": (AS2SO6, LU_R2SCAN),  # PBE and r2SCAN: two functionals
    "as2so6_and_si_md": (AS2SO6, SI_MD),  # Materials Project tasks and a VASP run of unknown settings
    "fe_u_values": (LIFEPO4, FE2O3),  # Fe with U = 4.3 and 5.3 eV
    "pbe_family": (AS2SO6, MAGNETISM, ("emmet/test_si_tasks.json.gz", "mp-tasks")),  # PBE and PBE+U
}


@pytest.fixture(scope="session")
def real_datasets(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Dataset directories imported from :data:`REAL_FILES`, with nothing quarantined."""
    root = tmp_path_factory.mktemp("real")
    out = {}
    for name, files in REAL_FILES.items():
        for relative, format_name in files:
            report = import_paths([shared_data / relative], format_name=format_name, out=root / name)
            assert report.quarantined == 0 and report.rows_added > 0, (name, relative, report)
        out[name] = root / name
    return out
