"""Descriptor novelty of candidates against a reference dataset, with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curate.dataset.configuration import batch_to_configurations
from curate.dataset.store import Dataset
from curate.sources.ingest import import_paths
from sampling.novelty import ABSENT_ELEMENT_DISTANCE, structure_novelty
from sampling.pool import default_seeds


def test_novelty_is_zero_on_the_reference_grows_with_rattle_and_maxes_on_new_elements(
    shared_data: Path, tmp_path: Path
) -> None:
    import_paths([shared_data / "emmet" / "test_si_tasks.json.gz"], format_name="mp-tasks", out=tmp_path / "si")
    reference = batch_to_configurations(Dataset.open(tmp_path / "si").read())
    rng = np.random.default_rng(0)
    rattled = []
    for sigma in (0.02, 0.1, 0.3):
        cfg = batch_to_configurations(Dataset.open(tmp_path / "si").read())[0]
        cfg.positions = cfg.positions + rng.normal(0.0, sigma, cfg.positions.shape)
        rattled.append(cfg)
    copper = next(c for c in default_seeds() if c.species[0] == "Cu")
    novelty = structure_novelty(tmp_path / "si", [*reference, *rattled, copper])
    n = len(reference)
    assert np.all(novelty[:n] < 1e-6), "a structure in the reference is not novel"
    assert novelty[n] < novelty[n + 1] < novelty[n + 2], "more rattle, more novelty"
    assert novelty[-1] == ABSENT_ELEMENT_DISTANCE, "copper was never seen"
