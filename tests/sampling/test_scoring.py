"""Scorers: every registered one passes the conformance checks; force information, committee and novelty scores
have known answers; `curate sample` loads only the models a score needs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.configuration import batch_to_configurations, configurations_to_batch
from curate.dataset.store import Dataset
from curate.errors import ConfigurationError
from curate.models.base import Description, Prediction
from curate.sources.builtin import builtin_configuration
from sampling.pool import builtin_pool
from sampling.sample import model_specs
from sampling.scoring import SCORE_NAMES, SCORERS, ScoringInputs, force_deviation_per_atom, score_candidates
from sampling.scoring.novelty import ABSENT_ELEMENT_DISTANCE, structure_novelty

from .builders import committee_predictions, committee_scores


@pytest.fixture(scope="module")
def inputs(si_dataset: Path) -> ScoringInputs:
    """The built-in pool (48 rattled and strained Si, Cu, NaCl and MgO cells), a 3-member committee's forces
    and energies drawn around each other, one model's description (forces, energies, stress, features drawn the
    same way), and the imported Si tasks as the reference."""
    candidates = builtin_pool(seed=0).rows
    nsites = candidates.column("nsites").to_pylist()
    rng = np.random.default_rng(5)
    truth = [rng.normal(0.0, 1.0, (n, 3)) for n in nsites]
    forces = [[f + rng.normal(0.0, 0.1 * (m + 1), f.shape) for f in truth] for m in range(3)]
    energies = -4.0 * np.array(nsites) + rng.normal(0.0, 0.05, (3, len(nsites)))
    description = Description(
        predictions=[
            Prediction(energy=float(e), forces=f, stress=rng.normal(0.0, 2.0, (3, 3)))
            for e, f in zip(energies[0], truth, strict=True)
        ],
        features=rng.normal(size=(len(nsites), 8)),
        reference_energies_ev=-3.0 * np.array(nsites, dtype=np.float64),
    )
    return ScoringInputs(
        candidates, committee_predictions(forces, energies, nsites), reference=si_dataset, description=description
    )


def test_the_registry_is_what_the_cli_offers() -> None:
    assert SCORE_NAMES == ("force_information", "force_std_max", "force_std_mean", "energy_std_per_atom", "novelty")
    assert tuple(SCORERS) == SCORE_NAMES
    assert {name: s.unit for name, s in SCORERS.items()}["energy_std_per_atom"] == "eV/atom"


@pytest.mark.parametrize("name", SCORE_NAMES)
def test_every_scorer_conforms(name: str, inputs: ScoringInputs) -> None:
    """Shape (N,), finite, float64, >= 0, and permuting the candidates permutes the scores the same way."""
    scorer = SCORERS[name]
    assert scorer.name == name and scorer.unit and scorer.needs <= {"committee", "description", "reference"}
    values = scorer.score(inputs)
    n = inputs.candidates.num_rows
    assert values.shape == (n,) and values.dtype == np.float64
    assert np.all(np.isfinite(values)) and np.all(values >= 0.0)
    assert np.ptp(values) > 0, "a score that does not vary cannot rank"
    order = np.random.default_rng(1).permutation(n)
    np.testing.assert_allclose(scorer.score(inputs.take(order)), values[order], rtol=1e-12, atol=1e-15)


def test_scores_are_computed_when_their_inputs_are_there(inputs: ScoringInputs) -> None:
    without_reference = ScoringInputs(inputs.candidates, inputs.committee)
    assert list(score_candidates(without_reference)) == ["force_std_max", "force_std_mean", "energy_std_per_atom"]
    with pytest.raises(ConfigurationError, match=r"'novelty' needs a reference dataset \(argument reference\)"):
        score_candidates(without_reference, ["novelty"])
    with pytest.raises(ConfigurationError, match="unknown score"):
        score_candidates(inputs, ["force_std_median"])
    one_model = ScoringInputs(inputs.candidates, description=inputs.description)
    assert list(score_candidates(one_model)) == ["force_information"]
    with pytest.raises(ConfigurationError, match=r"'force_information' needs the description of the candidates"):
        score_candidates(without_reference, ["force_information"])


def test_force_information_matches_its_definition() -> None:
    """0.1 u^2 + 100 <f^2> + 0.1 <sigma^2>: u = (E - R) / n in eV/atom, f in eV/A, sigma in GPa."""
    forces = np.zeros((4, 3))
    forces[0] = [0.3, 0.4, 1.2]  # |f|^2 = 1.69 over 12 components
    stress = np.diag([1.0, 2.0, 2.0])  # 9 GPa^2 over 9 components
    described = Description(
        predictions=[Prediction(energy=-10.0, forces=forces, stress=stress)],
        features=np.zeros((1, 2)),
        reference_energies_ev=np.array([-18.0]),  # u = 8 eV / 4 atoms = 2 eV/atom
    )
    candidates = pa.table({"id": ["c0"], "nsites": [4]})
    value = SCORERS["force_information"].score(ScoringInputs(candidates, description=described))
    assert value == pytest.approx([0.1 * 4.0 + 100.0 * 1.69 / 12 + 0.1 * 9.0 / 9])


def test_force_deviation_matches_its_definition() -> None:
    a = np.zeros((2, 3))
    b = np.zeros((2, 3))
    b[0] = [0.3, 0.4, 0.0]  # |F_b - F_a| = 0.5 on atom 0
    sigma = force_deviation_per_atom([a, b])
    assert sigma == pytest.approx([0.25, 0.0])  # each member 0.25 from the mean


def test_energy_spread_ignores_per_model_reference_energies() -> None:
    rng = np.random.default_rng(2)
    nsites = [4] * 6 + [8] * 6
    formulas = ["Cu"] * 6 + ["MgO"] * 6
    truth = rng.normal(-4.0, 0.05, 12) * np.array(nsites)
    offsets = {"Cu": [0.0, 0.1, -6.7], "MgO": [0.0, -0.2, -3.1]}  # eV/atom: functional-like shifts per model
    energies = np.array([[truth[k] + offsets[formulas[k]][m] * nsites[k] for k in range(12)] for m in range(3)])
    forces = [[np.zeros((n, 3)) for n in nsites] for _ in range(3)]
    scores = committee_scores(forces, energies, nsites, formulas)
    assert np.allclose(scores["energy_std_per_atom"], 0.0, atol=1e-12)
    energies[1, 3] += 0.3 * nsites[3]  # one member disagrees on one Cu candidate by 0.3 eV/atom
    scores = committee_scores(forces, energies, nsites, formulas)
    assert int(np.argmax(scores["energy_std_per_atom"])) == 3


def test_novelty_is_zero_on_the_reference_grows_with_rattle_and_maxes_on_new_elements(si_dataset: Path) -> None:
    reference = batch_to_configurations(Dataset.open(si_dataset).read())
    rng = np.random.default_rng(0)
    rattled = []
    for sigma in (0.02, 0.1, 0.3):
        cfg = batch_to_configurations(Dataset.open(si_dataset).read())[0]
        cfg.positions = cfg.positions + rng.normal(0.0, sigma, cfg.positions.shape)
        rattled.append(cfg)
    copper = builtin_configuration("Cu-fcc")
    candidates = pa.Table.from_batches([configurations_to_batch([*reference, *rattled, copper])])
    novelty = structure_novelty(si_dataset, candidates)
    n = len(reference)
    assert np.all(novelty[:n] < 1e-6), "a structure in the reference is not novel"
    assert novelty[n] < novelty[n + 1] < novelty[n + 2], "more rattle, more novelty"
    assert novelty[-1] == ABSENT_ELEMENT_DISTANCE, "copper was never seen"


def test_mismatched_models_are_refused_before_loading() -> None:
    assert model_specs("force_information", "herding") == ["chgnet@0.3.0"]
    assert model_specs("force_std_max", "greedy") == ["chgnet@0.3.0", "chgnet@0.2.0", "chgnet@r2scan"]
    assert model_specs("novelty", "greedy") == []
    with pytest.raises(ConfigurationError, match=r"'force_std_max' .* at least 2 models .* got \['chgnet@0.3.0'\]"):
        model_specs("force_std_max", "greedy", ["chgnet@0.3.0"])
    with pytest.raises(ConfigurationError, match=r"score 'force_information' reads one model.* got 2"):
        model_specs("force_information", "greedy", ["chgnet@0.3.0", "chgnet@0.2.0"])
    with pytest.raises(ConfigurationError, match=r"strategy 'herding' reads one model.* got 2"):
        model_specs("novelty", "herding", ["chgnet@0.3.0", "chgnet@0.2.0"])
    with pytest.raises(ConfigurationError, match=r"'herding' selects in the features of one model.*'force_std_max'"):
        model_specs("force_std_max", "herding")


def test_novelty_alone_loads_no_model(si_dataset: Path, tmp_path: Path) -> None:
    """``--score novelty`` with greedy reads only the reference: no model is loaded, the table shows novelty."""
    args = ["sample", "--score", "novelty", "--strategy", "greedy", "--reference", str(si_dataset)]
    result = CliRunner().invoke(main, [*args, "--budget", "2", "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "s" / "sample.json").read_text())
    assert summary["settings"]["models"] == [] and summary["settings"]["features"] == "mean SOAP"
    assert all(list(p["scores"]) == ["novelty"] for p in summary["picks"])
    # the reference is silicon: copper and the salts hold elements it never saw, the maximum distance
    assert all(p["scores"]["novelty"] == ABSENT_ELEMENT_DISTANCE and p["formula"] != "Si" for p in summary["picks"])
    assert "novelty" in next(line for line in result.output.splitlines() if line.startswith("rank"))
