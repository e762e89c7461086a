"""A known answer where no scale correction can help: labels are CHGNet's own predictions plus seeded noise.

The 10 Si64 MD frames keep their structures; their energy, force and stress labels are replaced by CHGNet
0.3.0's predictions plus Gaussian noise (0.05 eV/A on forces), so s = 1 is the best scale on every subset up
to the noise, and cMAE = MAE on the benchmark. Both commands must then say so and recommend the untouched model,
and the correction they fit must leave the benchmark force MAE within 1 % of the untouched model's.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.configuration import Configuration
from curate.training.data import load_training_set

from .test_correction_gain import si64_split, write_dataset  # noqa: F401 - fixture

FORCE_NOISE_EV_PER_ANG = 0.05


@pytest.fixture(scope="module")
def own_labels(si64_split: dict[str, Path]) -> dict[str, Path]:  # noqa: F811
    """Pool frames 0-5, correction frame 5, benchmark frames 6-9; every label = CHGNet's prediction + noise."""
    from curate.models import load_model

    model = load_model("chgnet@0.3.0", device="cpu")
    rng = np.random.default_rng(14)
    relabelled: dict[str, list[Configuration]] = {}
    for role in ("pool", "benchmark"):
        frames = list(load_training_set(si64_split[role]).configurations)
        predictions = model.predict(frames, max_atoms_per_batch=1000)
        relabelled[role] = [
            dataclasses.replace(
                cfg,
                energy=float(p.energy) + float(rng.normal(0.0, 0.01 * cfg.nsites)),
                forces=np.asarray(p.forces) + rng.normal(0.0, FORCE_NOISE_EV_PER_ANG, (cfg.nsites, 3)),
                stress=np.asarray(p.stress) + rng.normal(0.0, 0.1, (3, 3)),
            )
            for cfg, p in zip(frames, predictions, strict=True)
        ]
    work = si64_split["work"] / "own-labels"
    hottest = max(relabelled["pool"], key=lambda c: float(np.linalg.norm(np.asarray(c.forces), axis=1).mean()))
    return {
        "pool": write_dataset(work / "pool", relabelled["pool"]),
        "correction": write_dataset(work / "correction", [hottest]),
        "benchmark": write_dataset(work / "benchmark", relabelled["benchmark"]),
        "work": work,
    }


@pytest.mark.model
@pytest.mark.slow
def test_finetune_linear_recommends_the_untouched_model(own_labels: dict[str, Path]) -> None:
    out = own_labels["work"] / "linear"
    args = ["finetune", "-m", "chgnet@0.3.0", "--train", str(own_labels["correction"]), "--method", "linear"]
    result = CliRunner().invoke(main, [*args, "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "chgnet@0.3.0", "the untouched model is what to use"
    assert "a scale correction will not help" in result.stderr and "recommended model: the untouched" in result.stderr
    record = json.loads((out / "training.json").read_text())
    advice = record["scale_advice"]
    assert record["recommended_untouched"] and not advice["apply"] and not advice["ill_conditioned"]
    assert advice["scale"] == pytest.approx(1.0, abs=0.01) and advice["relative_error"] < 0.01
    again = CliRunner().invoke(main, [*args, "--out", str(out), "--device", "cpu"])
    assert again.exit_code == 0 and again.stdout.strip().splitlines()[-1] == "chgnet@0.3.0"


@pytest.mark.model
@pytest.mark.slow
def test_correction_gain_says_a_scale_will_not_help(own_labels: dict[str, Path]) -> None:
    out = own_labels["work"] / "gain"
    args = [f"--{role}={own_labels[role]}" for role in ("pool", "correction", "benchmark")]
    options = ["-m", "chgnet@0.3.0", "--method", "linear", "--repeats", "2", "--device", "cpu", "--out", str(out)]
    result = CliRunner().invoke(main, ["correction-gain", *args, *options])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "validation.json").read_text())
    before = report["before"]["force_mae_ev_per_ang"]
    corrected = report["correction"]["metrics"]["force_mae_ev_per_ang"]
    assert before == pytest.approx(np.sqrt(2 / np.pi) * FORCE_NOISE_EV_PER_ANG, rel=0.05), "MAE of the noise"
    assert abs(corrected - before) <= 0.01 * before, "the fitted correction leaves the error within 1 %"
    verdict = report["recommendation"]
    assert not verdict["scale_can_help"] and verdict["best_scale_gain"] < 0.01
    assert verdict["recommended"] == "untouched" and verdict["recommended_force_mae_ev_per_ang"] == before
    assert "a scale correction will not help" in result.stdout and "**Recommended model: untouched**" in result.stdout


@pytest.mark.model
@pytest.mark.slow
def test_learning_curve_default_stays_within_one_percent_and_says_so(own_labels: dict[str, Path]) -> None:
    out = own_labels["work"] / "curve"
    args = ["learning-curve", "--pool", str(own_labels["pool"]), "--benchmark", str(own_labels["benchmark"])]
    options = ["-m", "chgnet@0.3.0", "--budgets", "1,5", "--strategies", "herding", "--draws", "100", "-o", str(out)]
    result = CliRunner().invoke(main, [*args, *options])
    assert result.exit_code == 0, result.output
    assert "A scale correction will not help" in result.stdout and "recommended model is the untouched" in result.stdout
    record = json.loads((out / "learning-curve.json").read_text())
    assert record["best_gain"] < 0.01
    herding = [p for p in record["points"] if p["strategy"] == "herding"]
    assert [p["budget"] for p in herding] == [1, 5]
    for point in herding:
        # the raw fit on noise moves the (tiny) benchmark error by ~2 %; the advice keeps the untouched model
        assert abs(point["advised_force_mae"] - record["untouched_force_mae"]) <= 0.01 * record["untouched_force_mae"]
