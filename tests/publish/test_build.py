"""The dry-run release folder: loads with datasets (every config, float64 kept, exact counts), no material in two
splits, and a card that states counts, sources and the force bias computed from the real rows."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import yaml
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.store import Dataset

FLOAT64_COLUMNS = ("energy", "energy_corrected", "forces", "stress", "magmoms", "cartesian_site_positions")


def dry_run(dataset: Path, out: Path, *extra: str) -> str:
    result = CliRunner().invoke(
        main, ["publish", str(dataset), "--repo", "org/mixed", "--dry-run", "--out", str(out), *extra]
    )
    assert result.exit_code == 0, result.output
    return result.output


def _front_matter(folder: Path) -> dict:
    text = (folder / "README.md").read_text()
    match = re.match(r"^---\n(.*?)\n---\n", text, re.DOTALL)
    assert match is not None
    return yaml.safe_load(match.group(1))


def _leaf_dtype(feature: object) -> str:
    while hasattr(feature, "feature"):
        feature = feature.feature
    return feature.dtype  # type: ignore[attr-defined]


def test_release_loads_with_datasets_for_every_config(release: Path, mixed_dataset: Path, tmp_path: Path) -> None:
    import datasets

    meta = _front_matter(release)
    names = [c["config_name"] for c in meta["configs"]]
    assert names == ["default", "pbe", "pbe_u", "r2scan", "unlabelled", "generated_rattle"]
    assert meta["license"] == "cc-by-4.0" and meta["size_categories"] == ["n<1K"]
    expected = {  # rows per split, measured with seed 0 (see test_split)
        "default": {"train": 234, "validation": 29, "test": 29},
        "pbe": {"train": 196},
        "pbe_u": {"validation": 1},
        "r2scan": {"train": 32, "validation": 28, "test": 29},
        "unlabelled": {"train": 6},
        "generated_rattle": {"train": 6},
    }
    source = Dataset.open(mixed_dataset).read()
    source_by_id = {row["id"]: row for row in source.to_pylist()}
    for name in names:
        loaded = datasets.load_dataset(str(release), name, cache_dir=str(tmp_path / "cache"))
        assert {split: ds.num_rows for split, ds in loaded.items()} == expected[name], name
        for split, ds in loaded.items():
            for column in FLOAT64_COLUMNS:
                assert _leaf_dtype(ds.features[column]) == "float64", (name, column)
            assert set(ds["split"]) == {split}
    everything = datasets.load_dataset(str(release), cache_dir=str(tmp_path / "cache"))
    ids = {split: set(ds["id"]) for split, ds in everything.items()}
    assert sum(len(v) for v in ids.values()) == len(source_by_id) == 292
    assert set().union(*ids.values()) == set(source_by_id)
    for key in ("material_id", "task_id", "chemical_formula_reduced"):
        seen: dict[str, set[str]] = {}
        for split, ds in everything.items():
            for value in ds[key]:
                if value is not None:
                    seen.setdefault(value, set()).add(split)
        assert all(len(s) == 1 for s in seen.values()), key
    # values survive bit for bit as Python rows and with the float64 numpy recipe the card gives; datasets'
    # default numpy format would round them to float32 (the card warns about it)
    train = everything["train"]
    for row in train.select(range(0, train.num_rows, 20)):
        original = source_by_id[row["id"]]
        for column in ("forces", "stress", "energy", "cartesian_site_positions", "lattice_vectors"):
            assert row[column] == original[column], column
    as_numpy = train.with_format("numpy", dtype="float64")[0]
    assert as_numpy["forces"].dtype == np.float64
    np.testing.assert_array_equal(as_numpy["forces"], np.asarray(source_by_id[train[0]["id"]]["forces"]))
    assert train.with_format("numpy")[0]["forces"].dtype == np.float32


def test_card_reports_counts_sources_and_force_bias(release: Path, mixed_dataset: Path) -> None:
    card = (release / "README.md").read_text()
    # force bias recomputed here from the source rows, PBE only
    table = Dataset.open(mixed_dataset).read(columns=["functional", "forces"]).to_pylist()
    pbe = [np.asarray(r["forces"]) for r in table if r["functional"] == "PBE"]
    norms = np.concatenate([np.linalg.norm(f, axis=1) for f in pbe])
    below = 100 * np.mean(norms < 0.05)
    structures_below = 100 * np.mean([np.linalg.norm(f, axis=1).max() < 0.05 for f in pbe])
    assert norms.size == 3481
    line = next(x for x in card.splitlines() if x.startswith("| `pbe` | 3481 |"))
    assert f"| {np.median(norms):.4f} |" in line
    assert f"| {below:.1f} % | {structures_below:.1f} % |" in line
    assert (round(below, 1), round(structures_below, 1)) == (74.5, 63.3)
    for heading in ("## Configs and splits", "## Columns and units", "## Sources and versions", "## Elements"):
        assert heading in card
    assert "| `forces` | eV/angstrom |" in card and "| `stress` | GPa |" in card
    assert "| `test_As2SO6_tasks.json.gz` | mp-tasks | 193 | 0 |" in card
    assert "| rattle | `unlabelled` | 6 | 2 | 1000..1002 (3) | 1 |" in card
    assert "| Fe | 5 | 0 | 0 | 5 |" in card  # the Fe group (PBE task, r2SCAN, 3 rattles) sits in train only
    assert "No coverage or softening reports were found" in card
    for figure in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", card):
        assert (release / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((release / "curate_release.json").read_text())
    assert record["content_hash"] == Dataset.open(mixed_dataset).content_hash
    assert sum(f["rows"] for f in record["files"]) == 292


def test_reports_in_the_dataset_are_rendered(dataset_copy: Path, release: Path, tmp_path: Path) -> None:
    reports = dataset_copy / "reports"
    reports.mkdir()
    softening = {
        "model": "CHGNet 0.3.0",
        "slope": 0.851,
        "per_material": [{"material_id": "mp-973966", "slope": 0.851, "mae_ev_per_ang": 0.19}],
    }
    (reports / "softening.json").write_text(json.dumps(softening))
    (reports / "coverage.json").write_text(json.dumps({"elements_covered": 89, "summary": {"entropy": 4.25}}))
    shutil.copyfile(release / "figures" / "force_norm_cdf.png", reports / "softening_parity.png")
    Dataset.open(dataset_copy).record_source(
        {"file": "https://api.materialsproject.org/", "format": "mp-api", "mp_database_version": "2025.09.25"}
    )
    out = tmp_path / "with-reports"
    dry_run(dataset_copy, out)
    card = (out / "README.md").read_text()
    assert "Database versions: mp_database_version 2025.09.25." in card
    assert "### Softening: model vs DFT forces" in card and "| slope | 0.851 |" in card
    assert "| mp-973966 | 0.851 | 0.19 |" in card
    assert "### Coverage of configuration space" in card and "| summary.entropy | 4.25 |" in card
    assert "![softening](figures/reports/softening_parity.png)" in card
    assert (out / "figures/reports/softening_parity.png").is_file()
    (reports / "broken.json").write_text("{not json")
    result = CliRunner().invoke(
        main, ["publish", str(dataset_copy), "--repo", "org/m", "--dry-run", "--out", str(tmp_path / "x")]
    )
    assert result.exit_code == 2 and not (tmp_path / "x").exists()
    assert result.output.strip().endswith(
        "broken.json: report is not valid JSON (Expecting property name enclosed "
        "in double quotes: line 1 column 2 (char 1))"
    )


def test_small_shards_and_bad_options(mixed_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "small"
    dry_run(mixed_dataset, out, "--shard-mb", "0.1")
    shards = sorted(p.relative_to(out).as_posix() for p in (out / "data").rglob("*.parquet"))
    pbe = [s for s in shards if s.startswith("data/pbe/imported/train-")]
    assert len(pbe) > 1 and pbe[-1].endswith(f"-of-{len(pbe):05d}.parquet")
    assert sum(pq.ParquetFile(out / s).metadata.num_rows for s in pbe) == 196
    runner = CliRunner()
    result = runner.invoke(main, ["publish", str(mixed_dataset), "--repo", "no-slash", "--dry-run", "--out", "x"])
    assert result.exit_code == 2 and "repo id must look like ORG/NAME" in result.output
    result = runner.invoke(main, ["publish", str(mixed_dataset), "--repo", "o/n", "--dry-run"])
    assert result.exit_code == 2 and "--dry-run needs --out FOLDER" in result.output
    result = runner.invoke(main, ["publish", str(mixed_dataset), "--repo", "o/n", "--dry-run", "--out", str(out)])
    assert result.exit_code == 2
    assert "release folder must be new, empty, or an incomplete curate release" in result.output
