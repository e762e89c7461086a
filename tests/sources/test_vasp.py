"""VASP importer on the real vasprun.xml and OUTCAR files in ../shared/data/vasp, checked against the raw text."""

from __future__ import annotations

import gzip
import re
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pymatgen.io.vasp.outputs import UnconvergedVASPWarning

from curate.cli import main
from curate.dataset.configuration import Configuration, Rejected
from curate.dataset.store import Dataset
from curate.errors import InputError, RecordRejected
from curate.sources.base import ImportOptions
from curate.sources.ingest import import_paths
from curate.sources.vasp import VaspImporter, calculation_files, calculation_kind
from curate.sources.vasp_inputs import companion_file
from curate.sources.vasp_outcar import metagga_name, read_outcar_header

# file under vasp/, ionic steps, functional, Hubbard U_eff (eV) per element
VASPRUNS = [
    ("GaAs_r2scan_static/vasprun.xml.gz", 1, "r2SCAN", None),
    ("r2scan_relax_Lu3/vasprun.xml.gz", 6, "r2SCAN", None),
    ("pymatgen_core/outputs__vasprun.Al.xml.gz", 2, "r2SCAN", None),
    ("pymatgen_core/outputs__vasprun.ediffg_set_to_0.xml.gz", 3, "r2SCAN", None),  # Rb2F
    ("pymatgen_core/outputs__vasprun.r2scan.xml.gz", 1, "r2SCAN", None),
    ("pymatgen_core/fixtures__scan_relaxation__vasprun.xml.gz", 1, "r2SCAN", None),  # named scan; METAGGA = R2scan
    ("pymatgen_core/outputs__vasprun.scan.xml.gz", 1, "SCAN", None),
    ("pymatgen_core/outputs__vasprun.lifepo4.xml.gz", 11, "PBE+U", {"Fe": 4.3}),
    ("pymatgen_core/outputs__vasprun.magmom_ldau.xml.gz", 3, "PBE+U", {"Fe": 5.3}),  # Fe2O3
    ("pymatgen_core/outputs__vasprun.unconverged.xml.gz", 5, "PBE+U", {"V": 3.1}),  # V2O5
    ("pymatgen_core/outputs__vasprun.charged.xml.gz", 5, "PBE", None),  # Si
    ("pymatgen_core/outputs__vasprun.md.xml.gz", 10, "PBE", None),  # Si64 molecular dynamics
    ("pymatgen_core/fixtures__relaxation__vasprun.xml.gz", 3, "PBE", None),  # Li
    ("pymatgen_core/fixtures__static_silicon__vasprun.xml.gz", 1, "PBE", None),
]
OUTCARS = [  # the first two have no INCAR beside them: the functional comes from the echo inside
    ("pymatgen_core/fixtures__relaxation__OUTCAR", 3, "PBE"),  # VASP 5.2.12, echoes 'METAGGA= F'
    ("pymatgen_core/fixtures__scan_relaxation__OUTCAR", 1, "r2SCAN"),  # echoes 'METAGGA = R2SCA'
    ("r2scan_relax_Lu3/OUTCAR.gz", 6, "r2SCAN"),
    ("GaAs_r2scan_static/OUTCAR.gz", 1, "r2SCAN"),
]
LU = "r2scan_relax_Lu3"


def read_all(path: Path, **options: str) -> list[Configuration | Rejected]:
    return list(VaspImporter().read(path, display_name=str(path), options=ImportOptions(**options)))


def read_until_error(path: Path, match: str) -> tuple[list[Configuration | Rejected], InputError]:
    items: list[Configuration | Rejected] = []
    with pytest.raises(InputError, match=match) as error:
        for item in VaspImporter().read(path, display_name=str(path), options=ImportOptions()):
            items.append(item)
    return items, error.value


