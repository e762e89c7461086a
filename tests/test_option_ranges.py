"""Every numeric option has the range its meaning allows: nonsense values are refused, naming the option."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from curate.cli import main

# (command words, option, nonsense value): counts >= 1, seeds >= 0, lengths and times > 0, temperatures, weights
# and thresholds >= 0, fractions in [0, 1), strains in (0, 1), shares not all 0, nothing infinite or NaN
NONSENSE = [
    (["import"], "--shard-rows", "0"),
    (["import"], "--shard-rows", "-5"),
    (["import"], "--workers", "0"),
    (["info"], "--top", "-1"),
    (["predict"], "--batch-rows", "0"),
    (["coverage"], "--radius", "-0.1"),
    (["coverage"], "--radii", "0.1,-1"),
    (["coverage"], "--r-cut", "0"),
    (["coverage"], "--sigma", "nan"),
    (["generate"], "--rattle", "0.05,-0.1"),
    (["generate"], "--mc-rattle", "0"),
    (["generate"], "--mc-d-min", "-1"),
    (["generate"], "--strain-isotropic", "1.5"),
    (["generate"], "--strain-uniaxial", "0"),
    (["generate"], "--strain-shear", "-0.02"),
    (["generate"], "--vacuum", "-3"),
    (["generate"], "--md-temperature", "-300"),
    (["generate"], "--md-timestep", "0"),
    (["generate"], "--md-frames", "0"),
    (["generate"], "--surface-max-index", "3"),
    (["generate"], "--task-rows", "0"),
    (["sample"], "--budget", "0"),
    (["sample"], "--min-distance", "-0.5"),
    (["sample"], "--seed", "-1"),
    (["finetune"], "--epochs", "0"),
    (["learning-curve"], "--max-steps", "0"),
    (["finetune"], "--lr", "0"),
    (["finetune"], "--force-weight", "inf"),
    (["correction-gain"], "--val-fraction", "1"),
    (["correction-gain"], "--repeats", "1"),
    (["scaling"], "--split-seed", "-1"),
    (["scaling"], "--sizes", "100,0"),
    (["learning-curve"], "--draws", "0"),
    (["publish"], "--shard-mb", "nan"),
    (["publish"], "--shard-mb", "0"),
    (["publish"], "--commit-mb", "inf"),
    (["publish"], "--split", "0:0:0"),
    (["publish"], "--split", "0.8:-0.1:0.3"),
    (["pull", "mp"], "--batch-tasks", "0"),
    (["pull", "mp"], "--retries", "0"),
    (["pull", "mp"], "--backoff", "nan"),
    (["pull", "mp"], "--energy-threshold", "-1"),
    (["pull", "mp"], "--limit", "0"),
]


@pytest.mark.parametrize(("words", "option", "value"), NONSENSE, ids=[f"{o}={v}" for _, o, v in NONSENSE])
def test_nonsense_values_are_refused_naming_the_option(words: list[str], option: str, value: str) -> None:
    result = CliRunner().invoke(main, [*words, option, value])  # parsed first: refused before anything runs
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.output, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("words", "missing"),
    [
        (["learning-curve", "--pool", "p", "--benchmark", "b", "-o", "r"], "'-m' / '--model'"),
        (["finetune", "--train", "t", "--method", "linear", "-m", "chgnet@0.3.0"], "'-o' / '--out'"),
        (["import", "vasp", "vasprun.xml"], "'-o' / '--out'"),
    ],
)
def test_a_missing_required_option_is_named_before_anything_runs(words: list[str], missing: str) -> None:
    result = CliRunner().invoke(main, words)
    assert result.exit_code == 2, result.output
    assert f"Missing option {missing}" in result.output, result.output
    assert "Traceback" not in result.output
