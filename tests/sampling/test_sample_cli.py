"""`curate sample` end to end, offline: the default (herding on chgnet@0.3.0's force information) and the CHGNet
committee from the wheel (greedy on force_std_max, asked for explicitly)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.store import Dataset

pytestmark = [pytest.mark.model, pytest.mark.slow]


COMMITTEE_GREEDY = ["--strategy", "greedy", "--score", "force_std_max"]


def _picks(out: Path) -> list[str]:
    return [p["id"] for p in json.loads((out / "sample.json").read_text())["picks"]]


def test_the_default_is_herding_on_the_corrected_models_force_information(tmp_path: Path) -> None:
    out = tmp_path / "sample"
    result = CliRunner().invoke(main, ["sample", "--budget", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "sample.json").read_text())
    settings = summary["settings"]
    assert (settings["strategy"], settings["score"]) == ("herding", "force_information")
    assert settings["features"] == "chgnet@0.3.0 own features"
    assert [m["spec"] for m in settings["models"]] == ["chgnet@0.3.0"]
    (pick,) = summary["picks"]
    assert list(pick["scores"]) == ["force_information"]
    assert pick["formula"] == "Si" and pick["scores"]["force_information"] == pytest.approx(7847.7, rel=1e-3)
    row = Dataset.open(out / "picks").read().to_pylist()[0]
    assert row["generator"] == "gaussian-rattle" and json.loads(row["generator_params"]) == {"std_ang": 0.2}
    header = next(line for line in result.output.splitlines() if line.startswith("rank"))
    assert "F_info" in header and "F_std_max" not in header
    scores = pq.read_table(out / "scores.parquet")
    assert scores.column_names[:3] == ["id", "formula", "force_information"] and scores.num_rows == 48


def test_heads_picks_match_the_pools_mean_loss_gradient_direction(tmp_path: Path) -> None:
    out = tmp_path / "sample"
    result = CliRunner().invoke(main, ["sample", "--method", "heads", "--budget", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "sample.json").read_text())
    assert (summary["settings"]["method"], summary["settings"]["strategy"]) == ("heads", "gradient")
    picks = summary["picks"]
    assert len({p["id"] for p in picks}) == 3
    information = pq.read_table(out / "scores.parquet").column("force_information").to_numpy()
    assert picks[0]["scores"]["force_information"] < information.max() / 2, "not the largest gradient"
    cosines = [float(p["reason"].split("(cosine ")[-1].split(" ")[0]) for p in picks]
    assert min(cosines) > 0.9, "every prefix of the picks points the way the whole pool's gradients do"


def test_maxdet_picks_what_the_earlier_picks_constrain_least(tmp_path: Path) -> None:
    out = tmp_path / "sample"
    args = ["sample", "--method", "heads", "--strategy", "maxdet", "--budget", "3", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "sample.json").read_text())
    assert (summary["settings"]["strategy"], summary["settings"]["features"]) == ("maxdet", "chgnet@0.3.0 own features")
    picks = summary["picks"]
    assert len({p["id"] for p in picks}) == 3
    left = [float(p["reason"].split("features (")[-1].split(" %")[0]) for p in picks]
    assert left[0] == 100.0, "nothing constrains the first pick"
    assert all(0.0 < share < 100.0 for share in left[1:]), "later picks share directions with earlier ones"


def test_mismatched_models_are_refused_with_the_reason(tmp_path: Path) -> None:
    one = CliRunner().invoke(main, ["sample", *COMMITTEE_GREEDY, "-m", "chgnet@0.3.0"])
    assert one.exit_code == 2 and "needs at least 2 models" in one.output
    two = CliRunner().invoke(main, ["sample", "-m", "chgnet@0.3.0", "-m", "chgnet@0.2.0", "--out", str(tmp_path)])
    assert two.exit_code == 2 and "reads one model, the model being corrected" in two.output


def test_committee_greedy_picks_five_distinct_explained_structures(tmp_path: Path) -> None:
    out = tmp_path / "sample"
    result = CliRunner().invoke(main, ["sample", "--budget", "5", *COMMITTEE_GREEDY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = [line for line in result.output.splitlines() if line[:4].strip().isdigit()]
    assert len(table) == 5
    picks = _picks(out)
    assert len(set(picks)) == 5
    assert Dataset.open(out / "picks").ids() == set(picks)
    assert Dataset.open(out / "pool").num_rows == 48
    scores = pq.read_table(out / "scores.parquet").to_pylist()
    picked = sorted((r for r in scores if r["pick_rank"] is not None), key=lambda r: r["pick_rank"])
    assert [r["id"] for r in picked] == picks
    # greedy: the first pick has the largest committee force deviation of the pool, in eV/A
    assert picked[0]["force_std_max"] == max(r["force_std_max"] for r in scores)
    assert 0.05 < picked[0]["force_std_max"] < 5.0
    rows = {r["id"]: r for r in Dataset.open(out / "picks").read().to_pylist()}
    for pick_id in picks:
        assert rows[pick_id]["generator"] in {"gaussian-rattle", "strain"}
        assert rows[pick_id]["parent_id"] is not None and rows[pick_id]["energy"] is None
    assert len(list((out / "structures").glob("*.vasp"))) == 5 and len(list((out / "structures").glob("*.cif"))) == 5


def test_same_seed_same_picks_and_strategies_differ(tmp_path: Path) -> None:
    runner = CliRunner()
    committee = ["--model", "chgnet@0.3.0", "--model", "chgnet@0.2.0", "--score", "force_std_max"]
    for name in ("a", "b"):
        result = runner.invoke(
            main, ["sample", "--budget", "3", *committee, "--strategy", "greedy", "--out", str(tmp_path / name)]
        )
        assert result.exit_code == 0, result.output
    assert _picks(tmp_path / "a") == _picks(tmp_path / "b")
    # re-running into the same folder replaces the earlier picks instead of mixing them
    result = runner.invoke(
        main, ["sample", "--budget", "3", *committee, "--strategy", "random", "--out", str(tmp_path / "a")]
    )
    assert result.exit_code == 0, result.output
    assert _picks(tmp_path / "a") != _picks(tmp_path / "b")
    assert Dataset.open(tmp_path / "a" / "picks").ids() == set(_picks(tmp_path / "a"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    refused = runner.invoke(main, ["sample", *committee, "--strategy", "greedy", "--out", str(tmp_path / "other")])
    assert refused.exit_code == 2 and "holds no earlier `curate sample` output" in refused.output


def test_a_target_makes_the_picks_serve_it(tmp_path: Path) -> None:
    """The target is the built-in pool's four-atom Cu cells (no labels): herding then picks Cu, where the
    default, serving the whole pool, picks a Si rattle; a strategy that cannot serve a target is refused."""
    import pyarrow.compute as pc

    from sampling.pool import builtin_pool

    rows = builtin_pool(seed=0).rows
    copper = rows.filter(pc.equal(rows.column("chemical_formula_reduced"), "Cu"))
    target = Dataset.create(tmp_path / "target")
    with target.writer() as writer:
        writer.append(copper.combine_chunks().to_batches()[0])
    out = tmp_path / "sample"
    result = CliRunner().invoke(main, ["sample", "--budget", "2", "--target", str(tmp_path / "target"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "sample.json").read_text())
    assert summary["settings"]["target"] == {"path": str(tmp_path / "target"), "structures": copper.num_rows}
    assert [p["formula"] for p in summary["picks"]] == ["Cu", "Cu"]
    assert all(f"the {copper.num_rows} weighted target structures" in p["reason"] for p in summary["picks"])
    refused = CliRunner().invoke(
        main, ["sample", "--strategy", "fps", "--target", str(tmp_path / "target"), "-o", str(tmp_path / "fps")]
    )
    assert refused.exit_code != 0 and "strategy 'herding' with score 'force_information'" in refused.output
    assert "initialized" not in refused.output, "refused before any model is loaded"
