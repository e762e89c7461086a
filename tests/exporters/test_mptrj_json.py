"""MPtrj JSON export: exact round trip through `curate import mptrj`, and CHGNet reads it with the right units."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from curate.dataset.configuration import Configuration, configurations_to_batch
from curate.dataset.store import Dataset
from curate.exporters import export_dataset
from curate.exporters.mptrj_json import SKIP_NOT_PERIODIC, SKIP_UNLABELLED
from curate.sources.ingest import import_paths

from .roundtrip import assert_same_labels, rows_by_id


@pytest.mark.parametrize("name", ["as2so6", "magnetism"])
def test_round_trip_through_mptrj_import_is_exact(real_datasets: dict[str, Path], tmp_path: Path, name: str) -> None:
    out = tmp_path / "mptrj.json"
    report = export_dataset(real_datasets[name], format_name="mptrj-json", out=out)
    back = import_paths([out], format_name="mptrj", out=tmp_path / "back")
    before, after = rows_by_id(real_datasets[name]), rows_by_id(tmp_path / "back")
    assert report.rows_written == len(before) and report.skipped == {} and back.quarantined == 0
    assert set(after) == set(before)
    for row_id, row in before.items():
        again = after[row_id]
        assert_same_labels(row, again)
        assert again["functional"] == row["functional"]
        assert again["hubbard_u"] == row["hubbard_u"]
        # mp-tasks rows have no material_id: MPtrj groups them under the task id, which comes back as both
        assert again["material_id"] == (row["material_id"] or row["task_id"])
        assert again["task_id"] == row["task_id"]
    if name == "magnetism":
        plus_u = [r["hubbard_u"] for r in after.values() if r["functional"] == "PBE+U"]
        assert plus_u == [[{"element": "Co", "u_ev": 3.32}]]


def test_layout_units_and_frame_ids(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "as2so6.json"
    export_dataset(real_datasets["as2so6"], format_name="mptrj-json", out=out)
    data = json.loads(out.read_text())
    rows = Dataset.open(real_datasets["as2so6"]).read().to_pylist()
    frames = {(m, f): frame for m, by_frame in data.items() for f, frame in by_frame.items()}
    assert len(frames) == len(rows) == 193
    row = next(r for r in rows if r["task_id"] == "mp-bohi" and r["calc_index"] == 1)
    frame = data["mp-bohi"][f"mp-bohi-1-{row['ionic_step']}"]
    # MPtrj keeps VASP's kBar and sign: sigma_VASP = -10 sigma_ASE(GPa)
    np.testing.assert_allclose(frame["stress"], -10.0 * np.asarray(row["stress"]), rtol=1e-15)
    assert frame["uncorrected_total_energy"] == row["energy"] and frame["corrected_total_energy"] is None
    assert frame["energy_per_atom"] == pytest.approx(row["energy"] / 18, rel=1e-15)
    assert frame["structure"]["@class"] == "Structure" and frame["mp_id"] == "mp-bohi"


def test_mptrj_frame_ids_survive_a_second_export(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    first = tmp_path / "first.json"
    export_dataset(real_datasets["as2so6"], format_name="mptrj-json", out=first)
    import_paths([first], format_name="mptrj", out=tmp_path / "d")
    second = tmp_path / "second.json"
    export_dataset(tmp_path / "d", format_name="mptrj-json", out=second)
    keys = [{m: sorted(f) for m, f in json.loads(p.read_text()).items()} for p in (first, second)]
    assert keys[0] == keys[1]


def test_rows_mptrj_cannot_hold_are_skipped_and_counted(tmp_path: Path) -> None:
    base = dict(species=["Si", "Si"], lattice=np.eye(3) * 5.43, positions=np.array([[0.0, 0, 0], [1.3575] * 3]))
    labelled = Configuration(**base, energy=-10.8, forces=np.zeros((2, 3)), functional="PBE", task_id="t-1")
    unlabelled = Configuration(**base, functional=None, task_id="t-2")
    molecule = Configuration(
        **{**base, "lattice": np.zeros((3, 3))},
        pbc=(0, 0, 0),
        energy=-9.0,
        forces=np.zeros((2, 3)),
        functional="PBE",
        task_id="t-3",
    )
    with Dataset.create(tmp_path / "d").writer() as writer:
        writer.append(configurations_to_batch([labelled, unlabelled, molecule]))
    report = export_dataset(tmp_path / "d", format_name="mptrj-json", out=tmp_path / "o.json")
    assert report.rows_written == 1 and report.skipped == {SKIP_UNLABELLED: 1, SKIP_NOT_PERIODIC: 1}
    assert list(json.loads((tmp_path / "o.json").read_text())) == ["t-1"]


def test_chgnet_reads_it_with_curate_units(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    from chgnet.data.dataset import StructureData, StructureJsonData
    from chgnet.graph import CrystalGraphConverter
    from pymatgen.core import Structure

    out = tmp_path / "magnetism.json"
    export_dataset(real_datasets["magnetism"], format_name="mptrj-json", out=out)
    rows = {r["task_id"]: r for r in Dataset.open(real_datasets["magnetism"]).read().to_pylist()}
    converter = CrystalGraphConverter(atom_graph_cutoff=6, bond_graph_cutoff=3)
    dataset = StructureJsonData(str(out), converter, targets="efsm", shuffle=False)
    assert len(dataset) == len(rows) == 4
    for index, (material, _frame) in enumerate(dataset.keys):
        graph, targets = dataset[index]
        row = rows[material]
        assert graph.mp_id == material
        # CHGNet's own conversion (stress x -0.1) must give curate's stored GPa back
        np.testing.assert_allclose(targets["s"].numpy(), row["stress"], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(targets["f"].numpy(), row["forces"], rtol=1e-6, atol=1e-9)
        assert float(targets["e"]) == pytest.approx(row["energy"] / row["nsites"], rel=1e-6)
        np.testing.assert_allclose(targets["m"].numpy(), np.abs(row["magmoms"]), rtol=1e-6)
    assert dataset.failed_idx == []  # CHGNet swaps failing items for random ones silently

    frames = [frame for by_frame in json.loads(out.read_text()).values() for frame in by_frame.values()]
    direct = StructureData(
        structures=[Structure.from_dict(f["structure"]) for f in frames],
        energies=[f["energy_per_atom"] for f in frames],
        forces=[f["force"] for f in frames],
        stresses=[f["stress"] for f in frames],
        magmoms=[f["magmom"] for f in frames],
        graph_converter=converter,
        shuffle=False,
    )
    _, targets = direct[1]
    la2coo4 = rows["mp-cvkdb"]
    np.testing.assert_allclose(targets["s"].numpy(), la2coo4["stress"], rtol=1e-6, atol=1e-9)
