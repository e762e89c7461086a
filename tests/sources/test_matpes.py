"""MatPES documents: the functional each document records, Voigt kBar stress to GPa, a real PBE/r2SCAN pair."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from curate.dataset.store import Dataset
from curate.sources.ingest import import_paths


def test_matpes_pbe_and_r2scan_element_references(shared_data: Path, tmp_path: Path) -> None:
    pbe_file = shared_data / "matcalc" / "MatPES-PBE-Element-Refs.json.gz"
    r2scan_file = shared_data / "matcalc" / "MatPES-r2SCAN-Element-Refs.json.gz"
    report = import_paths([pbe_file, r2scan_file], format_name="matpes", out=tmp_path / "d")
    assert report.quarantined == 0 and not report.failed_files
    rows = Dataset.open(tmp_path / "d").read().to_pylist()
    assert len(rows) == 178
    assert {f: sum(r["functional"] == f for r in rows) for f in ("PBE", "r2SCAN")} == {"PBE": 89, "r2SCAN": 89}
    raw = json.load(gzip.open(pbe_file))["Ac"]
    ac = next(r for r in rows if r["source_record"] == "Ac" and r["functional"] == "PBE")
    assert ac["energy"] == raw["energy"]
    xx, yy, zz, yz, xz, xy = raw["stress"]
    np.testing.assert_allclose(np.asarray(ac["stress"]), -0.1 * np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]))
    assert ac["material_id"] == raw["provenance"]["original_mp_id"]
    # the same 89 element structures under two functionals: different energies, mostly the same MP material
    pbe = {r["source_record"]: r for r in rows if r["functional"] == "PBE"}
    r2 = {r["source_record"]: r for r in rows if r["functional"] == "r2SCAN"}
    assert pbe.keys() == r2.keys()
    shifts = np.array([r2[k]["energy"] / r2[k]["nsites"] - pbe[k]["energy"] / pbe[k]["nsites"] for k in pbe])
    assert np.all(np.abs(shifts) > 1e-3), "r2SCAN and PBE energies are on different scales"
