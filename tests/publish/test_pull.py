"""Round trip: publish (dry run) -> ``curate pull hf`` on the folder -> identical ids and values."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.store import Dataset


def _rows(path: Path) -> dict[str, dict]:
    return {row["id"]: row for row in Dataset.open(path).read().to_pylist()}


def test_pull_of_the_release_folder_gives_back_every_row_bit_for_bit(
    release: Path, mixed_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pulled"
    result = CliRunner().invoke(main, ["pull", "hf", str(release), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "292 rows added, 0 already present from 6 files" in result.output
    before, after = _rows(mixed_dataset), _rows(out)
    assert set(after) == set(before) and len(after) == 292
    published = {}
    for shard in release.glob("data/*/*/*.parquet"):
        published.update(dict(zip(*pq.read_table(shard, columns=["id", "split"]).to_pydict().values(), strict=True)))
    for row_id, row in before.items():
        back = after[row_id]
        assert back["split"] == published[row_id]
        # every other column, floats included, compares equal: Python floats are the float64 values themselves
        assert {k: v for k, v in back.items() if k != "split"} == {k: v for k, v in row.items() if k != "split"}
    pulled = Dataset.open(out)
    assert pulled.content_hash == Dataset.open(mixed_dataset).content_hash
    manifest = pulled.manifest
    assert manifest["hf_release"]["split"]["rows"] == {"train": 234, "validation": 29, "test": 29}
    assert [s["format"] for s in manifest["sources"]] == ["mp-tasks", "mp-tasks", "matpes", "hf"]
    # pulling again adds nothing
    again = CliRunner().invoke(main, ["pull", "hf", str(release), "--out", str(out)])
    assert again.exit_code == 0 and "0 rows added, 292 already present" in again.output


def test_pull_refuses_an_altered_shard(release: Path, tmp_path: Path) -> None:
    folder = tmp_path / "altered"
    shutil.copytree(release, folder)
    shard = folder / "data/pbe_u/imported/validation-00000-of-00001.parquet"
    data = bytearray(shard.read_bytes())
    data[100] ^= 0xFF
    shard.write_bytes(bytes(data))
    result = CliRunner().invoke(main, ["pull", "hf", str(folder), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert result.output.startswith(f"curate: error: {shard}: sha256 differs from curate_release.json")
    assert "Traceback" not in result.output


def test_pull_without_release_record_reads_the_cards_default_config(
    release: Path, mixed_dataset: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "plain"
    shutil.copytree(release, folder)
    (folder / "curate_release.json").unlink()
    out = tmp_path / "pulled"
    # curate's own card without its release record is an incomplete release (publish writes the record last)
    refused = CliRunner().invoke(main, ["pull", "hf", str(folder), "--out", str(out)])
    assert refused.exit_code == 2 and not out.exists()
    assert refused.output.startswith(f"curate: error: {folder / 'curate_release.json'}: curate release without")
    # a card another tool wrote (no curate tag) is read through its default config
    card = folder / "README.md"
    card.write_text(card.read_text().replace("\n- curate\n", "\n", 1))
    result = CliRunner().invoke(main, ["pull", "hf", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "292 rows added" in result.output and "no curate_release.json to compare with" in result.output
    assert Dataset.open(out).ids() == Dataset.open(mixed_dataset).ids()
