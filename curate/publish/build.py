"""Build the release folder: split, shards, figures, card and ``curate_release.json``, exactly what is uploaded."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from curate.dataset.io import sha256_of_path
from curate.dataset.store import Dataset
from curate.errors import ConfigurationError, DatasetError
from curate.publish.card import CardInputs, render_card
from curate.publish.figures import write_figures
from curate.publish.layout import DEFAULT_SHARD_BYTES, ShardFile, write_shards
from curate.publish.reports import load_reports
from curate.publish.split import DEFAULT_FRACTIONS, SPLIT_COLUMNS, SplitPlan, plan_split
from curate.publish.staging import prepare_release_folder, promote, staging_folder
from curate.publish.stats import ReleaseStats

RELEASE_FORMAT = "curate-hf-release"
RELEASE_VERSION = 1
REPO_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Release:
    """A built release folder: its root, shards, split plan and counts."""

    root: Path
    files: list[ShardFile]
    plan: SplitPlan
    stats: ReleaseStats

    @property
    def num_rows(self) -> int:
        return sum(f.rows for f in self.files)


def check_repo_id(repo_id: str) -> str:
    """Return ``repo_id`` if it is ``ORG/NAME``; raises ConfigurationError otherwise."""
    if not REPO_ID_PATTERN.match(repo_id) or ".." in repo_id or repo_id.endswith(".git"):
        raise ConfigurationError(f"repo id must look like ORG/NAME (letters, digits, '-', '_', '.'), got {repo_id!r}")
    return repo_id


def _release_record(dataset: Dataset, release: Release, *, repo_id: str) -> dict[str, Any]:
    manifest = dataset.manifest
    manifest.pop("shards", None)
    plan = release.plan
    return {
        "format": RELEASE_FORMAT,
        "format_version": RELEASE_VERSION,
        "repo_id": repo_id,
        "num_rows": release.num_rows,
        "content_hash": dataset.content_hash,
        "split": {
            "seed": plan.seed,
            "fractions": list(plan.fractions),
            "rows": plan.rows_per_split,
            "material_groups": plan.groups_per_split(),
            "kept_existing": plan.kept_existing,
        },
        "files": [
            {
                "path": f.path,
                "rows": f.rows,
                "config": f.config,
                "split": f.split,
                "sha256": sha256_of_path(release.root / f.path),
            }
            for f in release.files
        ],
        "source_manifest": manifest,
    }


def _write_release(
    dataset: Dataset,
    out: Path,
    *,
    repo_id: str,
    license: str,
    seed: int,
    fractions: tuple[float, float, float],
    keep_existing_split: bool,
    shard_bytes: int,
) -> tuple[Release, str]:
    """The release written into ``out`` (a staging folder), and the text of its release record (not written)."""
    reports = load_reports(dataset.path, out)  # first: a report that is not JSON stops before any shard is written
    plan = plan_split(
        dataset.iter_batches(columns=SPLIT_COLUMNS, batch_rows=65536),
        seed=seed,
        fractions=fractions,
        keep_existing=keep_existing_split,
    )
    files, stats = write_shards(dataset.iter_batches(batch_rows=4096), out, plan=plan, shard_bytes=shard_bytes)
    release = Release(root=out, files=files, plan=plan, stats=stats)
    figures = write_figures(stats, out, title=f"{repo_id}: {release.num_rows} structures")
    inputs = CardInputs(
        repo_id=repo_id,
        license=license,
        manifest=dataset.manifest,
        plan=plan,
        files=files,
        stats=stats,
        reports=reports,
        figures=figures,
    )
    (out / "README.md").write_text(render_card(inputs), encoding="utf-8")
    record = _release_record(dataset, release, repo_id=repo_id)
    return release, json.dumps(record, indent=1, sort_keys=True) + "\n"


def build_release(
    dataset_dir: Path,
    out: Path,
    *,
    repo_id: str,
    license: str = "cc-by-4.0",
    seed: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    keep_existing_split: bool = True,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
) -> Release:
    """Write the release of the dataset at ``dataset_dir`` into the new or empty folder ``out``.

    The release is built in a staging folder inside ``out`` and moved up when complete, ``curate_release.json``
    last (:mod:`curate.publish.staging`): a killed build never looks complete, and a re-run replaces it.

    Args:
        dataset_dir: a curate dataset.
        out: release folder (created; must be empty or hold an incomplete curate release, which is replaced).
        repo_id: ``ORG/NAME`` the card names.
        license: Hub license identifier for the card.
        seed: seed of the material-level split.
        fractions: target shares of rows for train, validation, test.
        keep_existing_split: keep the dataset's own ``split`` values.
        shard_bytes: roll a Parquet shard after this many bytes of (uncompressed) Arrow data.

    Returns:
        The :class:`Release`. The folder is deterministic: the same dataset and options give the same bytes.

    Raises:
        DatasetError: the dataset is missing or empty.
        ConfigurationError: ``out`` holds anything but an incomplete release, or the repo id is bad.
        InputError: bad split values or a report that is not JSON.
    """
    check_repo_id(repo_id)
    dataset = Dataset.open(dataset_dir)
    if dataset.num_rows == 0:
        raise DatasetError(f"{dataset_dir}: the dataset has no rows; nothing to publish")
    created = not out.exists()
    prepare_release_folder(out)
    stage = staging_folder(out)
    stage.mkdir()
    try:
        release, record_text = _write_release(
            dataset,
            stage,
            repo_id=repo_id,
            license=license,
            seed=seed,
            fractions=fractions,
            keep_existing_split=keep_existing_split,
            shard_bytes=shard_bytes,
        )
        promote(stage, out, record_text)
    except BaseException:
        shutil.rmtree(out if created else stage, ignore_errors=True)  # a failed build leaves nothing behind
        raise
    return replace(release, root=out)
