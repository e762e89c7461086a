"""MPtrj JSON export: keyed by material, MP2020 energies as CHGNet learned them, exact round trip, CHGNet's units."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from curate.dataset.configuration import Configuration, configurations_to_batch
from curate.dataset.material import MATERIAL_COLUMNS, material_groups
from curate.dataset.store import Dataset
from curate.exporters import export_dataset
from curate.exporters.energy import KIND_MP2020, KIND_RAW, KIND_STORED
from curate.exporters.mptrj_json import SKIP_NOT_PERIODIC, SKIP_UNLABELLED
from curate.sources.ingest import import_paths

from .roundtrip import assert_same_labels, rows_by_id

# MP2020 (Wang et al., Sci. Rep. 11, 15496 (2021)), eV per atom of the element: oxide anion, Co in GGA+U oxides
MP2020_OXIDE_EV = -0.687
MP2020_CO_U_EV = -1.638


def _chgnet_dataset(path: Path) -> Any:
    """CHGNet's own MPtrj loader on ``path`` (keys in file order)."""
    from chgnet.data.dataset import StructureJsonData
    from chgnet.graph import CrystalGraphConverter

    converter = CrystalGraphConverter(atom_graph_cutoff=6, bond_graph_cutoff=3)
    return StructureJsonData(str(path), converter, targets="efsm", shuffle=False)


@pytest.mark.parametrize("name", ["as2so6", "magnetism"])
def test_uncorrected_round_trip_through_mptrj_import_is_exact(
    real_datasets: dict[str, Path], tmp_path: Path, name: str
) -> None:
    out = tmp_path / "mptrj.json"
    report = export_dataset(real_datasets[name], format_name="mptrj-json", out=out, energy="uncorrected")
    back = import_paths([out], format_name="mptrj", out=tmp_path / "back")
    before, after = rows_by_id(real_datasets[name]), rows_by_id(tmp_path / "back")
    assert report.rows_written == len(before) and report.skipped == {} and back.quarantined == 0
    assert report.energies == {KIND_RAW: len(before)} and report.energy == "uncorrected"
    assert set(after) == set(before)
    groups = material_groups(Dataset.open(real_datasets[name]).iter_batches(columns=list(MATERIAL_COLUMNS)))
    for row_id, row in before.items():
        again = after[row_id]
        assert_same_labels(row, again)
        assert again["functional"] == row["functional"]
        assert again["hubbard_u"] == row["hubbard_u"]
        # the material key comes back as material_id; these tasks have none, so it is the reduced formula
        assert again["material_id"] == groups.name_of_row(row_id) == row["chemical_formula_reduced"]
        assert again["task_id"] == row["task_id"]
    if name == "magnetism":
        plus_u = [r["hubbard_u"] for r in after.values() if r["functional"] == "PBE+U"]
        assert plus_u == [[{"element": "Co", "u_ev": 3.32}]]


