"""The stored stress (GPa, ASE sign) agrees with CHGNet's prediction on the same real structures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from curate.dataset.configuration import batch_to_configurations
from curate.dataset.store import Dataset
from curate.sources.ingest import import_paths


@pytest.mark.model
@pytest.mark.slow
def test_stress_sign_and_unit_match_chgnet(shared_data: Path, tmp_path: Path) -> None:
    from chgnet.model import CHGNet
    from pymatgen.core import Lattice, Structure

    import_paths([shared_data / "emmet" / "test_As2SO6_tasks.json.gz"], format_name="mp-tasks", out=tmp_path / "d")
    configurations = batch_to_configurations(Dataset.open(tmp_path / "d").read())
    # frames far enough from equilibrium that the pressure's sign is meaningful
    strained = sorted(configurations, key=lambda c: -abs(np.trace(c.stress)))[:6]
    pressures_dft = np.array([np.trace(c.stress) / 3.0 for c in strained])
    assert np.all(np.abs(pressures_dft) > 2.0)
    structures = [Structure(Lattice(c.lattice), c.species, c.positions, coords_are_cartesian=True) for c in strained]
    model = CHGNet.load(model_name="0.3.0", verbose=False)
    predictions = model.predict_structure(structures, task="efs", batch_size=2)
    pressures_chgnet = np.array([np.trace(p["s"]) / 3.0 for p in predictions])  # CHGNet: GPa, ASE sign
    assert np.all(np.sign(pressures_chgnet) == np.sign(pressures_dft))
    ratio = pressures_chgnet / pressures_dft
    assert np.all((ratio > 0.5) & (ratio < 2.0)), f"same unit expected, ratios {ratio}"
