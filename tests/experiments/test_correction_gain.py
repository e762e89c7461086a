"""The correction-gain experiment: gain statistics and refusals (pure), then CHGNet on real Si64 MD frames.

Real data: the 10 PBE frames of 64-atom Si molecular dynamics at 2000 K (pymatgen's vasprun.md.xml), split by
frame: frames 0-5 are the pool, 6-9 the held-out benchmark; the correction set is the pool frame with the
largest mean force norm (a simple proxy for where the model errs most). CHGNet 0.3.0 is soft on these frames
(softening scale ~0.63 on the benchmark).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from curate.dataset.configuration import Configuration, configurations_to_batch
from curate.dataset.store import Dataset
from curate.errors import ConfigurationError, InputError
from curate.experiments.correction_gain import check_experiment_inputs, load_role, run_correction_gain, validation_split
from curate.experiments.correction_report import report_markdown, write_report
from curate.experiments.gains import gains_over_random, mean_std, softening_error, spread_over_random
from curate.sources.ingest import import_paths
from curate.training.data import TrainingSet, load_training_set
from curate.training.evaluate import Metrics
from curate.training.settings import TrainingSettings

SI64_MD = "vasp/pymatgen_core/outputs__vasprun.md.xml.gz"


def write_dataset(path: Path, configurations: list[Configuration]) -> Path:
    """A curate dataset holding ``configurations`` (ids derived from content, as on import)."""
    dataset = Dataset.create(path)
    with dataset.writer() as writer:
        writer.append(configurations_to_batch(configurations))
    return path


def mean_force_norm(cfg: Configuration) -> float:
    """Mean |F_i| over atoms, eV/A."""
    return float(np.linalg.norm(np.asarray(cfg.forces), axis=1).mean())


@pytest.fixture(scope="module")
def si64_split(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Pool (frames 0-5), correction (the pool frame with the largest mean |F|), benchmark (frames 6-9)."""
    work = tmp_path_factory.mktemp("si64-split")
    import_paths([shared_data / SI64_MD], format_name="vasp", out=work / "all")
    frames = sorted(load_training_set(work / "all").configurations, key=lambda c: c.ionic_step or 0)
    assert len(frames) == 10 and all(c.nsites == 64 for c in frames)
    pool, benchmark = frames[:6], frames[6:]
    chosen = max(pool, key=mean_force_norm)
    assert chosen.ionic_step == 5, "frame 5 has the largest forces of the pool (mean |F| 2.34 eV/A)"
    return {
        "pool": write_dataset(work / "pool", pool),
        "correction": write_dataset(work / "correction", [chosen]),
        "benchmark": write_dataset(work / "benchmark", benchmark),
        "work": work,
    }


def metrics(force_mae: float, scale: float, *, stress: float | None = None) -> Metrics:
    """A Metrics record with a given force MAE (eV/A) and softening scale; other errors derived from them."""
    return Metrics(
        structures=4,
        energy_mae_ev_per_atom=force_mae / 10,
        force_mae_ev_per_ang=force_mae,
        stress_mae_gpa=stress,
        softening_scale=scale,
        force_cmae_ev_per_ang=force_mae / 2,
    )


# --- pure functions ------------------------------------------------------------------------------------------


def test_mean_std_is_the_sample_standard_deviation() -> None:
    stat = mean_std([1.0, 2.0, 3.0, 4.0])
    assert stat.mean == 2.5
    assert stat.std == pytest.approx(math.sqrt(5.0 / 3.0))  # sum of squares 5, n - 1 = 3
    assert stat.values == (1.0, 2.0, 3.0, 4.0)
    assert stat.text(2) == "2.50 ± 1.29"
    with pytest.raises(ValueError, match="at least 2"):
        mean_std([1.0])
    with pytest.raises(ValueError, match="non-finite"):
        mean_std([1.0, float("nan")])