def raw_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def raw_vasprun_steps(path: Path) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """(e_fr_energy eV, forces eV/A, stress kBar VASP sign) of every <calculation>, read with the stdlib."""
    steps = []
    for calc in ET.fromstring(raw_bytes(path)).iter("calculation"):
        energy = float(calc.find("energy/i[@name='e_fr_energy']").text)  # type: ignore[union-attr]
        arrays = [
            np.array([v.text.split() for v in calc.find(f"varray[@name='{name}']")], dtype=float)  # type: ignore[union-attr]
            for name in ("forces", "stress")
        ]
        steps.append((energy, arrays[0], arrays[1]))
    return steps


def raw_outcar(path: Path) -> tuple[list[float], list[np.ndarray], np.ndarray]:
    """TOTEN (eV) and 'in kB' stress (3x3, VASP sign) per step, and the last per-site magnetization block."""
    text = raw_bytes(path).decode("latin-1")
    toten = [float(v) for v in re.findall(r"free  energy   TOTEN  =\s+(\S+) eV", text)]
    stress = []
    for line in re.findall(r"^\s+in kB\s+(.+)$", text, flags=re.MULTILINE):
        xx, yy, zz, xy, yz, zx = map(float, line.split())
        stress.append(np.array([[xx, xy, zx], [xy, yy, yz], [zx, yz, zz]]))
    magmoms = []
    for row in text[text.rindex("magnetization (x)") :].splitlines()[4:]:  # title, blank, header, dashes
        if not row.split() or not row.split()[0].isdigit():
            break
        magmoms.append(float(row.split()[-1]))  # the 'tot' column
    return toten, stress, np.array(magmoms)


def test_the_tables_cover_every_vasp_file(shared_data: Path) -> None:
    names = {p.relative_to(shared_data / "vasp").as_posix() for p in (shared_data / "vasp").rglob("*")}
    assert {v[0] for v in VASPRUNS} == {n for n in names if "vasprun" in n}
    assert {o[0] for o in OUTCARS} == {n for n in names if "OUTCAR" in n}


@pytest.mark.filterwarnings("ignore::pymatgen.io.vasp.outputs.UnconvergedVASPWarning")
@pytest.mark.parametrize(("relative", "steps", "functional", "hubbard_u"), VASPRUNS)
def test_every_vasprun_step_matches_the_raw_xml(
    shared_data: Path, relative: str, steps: int, functional: str, hubbard_u: dict[str, float] | None
) -> None:
    path = shared_data / "vasp" / relative
    raw, rows = raw_vasprun_steps(path), read_all(path)
    assert len(raw) == len(rows) == steps
    for index, (cfg, (energy, forces, stress_kbar)) in enumerate(zip(rows, raw, strict=True)):
        assert isinstance(cfg, Configuration)
        assert (cfg.functional, cfg.hubbard_u) == (functional, hubbard_u)
        assert cfg.energy == pytest.approx(energy, abs=1e-6) and cfg.energy_field == "e_fr_energy"
        np.testing.assert_allclose(cfg.forces, forces, atol=1e-12)
        np.testing.assert_allclose(cfg.stress, -0.1 * stress_kbar, atol=1e-12)  # kBar, VASP sign -> GPa, ASE sign
        assert (cfg.source, cfg.source_file, cfg.pbc) == ("vasp", str(path), (1, 1, 1))
        assert (cfg.source_record, cfg.ionic_step, cfg.calc_index) == (f"{path.name} step {index}", index, 0)


@pytest.mark.parametrize(("relative", "steps", "functional"), OUTCARS)
def test_every_outcar_step_matches_the_raw_text(shared_data: Path, relative: str, steps: int, functional: str) -> None:
    path = shared_data / "vasp" / relative
    toten, stress_kbar, magmoms = raw_outcar(path)
    rows = read_all(path)
    assert len(rows) == len(toten) == len(stress_kbar) == steps
    for cfg, energy, stress in zip(rows, toten, stress_kbar, strict=True):
        assert isinstance(cfg, Configuration) and cfg.functional == functional and cfg.hubbard_u is None
        assert cfg.energy == pytest.approx(energy, abs=1e-9) and cfg.energy_field == "e_fr_energy"
        np.testing.assert_allclose(cfg.stress, -0.1 * stress, atol=1e-12)
    assert [c.magmoms is None for c in rows] == [True] * (steps - 1) + [False]
    np.testing.assert_array_equal(rows[-1].magmoms, magmoms)


