"""Bad input: a one-line error naming file and record, never a traceback, and the good records still land."""

from __future__ import annotations

import copy
import gzip
import json
import math
from pathlib import Path

from click.testing import CliRunner

from curate.cli import main
from curate.dataset.store import Dataset


def _si_docs(shared_data: Path) -> list[dict]:
    return json.load(gzip.open(shared_data / "emmet" / "test_si_tasks.json.gz"))


def _run_import(path: Path, out: Path, fmt: str = "mp-tasks"):
    result = CliRunner().invoke(main, ["import", fmt, str(path), "--out", str(out)])
    assert "Traceback" not in result.output
    return result


def _quarantine(out: Path) -> list[dict]:
    return Dataset.open(out).quarantine_records()


def test_truncated_gzip_keeps_records_before_the_damage(shared_data: Path, tmp_path: Path) -> None:
    docs = json.load(gzip.open(shared_data / "emmet" / "test_As2SO6_tasks.json.gz"))
    whole = gzip.compress(json.dumps(docs).encode())
    bad = tmp_path / "truncated.json.gz"
    bad.write_bytes(whole[: int(len(whole) * 0.6)])
    result = _run_import(bad, tmp_path / "d")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("curate: error:")]
    assert len(errors) == 1 and str(bad) in errors[0] and "truncated" in errors[0]
    landed = Dataset.open(tmp_path / "d").num_rows
    assert 0 < landed < 193


def test_nan_forces_wrong_shape_and_unknown_element_are_quarantined(shared_data: Path, tmp_path: Path) -> None:
    docs = _si_docs(shared_data)
    bad_docs = copy.deepcopy(docs)
    bad_docs[0]["calcs_reversed"][0]["output"]["ionic_steps"][0]["forces"][0][0] = math.nan
    bad_docs[1]["calcs_reversed"][0]["output"]["ionic_steps"][0]["forces"].pop()
    bad_docs[3]["calcs_reversed"][0]["output"]["ionic_steps"][0]["structure"]["sites"][0]["species"][0]["element"] = (
        "Xx"
    )
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad_docs))  # Python's json writes the NaN literal, as monty does
    result = _run_import(path, tmp_path / "d")
    assert result.exit_code == 0, result.output
    quarantine = _quarantine(tmp_path / "d")
    # NaN is a number (the row checks refuse it by schema column); shape and element are refused at the
    # record's own path in the task document
    step0 = "calcs_reversed[0].output.ionic_steps[0]"
    assert sorted(q["field"] for q in quarantine) == [
        f"{step0}.forces",
        f"{step0}.structure.sites[0].species[0].element",
        "forces",
    ]
    reasons = " | ".join(q["reason"] for q in quarantine)
    assert "non-finite" in reasons and "expected shape (2, 3), found (1, 3)" in reasons and "Xx" in reasons
    assert all(q["file"] == str(path) and "document" in q["record"] for q in quarantine)
    assert Dataset.open(tmp_path / "d").num_rows == 7 - 3
    strict = CliRunner().invoke(main, ["import", "mp-tasks", str(path), "--out", str(tmp_path / "e"), "--strict"])
    assert strict.exit_code == 1


def test_empty_and_non_json_files_fail_in_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("")
    result = _run_import(empty, tmp_path / "d")
    assert result.exit_code == 1
    assert f"curate: error: {empty}: file is empty" in result.output
    text = tmp_path / "notes.json.gz"
    text.write_bytes(gzip.compress(b"hello"))
    result = _run_import(text, tmp_path / "d", fmt="mptrj")
    assert result.exit_code == 1 and "expected a JSON object" in result.output


def test_missing_dataset_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["info", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert result.output.strip() == f"curate: error: {tmp_path / 'nowhere'}: not a curate dataset (no manifest.json)"


def test_mptrj_nan_frame_and_truncated_gzip(shared_data: Path, tmp_path: Path) -> None:
    from .sources.test_mptrj import write_mptrj_from_tasks

    write_mptrj_from_tasks(shared_data / "emmet" / "test_As2SO6_tasks.json.gz", tmp_path / "m.json")
    layout = json.loads((tmp_path / "m.json").read_text())
    material = list(layout)[3]
    frame = next(iter(layout[material]))
    layout[material][frame]["force"][0][0] = math.nan
    (tmp_path / "nan.json").write_text(json.dumps(layout))
    result = _run_import(tmp_path / "nan.json", tmp_path / "a", fmt="mptrj")
    assert result.exit_code == 0
    assert Dataset.open(tmp_path / "a").num_rows == 192
    assert [(q["record"], q["field"]) for q in _quarantine(tmp_path / "a")] == [(f"{material}/{frame}", "forces")]

    whole = gzip.compress(json.dumps(layout).encode())
    (tmp_path / "cut.json.gz").write_bytes(whole[: len(whole) // 2])
    result = _run_import(tmp_path / "cut.json.gz", tmp_path / "b", fmt="mptrj")
    assert result.exit_code == 1 and "truncated" in result.output
    assert 0 < Dataset.open(tmp_path / "b").num_rows < 192


def test_a_bad_gzip_crc_is_an_error_and_every_record_is_kept(shared_data: Path, tmp_path: Path) -> None:
    data = bytearray((shared_data / "emmet" / "test_As2SO6_tasks.json.gz").read_bytes())
    data[-6] ^= 0x01  # inside the CRC32 trailer: every byte of the JSON decodes, the check at the end fails
    bad = tmp_path / "crc.json.gz"
    bad.write_bytes(bytes(data))
    result = _run_import(bad, tmp_path / "d")
    assert result.exit_code == 1 and str(bad) in result.output and "CRC check failed" in result.output
    dataset = Dataset.open(tmp_path / "d")
    assert dataset.num_rows == 193
    assert [s["complete"] for s in dataset.manifest["sources"]] == [False]
