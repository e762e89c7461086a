"""Softening scale: the closed form, streaming sums, and the known answer labels = predictions / 0.8."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.configuration import Configuration, configurations_to_batch
from curate.dataset.store import Dataset
from curate.diagnostics.softening import (
    GroupStats,
    corrected_mae,
    mean_absolute_error,
    share_below_one,
    softening_slope,
)
from curate.models import Prediction, load_model

from ..models.conftest import mace_file, real_dataset, real_structures  # noqa: F401 - fixtures

SCALE = 0.8


def labelled_dataset(
    path: Path, structures: list[Configuration], predictions: list[Prediction], material_ids: list[str]
) -> Path:
    """A dataset whose DFT labels are the model's own predictions divided by SCALE (energy, forces, stress)."""
    rows = [
        replace(
            cfg,
            energy=p.energy / SCALE,
            forces=p.forces / SCALE,
            stress=p.stress / SCALE,
            material_id=mid,
            functional="PBE",
            source="known-answer",
        )
        for cfg, p, mid in zip(structures, predictions, material_ids, strict=True)
    ]
    dataset = Dataset.create(path)
    with dataset.writer() as writer:
        writer.append(configurations_to_batch(rows))
    return path


def test_closed_form_equals_least_squares_fits() -> None:
    from scipy.optimize import curve_fit

    rng = np.random.default_rng(7)
    x = rng.normal(0, 1.5, 3000)
    y = 0.83 * x + rng.normal(0, 0.2, x.size)
    slope = softening_slope(x, y)
    lstsq = np.linalg.lstsq(x[:, None], y, rcond=None)[0][0]
    (fitted,), _ = curve_fit(lambda t, a: a * t, x, y)  # what matcalc's SofteningBenchmark does
    assert slope == pytest.approx(lstsq, abs=1e-12)
    assert slope == pytest.approx(fitted, abs=1e-8)
    assert slope == pytest.approx(0.83, abs=0.01)


def test_exact_scaling_gives_the_scale_and_zero_cmae() -> None:
    x = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    y = SCALE * x
    assert softening_slope(x, y) == pytest.approx(SCALE, abs=1e-15)
    assert mean_absolute_error(x, y) == pytest.approx(0.2 * np.abs(x).mean(), abs=1e-15)
    assert corrected_mae(x, y, SCALE) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match="undefined"):
        softening_slope(np.zeros(6), y.reshape(-1))


def test_streaming_sums_equal_one_shot() -> None:
    rng = np.random.default_rng(1)
    chunks = [(rng.normal(size=(n, 3)), rng.normal(size=(n, 3))) for n in (5, 64, 1, 17)]
    stats = GroupStats()
    for x, y in chunks:
        stats.add_forces(x, y + 0.5 * x)
    for x, y in chunks:
        stats.add_corrected(x, y + 0.5 * x)
    x_all = np.concatenate([c[0] for c in chunks])
    y_all = np.concatenate([c[1] + 0.5 * c[0] for c in chunks])
    summary = stats.summary()
    assert summary["softening_scale"] == pytest.approx(softening_slope(x_all, y_all), rel=1e-12)
    assert summary["force_mae_ev_per_ang"] == pytest.approx(mean_absolute_error(x_all, y_all), rel=1e-12)
    slope = softening_slope(x_all, y_all)
    assert summary["force_cmae_ev_per_ang"] == pytest.approx(corrected_mae(x_all, y_all, slope), rel=1e-12)
    assert summary["force_components"] == 87 * 3
    assert share_below_one([0.5, 1.2, None, 0.99]) == pytest.approx(2 / 3)
    assert share_below_one([None]) is None


@pytest.fixture(scope="module")
def mace_known_answer(tmp_path_factory, real_structures, mace_file):  # noqa: F811
    """Labels = a random MACE model's own predictions / 0.8 on the three Si64 frames and Si8, in two groups."""
    structures = real_structures[:4]
    model = load_model(f"mace:{mace_file}", device="cpu")
    predictions = model.predict(structures, max_atoms_per_batch=1000)
    path = labelled_dataset(tmp_path_factory.mktemp("ka") / "mace-ka", structures, predictions, ["a", "a", "b", "b"])
    return path, predictions


