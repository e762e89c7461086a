"""`curate export`: exit codes, the one-line summary on stdout, the filter and the help text."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import ase.db
import ase.io
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.store import Dataset


def test_export_writes_the_file_and_a_one_line_summary(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "as2so6.xyz"
    result = CliRunner().invoke(main, ["export", str(real_datasets["as2so6"]), "--format", "extxyz", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = result.stdout.strip().splitlines()
    assert len(summary) == 1 and summary[0].startswith("193 rows written to ") and str(out) in summary[0]
    assert len(ase.io.read(out, index=":")) == 193


def test_where_keeps_only_matching_rows(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "u.json"
    args = [
        "export",
        str(real_datasets["magnetism"]),
        "-f",
        "mptrj-json",
        "-o",
        str(out),
        "--where",
        "functional=PBE+U",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1 rows written to ") and "from 4 rows" in result.stdout
    (frames,) = json.loads(out.read_text()).values()
    assert list(frames) == ["mp-cvkdb-0-0"]


def test_energy_written_is_reported_on_stderr(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    args = ["export", str(real_datasets["as2so6"]), "-f", "mptrj-json", "-o", str(tmp_path / "a.json")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (
        "curate: energy (auto -> corrected): 193 rows corrected (MP2020, computed with pymatgen "
        "MaterialsProject2020Compatibility)" in result.stderr
    )
    result = CliRunner().invoke(main, [*args, "--energy", "uncorrected"])
    assert "curate: energy (uncorrected): 193 rows uncorrected (raw DFT total energy)" in result.stderr
    result = CliRunner().invoke(main, [*args[:3], "extxyz", "-o", str(tmp_path / "a.xyz"), "--energy", "corrected"])
    assert result.exit_code == 2 and "curate: error: energy applies to mptrj-json only" in result.stderr


def test_mixed_functionals_are_a_one_line_refusal(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "x.xyz"
    args = ["export", str(real_datasets["as2so6_and_lu_r2scan"]), "-f", "extxyz", "-o", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "mix functionals: PBE (193 rows), r2SCAN (6 rows)" in result.stderr and not out.exists()
    result = CliRunner().invoke(main, [*args, "--where", "functional=PBE"])
    assert result.exit_code == 0 and result.stdout.startswith("193 rows written")


def test_missing_dataset_is_a_one_line_error_with_status_2(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here"
    result = CliRunner().invoke(main, ["export", str(missing), "--format", "ase-db", "--out", str(tmp_path / "x.db")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("curate: error: ") and str(missing) in lines[0]
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(
    ("term", "message"),
    [
        ("scf_converged=maybe", "where scf_converged: expected true or false, got 'maybe'"),
        ("energy=low", "where energy: expected a number, got 'low'"),
        ("ionic_step=1.5", "where ionic_step: expected an integer (int32), got '1.5'"),
        ("elements=Fe", "only string, integer, boolean and float columns can be filtered"),
        ("colour=red", "where: no column 'colour'"),
    ],
)
def test_bad_filter_is_refused_before_writing(
    real_datasets: dict[str, Path], tmp_path: Path, term: str, message: str
) -> None:
    args = ["export", str(real_datasets["magnetism"]), "-f", "extxyz", "-o", str(tmp_path / "x.xyz"), "--where", term]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.xyz").exists()


@pytest.mark.parametrize(
    ("term", "expected_rows"),
    [
        # As2SO6: one ionic step of the 193 hit NELM without converging its electronic loop (measured)
        ("scf_converged=false", 1),
        ("scf_converged=TRUE", 192),
        ("calc_index=1", None),
        ("energy={energy!r}", 1),
        ("task_id=mp-bohi", 71),
    ],
)
def test_where_filters_every_scalar_column_type(
    real_datasets: dict[str, Path], tmp_path: Path, term: str, expected_rows: int | None
) -> None:
    rows = Dataset.open(real_datasets["as2so6"]).read().to_pylist()
    term = term.format(energy=rows[5]["energy"])
    column, value = term.split("=")
    out = tmp_path / "x.xyz"
    args = ["export", str(real_datasets["as2so6"]), "-f", "extxyz", "-o", str(out), "--where", term]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    frames = ase.io.read(out, index=":") if out.stat().st_size else []
    if expected_rows is None:
        expected_rows = sum(r["calc_index"] == 1 for r in rows)
        assert 0 < expected_rows < 193
    assert len(frames) == expected_rows and result.stdout.startswith(f"{expected_rows} rows written")
    if column == "scf_converged":
        assert all(f.info["scf_converged"] == (value.lower() == "true") for f in frames)
    if column == "energy":
        assert frames[0].info["REF_energy"] == rows[5]["energy"]


def test_help_teaches_units_and_trainers() -> None:
    result = CliRunner().invoke(main, ["export", "--help"])
    assert result.exit_code == 0
    for expected in (
        "eV/A^3",
        "kBar",
        "mace_run_train",
        "StructureJsonData",
        "--energy_key REF_energy",
        "Examples",
        "MP2020",
        ".aselmdb",
        "--where functional=NAME",
        "curate_id",
    ):
        assert expected in result.output


@pytest.mark.parametrize(
    ("format_name", "check"),
    [
        ("extxyz", lambda path: path.read_text() == ""),
        ("mptrj-json", lambda path: json.loads(path.read_text()) == {}),
        ("ase-db", lambda path: ase.db.connect(path, type="db").count() == 0),
        ("aselmdb", lambda path: ase.db.connect(path).count() == 0),
    ],
)
def test_a_filter_matching_nothing_writes_a_valid_empty_file(
    real_datasets: dict[str, Path], tmp_path: Path, format_name: str, check: Callable[[Path], bool]
) -> None:
    out = tmp_path / ("empty.aselmdb" if format_name == "aselmdb" else "empty")
    args = ["export", str(real_datasets["magnetism"]), "-f", format_name, "-o", str(out), "--where", "functional=LDA"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0 and result.stdout.startswith("0 rows written")
    assert "no rows written" in result.stderr and check(out)
