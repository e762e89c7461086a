"""Real Si training sets (imported once per session), the three models every fine-tuner test trains (CHGNet
0.3.0 from its wheel, a tiny random MACE and a tiny random M3GNet saved to tmp files) and the known-answer
relabelling the fine-tuners share."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from curate.models import Model, load_model
from curate.models.base import Prediction
from curate.sources.ingest import import_paths
from curate.training.data import TrainingSet, load_training_set

from ..models.builders import ELEMENTS, build_mace_file

SI64_MD = "vasp/pymatgen_core/outputs__vasprun.md.xml.gz"
SI_TASKS = "emmet/test_si_tasks.json.gz"
# element_refs (eV/atom, ELEMENTS order), data_mean (eV) and data_std: every term of E = std m + mean + R is live
M3GNET_ELEMENT_REFS = np.linspace(-6.0, -2.0, len(ELEMENTS))


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


@pytest.fixture(scope="session")
def chgnet() -> Model:
    """CHGNet 0.3.0 (PBE), shipped in the chgnet wheel."""
    return load_model("chgnet@0.3.0", device="cpu")


@pytest.fixture(scope="session")
def mace(tmp_path_factory: pytest.TempPathFactory) -> Model:
    """A tiny random ScaleShiftMACE (2 interaction blocks, float64) loaded through its ``mace:FILE`` spec."""
    path = build_mace_file(tmp_path_factory.mktemp("mace") / "tiny.model")
    return load_model(f"mace:{path}", device="cpu")


@pytest.fixture(scope="session")
def m3gnet(tmp_path_factory: pytest.TempPathFactory) -> Model:
    """A tiny random M3GNet (2 blocks) with element_refs, data_mean 0.1 eV and data_std 2, via Potential.save."""
    path = build_m3gnet_dir(tmp_path_factory.mktemp("matgl") / "m3gnet")
    return load_model(f"matgl:{path}", device="cpu")


def build_m3gnet_dir(path: Path) -> Path:
    """A tiny random M3GNet potential (16 units, 2 blocks, cutoff 4 A) with element_refs (every term of
    E = data_std m + data_mean + R live), saved with Potential.save(path)."""
    import torch
    from matgl.apps.pes import Potential
    from matgl.models import M3GNet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = M3GNet(element_types=ELEMENTS, units=16, nblocks=2, cutoff=4.0, threebody_cutoff=3.0)
    potential = Potential(
        model=model, element_refs=M3GNET_ELEMENT_REFS, data_mean=0.1, data_std=2.0, calc_stresses=True
    )
    potential.save(path)
    return path


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