def test_vasprun_and_outcar_of_one_run_agree(shared_data: Path) -> None:
    folder = shared_data / "vasp" / LU
    from_xml, from_outcar = read_all(folder / "vasprun.xml.gz"), read_all(folder / "OUTCAR.gz")
    assert len(from_xml) == len(from_outcar) == 6
    for a, b in zip(from_xml, from_outcar, strict=True):
        assert a.energy == pytest.approx(b.energy, abs=1e-8)
        np.testing.assert_allclose(a.stress, b.stress, atol=1e-6)  # OUTCAR prints kBar to 1e-5
        np.testing.assert_allclose(a.forces, b.forces, atol=1e-5)
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-5)
    assert from_xml[0].stress[0, 0] == pytest.approx(-4.573555)  # raw 'in kB 45.73555 ...': compressive in VASP


def test_the_echo_alone_gives_the_functional(shared_data: Path, tmp_path: Path) -> None:
    header = read_outcar_header(shared_data / "vasp" / LU / "OUTCAR.gz")
    assert header.parameters["METAGGA"] == "R2SCA" and header.parameters["GGA"] == "--" and header.finished
    assert header.potcar_titles == ["PAW_PBE Lu_3 06Sep2000"]
    assert metagga_name("R2SCA") == "R2SCAN" and metagga_name("Scan") == "SCAN"
    with pytest.raises(RecordRejected):
        metagga_name("XYZZY")
    (tmp_path / "OUTCAR.gz").symlink_to(shared_data / "vasp" / LU / "OUTCAR.gz")  # no INCAR beside it
    assert {c.functional for c in read_all(tmp_path / "OUTCAR.gz")} == {"r2SCAN"}


@pytest.mark.parametrize(
    ("outcar", "incar", "expected"),
    [
        (f"{LU}/OUTCAR.gz", "METAGGA = R2scan\nENCUT = 680", "r2SCAN"),
        (f"{LU}/OUTCAR.gz", "METAGGA = Scan", None),  # the echo says R2SCA: the INCAR is another run's
        ("pymatgen_core/fixtures__relaxation__OUTCAR", "GGA = PE", "PBE"),
        ("pymatgen_core/fixtures__relaxation__OUTCAR", "GGA = PS", None),
    ],
)
def test_an_incar_beside_the_outcar_must_agree_with_its_echo(
    shared_data: Path, tmp_path: Path, outcar: str, incar: str, expected: str | None
) -> None:
    (tmp_path / "OUTCAR").symlink_to(shared_data / "vasp" / outcar)
    (tmp_path / "INCAR").write_text(incar + "\n")
    rows = read_all(tmp_path / "OUTCAR")
    if expected is None:
        assert all(isinstance(r, Rejected) and r.field == "incar" and "another run" in r.reason for r in rows)
    else:
        assert {c.functional for c in rows} == {expected}


def test_an_unknown_metagga_or_an_mlff_run_is_refused(shared_data: Path, tmp_path: Path) -> None:
    text = raw_bytes(shared_data / "vasp" / LU / "OUTCAR.gz")
    (tmp_path / "OUTCAR").write_bytes(text.replace(b"METAGGA = R2SCA", b"METAGGA = XYZZY"))
    rows = read_all(tmp_path / "OUTCAR")  # emmet would call an unknown METAGGA 'GGA', i.e. PBE
    assert len(rows) == 6 and all(isinstance(r, Rejected) and r.field == "METAGGA" for r in rows)
    (tmp_path / "OUTCAR").write_bytes(text)
    (tmp_path / "INCAR").write_text("METAGGA = R2scan\nML_LMLFF = .TRUE.\n")
    with pytest.raises(InputError, match="ML_LMLFF"):  # force-field predictions, not DFT labels
        read_all(tmp_path / "OUTCAR")


