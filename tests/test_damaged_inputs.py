"""The damaged-input suite over a bounded seeded sample (the full run is ``bench/damaged_inputs.py``).

Every variant is a real file of ../shared/data with one damage; each is imported by ``curate import`` in a
forked child killed after a timeout. Asserted: no traceback, no hang, no good record lost, no bad record
admitted, every quarantine entry and error naming its file (and, for a bad value, its record and field).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.damaged_inputs import (
    FAMILY_BYTES,
    FAMILY_FS,
    FAMILY_VALUE,
    Variant,
    all_variants,
    describe,
    failures,
    run_suite,
)
from curate.checks.quality import configuration_findings, min_distance_violation
from curate.cli import main
from curate.dataset.configuration import Configuration
from curate.errors import ConfigurationError

# the cases issue 16 found, by name fragment: each must be in the sample
ISSUE_CASES = (
    "si-tasks: ",  # one bad value in a task document (the first of them)
    "flat cell",
    "GGA='ZZ'",
    "matpes_id as integer",
    "key not UTF-8",
    "outcar: step",
    "extxyz: frame",
)


def _sample(variants: list[Variant], seed: int) -> list[Variant]:
    chosen: list[Variant] = []
    for fragment in ISSUE_CASES:
        chosen.append(next(v for v in variants if fragment in v.name and v not in chosen))
    rng = random.Random(seed)
    # a gzip byte flip (the CRC case), a truncation, and file-system cases
    gz_flips = [v for v in variants if v.family == FAMILY_BYTES and "-gz" in v.name and "flips" in v.name]
    truncations = [v for v in variants if v.family == FAMILY_BYTES and "truncated" in v.name]
    fs = [v for v in variants if v.family == FAMILY_FS]
    values = [v for v in variants if v.family == FAMILY_VALUE and v not in chosen]
    chosen += rng.sample(gz_flips, 2) + rng.sample(truncations, 1) + rng.sample(fs, 2) + rng.sample(values, 2)
    return chosen


def test_seeded_sample_of_damaged_inputs(shared_data: Path) -> None:
    variants = _sample(all_variants(shared_data, seed=16), seed=16)
    started = time.perf_counter()
    outcomes = run_suite(variants, shared_data, timeout_s=45.0)
    assert len(outcomes) == len(variants) >= 14
    assert [f"{o.variant.name}: {describe(o)}" for o in failures(outcomes)] == []
    assert time.perf_counter() - started < 120


def _flat_cell_cfg() -> Configuration:
    lattice = np.array([[5.43, 0.0, 0.0], [0.0, 5.43, 0.0], [0.0, 0.0, 1e-5]])
    positions = np.array([[0.0, 0.0, 0.0], [1.36, 1.36, 0.0]])
    return Configuration(species=["Si", "Si"], lattice=lattice, positions=positions)


def test_a_flat_cell_is_refused_before_any_neighbour_search() -> None:
    started = time.perf_counter()
    findings = configuration_findings(_flat_cell_cfg())
    assert time.perf_counter() - started < 1.0
    assert [(f.check, f.field, f.severity) for f in findings] == [("cell-shape", "lattice_vectors", "error")]
    assert "0.000147 A^3 per atom" in findings[0].reason  # 5.43 x 5.43 x 1e-5 A^3 over 2 atoms


def test_a_site_far_outside_its_cell_is_refused() -> None:
    cfg = _flat_cell_cfg()
    cfg.lattice = np.eye(3) * 5.43
    cfg.positions = np.array([[0.0, 0.0, 0.0], [1e15, 1.36, 1.36]])
    findings = configuration_findings(cfg)
    assert [(f.check, f.field) for f in findings] == [("cell-shape", "cartesian_site_positions")]


def test_min_distance_factor_has_a_range(tmp_path: Path, shared_data: Path) -> None:
    cfg = _flat_cell_cfg()
    cfg.lattice = np.eye(3) * 5.43
    with pytest.raises(ConfigurationError, match=r"\[0, 1\]"):
        min_distance_violation(cfg, factor=1e9)
    # the two Si are 1.92 A apart: below 1 x the covalent radii sum (2.22 A), above 0.5 x (1.11 A)
    assert "1.923 A apart" in (min_distance_violation(cfg, factor=1.0) or "")
    assert min_distance_violation(cfg, factor=0.5) is None
    path = shared_data / "emmet" / "test_si_tasks.json.gz"
    result = CliRunner().invoke(
        main, ["import", "mp-tasks", str(path), "--out", str(tmp_path / "d"), "--min-distance-factor", "1e9"]
    )
    assert result.exit_code == 2 and "1000000000.0 is not in the range 0<=x<=1.0" in result.output
