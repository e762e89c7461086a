"""A predictions folder is written under its own lock, never through a link, and a failed write is one error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from curate.errors import DatasetError
from curate.models.base import ModelInfo
from curate.models.predictions import LOCK_NAME, locked_prediction_writer, new_manifest


def _manifest() -> dict:
    info = ModelInfo("chgnet@0.3.0", "chgnet@0.3.0", "chgnet", "0.3.0", "PBE", "chgnet", "file", "0" * 64)
    return new_manifest(reference={"path": "x", "content_hash": "0", "num_rows": 0}, models=[info], parameters={})


def test_a_second_writer_gets_a_clean_lock_error(tmp_path: Path) -> None:
    out = tmp_path / "pred"
    busy = pytest.raises(DatasetError, match="another curate process is writing these predictions")
    with locked_prediction_writer(out, _manifest()), busy, locked_prediction_writer(out, _manifest()):
        pass
    assert (out / "manifest.json").is_file()


def test_a_linked_lock_file_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    out = tmp_path / "pred"
    out.mkdir()
    os.symlink(target, out / LOCK_NAME)
    with pytest.raises(DatasetError, match=LOCK_NAME), locked_prediction_writer(out, _manifest()):
        pass
    assert target.read_text() == "keep me\n"


def test_an_os_error_while_writing_names_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "pred"
    failed = pytest.raises(DatasetError, match=f"{out}: a write failed .*No space left")
    with failed, locked_prediction_writer(out, _manifest()):
        raise OSError(28, "No space left on device")
