"""The selection flow on Arrow rows with a real (tiny, random) MACE + M3GNet committee: scores, picks, outputs.

The tiny models know Si, O, Li, Fe, V, As and S: the candidates are the built-in pool's 12 silicon rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.store import Dataset
from curate.errors import ConfigurationError
from curate.models.committee import Committee
from sampling.output import write_sample_output
from sampling.pool import builtin_pool
from sampling.sample import load_scoring_models, score_and_select
from sampling.scoring import SCORE_NAMES

from ..models.builders import build_mace_file, build_matgl_dir

pytestmark = [pytest.mark.model, pytest.mark.slow]  # every test builds and runs tiny MACE and M3GNet models


@pytest.fixture(scope="module")
def silicon() -> pa.Table:
    """The built-in pool's silicon candidates (seed 0): 6 rattles (0.05, 0.1, 0.2 A) and 6 uniaxial strains."""
    rows = builtin_pool(seed=0).rows
    return rows.filter(pc.equal(rows.column("chemical_formula_reduced"), "Si"))


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("committee")
    return [f"mace:{build_mace_file(folder / 'tiny.model')}", f"matgl:{build_matgl_dir(folder / 'tiny-m3gnet')}"]


def test_novelty_ranks_the_pool_and_the_outputs_are_its_rows(
    specs: list[str], silicon: pa.Table, si_dataset: Path, tmp_path: Path
) -> None:
    committee = Committee.load(specs, device="cpu")
    settings = {"budget": 3, "strategy": "greedy", "score": "novelty", "min_distance": 0.0, "seed": 0}
    result = score_and_select(silicon, committee, reference=si_dataset, **settings)  # type: ignore[arg-type]
    pool, picks = result.pool, result.picks
    assert list(pool.scores) == ["force_std_max", "force_std_mean", "energy_std_per_atom", "novelty"]
    assert [n for n in SCORE_NAMES if n != "force_information"] == list(pool.scores), "every score a committee has"
    ids = silicon.column("id").to_pylist()
    assert pool.ids == ids and pool.features.shape[0] == len(ids) == 12
    novelty = pool.scores["novelty"]
    # without the diversity guard greedy takes the three most novel, ties broken by id
    ranked = sorted(range(12), key=lambda k: (-novelty[k], ids[k]))
    assert [p.index for p in picks] == ranked[:3]
    # a 0.2 A rattle moves an environment further from the reference than a 0.05 A one
    params = [json.loads(p) for p in silicon.column("generator_params").to_pylist()]
    by_std = {s: [novelty[k] for k, p in enumerate(params) if p.get("std_ang") == s] for s in (0.05, 0.2)}
    assert min(by_std[0.2]) > max(by_std[0.05])

    paths = write_sample_output(
        tmp_path / "out", candidates=silicon, pool=pool, picks=picks, strategy="greedy", settings=settings
    )
    assert Dataset.open(paths["picks"]).ids() == {p.candidate_id for p in picks}
    written = Dataset.open(paths["pool"]).read().sort_by("id")
    assert written.equals(silicon.sort_by("id").cast(written.schema))
    table = pq.read_table(paths["scores"]).to_pylist()
    assert [r["id"] for r in table] == ids and all(np.isfinite(r["force_std_max"]) for r in table)
    assert len(list(paths["structures"].glob("*.vasp"))) == 3


def test_missing_inputs_are_refused_before_the_committee_runs(specs: list[str]) -> None:
    candidates = builtin_pool(seed=0).rows  # copper and salts: the committee would fail on them if it ran
    committee = Committee.load(specs, device="cpu")
    with pytest.raises(ConfigurationError, match=r"'novelty' needs a reference dataset \(argument reference\)"):
        score_and_select(candidates, committee, budget=1, strategy="greedy", score="novelty", min_distance=0.0, seed=0)
    with pytest.raises(ConfigurationError, match="the candidate pool is empty"):
        score_and_select(
            candidates.slice(0, 0), committee, budget=1, strategy="greedy", score="novelty", min_distance=0, seed=0
        )


def test_cli_offers_every_registered_score(
    specs: list[str], silicon: pa.Table, si_dataset: Path, tmp_path: Path
) -> None:
    pool = Dataset.create(tmp_path / "pool")
    with pool.writer() as writer:
        writer.append(silicon.to_batches()[0])
    models = [arg for spec in specs for arg in ("--models", spec)]
    args = [
        "sample",
        "--pool",
        str(tmp_path / "pool"),
        *models,
        "--device",
        "cpu",
        "--budget",
        "2",
        "--score",
        "novelty",
        "--strategy",
        "greedy",
    ]
    result = CliRunner().invoke(main, [*args, "--reference", str(si_dataset), "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "s" / "sample.json").read_text())
    assert summary["settings"]["score"] == "novelty" and len(summary["picks"]) == 2
    first, second = (p["scores"]["novelty"] for p in summary["picks"])
    assert first >= second > 0.0
    refused = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "t")])
    assert refused.exit_code != 0 and "needs a reference dataset" in refused.output


def test_herding_reads_one_describing_model_and_refuses_a_committee(
    specs: list[str], silicon: pa.Table, si_dataset: Path
) -> None:
    """force_information and herding read the corrected model's own features: the tiny MACE gives them too."""
    mace = load_scoring_models(specs[:1], device="cpu")
    result = score_and_select(
        silicon, mace, budget=1, strategy="herding", score="force_information", min_distance=0, seed=0
    )
    assert result.features == f"{specs[0]} own features" and len(result.picks) == 1
    assert np.all(np.isfinite(result.pool.scores["force_information"]))
    committee = load_scoring_models(specs, device="cpu")
    with pytest.raises(ConfigurationError, match="strategy 'herding' selects in the own features of one model"):
        score_and_select(
            silicon,
            committee,
            budget=1,
            strategy="herding",
            score="novelty",
            min_distance=0,
            seed=0,
            reference=si_dataset,
        )
