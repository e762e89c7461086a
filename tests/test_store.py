"""The dataset directory: idempotent appends, order-free content hash, atomic commits, two readers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.dataset.configuration import Configuration, configurations_to_batch
from curate.dataset.store import Dataset
from curate.errors import DatasetError


def _rows(n: int, offset: int = 0) -> list[Configuration]:
    rng = np.random.default_rng(offset)
    return [
        Configuration(
            species=["Cu", "Cu"],
            lattice=np.eye(3) * 3.6,
            positions=np.array([[0.0, 0.0, 0.0], [1.8, 1.8, 0.0]]) + rng.normal(0, 0.01, (2, 3)),
            energy=-7.0 - 0.001 * (i + offset),
            forces=rng.normal(0, 0.1, (2, 3)),
            stress=np.diag(rng.normal(0, 1.0, 3)),
            functional="PBE",
            source="test",
        )
        for i in range(n)
    ]


def test_append_is_idempotent_and_hash_order_free(tmp_path: Path) -> None:
    first = Dataset.create(tmp_path / "a")
    rows = _rows(50)
    with first.writer() as writer:
        writer.append(configurations_to_batch(rows[:30]))
        writer.flush()
        writer.append(configurations_to_batch(rows[20:]))
    assert first.num_rows == 50
    with first.writer() as writer:
        result = writer.append(configurations_to_batch(rows))
    assert (result.added, result.duplicates) == (0, 50)
    assert Dataset.open(tmp_path / "a").num_rows == 50

    second = Dataset.create(tmp_path / "b")
    with second.writer() as writer:
        writer.append(configurations_to_batch(rows[::-1]))
    assert second.content_hash == first.content_hash
    assert len(second.shard_paths()) == 1 and len(first.shard_paths()) == 2


def test_stale_manifest_is_reconciled_from_committed_shards(tmp_path: Path) -> None:
    dataset = Dataset.create(tmp_path / "d")
    with dataset.writer() as writer:
        writer.append(configurations_to_batch(_rows(10)))
    stale_manifest = (tmp_path / "d" / "manifest.json").read_text()
    with dataset.writer() as writer:
        writer.append(configurations_to_batch(_rows(5, offset=100)))
    full_hash = dataset.content_hash
    # a process killed after committing the shard but before rewriting the manifest
    (tmp_path / "d" / "manifest.json").write_text(stale_manifest)
    (tmp_path / "d" / "data" / ".part-00009-deadbeef.parquet.tmp").write_bytes(b"half a shard")
    reopened = Dataset.open(tmp_path / "d")
    assert reopened.num_rows == 15
    assert reopened.content_hash == full_hash
    assert len(reopened.read()) == 15


def test_loads_with_pyarrow_and_hf_datasets_keeping_float64(tmp_path: Path) -> None:
    import datasets

    dataset = Dataset.create(tmp_path / "d")
    rows = _rows(12)
    with dataset.writer() as writer:
        writer.append(configurations_to_batch(rows))
    table = pq.read_table(tmp_path / "d" / "data")
    assert table.num_rows == 12
    assert table.schema.field("forces").metadata[b"unit"] == b"eV/angstrom"
    hf = datasets.load_dataset(str(tmp_path / "d"), split="train")
    assert hf.num_rows == 12
    assert hf.features["energy"].dtype == "float64"
    by_id = {r["id"]: r for r in table.to_pylist()}
    for record in hf:
        assert record["energy"] == by_id[record["id"]]["energy"]
        assert record["forces"] == by_id[record["id"]]["forces"]


def test_streaming_read_is_bounded_by_batch(tmp_path: Path) -> None:
    dataset = Dataset.create(tmp_path / "d")
    with dataset.writer() as writer:
        writer.shard_rows = 40
        for k in range(3):
            writer.append(configurations_to_batch(_rows(40, offset=1000 * k)))
    assert len(dataset.shard_paths()) == 3
    sizes = [b.num_rows for b in dataset.iter_batches(batch_rows=16)]
    assert max(sizes) <= 16 and sum(sizes) == 120


def test_refuses_foreign_directories_and_second_writer(tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="not empty"):
        Dataset.create(tmp_path / "junk")
    with pytest.raises(DatasetError, match="not a curate dataset"):
        Dataset.open(tmp_path / "missing")
    dataset = Dataset.create(tmp_path / "d")
    with dataset.writer(), pytest.raises(DatasetError, match="another curate process"), dataset.writer():
        pass
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert manifest["schema"]["version"].startswith("1.")
    shutil.rmtree(tmp_path / "d")


def test_lock_and_quarantine_symlinks_are_refused_and_their_targets_untouched(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    dataset = Dataset.create(tmp_path / "d")
    lock = tmp_path / "d" / ".curate.lock"
    lock.unlink()
    lock.symlink_to(outside)
    with pytest.raises(DatasetError, match=r"\.curate\.lock: is a symbolic link"), dataset.writer():
        pass
    lock.unlink()

    quarantine = tmp_path / "d" / "quarantine.jsonl"
    quarantine.symlink_to(outside)
    with pytest.raises(DatasetError, match=r"quarantine\.jsonl: is a symbolic link"), dataset.writer() as writer:
        writer.append(configurations_to_batch(_rows(3)))
        writer.quarantine(file="f.json", record="0", field="energy", reason="not a number")
    with pytest.raises(DatasetError, match="symbolic link"):
        dataset.quarantine_records()
    assert outside.read_text() == "precious\n"
    assert Dataset.open(tmp_path / "d").num_rows == 3  # rows appended before the refusal still commit


def test_a_folder_with_only_a_data_subfolder_is_not_a_dataset(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    (folder / "data").mkdir(parents=True)
    (folder / "README.md").write_text("my notes\n")
    with pytest.raises(DatasetError, match=r"mine: not a curate dataset \(no manifest.json\)"):
        Dataset.open(folder)
    with pytest.raises(DatasetError, match="is not empty and holds no curate dataset"):
        Dataset.create(folder)
    assert (folder / "README.md").read_text() == "my notes\n"
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "data"]


def test_damaged_file_in_data_is_never_read_and_is_set_aside_by_the_next_writer(tmp_path: Path) -> None:
    dataset = Dataset.create(tmp_path / "d")
    with dataset.writer() as writer:
        writer.append(configurations_to_batch(_rows(10)))
    full_hash = dataset.content_hash
    # a truncated shard renamed into data/ by an older curate on a full disk: no Parquet footer
    committed = dataset.shard_paths()[0].read_bytes()
    (tmp_path / "d" / "data" / "part-00001-deadbeef.parquet").write_bytes(committed[: len(committed) // 2])
    reopened = Dataset.open(tmp_path / "d")
    assert (reopened.num_rows, reopened.content_hash) == (10, full_hash)
    assert list(reopened.damaged_shards) == ["part-00001-deadbeef.parquet"]
    with reopened.writer() as writer:
        writer.append(configurations_to_batch(_rows(5, offset=100)))
    assert sorted(p.name for p in (tmp_path / "d" / "data").glob(".*")) == [".part-00001-deadbeef.parquet.damaged"]
    assert pq.read_table(tmp_path / "d" / "data").num_rows == 15
    assert Dataset.open(tmp_path / "d").num_rows == 15


def test_writer_reads_the_manifest_after_taking_the_lock(tmp_path: Path) -> None:
    early = Dataset.create(tmp_path / "d")  # opened before another writer commits
    other = Dataset.open(tmp_path / "d")
    with other.writer() as writer:
        writer.append(configurations_to_batch(_rows(10)))
    with early.writer() as writer:
        writer.append(configurations_to_batch(_rows(5, offset=100)))
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert [s["num_rows"] for s in manifest["shards"]] == [10, 5]
    assert manifest["num_rows"] == 15 == early.num_rows


def test_a_shard_missing_bytes_before_an_intact_footer_never_commits(tmp_path: Path) -> None:
    from curate.dataset.schema import row_schema
    from curate.dataset.shards import ShardError, ShardFile, _rows_read_back

    shard = ShardFile(tmp_path, "part-00000-00000000.parquet", row_schema().arrow)
    shard.write(configurations_to_batch(_rows(40)))
    shard.commit()
    whole = (tmp_path / "part-00000-00000000.parquet").read_bytes()
    assert _rows_read_back(tmp_path / "part-00000-00000000.parquet") == 40
    footer_bytes = 8 + pq.ParquetFile(tmp_path / "part-00000-00000000.parquet").metadata.serialized_size
    # what a full disk can leave: a row group's bytes lost, then the footer written after space came back
    torn = tmp_path / "torn.parquet"
    torn.write_bytes(whole[: (len(whole) - footer_bytes) // 2] + whole[-footer_bytes:])
    assert pq.ParquetFile(torn).metadata.num_rows == 40  # the footer alone says all is well
    with pytest.raises(ShardError, match="lies past the data"):
        _rows_read_back(torn)


def test_a_shard_with_a_failed_write_is_dropped_not_committed(tmp_path: Path) -> None:
    import pyarrow as pa

    from curate.dataset.schema import row_schema
    from curate.dataset.shards import ShardError, ShardFile

    shard = ShardFile(tmp_path, "part-00000-00000000.parquet", row_schema().arrow)
    shard.write(configurations_to_batch(_rows(20)))
    with pytest.raises((pa.ArrowException, ValueError)):
        shard.write(pa.table({"id": ["x"]}))  # not the shard's schema: the writer refuses it
    with pytest.raises(ShardError, match="a write to it failed"):
        shard.commit()
    assert list(tmp_path.iterdir()) == []


def test_a_symlinked_data_folder_or_manifest_is_refused(tmp_path: Path) -> None:
    dataset = Dataset.create(tmp_path / "d")
    with dataset.writer() as writer:
        writer.append(configurations_to_batch(_rows(4)))
    elsewhere = tmp_path / "elsewhere"
    (tmp_path / "d" / "data").rename(elsewhere)
    (tmp_path / "d" / "data").symlink_to(elsewhere)
    with pytest.raises(DatasetError, match=r"d/data: is a symbolic link"):
        Dataset.open(tmp_path / "d")
    with pytest.raises(DatasetError, match=r"d/data: is a symbolic link"), dataset.writer():
        pass
    assert sorted(p.suffix for p in elsewhere.iterdir()) == [".parquet"]
