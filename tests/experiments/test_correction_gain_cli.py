"""``curate check`` (the quality gate over a dataset) and ``curate correction-gain`` (the correction experiment),
once the two modes of ``curate validate``, which now only points to them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.training.data import load_training_set

from .test_correction_gain import si64_split, write_dataset  # noqa: F401 - fixture


def invoke(*args: str | Path):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, [str(a) for a in args])


def experiment_args(split: dict[str, Path], **paths: Path) -> list[str | Path]:
    chosen = {"pool": split["pool"], "correction": split["correction"], "benchmark": split["benchmark"], **paths}
    args: list[str | Path] = []
    for name, path in chosen.items():
        args += [f"--{name}", path]
    return args


def test_check_is_the_quality_gate(si64_split: dict[str, Path]) -> None:  # noqa: F811
    clean = invoke("check", si64_split["work"] / "all", "--strict")
    assert clean.exit_code == 0, clean.output
    assert clean.stdout.splitlines()[0].endswith("10 rows checked, 0 error(s), 0 warning(s)")
    # two atoms of a real frame 0.3 A apart (Si-Si covalent sum 2.22 A): a min-distance error, --strict fails
    frame = load_training_set(si64_split["benchmark"]).configurations[0]
    positions = np.array(frame.positions)
    positions[1] = positions[0] + [0.3, 0.0, 0.0]
    planted = write_dataset(si64_split["work"] / "planted", [dataclasses.replace(frame, positions=positions)])
    strict = invoke("check", planted, "--strict")
    assert strict.exit_code == 1
    assert "1 error(s)" in strict.stdout and "min-distance" in strict.stdout
    assert invoke("check", planted).exit_code == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("DIR", "--strict"), "`curate validate DIR` is now `curate check DIR`"),
        ((), "`curate validate DIR` is now `curate check DIR`"),
        (("--help",), "`curate validate DIR` is now `curate check DIR`"),
        (("--pool", "POOL", "--repeats", "3"), "`curate validate --pool ...` is now `curate correction-gain --pool"),
        (("--benchmark=B",), "`curate validate --pool ...` is now `curate correction-gain --pool"),
    ],
)
def test_old_name_points_to_the_new_command(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    result = invoke("validate", *(str(tmp_path / a) if a.isupper() else a for a in args))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and says in result.stderr and result.stdout == ""


def test_correction_gain_names_what_it_misses(tmp_path: Path) -> None:
    result = invoke("correction-gain", "--pool", tmp_path / "P", "--benchmark", tmp_path / "B")
    assert result.exit_code == 2 and "Missing option '--correction'" in result.stderr


def test_help_teaches_each_command() -> None:
    text = invoke("check", "--help").stdout
    assert "curate check si64 --strict" in text and "min-distance" in text
    text = invoke("correction-gain", "--help").stdout
    assert "--method linear --repeats 5 --out gain" in text
    assert "gain = random error - correction error" in text
    assert " validate " not in invoke("--help").stdout, "the old name is hidden"


def test_experiment_refusals_exit_2_naming_the_cause(si64_split: dict[str, Path]) -> None:  # noqa: F811
    common = ["-m", "chgnet@0.3.0", "--out", si64_split["work"] / "refused"]
    leak = invoke("correction-gain", *experiment_args(si64_split, pool=si64_split["work"] / "all"), *common)
    assert leak.exit_code == 2
    benchmark_ids = load_training_set(si64_split["benchmark"]).ids
    assert "4 structure(s) of the pool" in leak.stderr and "a leak" in leak.stderr
    assert all(i in leak.stderr for i in benchmark_ids)
    too_big = invoke("correction-gain", *experiment_args(si64_split, correction=si64_split["benchmark"],
                                                  pool=si64_split["correction"]), *common)  # fmt: skip
    assert too_big.exit_code == 2 and "more than the 1 of the pool" in too_big.stderr
    frame = load_training_set(si64_split["benchmark"]).configurations[0]
    unlabelled = write_dataset(si64_split["work"] / "no-energy", [dataclasses.replace(frame, energy=None)])
    missing = invoke("correction-gain", *experiment_args(si64_split, benchmark=unlabelled), *common)
    assert missing.exit_code == 2 and "--benchmark: row" in missing.stderr and "no finite energy" in missing.stderr
    assert not (si64_split["work"] / "refused").exists()


@pytest.mark.model
@pytest.mark.slow
def test_experiment_mode_writes_its_report(si64_split: dict[str, Path]) -> None:  # noqa: F811
    """Linear correction on frame 5, random sets drawn from frames 3 and 5, benchmark frame 9; CHGNet 0.3.0."""
    frames = sorted(load_training_set(si64_split["pool"]).configurations, key=lambda c: c.ionic_step or 0)
    pool = write_dataset(si64_split["work"] / "pool-3-5", [frames[3], frames[5]])
    last = sorted(load_training_set(si64_split["benchmark"]).configurations, key=lambda c: c.ionic_step or 0)[-1]
    benchmark = write_dataset(si64_split["work"] / "benchmark-9", [last])
    out = si64_split["work"] / "cli-report"
    args = experiment_args(si64_split, pool=pool, benchmark=benchmark)
    options = ["-m", "chgnet@0.3.0", "--repeats", "2", "--seed", "1", "--device", "cpu", "--out", out]
    result = invoke("correction-gain", *args, *options)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "validation.json").read_text())
    assert report["method"] == "linear" and report["repeats"] == 2 and report["seed"] == 1
    # seed 1 draws pool frame 3, then frame 5 (the correction frame, whose fit is reused)
    assert [r["pool_indices"] for r in report["random"]] == [[0], [1]]
    assert [r["same_as"] for r in report["random"]] == [None, "correction"]
    assert "| random 2 (= correction) |" in result.stdout
    assert report["command"].startswith("curate ") and report["model"]["name"] == "chgnet@0.3.0"
    assert report["correction_in_pool"] == 1
    assert (out / "validation.png").stat().st_size > 10_000
    assert (out / "validation.md").read_text() == result.stdout, "the Markdown table is what stdout shows"
    before, after = report["before"], report["correction"]["metrics"]
    assert abs(1 - after["softening_scale"]) < abs(1 - before["softening_scale"])
    assert f"| {after['force_mae_ev_per_ang']:.4f} |" in result.stdout
    gain = report["gain_over_random"]["softening_error"]
    assert f"{gain['mean']:.4f} ± {gain['std']:.4f}" in result.stdout
    assert "before: benchmark force MAE" in result.stderr and "report:" in result.stderr
