"""One energy scale per file: functionals and Hubbard U values are never mixed silently, in any format."""

from __future__ import annotations

from pathlib import Path

import ase.io
import pytest

from curate.errors import ConfigurationError
from curate.exporters import EXPORT_FORMATS, export_dataset

NAMES = {"extxyz": "x.xyz", "mptrj-json": "x.json", "ase-db": "x.db", "aselmdb": "x.aselmdb"}


@pytest.mark.parametrize("format_name", EXPORT_FORMATS)
def test_pbe_and_r2scan_rows_are_refused_in_every_format(
    real_datasets: dict[str, Path], tmp_path: Path, format_name: str
) -> None:
    out = tmp_path / NAMES[format_name]
    with pytest.raises(ConfigurationError) as caught:
        export_dataset(real_datasets["as2so6_and_lu_r2scan"], format_name=format_name, out=out)
    message = str(caught.value)
    assert "mix functionals: PBE (193 rows), r2SCAN (6 rows)" in message
    assert "keeping where functional=NAME" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []  # refused before anything is written


def test_one_functional_per_file_with_where(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    report = export_dataset(
        real_datasets["as2so6_and_lu_r2scan"],
        format_name="extxyz",
        out=tmp_path / "r.xyz",
        where={"functional": "r2SCAN"},
    )
    frames = ase.io.read(tmp_path / "r.xyz", index=":")
    assert report.rows_written == len(frames) == 6 and report.functionals == {"r2SCAN": 6}
    assert {f.info["functional"] for f in frames} == {"r2SCAN"} and report.rows_scanned == 199


def test_pbe_and_pbe_plus_u_share_a_file(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    # Materials Project's GGA/GGA+U scheme (U by composition, MP's values), as in MPtrj and OMat24
    report = export_dataset(real_datasets["magnetism"], format_name="extxyz", out=tmp_path / "m.xyz")
    assert report.functionals == {"PBE": 3, "PBE+U": 1} and report.rows_written == 4


def test_two_u_values_for_one_element_are_refused(real_datasets: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        export_dataset(real_datasets["fe_u_values"], format_name="ase-db", out=tmp_path / "x.db")
    assert "more than one Hubbard U for Fe: 4.3 eV (11 rows), 5.3 eV (3 rows)" in str(caught.value)
    assert not (tmp_path / "x.db").exists()
