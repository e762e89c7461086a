"""CHGNet MPtrj JSON: kBar -> GPa with the sign flipped, and the MP GGA/GGA+U rule checked against real INCARs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from curate.dataset.store import Dataset
from curate.sources.ingest import import_paths
from curate.sources.mptrj import mp_gga_functional


def write_mptrj_from_tasks(task_file: Path, out: Path) -> list[dict]:
    """MPtrj layout built from real task documents; returns the frames written, in order."""
    docs = json.load(gzip.open(task_file))
    layout: dict[str, dict[str, dict]] = {}
    frames = []
    for doc in docs:
        for calc_index, calc in enumerate(reversed(doc["calcs_reversed"])):
            for step_index, step in enumerate(calc["output"]["ionic_steps"]):
                frame = {
                    "structure": step["structure"],
                    "uncorrected_total_energy": step["e_fr_energy"],
                    "corrected_total_energy": step["e_fr_energy"] - 1.0,
                    "energy_per_atom": step["e_fr_energy"] / len(step["structure"]["sites"]),
                    "force": step["forces"],
                    "stress": step["stress"],
                    "magmom": None,
                    "mp_id": doc["task_id"],
                }
                layout.setdefault(doc["task_id"], {})[f"{doc['task_id']}-{calc_index}-{step_index}"] = frame
                frames.append(frame)
    out.write_text(json.dumps(layout))
    return frames


def write_replicated_mptrj(
    shared_data: Path, out: Path, *, copies: int, frames_per_material: int | None = None
) -> Path:
    """Real As2SO6 frames in the MPtrj layout, ``copies`` times with seeded 0.005 A position noise.

    Every frame is distinct. Each copy is one material, or with ``frames_per_material`` several materials of
    that many frames (chunks are cut between materials, so small materials make many chunks).
    """
    base = write_mptrj_from_tasks(shared_data / "emmet" / "test_As2SO6_tasks.json.gz", out.parent / "base.json")
    rng = np.random.default_rng(7)
    layout: dict[str, dict] = {}
    for copy in range(copies):
        for k, frame in enumerate(base):
            structure = json.loads(json.dumps(frame["structure"]))
            for site in structure["sites"]:
                site["xyz"] = (np.asarray(site["xyz"]) + rng.normal(0, 0.005, 3)).tolist()
                site.pop("abc", None)
            material = f"mp-{copy}" if frames_per_material is None else f"mp-{copy}{k // frames_per_material:03d}"
            layout.setdefault(material, {})[f"{material}-{k}"] = {**frame, "structure": structure}
    out.write_text(json.dumps(layout))
    return out


def test_mptrj_frames_units_and_ids(shared_data: Path, tmp_path: Path) -> None:
    frames = write_mptrj_from_tasks(shared_data / "emmet" / "test_As2SO6_tasks.json.gz", tmp_path / "mptrj.json")
    report = import_paths([tmp_path / "mptrj.json"], format_name="mptrj", out=tmp_path / "d")
    assert report.rows_added == len(frames) == 193 and report.quarantined == 0
    rows = Dataset.open(tmp_path / "d").read().to_pylist()
    by_record = {r["source_record"]: r for r in rows}
    first = by_record["mp-djowr/mp-djowr-0-0"]
    raw = json.loads((tmp_path / "mptrj.json").read_text())["mp-djowr"]["mp-djowr-0-0"]
    np.testing.assert_allclose(first["stress"], -0.1 * np.asarray(raw["stress"]), atol=1e-12)
    assert first["energy"] == raw["uncorrected_total_energy"]
    assert first["energy_corrected"] == pytest.approx(raw["uncorrected_total_energy"] - 1.0)
    assert first["energy_field"] == "uncorrected_total_energy"
    assert first["material_id"] == "mp-djowr" and first["functional"] == "PBE"


def test_same_frames_same_ids_as_task_import(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "emmet" / "test_si_tasks.json.gz"
    write_mptrj_from_tasks(source, tmp_path / "mptrj.json")
    import_paths([tmp_path / "mptrj.json"], format_name="mptrj", out=tmp_path / "a")
    import_paths([source], format_name="mp-tasks", out=tmp_path / "b")
    assert Dataset.open(tmp_path / "a").ids() == Dataset.open(tmp_path / "b").ids()


def test_mp_hubbard_rule_matches_the_real_gga_u_incar(shared_data: Path) -> None:
    docs = json.load(gzip.open(shared_data / "emmet" / "magnetism_task_docs.json.gz"))
    la2coo4 = next(d for d in docs if d["task_id"] == "mp-cvkdb")
    species = [s["species"][0]["element"] for s in la2coo4["calcs_reversed"][0]["output"]["structure"]["sites"]]
    incar = la2coo4["calcs_reversed"][0]["input"]["incar"]
    assert mp_gga_functional(species) == ("PBE+U", {"Co": incar["LDAUU"][1]})
    assert mp_gga_functional(["Fe", "Fe"]) == ("PBE", None)
    assert mp_gga_functional(["Fe", "F", "F"])[1] == {"Fe": 5.3}


def test_a_material_larger_than_a_chunk_is_read_whole(tmp_path: Path) -> None:
    from curate.sources.jsonstream import iter_object_chunks, split_members

    members = {f"k{i}": {"text": ("y" * 5000 if i % 3 == 0 else "z"), "n": i} for i in range(10)}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(members))
    seen = {
        key: json.loads(raw)
        for chunk in iter_object_chunks(path, target_bytes=1024)
        for key, raw in split_members(chunk)
    }
    assert seen == members
