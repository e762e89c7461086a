"""Known-answer tests of descriptor coverage on real DFT structures (As2SO6 and Si64 from ../shared/data)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from curate.dataset.configuration import batch_to_configurations, configurations_to_batch
from curate.dataset.store import Dataset
from curate.diagnostics.coverage import CoverageOptions, compute_coverage
from curate.diagnostics.coverage_report import coverage_at
from curate.errors import DatasetError
from curate.sources.ingest import import_paths

SIGMAS_ANG = (0.01, 0.05, 0.1, 0.2, 0.4)


@pytest.fixture(scope="module")
def as2so6(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """193 real ionic steps of As2SO6 (18 atoms each: 3,474 environments)."""
    out = tmp_path_factory.mktemp("cov") / "as2so6"
    import_paths([shared_data / "emmet" / "test_As2SO6_tasks.json.gz"], format_name="mp-tasks", out=out)
    return Dataset.open(out)


@pytest.fixture(scope="module")
def si64(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """10 real molecular-dynamics frames of Si64 (640 environments)."""
    out = tmp_path_factory.mktemp("cov") / "si64"
    import_paths([shared_data / "vasp" / "pymatgen_core" / "outputs__vasprun.md.xml.gz"], format_name="vasp", out=out)
    return Dataset.open(out)


def rattled_copy(source: Dataset, out: Path, *, sigma_ang: float, seed: int, every: int = 1) -> Dataset:
    """Every ``every``-th row of ``source`` with positions displaced by seeded Gaussian noise of width sigma."""
    rng = np.random.default_rng(seed)
    configurations = batch_to_configurations(source.read())[::every]
    for cfg in configurations:
        cfg.positions = cfg.positions + rng.normal(0.0, sigma_ang, cfg.positions.shape)
    dataset = Dataset.create(out)
    with dataset.writer() as writer:
        writer.append(configurations_to_batch(configurations))
    return dataset


def test_target_equal_to_reference_is_fully_covered(as2so6: Dataset) -> None:
    result = compute_coverage(as2so6, as2so6)
    assert len(result.distances) == 193 * 18
    assert result.target_scan.num_environments == result.reference_scan.num_environments == 3474
    assert float(result.distances.max()) < 1e-6
    for radius in (0.0, 1e-6, 0.01, 0.05, 1.0):
        assert coverage_at(result.distances, radius) == 1.0
    assert result.descriptor["species"] == ["O", "S", "As"]
    assert result.descriptor["n_features"] == 312  # (3 species x 4 radial)(13)/2 x 4 angular, uncompressed
    assert sorted(np.unique(result.center_z).tolist()) == [8, 16, 33]
    assert np.bincount(result.center_z)[[8, 16, 33]].tolist() == [193 * 12, 193 * 2, 193 * 4]


def test_coverage_falls_monotonically_with_rattle_amplitude(as2so6: Dataset, tmp_path: Path) -> None:
    coverages, medians = [], []
    for sigma in SIGMAS_ANG:
        target = rattled_copy(as2so6, tmp_path / f"rattled_{sigma}", sigma_ang=sigma, seed=7, every=8)
        result = compute_coverage(as2so6, target, CoverageOptions(pca_sample_envs=2000))
        assert len(result.distances) == 25 * 18
        coverages.append(coverage_at(result.distances, 0.05))
        medians.append(float(np.median(result.distances)))
    assert coverages[0] >= 0.99  # a 0.01 A rattle stays well inside radius 0.05
    assert coverages[-1] <= 0.02  # a 0.4 A rattle leaves almost every environment uncovered
    assert all(a > b + 0.01 for a, b in itertools.pairwise(coverages) if a > 0.02), coverages
    assert all(a >= b for a, b in itertools.pairwise(coverages)), coverages
    assert all(b > 1.5 * a for a, b in itertools.pairwise(medians)), medians


def test_elements_missing_from_reference_are_never_covered(as2so6: Dataset, si64: Dataset) -> None:
    result = compute_coverage(si64, as2so6, CoverageOptions(n_components=8))
    assert result.descriptor["species"] == ["O", "Si", "S", "As"]
    assert np.isinf(result.distances).all()
    assert coverage_at(result.distances, 1.0) == 0.0
    assert result.source_names == ["mp-tasks"]


def test_empty_target_and_empty_pca_sample_are_refused(si64: Dataset, tmp_path: Path) -> None:
    empty = Dataset.create(tmp_path / "empty")
    with pytest.raises(DatasetError, match="no structures"):
        compute_coverage(si64, empty)
    with pytest.raises(DatasetError, match="PCA sample holds 0 environment"):
        compute_coverage(si64, si64, CoverageOptions(pca_sample_envs=1))