def test_as2so6_is_one_material_with_mp2020_energies(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "as2so6.json"
    report = export_dataset(real_datasets["as2so6"], format_name="mptrj-json", out=out)
    data = json.loads(out.read_text())
    rows = Dataset.open(real_datasets["as2so6"]).read().to_pylist()
    # 11 task ids, one material: one key (it was 11 before materials were grouped)
    assert list(data) == ["As2O6S"] and len(data["As2O6S"]) == len(rows) == 193
    assert report.energy == "auto -> corrected" and report.energies == {KIND_MP2020: 193}
    row = next(r for r in rows if r["task_id"] == "mp-bohi" and r["calc_index"] == 1)
    frame = data["As2O6S"][f"mp-bohi-1-{row['ionic_step']}"]
    # MPtrj keeps VASP's kBar and sign: sigma_VASP = -10 sigma_ASE(GPa)
    np.testing.assert_allclose(frame["stress"], -10.0 * np.asarray(row["stress"]), rtol=1e-15)
    # 18 atoms = 2 As2SO6: 12 oxide O at -0.687 eV each; S is S(VI) in a sulfate, As(V): no other correction
    correction = 12 * MP2020_OXIDE_EV
    assert frame["uncorrected_total_energy"] == row["energy"]
    assert frame["corrected_total_energy"] == pytest.approx(row["energy"] + correction, abs=1e-9)
    assert frame["energy_per_atom"] * 18 == pytest.approx(frame["corrected_total_energy"], abs=1e-9)
    assert frame["structure"]["@class"] == "Structure" and frame["mp_id"] == "As2O6S"


def test_corrected_energies_come_back_as_energy_corrected(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    first = tmp_path / "first.json"
    export_dataset(real_datasets["as2so6"], format_name="mptrj-json", out=first)
    import_paths([first], format_name="mptrj", out=tmp_path / "d")
    for row in rows_by_id(tmp_path / "d").values():
        assert row["energy_corrected"] == pytest.approx(row["energy"] + 12 * MP2020_OXIDE_EV, abs=1e-9)
    # the second export takes the stored corrections, and the keys and frame ids survive
    second = tmp_path / "second.json"
    report = export_dataset(tmp_path / "d", format_name="mptrj-json", out=second)
    assert report.energies == {KIND_STORED: 193}
    keys = [{m: sorted(f) for m, f in json.loads(p.read_text()).items()} for p in (first, second)]
    assert keys[0] == keys[1]


def test_an_md_trajectory_without_ids_is_one_material(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "md.json"
    report = export_dataset(real_datasets["si_md"], format_name="mptrj-json", out=out)
    data = json.loads(out.read_text())
    # 10 geometries, no task or material id: one Si key (10 geometry-hash keys before)
    assert list(data) == ["Si"] and len(data["Si"]) == 10
    # a VASP run of unknown settings gets no MP2020 correction unasked: raw energies, nothing stored
    assert report.energy == "auto -> uncorrected" and report.energies == {KIND_RAW: 10}
    assert all(f["corrected_total_energy"] is None for f in data["Si"].values())


def test_chgnet_split_by_key_never_splits_a_material(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "pbe.json"
    export_dataset(real_datasets["pbe_family"], format_name="mptrj-json", out=out)
    dataset = _chgnet_dataset(out)
    # As2SO6 (193 frames), Fe, CoLa2O4, MnSi2Tc and Si (the magnetism Si task and the 4 Si tasks: one formula)
    materials = sorted(dataset.data)
    assert materials == ["As2O6S", "CoLa2O4", "Fe", "MnSi2Tc", "Si"] and len(dataset) == 193 + 4 + 7
    random.seed(0)  # CHGNet shuffles the keys with the global random module
    loaders = dataset.get_train_val_test_loader(train_ratio=0.4, val_ratio=0.4, batch_size=8, pin_memory=False)
    keys_per_split = [{mp_id for mp_id, _ in loader.dataset.keys} for loader in loaders]
    assert sum(map(len, keys_per_split)) == 5 and set.union(*keys_per_split) == set(materials)
    holding = [i for i, keys in enumerate(keys_per_split) if "As2O6S" in keys]
    assert len(holding) == 1 and len([k for k in loaders[holding[0]].dataset.keys if k[0] == "As2O6S"]) == 193


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
    assert list(json.loads((tmp_path / "o.json").read_text())) == ["Si"]


def test_chgnet_reads_it_with_curate_units(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    from chgnet.data.dataset import StructureData
    from pymatgen.core import Structure

    out = tmp_path / "magnetism.json"
    export_dataset(real_datasets["magnetism"], format_name="mptrj-json", out=out)
    rows = {r["chemical_formula_reduced"]: r for r in Dataset.open(real_datasets["magnetism"]).read().to_pylist()}
    frames = json.loads(out.read_text())
    dataset = _chgnet_dataset(out)
    assert len(dataset) == len(rows) == 4
    for index, (material, frame_id) in enumerate(dataset.keys):
        graph, targets = dataset[index]
        row = rows[material]
        assert graph.mp_id == material
        # CHGNet's own conversion (stress x -0.1) must give curate's stored GPa back
        np.testing.assert_allclose(targets["s"].numpy(), row["stress"], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(targets["f"].numpy(), row["forces"], rtol=1e-6, atol=1e-9)
        assert float(targets["e"]) == pytest.approx(frames[material][frame_id]["energy_per_atom"], rel=1e-6)
        np.testing.assert_allclose(targets["m"].numpy(), np.abs(row["magmoms"]), rtol=1e-6)
    assert dataset.failed_idx == []  # CHGNet swaps failing items for random ones silently
    # La8Co4O16 in GGA+U: 16 oxide O and 4 Co mixing corrections, the energy CHGNet trains on (eV/atom)
    la2coo4 = rows["CoLa2O4"]
    (frame,) = frames["CoLa2O4"].values()
    expected = (la2coo4["energy"] + 16 * MP2020_OXIDE_EV + 4 * MP2020_CO_U_EV) / 28
    assert frame["energy_per_atom"] == pytest.approx(expected, abs=1e-9)
    assert frame["energy_per_atom"] - la2coo4["energy"] / 28 == pytest.approx(-0.627, abs=1e-3)

    flat = [frame for by_frame in frames.values() for frame in by_frame.values()]
    direct = StructureData(
        structures=[Structure.from_dict(f["structure"]) for f in flat],
        energies=[f["energy_per_atom"] for f in flat],
        forces=[f["force"] for f in flat],
        stresses=[f["stress"] for f in flat],
        magmoms=[f["magmom"] for f in flat],
        graph_converter=dataset.graph_converter,
        shuffle=False,
    )
    index = next(i for i, f in enumerate(flat) if f["mp_id"] == "CoLa2O4")
    _, targets = direct[index]
    np.testing.assert_allclose(targets["s"].numpy(), la2coo4["stress"], rtol=1e-6, atol=1e-9)


@pytest.mark.slow
@pytest.mark.model
def test_pretrained_chgnet_agrees_with_the_exported_energies(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    """Known answer: CHGNet 0.3.0 learned MP2020-corrected energies, so it predicts the exported ones."""
    import torch
    from chgnet.model import CHGNet

    files = {}
    for energy in ("auto", "uncorrected"):
        files[energy] = tmp_path / f"{energy}.json"
        export_dataset(real_datasets["as2so6"], format_name="mptrj-json", out=files[energy], energy=energy)  # type: ignore[arg-type]
    dataset = _chgnet_dataset(files["auto"])
    items = [dataset[i] for i in range(len(dataset))]
    assert dataset.failed_idx == [] and len(items) == 193
    model = CHGNet.load(model_name="0.3.0", verbose=False)
    with torch.no_grad():
        predicted = model.predict_graph([graph for graph, _ in items], task="e", batch_size=32)
    e_model = np.array([float(p["e"]) for p in predicted])  # eV/atom
    raw = _chgnet_dataset(files["uncorrected"]).data  # the same frames under the same keys
    targets = {
        "auto": np.array([float(t["e"]) for _, t in items]),
        "uncorrected": np.array([raw[mp_id][frame_id]["energy_per_atom"] for mp_id, frame_id in dataset.keys]),
    }
    errors = {energy: np.abs(e_model - target) for energy, target in targets.items()}
    # measured: MAE 0.046 eV/atom (max 0.052) on MP2020 energies, 0.412 (max 0.460) on raw energies
    assert errors["auto"].mean() < 0.1 and errors["auto"].max() < 0.1
    assert errors["uncorrected"].mean() > 0.3
