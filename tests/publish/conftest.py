"""A mixed real dataset for publishing: PBE, PBE+U and r2SCAN rows from ../shared/data plus generated rows."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from curate.dataset.configuration import batch_to_configurations, configurations_to_batch
from curate.dataset.store import Dataset
from curate.sources.ingest import import_paths

REAL_FILES = (
    ("emmet/test_As2SO6_tasks.json.gz", "mp-tasks"),  # 193 PBE rows of one material, no material id
    ("emmet/magnetism_task_docs.json.gz", "mp-tasks"),  # 3 PBE + 1 PBE+U (La2CoO4), no material ids
    ("matcalc/MatPES-r2SCAN-Element-Refs.json.gz", "matpes"),  # 89 r2SCAN elemental rows with mp ids
)
GENERATED_PER_PARENT = 3
TOKEN = "hf_curateTEST0token0must0never0leak"


def add_rattled_rows(dataset_dir: Path, parent_ids: list[str], *, amplitude_ang: float = 0.05) -> int:
    """Append unlabelled rows made by displacing the atoms of each parent (seeded), with lineage set."""
    dataset = Dataset.open(dataset_dir)
    table = dataset.read()
    rows_by_id = {row_id: i for i, row_id in enumerate(table.column("id").to_pylist())}
    configurations = batch_to_configurations(table.take([rows_by_id[p] for p in parent_ids]))
    generated = []
    for parent_id, parent in zip(parent_ids, configurations, strict=True):
        for k in range(GENERATED_PER_PARENT):
            seed = 1000 + k
            rng = np.random.default_rng(seed)
            generated.append(
                replace(
                    parent,
                    positions=parent.positions + rng.normal(0.0, amplitude_ang, parent.positions.shape),
                    energy=None,
                    energy_field=None,
                    energy_corrected=None,
                    forces=None,
                    stress=None,
                    magmoms=None,
                    functional=None,
                    hubbard_u=None,
                    source="generated",
                    source_file=None,
                    source_record=f"rattle {k} of {parent_id[:12]}",
                    task_id=None,
                    calc_index=None,
                    ionic_step=None,
                    scf_converged=None,
                    parent_id=parent_id,
                    generator="rattle",
                    generator_params=f'{{"amplitude_ang":{amplitude_ang}}}',
                    seed=seed,
                )
            )
    with dataset.writer() as writer:
        result = writer.append(configurations_to_batch(generated))
    return result.added


@pytest.fixture(scope="session")
def mixed_dataset(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """286 real rows (PBE 196, PBE+U 1, r2SCAN 89) and 6 rattled rows of two parents (As2SO6 and r2SCAN Fe)."""
    path = tmp_path_factory.mktemp("publish") / "mixed"
    for relative, format_name in REAL_FILES:
        report = import_paths([shared_data / relative], format_name=format_name, out=path)
        assert report.quarantined == 0
    table = Dataset.open(path).read(columns=["id", "chemical_formula_reduced", "functional", "ionic_step"])
    rows = table.to_pylist()
    as2so6 = next(r["id"] for r in rows if r["chemical_formula_reduced"] == "As2O6S" and r["ionic_step"] == 0)
    fe_r2scan = next(r["id"] for r in rows if r["chemical_formula_reduced"] == "Fe" and r["functional"] == "r2SCAN")
    assert add_rattled_rows(path, [as2so6, fe_r2scan]) == 2 * GENERATED_PER_PARENT
    return path


@pytest.fixture
def dataset_copy(mixed_dataset: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`mixed_dataset` a test may change."""
    target = tmp_path / "dataset"
    shutil.copytree(mixed_dataset, target)
    return target


def run_curate(args: list[str], *, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real ``curate`` command line in a new process (so HF_ENDPOINT is read at import, as for a user)."""
    return subprocess.run(
        [sys.executable, "-m", "curate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def hub_env(endpoint: str, hf_home: Path, *, token: str = TOKEN) -> dict[str, str]:
    """Environment of a user pointed at the Hub at ``endpoint`` with ``token`` in HF_TOKEN."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(
        HF_ENDPOINT=endpoint,
        HF_TOKEN=token,
        HF_HOME=str(hf_home),
        HF_HUB_OFFLINE="0",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_DATASETS_OFFLINE="1",
    )
    return env


@pytest.fixture(scope="session")
def release(mixed_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``curate publish --dry-run`` of :func:`mixed_dataset` (seed 0), made in this process with CliRunner."""
    from click.testing import CliRunner

    from curate.cli import main

    out = tmp_path_factory.mktemp("release") / "mixed"
    args = ["publish", str(mixed_dataset), "--repo", "org/mixed", "--dry-run", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out
