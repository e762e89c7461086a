"""Splits by material, seeded random subsets, the closed-form linear scale and the AtomRef refit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from curate.dataset.configuration import Configuration
from curate.errors import ConfigurationError, InputError
from curate.models.base import Prediction
from curate.sources.ingest import import_paths
from curate.training.atomref import refit_reference_energies
from curate.training.data import TrainingSet, load_training_set, random_subsets, split_by_group
from curate.training.linear import fit_energy_scale
from curate.training.settings import TrainingSettings

MATPES_R2SCAN = "matcalc/MatPES-r2SCAN-Element-Refs.json.gz"


@pytest.fixture(scope="module")
def matpes(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainingSet:
    out = tmp_path_factory.mktemp("matpes") / "r2scan"
    import_paths([shared_data / MATPES_R2SCAN], format_name="matpes", out=out)
    return load_training_set(out)


def test_split_by_material_is_disjoint_seeded_and_near_8_1_1(matpes: TrainingSet) -> None:
    parts = split_by_group(matpes, (8, 1, 1), seed=7)
    assert sorted(i for p in parts for i in p) == list(range(89))
    keys = [
        {matpes.configurations[i].material_id or "".join(sorted(set(matpes.configurations[i].species))) for i in p}
        for p in parts
    ]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    assert [len(p) for p in parts] == [71, 9, 9]
    assert split_by_group(matpes, (8, 1, 1), seed=7) == parts
    assert split_by_group(matpes, (8, 1, 1), seed=8) != parts


def test_random_subsets_are_seeded_distinct_and_refuse_oversize() -> None:
    subsets = random_subsets(10, 3, 4, seed=1)
    assert len(subsets) == 4 and all(len(set(s)) == 3 and max(s) < 10 for s in subsets)
    assert subsets == random_subsets(10, 3, 4, seed=1)
    with pytest.raises(ConfigurationError, match="cannot draw 11"):
        random_subsets(10, 11, 1, seed=1)


def test_training_set_refuses_rows_without_forces(matpes: TrainingSet) -> None:
    broken = dataclasses.replace(matpes.configurations[0], forces=None)
    with pytest.raises(InputError, match="no forces"):
        TrainingSet((broken,), ("row-0",), "test")


def _cell(species: list[str], energy: float) -> Configuration:
    n = len(species)
    return Configuration(
        species=species,
        lattice=np.eye(3) * 4.0,
        positions=np.random.default_rng(n).uniform(0, 4, size=(n, 3)),
        energy=energy,
        forces=np.zeros((n, 3)),
    )


@pytest.mark.model
@pytest.mark.slow
def test_atomref_refit_recovers_planted_per_element_shifts() -> None:
    """Labels = pretrained AtomRef energies + planted per-element shifts: the refit recovers mu exactly."""
    from chgnet.model import CHGNet
    from pymatgen.core import Element

    model = CHGNet(composition_model="MPtrj")
    mu_old = model.composition_model.fc.weight.detach().numpy().reshape(-1).astype(float)
    shifts = {"Li": -2.5, "O": -11.0, "Fe": -31.0}
    mu_new = {e: mu_old[Element(e).Z - 1] + s for e, s in shifts.items()}
    formulas = [["Li", "Li", "O"], ["Fe", "O"], ["Fe", "Fe", "O", "O", "O"], ["Li", "Fe", "O", "O"], ["Li"]]
    cells = [_cell(f, sum(mu_new[e] for e in f)) for f in formulas]
    record = refit_reference_energies(model, TrainingSet(tuple(cells), tuple(map(str, range(5))), "planted"))
    mu_fit = model.composition_model.fc.weight.detach().numpy().reshape(-1)
    for e in shifts:
        assert mu_fit[Element(e).Z - 1] == pytest.approx(mu_new[e], abs=1e-4)
    assert record["mean_shift_ev_per_atom"] == pytest.approx(np.mean(list(shifts.values())), abs=1e-4)
    # an element absent from the training set moves by the mean shift
    assert mu_fit[Element("Si").Z - 1] == pytest.approx(
        mu_old[Element("Si").Z - 1] + np.mean(list(shifts.values())), abs=1e-4
    )


def test_closed_form_scale_minimises_the_loss() -> None:
    """s* is the minimiser: the weighted loss at s* +- 1e-3 is higher (MSE), and Huber finds a nearby value."""
    rng = np.random.default_rng(0)
    cells, predictions, references = [], [], []
    for k in range(3):
        n = 4 + k
        f_pred = rng.normal(size=(n, 3))
        s_pred = rng.normal(size=(3, 3))
        u, r = rng.normal(), -5.0 * n
        cell = _cell(["Si"] * n, r + 1.3 * u + rng.normal(0, 0.01))
        cell.forces = 1.3 * f_pred + rng.normal(0, 0.05, size=(n, 3))
        cell.stress = 1.3 * s_pred
        cells.append(cell)
        predictions.append(Prediction(energy=r + u, forces=f_pred, stress=s_pred))
        references.append(r)
    data = TrainingSet(tuple(cells), ("a", "b", "c"), "synthetic")
    settings = TrainingSettings()
    s = fit_energy_scale(data, predictions, settings, reference_energies_ev=references)
    assert s == pytest.approx(1.3, abs=0.02)

    def loss(scale: float) -> float:
        e = np.mean(
            [
                ((r + scale * (p.energy - r)) / c.nsites - c.energy / c.nsites) ** 2
                for c, p, r in zip(cells, predictions, references, strict=True)
            ]
        )
        f = np.mean(
            np.concatenate(
                [(scale * p.forces - c.forces).ravel() ** 2 for c, p in zip(cells, predictions, strict=True)]
            )
        )
        t = np.mean(
            np.concatenate(
                [(scale * p.stress - c.stress).ravel() ** 2 for c, p in zip(cells, predictions, strict=True)]
            )
        )
        return 0.1 * e + 100 * f + 0.1 * t

    assert loss(s) < loss(s + 1e-3) and loss(s) < loss(s - 1e-3)
    huber = fit_energy_scale(data, predictions, settings.with_changes(loss="huber"), reference_energies_ev=references)
    assert huber == pytest.approx(s, abs=0.05)
