"""Row ids never lead outside the --vasp-inputs folder: not through ``..``, separators nor a symlinked folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.errors import InputError
from curate.labelling.provenance import read_rows
from curate.labelling.vasp_inputs import write_vasp_inputs

from ..sentinel import snapshot
from .test_label import la2coo4  # noqa: F401  (the real one-row La2CoO4 dataset)

HOSTILE_IDS = ["../../x", "/tmp/x", "..", "a/b", "a\x00b", "", "0" * 63 + "/"]


@pytest.mark.parametrize("row_id", HOSTILE_IDS)
def test_a_hostile_row_id_writes_nothing_outside_out(la2coo4: Path, tmp_path: Path, row_id: str) -> None:  # noqa: F811
    [(_, cfg)] = read_rows(la2coo4)
    sentinel = tmp_path / "sentinel"
    out = sentinel / "inside" / "vasp"
    out.mkdir(parents=True)
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match="not a curate row id"):
        write_vasp_inputs([(row_id, cfg)], out, functional="pbe")
    assert snapshot(tmp_path) == before


def test_a_symlinked_row_folder_is_refused(la2coo4: Path, tmp_path: Path) -> None:  # noqa: F811
    [(row_id, cfg)] = read_rows(la2coo4)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "vasp"
    out.mkdir()
    (out / row_id[:16]).symlink_to(elsewhere, target_is_directory=True)
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match=f"row id '{row_id[:16]}' leads outside"):
        write_vasp_inputs([(row_id, cfg)], out, functional="pbe")
    assert snapshot(tmp_path) == before and not any(elsewhere.iterdir())