@pytest.mark.model
@pytest.mark.slow
def test_known_answer_through_the_cli(tmp_path: Path, mace_known_answer, mace_file) -> None:  # noqa: F811
    dataset, predictions = mace_known_answer
    out = tmp_path / "report"
    args = ["softening", str(dataset), "--model", f"mace:{mace_file}", "--out", str(out), "--attach"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "softening.json").read_text())
    overall = report["overall"]
    assert overall["softening_scale"] == pytest.approx(SCALE, abs=1e-6)
    # by definition: MAE = mean |y - y/0.8| = 0.25 mean |y|; cMAE = mean |y/0.8 - y/0.8| = 0
    y = np.concatenate([p.forces.reshape(-1) for p in predictions])
    assert overall["force_mae_ev_per_ang"] == pytest.approx(0.25 * np.abs(y).mean(), rel=1e-9)
    assert overall["force_cmae_ev_per_ang"] == pytest.approx(0.0, abs=1e-9)
    energy_per_atom = [p.energy / len(p.forces) for p in predictions]
    assert overall["energy_per_atom_mae_ev"] == pytest.approx(0.25 * np.abs(energy_per_atom).mean(), rel=1e-9)
    stress = np.concatenate([p.stress.reshape(-1) for p in predictions])
    assert overall["stress_mae_gpa"] == pytest.approx(0.25 * np.abs(stress).mean(), rel=1e-9)
    assert [g["group"] for g in report["groups"]] == ["a", "b"]
    assert [g["structures"] for g in report["groups"]] == [2, 2]
    assert [g["atoms"] for g in report["groups"]] == [128, 72]
    for group in report["groups"]:
        assert group["softening_scale"] == pytest.approx(SCALE, abs=1e-6)
    assert report["share_groups_slope_below_1"] == 1.0
    assert report["model"]["file_sha256"] and report["reference"]["content_hash"] == Dataset.open(dataset).content_hash
    # stdout is the Markdown summary; the plot and the copy for the dataset card exist
    assert "softening scale (slope of predicted vs DFT forces through the origin): **0.8000**" in result.stdout
    png = (out / "softening_parity.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    assert json.loads((dataset / "reports" / "softening.json").read_text())["overall"] == overall


@pytest.mark.model
@pytest.mark.slow
def test_group_by_any_column_and_bad_column(tmp_path: Path, mace_known_answer, mace_file) -> None:  # noqa: F811
    dataset, _ = mace_known_answer
    runner = CliRunner()
    pred = tmp_path / "pred"
    args = ["softening", str(dataset), "-m", f"mace:{mace_file}", "--predictions", str(pred)]
    result = runner.invoke(main, [*args, "--group-by", "nsites", "--out", str(tmp_path / "r1")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r1" / "softening.json").read_text())
    assert [(g["group"], g["structures"]) for g in report["groups"]] == [("64", 3), ("8", 1)]
    # the predictions written on the first run are reused (no second "predicting" line)
    again = runner.invoke(main, [*args, "--out", str(tmp_path / "r2")])
    assert again.exit_code == 0 and "predicting" not in again.stderr
    bad = runner.invoke(main, [*args, "--group-by", "colour", "--out", str(tmp_path / "r3")])
    assert bad.exit_code == 2 and "group_by 'colour' is not a column" in bad.output


@pytest.mark.model
@pytest.mark.slow
def test_predictions_of_another_dataset_are_refused(tmp_path: Path, mace_known_answer, real_dataset, mace_file) -> None:  # noqa: F811
    dataset, _ = mace_known_answer
    pred = tmp_path / "pred"
    runner = CliRunner()
    assert (
        runner.invoke(main, ["predict", str(real_dataset), "-m", f"mace:{mace_file}", "--out", str(pred)]).exit_code
        == 0
    )
    result = runner.invoke(main, ["softening", str(dataset), "-m", f"mace:{mace_file}", "--predictions", str(pred)])
    assert result.exit_code == 2
    assert "already holds other files or other predictions" in result.output


@pytest.mark.model
@pytest.mark.slow
def test_report_does_not_depend_on_batch_size(tmp_path: Path, real_dataset, mace_file) -> None:  # noqa: F811
    """Streaming: one row per batch and predictions in 5-row shards give the numbers of one big batch."""
    from curate.diagnostics.softening_report import softening_report
    from curate.models.run import predict_dataset

    model = load_model(f"mace:{mace_file}", device="cpu")
    predict_dataset(real_dataset, [model], tmp_path / "pred", max_atoms_per_batch=100, batch_rows=5)
    one, samples_one = softening_report(
        real_dataset, tmp_path / "pred", model.info.name, batch_rows=1, group_by="nsites"
    )
    big, samples_big = softening_report(real_dataset, tmp_path / "pred", model.info.name, group_by="nsites")
    for key in ("softening_scale", "force_mae_ev_per_ang", "force_cmae_ev_per_ang", "stress_mae_gpa"):
        assert one["overall"][key] == pytest.approx(big["overall"][key], rel=1e-12)
    assert [g["structures"] for g in one["groups"]] == [6, 10, 1]  # Si2, Si64, Si8
    assert one["overall"]["force_components"] == (6 * 2 + 10 * 64 + 8) * 3
    # the plot sample holds every point when there are fewer than its size
    assert samples_one["forces"][0].size == samples_big["forces"][0].size == one["overall"]["force_components"]