def test_a_directory_with_vasprun_and_outcar_gives_each_step_once(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "vasp" / LU
    assert calculation_files(folder) == [folder / "vasprun.xml.gz"]
    assert companion_file(folder / "vasprun.xml.gz", "OUTCAR") == folder / "OUTCAR.gz"
    rows = read_all(folder)
    assert [c.source_record for c in rows] == [f"vasprun.xml.gz step {i}" for i in range(6)]
    assert {c.source_file for c in rows} == {f"{folder}/vasprun.xml.gz"}
    assert [c.magmoms is None for c in rows] == [True] * 5 + [False]
    np.testing.assert_array_equal(rows[-1].magmoms, raw_outcar(folder / "OUTCAR.gz")[2])  # Bohr magnetons
    (tmp_path / "vasprun.xml.gz").symlink_to(folder / "vasprun.xml.gz")  # beside an OUTCAR of another run
    (tmp_path / "OUTCAR.gz").symlink_to(shared_data / "vasp" / "GaAs_r2scan_static" / "OUTCAR.gz")
    assert [c.magmoms for c in read_all(tmp_path)] == [None] * 6


@pytest.mark.filterwarnings("ignore::pymatgen.io.vasp.outputs.UnconvergedVASPWarning")
def test_walking_every_vasp_folder_reads_each_vasprun_once(shared_data: Path, tmp_path: Path) -> None:
    core = shared_data / "vasp" / "pymatgen_core"
    vasprun, outcar = core / "fixtures__relaxation__vasprun.xml.gz", core / "fixtures__relaxation__OUTCAR"
    assert companion_file(vasprun, "OUTCAR") == outcar and companion_file(outcar, "INCAR") is None
    rows = read_all(shared_data / "vasp")
    assert len(rows) == sum(v[1] for v in VASPRUNS) == 53
    assert all(isinstance(c, Configuration) and "vasprun" in c.source_file for c in rows)
    assert len({c.calc_index for c in rows}) == len(VASPRUNS)
    (tmp_path / "run.gz").symlink_to(core / "outputs__vasprun.md.xml.gz")  # names that do not say: sniffed
    (tmp_path / "log.gz").symlink_to(shared_data / "vasp" / LU / "OUTCAR.gz")
    (tmp_path / "notes.txt").write_text("hello\n")
    assert calculation_kind(tmp_path / "run.gz") == "vasprun" and calculation_kind(tmp_path / "log.gz") == "outcar"
    with pytest.raises(InputError, match="not a VASP output"):
        calculation_kind(tmp_path / "notes.txt")


def test_md_forces_balance_and_symmetric_relaxation_forces_cancel(shared_data: Path) -> None:
    md = read_all(shared_data / "vasp" / "pymatgen_core" / "outputs__vasprun.md.xml.gz")
    # PREC = Low, ISYM = 0 MD at 2000 K: VASP's egg-box drift leaves up to 0.19 eV/A summed over 64 atoms
    assert all(np.abs(c.forces.sum(axis=0)).max() / c.nsites < 5e-3 for c in md)
    assert max(np.abs(c.forces).max() for c in md) > 3.0
    relax = read_all(shared_data / "vasp" / "pymatgen_core" / "outputs__vasprun.lifepo4.xml.gz")
    assert all(np.abs(c.forces.sum(axis=0)).max() < 1e-6 for c in relax)


def test_an_unconverged_run_still_imports_its_steps(shared_data: Path) -> None:
    with pytest.warns(UnconvergedVASPWarning):
        rows = read_all(shared_data / "vasp" / "pymatgen_core" / "outputs__vasprun.unconverged.xml.gz")
    assert len(rows) == 5 and all(isinstance(c, Configuration) and c.hubbard_u == {"V": 3.1} for c in rows)


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_truncated_vasprun_yields_its_complete_steps_then_names_the_file(
    shared_data: Path, tmp_path: Path, gzipped: bool
) -> None:
    whole = raw_bytes(shared_data / "vasp" / "pymatgen_core" / "outputs__vasprun.md.xml.gz")
    if gzipped:
        path = tmp_path / "vasprun.xml.gz"
        compressed = gzip.compress(whole)
        path.write_bytes(compressed[: len(compressed) * 55 // 100])
        readable = zlib.decompressobj(wbits=31).decompress(path.read_bytes())
    else:
        path, readable = tmp_path / "vasprun.xml", whole[: len(whole) * 55 // 100]
        path.write_bytes(readable)
    expected = readable.count(b"</calculation>")
    items, error = read_until_error(path, "damaged vasprun XML")
    assert 0 < len(items) == expected < 10 and all(isinstance(c, Configuration) for c in items)
    assert (error.file, error.record) == (str(path), f"{path.name} step {expected}")


def test_a_truncated_outcar_yields_its_complete_steps(shared_data: Path, tmp_path: Path) -> None:
    text = raw_bytes(shared_data / "vasp" / LU / "OUTCAR.gz")
    (tmp_path / "OUTCAR").write_bytes(text[: len(text) * 72 // 100])
    items, error = read_until_error(tmp_path / "OUTCAR", "cut off")
    assert len(items) == 4 and (error.file, error.record) == (str(tmp_path / "OUTCAR"), "OUTCAR step 4")
    assert [c.energy for c in items] == pytest.approx(raw_outcar(shared_data / "vasp" / LU / "OUTCAR.gz")[0][:4])


def test_import_paths_lands_every_step_once_and_resumes(shared_data: Path, tmp_path: Path) -> None:
    paths = [shared_data / "vasp" / LU, shared_data / "vasp" / "pymatgen_core" / "outputs__vasprun.lifepo4.xml.gz"]
    report = import_paths(paths, format_name="vasp", out=tmp_path / "ds")
    assert (report.rows_added, report.quarantined, report.failed_files) == (17, 0, [])
    table = Dataset.open(tmp_path / "ds").read(columns=["functional"]).to_pylist()
    assert sorted(r["functional"] for r in table) == ["PBE+U"] * 11 + ["r2SCAN"] * 6
    again = import_paths(paths, format_name="vasp", out=tmp_path / "ds")
    assert (again.rows_added, again.duplicates) == (0, 17)


def test_cli_imports_a_directory_and_exits_1_on_a_damaged_file(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    folder = shared_data / "vasp" / "GaAs_r2scan_static"
    result = CliRunner().invoke(main, ["import", "vasp", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1 rows added") and Dataset.open(out).num_rows == 1
    whole = raw_bytes(shared_data / "vasp" / LU / "vasprun.xml.gz")
    (tmp_path / "vasprun.xml").write_bytes(whole[: len(whole) // 2])
    result = CliRunner().invoke(main, ["import", "vasp", str(tmp_path / "vasprun.xml"), "--out", str(out)])
    assert result.exit_code == 1 and str(tmp_path / "vasprun.xml") in result.stderr
    assert Dataset.open(out).num_rows == 1 + whole[: len(whole) // 2].count(b"</calculation>")


def test_the_unconverged_run_is_flagged_step_by_step(shared_data: Path, tmp_path: Path) -> None:
    from curate.checks.validation import validate_dataset

    path = shared_data / "vasp" / "pymatgen_core" / "outputs__vasprun.unconverged.xml.gz"
    import_paths([path], format_name="vasp", out=tmp_path / "d")
    dataset = Dataset.open(tmp_path / "d")
    assert dataset.read(columns=["scf_converged"]).column(0).to_pylist() == [False] * 5
    report = validate_dataset(dataset)
    assert report.counts[("scf-unconverged", "warning")] == 5
