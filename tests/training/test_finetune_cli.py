"""``curate finetune`` end to end on real Si64 MD frames: the printed spec loads the model it describes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.models import load_model
from curate.training.data import TrainingSet, load_training_set
from curate.training.evaluate import evaluate


@pytest.fixture(scope="module")
def si64_split(si64: TrainingSet, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Frame 9 (the hottest) as the training set, frames 0-8 as validation."""
    from curate.dataset.configuration import configurations_to_batch
    from curate.dataset.store import Dataset

    root = tmp_path_factory.mktemp("si64cli")
    frames = si64
    paths = []
    for name, rows in (("train", [9]), ("val", list(range(9)))):
        dataset = Dataset.create(root / name)
        with dataset.writer() as writer:
            writer.append(configurations_to_batch([frames.configurations[i] for i in rows]))
        paths.append(root / name)
    return paths[0], paths[1]


@pytest.mark.model
@pytest.mark.slow  # ~90 s on 2 cores
def test_finetune_linear_prints_a_loadable_spec_and_records_the_run(
    si64_split: tuple[Path, Path], tmp_path: Path
) -> None:
    train, val = si64_split
    out = tmp_path / "linear"
    args = ["finetune", "-m", "chgnet@0.3.0", "--train", str(train), "--val", str(val), "--method", "linear"]
    result = CliRunner().invoke(main, [*args, "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    spec = result.stdout.strip().splitlines()[-1]
    assert spec == f"chgnet:{(out / 'chgnet-finetuned.pth.tar').resolve()}"
    record = json.loads((out / "training.json").read_text())
    assert record["method"] == "linear" and record["model_spec"] == spec
    assert record["base_model"]["spec"] == "chgnet@0.3.0"
    assert record["data"]["train"]["structures"] == 1 and record["data"]["val"]["structures"] == 9
    before, after = record["extra"]["validation_before"], record["extra"]["validation_after"]
    assert before["softening_scale"] == pytest.approx(0.62, abs=0.02)
    assert abs(after["softening_scale"] - 1) < 0.1
    assert after["softening_scale"] == pytest.approx(before["softening_scale"] * record["energy_scale"], rel=1e-4)
    # the spec is all a user needs: reloading gives the recorded validation errors
    reloaded = evaluate(load_model(spec, device="cpu"), load_training_set(val))
    assert reloaded.force_mae_ev_per_ang == pytest.approx(after["force_mae_ev_per_ang"], rel=1e-5)
    # the same command again is a no-op that prints the same spec; other settings are refused
    again = CliRunner().invoke(main, [*args, "--out", str(out), "--device", "cpu"])
    assert again.exit_code == 0 and again.stdout.strip().splitlines()[-1] == spec
    assert "already fine-tuned" in again.stderr
    other = CliRunner().invoke(main, [*args, "--out", str(out), "--device", "cpu", "--force-weight", "1"])
    assert other.exit_code == 2 and "another fine-tuning run" in other.output


def test_finetune_refuses_unlabelled_rows_naming_the_row(tmp_path: Path, si64: TrainingSet) -> None:
    from curate.dataset.configuration import configurations_to_batch
    from curate.dataset.store import Dataset

    cfg = dataclasses.replace(si64.configurations[0], forces=None)
    dataset = Dataset.create(tmp_path / "bad")
    with dataset.writer() as writer:
        writer.append(configurations_to_batch([cfg]))
    args = ["finetune", "-m", "chgnet@0.3.0", "--train", str(tmp_path / "bad"), "--method", "full"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "no forces" in result.stderr and "field 'forces'" in result.stderr
    assert not (tmp_path / "o").exists()


def test_finetune_help_teaches_methods_and_defaults() -> None:
    result = CliRunner().invoke(main, ["finetune", "--help"])
    assert result.exit_code == 0
    for text in ("linear", "full", "heads", "0.1:100:0.1", "cosine", "--atomref", "chgnet:"):
        assert text in result.output
