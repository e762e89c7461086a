"""Label-space bias: force norms, energy above the lowest frame, volumetric strain vs the relaxed cell."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from curate.dataset.configuration import batch_to_configurations, configurations_to_batch
from curate.dataset.store import Dataset
from curate.diagnostics.label_bias import FORCE_EDGES_EV_PER_ANG, label_statistics
from curate.sources.ingest import import_paths


@pytest.fixture(scope="module")
def as2so6(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    out = tmp_path_factory.mktemp("labels") / "as2so6"
    import_paths([shared_data / "emmet" / "test_As2SO6_tasks.json.gz"], format_name="mp-tasks", out=out)
    return Dataset.open(out)


def test_force_norms_match_numpy_on_real_frames(as2so6: Dataset) -> None:
    stats = label_statistics(as2so6, batch_rows=50)
    forces = np.concatenate(
        [np.asarray(f).reshape(-1, 3) for f in as2so6.read(columns=["forces"]).column(0).to_pylist() if f]
    )
    norms = np.linalg.norm(forces, axis=1)
    assert stats.n_rows == 193
    assert stats.n_atoms_with_forces == len(norms) == 193 * 18
    assert stats.force_mean == pytest.approx(norms.mean(), rel=1e-12)
    assert stats.force_max == pytest.approx(norms.max(), rel=1e-12)
    assert stats.force_below[0.05] == pytest.approx(np.mean(norms < 0.05), abs=0)
    assert stats.force_counts.sum() == len(norms)
    expected = np.histogram(np.minimum(norms, 99.999), bins=FORCE_EDGES_EV_PER_ANG)[0]
    assert stats.force_counts.tolist() == expected.tolist()


def test_energy_above_lowest_frame_matches_groupby(as2so6: Dataset) -> None:
    stats = label_statistics(as2so6, batch_rows=37)
    rows = as2so6.read(columns=["material_id", "functional", "energy", "nsites", "lattice_vectors"]).to_pylist()
    lowest: dict[tuple, tuple[float, float]] = {}
    for r in rows:
        key = (r["material_id"], r["functional"])
        e = r["energy"] / r["nsites"]
        v = abs(np.linalg.det(np.asarray(r["lattice_vectors"]))) / r["nsites"]
        if key not in lowest or e < lowest[key][0]:
            lowest[key] = (e, v)
    keys = [(r["material_id"], r["functional"]) for r in rows]
    expected_e = [r["energy"] / r["nsites"] - lowest[k][0] for r, k in zip(rows, keys, strict=True)]
    expected_v = [
        abs(np.linalg.det(np.asarray(r["lattice_vectors"]))) / r["nsites"] / lowest[k][1] - 1
        for r, k in zip(rows, keys, strict=True)
    ]
    assert stats.n_groups == len(lowest)
    np.testing.assert_allclose(stats.energy_above_min, expected_e, atol=1e-12)
    np.testing.assert_allclose(stats.volumetric_strain, expected_v, atol=1e-12)
    assert stats.energy_above_min.min() == 0.0


def test_known_strain_and_energy_on_scaled_si64(shared_data: Path, tmp_path: Path) -> None:
    """Copies of a real Si64 frame, cell scaled by s and energy raised by 10 meV/atom per step."""
    import_paths(
        [shared_data / "vasp" / "pymatgen_core" / "outputs__vasprun.md.xml.gz"], format_name="vasp", out=tmp_path / "si"
    )
    frame = batch_to_configurations(Dataset.open(tmp_path / "si").read())[0]
    scales = (1.0, 1.02, 0.97, 1.05)
    copies = []
    for k, s in enumerate(scales):
        cfg = batch_to_configurations(configurations_to_batch([frame]))[0]
        cfg.lattice, cfg.positions = frame.lattice * s, frame.positions * s
        cfg.energy = frame.energy + 0.01 * k * 64
        copies.append(cfg)
    dataset = Dataset.create(tmp_path / "scaled")
    with dataset.writer() as writer:
        writer.append(configurations_to_batch(copies))
    stats = label_statistics(dataset)
    assert stats.n_groups == 1  # material_id is null: grouped by formula Si and functional PBE
    np.testing.assert_allclose(sorted(stats.energy_above_min), [0.0, 0.01, 0.02, 0.03], atol=1e-9)
    np.testing.assert_allclose(sorted(stats.volumetric_strain), sorted(s**3 - 1 for s in scales), atol=1e-12)