def test_gains_over_random_known_answer() -> None:
    correction = metrics(0.1, 0.95)
    random = [metrics(0.2, 1.10), metrics(0.3, 0.80), metrics(0.4, 1.00)]
    gains = gains_over_random(correction, random)
    # force MAE: 0.2, 0.3, 0.4 minus 0.1 -> 0.1, 0.2, 0.3
    assert gains["force_mae_ev_per_ang"].mean == pytest.approx(0.2)
    assert gains["force_mae_ev_per_ang"].std == pytest.approx(0.1)
    # |1 - a|: 0.10, 0.20, 0.00 minus 0.05 -> 0.05, 0.15, -0.05: a random set may beat the chosen one
    assert gains["softening_error"].values == pytest.approx((0.05, 0.15, -0.05))
    assert gains["softening_error"].mean == pytest.approx(0.05)
    assert gains["softening_error"].std == pytest.approx(0.1)
    assert gains["force_cmae_ev_per_ang"].mean == pytest.approx(0.1)
    assert "stress_mae_gpa" not in gains, "no stress labels in the benchmark: no stress gain"
    spread = spread_over_random(random)
    assert spread["softening_scale"].mean == pytest.approx(2.9 / 3)
    assert spread["force_mae_ev_per_ang"].std == pytest.approx(0.1)
    assert softening_error(1.25) == softening_error(0.75) == 0.25


def test_validation_split_is_seeded_disjoint_and_refuses_empty_training() -> None:
    train, val = validation_split(10, 0.2, seed=3)
    assert len(val) == 2 and len(train) == 8 and sorted(train + val) == list(range(10))
    assert validation_split(10, 0.2, seed=3) == (train, val)
    assert validation_split(4, None, seed=0) == ([0, 1, 2, 3], [])
    assert validation_split(3, 0.1, seed=0)[1].__len__() == 1, "at least one validation structure"
    with pytest.raises(ConfigurationError, match="leaves nothing to train on"):
        validation_split(1, 0.5, seed=0)


def test_refusals_name_what_is_wrong(si64_split: dict[str, Path]) -> None:
    pool = load_training_set(si64_split["pool"])
    correction = load_training_set(si64_split["correction"])
    benchmark = load_training_set(si64_split["benchmark"])
    check_experiment_inputs(pool, correction, benchmark, repeats=2)  # the honest split passes

    with pytest.raises(ConfigurationError, match=r"has 6 structures, more than the 1 of the pool"):
        check_experiment_inputs(correction, pool, benchmark, repeats=2)
    leaky_pool = TrainingSet(
        pool.configurations + benchmark.configurations[:2], pool.ids + benchmark.ids[:2], "leaky-pool"
    )
    with pytest.raises(ConfigurationError, match="2 structure") as leak:
        check_experiment_inputs(leaky_pool, correction, benchmark, repeats=2)
    assert benchmark.ids[0] in str(leak.value) and benchmark.ids[1] in str(leak.value)
    assert "pool leaky-pool" in str(leak.value)
    leaky_correction = benchmark.subset([3], origin="leaky-correction")
    with pytest.raises(ConfigurationError, match="correction set leaky-correction") as leak:
        check_experiment_inputs(pool, leaky_correction, benchmark, repeats=2)
    assert benchmark.ids[3] in str(leak.value)
    with pytest.raises(ConfigurationError, match="repeats must be >= 2"):
        check_experiment_inputs(pool, correction, benchmark, repeats=1)
    still = dataclasses.replace(benchmark.configurations[0], forces=np.zeros((64, 3)))
    with pytest.raises(ConfigurationError, match="softening scale is undefined"):
        check_experiment_inputs(pool, correction, TrainingSet((still,), ("x",), "still"), repeats=2)


def test_missing_labels_are_refused_with_the_role_and_row(si64_split: dict[str, Path]) -> None:
    frame = load_training_set(si64_split["benchmark"]).configurations[0]
    unlabelled = write_dataset(si64_split["work"] / "unlabelled", [dataclasses.replace(frame, forces=None)])
    with pytest.raises(InputError, match=r"--benchmark: row \w+ has no forces") as missing:
        load_role(unlabelled, "--benchmark")
    assert missing.value.field == "forces"


# --- CHGNet on real frames -----------------------------------------------------------------------------------


