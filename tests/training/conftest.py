"""Real Si training sets (imported once per session) and the known-answer relabelling the fine-tuners share."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from curate.models.base import Prediction
from curate.sources.ingest import import_paths
from curate.training.data import TrainingSet, load_training_set

SI64_MD = "vasp/pymatgen_core/outputs__vasprun.md.xml.gz"
SI_TASKS = "emmet/test_si_tasks.json.gz"


@pytest.fixture(scope="session")
def si64_dir(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 10 Si64 molecular-dynamics frames (PBE, 2000 K) as a curate dataset."""
    out = tmp_path_factory.mktemp("si64") / "data"
    import_paths([shared_data / SI64_MD], format_name="vasp", out=out)
    return out


@pytest.fixture(scope="session")
def si64(si64_dir: Path) -> TrainingSet:
    """The 10 Si64 MD frames, in order."""
    return load_training_set(si64_dir)


@pytest.fixture(scope="session")
def si(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainingSet:
    """17 real structures: 10 Si64 MD frames (forces up to 4 eV/A), one Si8, six Si2, all with stress."""
    out = tmp_path_factory.mktemp("si") / "data"
    import_paths([shared_data / SI64_MD], format_name="vasp", out=out)
    import_paths([shared_data / SI_TASKS], format_name="mp-tasks", out=out)
    return load_training_set(out)


def relabel_scaled(
    data: TrainingSet, predictions: Sequence[Prediction], references_ev: Sequence[float], *, scale: float
) -> TrainingSet:
    """Labels = a model's own predictions with the interaction energy E - R (so forces and stress) x ``scale``.

    R is the model's elemental reference energy of each structure (eV); all zeros scales everything.
    """
    relabelled = [
        dataclasses.replace(c, energy=r + scale * (p.energy - r), forces=scale * p.forces, stress=scale * p.stress)
        for c, p, r in zip(data, predictions, references_ev, strict=True)
    ]
    return TrainingSet(tuple(relabelled), data.ids, f"{data.origin} x{scale}")
