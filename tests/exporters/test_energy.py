"""--energy: MP2020 only where it applies, never on r2SCAN/PBEsol, never a file of mixed corrected and raw energies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curate.dataset.configuration import batch_to_configurations
from curate.dataset.store import Dataset
from curate.errors import ConfigurationError
from curate.exporters import export_dataset
from curate.exporters.energy import KIND_MP2020, KIND_RAW, MP2020Corrections, NoEnergy
from curate.sources.ingest import import_paths


def _frames(path: Path) -> list[dict]:
    return [frame for by_frame in json.loads(path.read_text()).values() for frame in by_frame.values()]


@pytest.mark.parametrize("energy", ["auto", "uncorrected"])
def test_r2scan_energies_are_written_raw(real_datasets: dict[str, Path], tmp_path: Path, energy: str) -> None:
    out = tmp_path / "lu.json"
    report = export_dataset(real_datasets["lu_r2scan"], format_name="mptrj-json", out=out, energy=energy)  # type: ignore[arg-type]
    rows = Dataset.open(real_datasets["lu_r2scan"]).read().to_pylist()
    frames = _frames(out)
    assert report.energies == {KIND_RAW: 6} and len(frames) == 6
    assert report.energy == ("auto -> uncorrected" if energy == "auto" else "uncorrected")
    by_energy = {r["energy"]: r for r in rows}
    for frame in frames:
        row = by_energy[frame["uncorrected_total_energy"]]
        assert frame["energy_per_atom"] == pytest.approx(row["energy"] / row["nsites"], rel=1e-15)
        assert frame["corrected_total_energy"] is None


def test_corrected_never_gives_r2scan_or_pbesol_an_mp2020_correction(
    real_datasets: dict[str, Path], shared_data: Path, tmp_path: Path
) -> None:
    report = export_dataset(
        real_datasets["lu_r2scan"], format_name="mptrj-json", out=tmp_path / "lu.json", energy="corrected"
    )
    assert report.rows_written == 0 and report.energies == {}
    assert report.skipped == {"no corrected energy: MP2020 is defined for PBE/PBE+U only, not r2SCAN": 6}
    import_paths([shared_data / "emmet/task_doc_mp-2766060_PBEsol.json.gz"], format_name="mp-tasks", out=tmp_path / "s")
    report = export_dataset(tmp_path / "s", format_name="mptrj-json", out=tmp_path / "s.json", energy="auto")
    assert report.energy == "auto -> uncorrected" and report.energies == {KIND_RAW: 6}
    pbesol = batch_to_configurations(Dataset.open(tmp_path / "s").read())[0]
    with pytest.raises(NoEnergy, match="MP2020 is defined for PBE/PBE\\+U only, not PBEsol"):
        MP2020Corrections().correction_ev(pbesol)


def test_auto_refuses_to_mix_corrected_and_raw_energies(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    dataset = real_datasets["as2so6_and_si_md"]
    with pytest.raises(ConfigurationError) as caught:
        export_dataset(dataset, format_name="mptrj-json", out=tmp_path / "x.json")
    message = str(caught.value)
    assert "193 labelled rows have a corrected energy" in message and "vasp PBE (10)" in message
    assert "choose energy uncorrected" in message and "\n" not in message
    assert not (tmp_path / "x.json").exists()
    # corrected: the user vouches for MP settings; Si64 is an element, MP2020 corrects it by 0 eV
    report = export_dataset(dataset, format_name="mptrj-json", out=tmp_path / "c.json", energy="corrected")
    assert report.energies == {KIND_MP2020: 203}
    si = [f for f in _frames(tmp_path / "c.json") if f["mp_id"] == "Si"]
    assert len(si) == 10 and all(f["corrected_total_energy"] == f["uncorrected_total_energy"] for f in si)
    report = export_dataset(dataset, format_name="mptrj-json", out=tmp_path / "u.json", energy="uncorrected")
    assert report.energies == {KIND_RAW: 203}
    # a filter that keeps one side only is accepted by auto
    report = export_dataset(dataset, format_name="mptrj-json", out=tmp_path / "m.json", where={"source": "mp-tasks"})
    assert report.energies == {KIND_MP2020: 193}


def test_mp2020_refuses_a_u_value_that_is_not_mp(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    # LiFePO4 computed with Fe U = 4.3 eV; Materials Project uses 5.3 eV: MP2020 does not apply, counted
    report = export_dataset(
        real_datasets["lifepo4"], format_name="mptrj-json", out=tmp_path / "x.json", energy="corrected"
    )
    assert report.rows_written == 0
    assert report.skipped == {"MP2020 does not apply: Invalid U value of 4.3 on Fe, expected 5.3": 11}


def test_energy_is_refused_for_formats_that_write_raw_energies(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="energy applies to mptrj-json only: extxyz writes the raw"):
        export_dataset(real_datasets["as2so6"], format_name="extxyz", out=tmp_path / "x.xyz", energy="corrected")
    report = export_dataset(real_datasets["as2so6"], format_name="extxyz", out=tmp_path / "x.xyz")
    assert report.energy == "raw" and report.energies == {KIND_RAW: 193}
