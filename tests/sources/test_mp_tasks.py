"""Materials Project task documents: every ionic step, in time order, with the functional from the INCAR."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from curate.dataset.store import Dataset
from curate.sources.ingest import import_paths


def _import(shared_data: Path, name: str, out: Path) -> Dataset:
    report = import_paths([shared_data / "emmet" / name], format_name="mp-tasks", out=out)
    assert not report.failed_files and report.quarantined == 0
    return Dataset.open(out)


def _raw_steps(path: Path) -> list[tuple[str, dict]]:
    docs = json.load(gzip.open(path))
    docs = docs if isinstance(docs, list) else [docs]
    return [
        (doc["task_id"], step)
        for doc in docs
        for calc in reversed(doc["calcs_reversed"])
        for step in calc["output"]["ionic_steps"]
    ]


def test_as2so6_gives_193_steps_in_time_order(shared_data: Path, tmp_path: Path) -> None:
    dataset = _import(shared_data, "test_As2SO6_tasks.json.gz", tmp_path / "d")
    assert dataset.num_rows == 193
    rows = dataset.read().to_pylist()
    assert {r["functional"] for r in rows} == {"PBE"}
    assert {r["chemical_formula_reduced"] for r in rows} == {"As2O6S"}
    # mp-djowr is a double relaxation: 86 steps, then 4 more from the relaxed cell (calcs_reversed is newest-first)
    relax = sorted((r for r in rows if r["task_id"] == "mp-djowr"), key=lambda r: r["ionic_step"])
    assert [r["ionic_step"] for r in relax] == list(range(90))
    assert [r["calc_index"] for r in relax] == [0] * 86 + [1] * 4
    docs = {d["task_id"]: d for d in json.load(gzip.open(shared_data / "emmet" / "test_As2SO6_tasks.json.gz"))}
    np.testing.assert_allclose(relax[0]["lattice_vectors"], docs["mp-djowr"]["input"]["structure"]["lattice"]["matrix"])
    assert relax[0]["energy"] > relax[-1]["energy"], "a relaxation lowers the energy"
    raw = [step for task, step in _raw_steps(shared_data / "emmet" / "test_As2SO6_tasks.json.gz") if task == "mp-djowr"]
    for row, step in zip(relax, raw, strict=True):
        assert row["energy"] == pytest.approx(step["e_fr_energy"], abs=1e-9)
        assert row["energy_field"] == "e_fr_energy"
        # stored stress = -0.1 x VASP kBar, in GPa
        np.testing.assert_allclose(row["stress"], -0.1 * np.asarray(step["stress"]), atol=1e-12)
        np.testing.assert_allclose(row["forces"], step["forces"], atol=1e-12)


def test_gga_plus_u_is_read_from_the_incar(shared_data: Path, tmp_path: Path) -> None:
    rows = {
        r["task_id"]: r for r in _import(shared_data, "magnetism_task_docs.json.gz", tmp_path / "d").read().to_pylist()
    }
    la2coo4 = rows["mp-cvkdb"]
    assert la2coo4["chemical_formula_reduced"] == "CoLa2O4"
    assert la2coo4["functional"] == "PBE+U"
    assert la2coo4["hubbard_u"] == [{"element": "Co", "u_ev": 3.32}]
    assert sorted(abs(m) for m in la2coo4["magmoms"])[-1] == pytest.approx(2.563)
    assert {rows[t]["functional"] for t in rows if t != "mp-cvkdb"} == {"PBE"}


def test_single_dict_pbesol_document(shared_data: Path, tmp_path: Path) -> None:
    rows = _import(shared_data, "task_doc_mp-2766060_PBEsol.json.gz", tmp_path / "d").read().to_pylist()
    assert len(rows) == 6
    assert {r["functional"] for r in rows} == {"PBEsol"}
    assert {r["chemical_formula_reduced"] for r in rows} == {"AsCr"}


def test_bit_identical_repeats_are_stored_once(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "emmet" / "tasks_Li_Fe_V.json.gz"
    report = import_paths([path], format_name="mp-tasks", out=tmp_path / "d")
    raw = _raw_steps(path)
    distinct = {
        json.dumps(
            [
                s["structure"]["lattice"]["matrix"],
                [x["xyz"] for x in s["structure"]["sites"]],
                s["e_fr_energy"],
                s["forces"],
                s["stress"],
            ]
        )
        for _, s in raw
    }
    assert len(raw) == 100 and report.files[0].rows_read == 100
    assert report.rows_added == len(distinct) == 55
    assert report.duplicates == 45


def test_si_tasks_and_rerun_adds_nothing(shared_data: Path, tmp_path: Path) -> None:
    dataset = _import(shared_data, "test_si_tasks.json.gz", tmp_path / "d")
    assert dataset.num_rows == 7
    before = dataset.content_hash
    again = import_paths([shared_data / "emmet" / "test_si_tasks.json.gz"], format_name="mp-tasks", out=tmp_path / "d")
    assert again.rows_added == 0 and again.duplicates == 7
    assert Dataset.open(tmp_path / "d").content_hash == before


def test_unknown_metagga_is_refused_not_called_pbe() -> None:
    from curate.errors import RecordRejected
    from curate.sources.vasp_inputs import functional_from_vasp

    assert functional_from_vasp({"METAGGA": "R2scan"}) == "r2SCAN"
    assert functional_from_vasp({"METAGGA": "--"}, {"GGA": "--"}) == "PBE"
    with pytest.raises(RecordRejected, match="MBJ"):
        functional_from_vasp({"METAGGA": "MBJ"}, {"GGA": "--"})


def test_scf_convergence_is_read_from_the_electronic_steps(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "emmet" / "test_As2SO6_tasks.json.gz"
    rows = _import(shared_data, "test_As2SO6_tasks.json.gz", tmp_path / "d").read().to_pylist()
    unconverged = [r for r in rows if r["scf_converged"] is False]
    expected = []
    for doc in json.load(gzip.open(path)):
        for calc in reversed(doc["calcs_reversed"]):
            nelm = {**calc["input"]["parameters"], **calc["input"]["incar"]}.get("NELM", 60)
            expected += [
                s["e_fr_energy"] for s in calc["output"]["ionic_steps"] if len(s.get("electronic_steps") or []) >= nelm
            ]
    assert len(unconverged) == len(expected) == 1
    assert unconverged[0]["energy"] == expected[0]
    assert sum(r["scf_converged"] is True for r in rows) == 192