@pytest.mark.model
@pytest.mark.slow
def test_linear_correction_on_si64_beats_the_untouched_model(si64_split: dict[str, Path]) -> None:
    result = run_correction_gain(
        pool=load_training_set(si64_split["pool"]),
        correction=load_training_set(si64_split["correction"]),
        benchmark=load_training_set(si64_split["benchmark"]),
        model_spec="chgnet@0.3.0",
        method="linear",
        settings=TrainingSettings(seed=0),
        repeats=3,
        device="cpu",
    )
    before, after = result.before, result.correction.metrics
    assert 0.55 < before.softening_scale < 0.70, "CHGNet 0.3.0 is soft on 2000 K Si (scale ~0.63)"
    # the direction the softening paper reports: one high-force structure pulls the scale towards 1
    assert abs(1 - after.softening_scale) < abs(1 - before.softening_scale) / 3
    assert after.force_mae_ev_per_ang < 0.6 * before.force_mae_ev_per_ang
    # linear = one scalar s on the energy: the benchmark slope becomes s x the old slope, cMAE is unchanged
    scale = result.correction.energy_scale
    assert scale is not None and 1.3 < scale < 1.7
    assert after.softening_scale == pytest.approx(scale * before.softening_scale, rel=1e-5)
    assert after.force_cmae_ev_per_ang == pytest.approx(before.force_cmae_ev_per_ang, rel=1e-4)

    report = {**result.as_dict(), "command": "test"}
    written = write_report(report, si64_split["work"] / "linear-report")
    stored = json.loads(written["json"].read_text())
    assert stored["repeats"] == 3 and len(stored["random"]) == 3
    for run in stored["random"]:
        assert len(run["train_ids"]) == 1
        assert all(math.isfinite(v) for v in run["metrics"].values() if isinstance(v, float))
        assert math.isfinite(run["energy_scale"])
    # seed 0 draws pool frames 5, 3, 3: frame 5 is the correction frame, so two fits are reused
    assert [r.same_as for r in result.random] == ["correction", None, "random 2"]
    assert result.random[0].train_ids == result.correction.train_ids
    assert result.random[2].energy_scale == result.random[1].energy_scale != result.correction.energy_scale
    pool_ids = set(load_training_set(si64_split["pool"]).ids)
    assert all(run["train_ids"][0] in pool_ids for run in stored["random"])
    gain = stored["gain_over_random"]["force_mae_ev_per_ang"]
    random_mae = [run["metrics"]["force_mae_ev_per_ang"] for run in stored["random"]]
    expected = np.array(random_mae) - after.force_mae_ev_per_ang
    assert gain["mean"] == pytest.approx(expected.mean()) and gain["std"] == pytest.approx(expected.std(ddof=1))
    assert stored["random_mean_std"]["softening_scale"]["mean"] == pytest.approx(
        np.mean([run["metrics"]["softening_scale"] for run in stored["random"]])
    )
    assert stored["before"]["softening_scale"] == pytest.approx(before.softening_scale)
    assert written["plot"].stat().st_size > 10_000
    markdown = written["markdown"].read_text()
    assert markdown == report_markdown(stored)
    assert f"{after.force_mae_ev_per_ang:.4f}" in markdown and "random mean ± std" in markdown
    assert "| random 3 (= random 2) |" in markdown


@pytest.mark.model
@pytest.mark.slow
def test_full_finetuning_path_changes_the_benchmark(si64_split: dict[str, Path]) -> None:
    """One step of full fine-tuning on one frame: finite metrics, different from the untouched model's."""
    benchmark = load_training_set(si64_split["benchmark"]).subset([3], origin="benchmark frame 9")
    result = run_correction_gain(
        pool=load_training_set(si64_split["pool"]).subset([4, 5], origin="pool frames 4-5"),
        correction=load_training_set(si64_split["correction"]),
        benchmark=benchmark,
        model_spec="chgnet@0.3.0",
        method="full",
        settings=TrainingSettings(epochs=1, batch_size=1, seed=0),
        repeats=2,
        device="cpu",
    )
    for run in (result.correction, *result.random):
        values = [v for v in run.metrics.as_dict().values() if isinstance(v, float)]
        assert all(math.isfinite(v) for v in values)
        assert run.best_epoch == 1 and run.energy_scale is None
        # one Adam step (lr 1e-3) on a high-force frame already stiffens the model on a held-out frame
        assert run.metrics.force_mae_ev_per_ang < result.before.force_mae_ev_per_ang - 1e-3
        assert run.metrics.softening_scale != pytest.approx(result.before.softening_scale, abs=1e-4)
    # seed 0 draws pool index 1 (frame 5, the correction frame) twice: same structures, same settings and
    # seed, so the correction run's model is reused instead of trained again
    assert [r.same_as for r in result.random] == ["correction", "correction"]
    assert all(r.metrics == result.correction.metrics for r in result.random)
    assert result.gains()["force_mae_ev_per_ang"].as_dict() == {"mean": 0.0, "std": 0.0, "values": [0.0, 0.0]}
