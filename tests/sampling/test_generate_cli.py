"""``curate generate`` end to end on real parents: counts, provenance round trip, rejection, recipes, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from curate.checks.quality import min_distance_violation
from curate.cli import main
from curate.dataset.configuration import Configuration, batch_to_configurations
from curate.dataset.store import Dataset
from sampling.generators.rattle import gaussian_displacements
from sampling.generators.strain import apply_strain, strain_tensor


def _rows(path: Path) -> list[tuple[Configuration, str]]:
    table = Dataset.open(path).read()
    return list(zip(batch_to_configurations(table), table.column("id").to_pylist(), strict=True))


def test_perturb_recipe_provenance_round_trips(si_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "candidates"
    result = CliRunner().invoke(main, ["generate", str(si_dataset), "--recipe", "perturb", "--out", str(out)])
    assert result.exit_code == 0, result.output
    # 7 parents: 3 stds x 2 gaussian rattles, 1 MC rattle, 2 + 6 + 3 strains each. Parents 1 and 5 of the
    # Materials Project file share a geometry with others, so their (deterministic) strains repeat rows.
    assert "gaussian-rattle: 42 generated, 0 rejected, 42 added" in result.output
    assert "mc-rattle: 7 generated, 0 rejected, 7 added" in result.output
    assert "strain: 77 generated, 0 rejected, 55 added, 22 already present" in result.output
    assert "104 rows added from 7 parents, 0 rejected" in result.output
    parents = dict((row_id, cfg) for cfg, row_id in _rows(si_dataset))
    rows = _rows(out)
    assert len(rows) == 104
    seeds = [cfg.seed for cfg, _ in rows if cfg.generator != "strain"]
    assert len(seeds) == 49 and len(set(seeds)) == 49  # a distinct seed for every random structure
    for cfg, _ in rows:
        parent = parents[cfg.parent_id]  # every parent_id is a row of the source dataset
        params = json.loads(cfg.generator_params)
        assert cfg.energy is None and cfg.forces is None and cfg.functional is None and cfg.source == "generated"
        if cfg.generator == "gaussian-rattle":  # parent + params + seed rebuild the stored row exactly
            rebuilt = parent.positions + gaussian_displacements(parent.nsites, std_ang=params["std_ang"], seed=cfg.seed)
            np.testing.assert_array_equal(cfg.positions, rebuilt)
        elif cfg.generator == "strain":
            eps = strain_tensor(params["mode"], params["strain"], lattice=parent.lattice, axis=params["axis"])
            lattice, positions = apply_strain(parent.lattice, parent.positions, eps)
            np.testing.assert_array_equal(cfg.lattice, lattice)
            np.testing.assert_array_equal(cfg.positions, positions)
            assert cfg.seed is None
        else:
            assert cfg.generator == "mc-rattle" and params["d_min_ang"] > 1.9
    history = Dataset.open(out).manifest["history"][-1]
    assert history["command"] == "generate" and history["recipe"]["name"] == "perturb"
    assert history["steps"]["strain"] == {
        "generator": "strain",
        "generated": 77,
        "rejected": {},
        "rows_added": 55,
        "duplicates": 22,
    }
    assert history["source_content_hash"] == Dataset.open(si_dataset).content_hash
    # same seed: the same rows; a re-run adds nothing; another seed: other rows
    again = tmp_path / "again"
    CliRunner().invoke(main, ["generate", str(si_dataset), "--recipe", "perturb", "--out", str(again)])
    assert Dataset.open(again).content_hash == Dataset.open(out).content_hash
    rerun = CliRunner().invoke(main, ["generate", str(si_dataset), "--recipe", "perturb", "--out", str(out)])
    assert "0 rows added from 7 parents" in rerun.output
    other = tmp_path / "other"
    CliRunner().invoke(main, ["generate", str(si_dataset), "--recipe", "perturb", "--seed", "1", "--out", str(other)])
    assert Dataset.open(other).content_hash != Dataset.open(out).content_hash


def test_broken_outputs_are_rejected_with_a_count(si_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "wild"
    args = ["generate", str(si_dataset), "--rattle", "0.8", "--rattle-count", "20", "--limit", "1", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    history = Dataset.open(out).manifest["history"][-1]["steps"]["gaussian-rattle"]
    rejected = history["rejected"]["min-distance"]
    assert history["generated"] == 20 and 0 < rejected < 20
    assert history["rows_added"] == 20 - rejected
    assert f"gaussian-rattle: 20 generated, {rejected} rejected (min-distance: {rejected})" in result.output
    quarantine = Dataset.open(out).quarantine_records()
    assert len(quarantine) == rejected
    assert all("below the physical minimum" in q["reason"] and "seed=" in q["record"] for q in quarantine)
    for cfg, _ in _rows(out):  # what was kept respects the gate's minimum distance
        assert min_distance_violation(cfg) is None


def test_chained_recipe_strains_md_frames(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    assert CliRunner().invoke(main, ["demo", "--out", str(demo)]).exit_code == 0
    recipe = tmp_path / "mini-high-energy.yaml"
    recipe.write_text(
        "name: mini-high-energy\nseed: 3\nsteps:\n"
        "  - generator: md\n    params: {calculator: emt, temperature_k: 1000, interval_steps: 5, n_frames: 3}\n"
        "  - generator: strain\n    input: md\n    take: 2\n    params: {uniaxial: [-0.03, 0.03]}\n"
    )
    out = tmp_path / "high-energy"
    result = CliRunner().invoke(
        main, ["generate", str(demo), "--recipe", str(recipe), "--limit", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = _rows(out)
    by_id = dict((row_id, cfg) for cfg, row_id in rows)
    md = [cfg for cfg, _ in rows if cfg.generator == "md"]
    strained = [cfg for cfg, _ in rows if cfg.generator == "strain"]
    assert len(md) == 2 * 3 and len(strained) == 2 * 2 * 6
    source_ids = {row_id for _, row_id in _rows(demo)}
    assert all(cfg.parent_id in source_ids for cfg in md)
    frames_used = {cfg.parent_id for cfg in strained}
    assert len(frames_used) == 4 and all(by_id[f].generator == "md" for f in frames_used)
    steps_used = sorted(json.loads(by_id[f].generator_params)["step"] for f in frames_used)
    assert steps_used == [5, 5, 15, 15]  # take 2 of 3 frames: first and last


def test_generate_refuses_bad_requests_in_one_line(si_dataset: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = str(tmp_path / "x")
    cases = [
        (["--recipe", "perturb", "--rattle", "0.1"], "either --recipe or generator options"),
        ([], "nothing to generate"),
        (["--recipe", "no-such-recipe"], "no built-in recipe no-such-recipe.yaml"),
        (["--md-temperature", "1000", "--model", "lj"], "unknown model 'lj'"),
    ]
    for extra, message in cases:
        result = runner.invoke(main, ["generate", str(si_dataset), "--out", out, *extra])
        assert result.exit_code == 2 and message in result.output, (extra, result.output)
        assert "Traceback" not in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - generator: rattle\n")
    result = runner.invoke(main, ["generate", str(si_dataset), "--recipe", str(bad), "--out", out])
    assert result.exit_code == 2 and f"{bad}: steps[0]: unknown generator 'rattle'" in result.output
    bad.write_text("steps:\n  - generator: strain\n    params: {uniaxal: [0.03]}\n")
    result = runner.invoke(main, ["generate", str(si_dataset), "--recipe", str(bad), "--out", out])
    assert result.exit_code == 2 and "unknown parameter(s) ['uniaxal']" in result.output
    result = runner.invoke(main, ["generate", str(si_dataset), "--rattle", "0.1", "--out", str(si_dataset)])
    assert result.exit_code == 2 and "is the source dataset" in result.output
    result = runner.invoke(main, ["generate", str(tmp_path / "missing"), "--rattle", "0.1", "--out", out])
    assert result.exit_code == 2 and "not a curate dataset" in result.output


def test_options_build_the_recipe(si_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "options"
    args = ["generate", str(si_dataset), "--strain-uniaxial", "0.03", "--vacancies", "--limit", "1", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = [cfg for cfg, _ in _rows(out)]
    strains = sorted(
        (json.loads(c.generator_params)["axis"], json.loads(c.generator_params)["strain"])
        for c in rows
        if c.generator == "strain"
    )
    assert strains == sorted((axis, e) for axis in "abc" for e in (-0.03, 0.03))
    (vacancy,) = [c for c in rows if c.generator == "vacancy"]
    assert vacancy.nsites == 31 and json.loads(vacancy.generator_params)["supercell"] == [2, 2, 1]  # 8-atom cell x 4
    recipe = Dataset.open(out).manifest["history"][-1]["recipe"]
    assert [s["generator"] for s in recipe["steps"]] == ["strain", "vacancy"] and recipe["min_distance_factor"] == 0.5


def test_min_distance_factor_overrides_the_recipe(si_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "strict"
    args = ["generate", str(si_dataset), "--recipe", "perturb", "--min-distance-factor", "0.95", "--limit", "1"]
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    history = Dataset.open(out).manifest["history"][-1]
    assert history["recipe"]["min_distance_factor"] == 0.95
    rejected = history["steps"]["gaussian-rattle"]["rejected"].get("min-distance", 0)
    assert rejected > 0  # 0.95 x 2.22 A = 2.11 A: some 0.1 A rattles of 2.37 A bonds fall below it
    for cfg, _ in _rows(out):
        assert min_distance_violation(cfg, factor=0.95) is None
