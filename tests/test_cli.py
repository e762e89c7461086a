"""The command line end to end on data the code builds itself: demo, check, info; and its shared vocabulary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.store import Dataset


def test_demo_builds_validates_and_summarises(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "30 new structures" in result.output and "1 quarantined" in result.output
    assert "0 error(s)" in result.output
    quarantine = Dataset.open(out).quarantine_records()
    assert len(quarantine) == 1 and quarantine[0]["field"] == "cartesian_site_positions"
    assert "0.300 A apart" in quarantine[0]["reason"]
    assert (out / "summary.png").stat().st_size > 10_000

    rows = pq.read_table(out / "data").to_pylist()
    seeds = [r["seed"] for r in rows if r["generator"] == "gaussian-rattle"]
    assert len(seeds) == 15 and len(set(seeds)) == 15, "every rattle has its own seed"
    # known answer for the stress sign: a cell compressed by 3 % pushes outwards, which in the ASE
    # convention (positive = tensile) is a negative diagonal
    for row in rows:
        if row["generator"] == "strain":
            strain = json.loads(row["generator_params"])["isotropic"]
            pressure_like = np.trace(np.asarray(row["stress"])) / 3.0
            assert np.sign(pressure_like) == np.sign(strain)
        if row["generator"] is None:
            assert np.abs(np.asarray(row["forces"])).max() < 1e-8, "perfect fcc: forces vanish by symmetry"


def test_demo_is_reproducible_and_rerun_adds_nothing(tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["demo", "--out", str(tmp_path / "a")])
    runner.invoke(main, ["demo", "--out", str(tmp_path / "b")])
    again = runner.invoke(main, ["demo", "--out", str(tmp_path / "a")])
    assert "0 new structures" in again.output
    assert Dataset.open(tmp_path / "a").content_hash == Dataset.open(tmp_path / "b").content_hash


def test_info_json_counts(shared_data: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "d"
    imported = runner.invoke(
        main, ["import", "mp-tasks", str(shared_data / "emmet" / "magnetism_task_docs.json.gz"), "--out", str(out)]
    )
    assert imported.exit_code == 0, imported.output
    result = runner.invoke(main, ["info", str(out), "--json"])
    assert result.exit_code == 0
    info = json.loads(result.output)
    assert info["rows"] == 4
    assert info["by_functional"] == {"PBE": 3, "PBE+U": 1}
    assert info["by_element"]["Co"] == 1 and info["by_element"]["Si"] == 2
    assert info["atoms"] == sum(r["nsites"] for r in pq.read_table(out / "data").to_pylist())


def test_check_strict_fails_on_planted_errors(tmp_path: Path) -> None:
    from curate.dataset.configuration import batch_to_configurations, configurations_to_batch

    runner = CliRunner()
    runner.invoke(main, ["demo", "--out", str(tmp_path / "demo")])
    good = batch_to_configurations(Dataset.open(tmp_path / "demo").read())
    # bypass the import gate: a kBar value written as GPa and two atoms on top of each other
    bad_stress = good[0]
    bad_stress.stress = np.eye(3) * 900.0
    bad_geometry = good[1]
    bad_geometry.positions[1] = bad_geometry.positions[0] + 0.05
    planted = Dataset.create(tmp_path / "planted")
    with planted.writer() as writer:
        writer.append(configurations_to_batch(good))
    result = runner.invoke(main, ["check", str(tmp_path / "planted"), "--strict"])
    assert result.exit_code == 1
    assert "2 error(s)" in result.output
    assert "stress-magnitude" in result.output and "min-distance" in result.output
    assert runner.invoke(main, ["check", str(tmp_path / "planted")]).exit_code == 0


def _commands(command: click.Command, path: str = "curate") -> Iterator[tuple[str, click.Command]]:
    """(command path, command) for every command under ``command``."""
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, f"{path} {name}")
        return
    yield path, command


def _options(command: click.Command, path: str = "curate") -> Iterator[tuple[str, click.Option]]:
    """(command path, option) for every option of every command under ``command``."""
    for command_path, leaf in _commands(command, path):
        for param in leaf.params:
            if isinstance(param, click.Option):
                yield command_path, param


def test_every_required_option_is_reported_missing() -> None:
    """Since click 8.3 a required option declared with ``default=None`` is never missing: the command would run
    with None (it did, for every -o/--out and -m/--model). The check is click's own, on every command."""
    silent = [
        f"{path} {param.name}"
        for path, command in _commands(main)
        for param in command.params
        if param.required and not param.value_is_missing(param.get_default(click.Context(command)))
    ]
    assert silent == []


def test_every_command_speaks_one_vocabulary() -> None:
    """The shared options are spelled, typed and paired the same way wherever they appear (docs/cli.md)."""
    from curate.cli.options import DEVICES, CommaList

    by_command: dict[str, dict[str, click.Option]] = {}
    for path, option in _options(main):
        for flag in option.opts:
            by_command.setdefault(path, {})[flag] = option
    old = {
        "--out-dir",
        "--models",
        "--pretrained",
        "--md-calculator",
        "--calculator",
        "--dataset-report",
        "--fractions",
    }
    for path, flags in by_command.items():
        assert not old & set(flags), (path, old & set(flags))
        if "--out" in flags:
            assert flags["--out"].opts == ["-o", "--out"], path
        if "--model" in flags:
            assert flags["--model"].opts == ["-m", "--model"], path
            assert "--device" in flags, f"{path} runs a model, so it takes --device"
        if "--device" in flags:
            device = flags["--device"].type
            assert isinstance(device, click.Choice) and tuple(device.choices) == DEVICES, path
        for flag in ("--sizes", "--methods", "--radii", "--rattle", "--chemsys", "--split"):
            if flag in flags:
                assert isinstance(flags[flag].type, CommaList), (path, flag)
    assert {"--model", "--device"} <= set(by_command["curate generate"]), "the MD model and its device"
    assert {p for p, flags in by_command.items() if "--functional" in flags} == {
        "curate import",
        "curate label",
        "curate pull mp",
    }


def test_old_spellings_still_work_with_a_note(tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["demo", "--out", str(tmp_path / "demo")])
    old = ["generate", str(tmp_path / "demo"), "--md-temperature", "1000", "--md-calculator", "lj"]
    result = runner.invoke(main, [*old, "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "unknown model 'lj'" in result.stderr
    assert "curate: note: --md-calculator is now --model" in result.stderr
    result = runner.invoke(main, ["label", str(tmp_path / "demo"), "--calculator=emt", "-o", str(tmp_path / "l")])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("curate: note: --calculator is now --model") == 1
    assert "30 row(s) labelled by emt" in result.stdout


def test_functional_names_are_the_functional_columns() -> None:
    from curate.cli.options import CommaList, FunctionalName
    from curate.materials_project.selection import PULL_FUNCTIONALS, functional_family

    anything = FunctionalName()
    assert [anything.convert(v, None, None) for v in ("pbe", "PBE+u", "R2SCAN", "r2scan+U")] == [
        "PBE",
        "PBE+U",
        "r2SCAN",
        "r2SCAN+U",
    ]
    with pytest.raises(click.BadParameter, match="unknown functional 'PBE-D3'"):
        anything.convert("PBE-D3", None, None)
    pull = CommaList(FunctionalName(PULL_FUNCTIONALS, aliases={"gga": "PBE", "both": PULL_FUNCTIONALS}), unique=True)
    assert pull.convert("r2scan,PBE,pbe", None, None) == ("r2SCAN", "PBE")
    assert pull.convert("both", None, None) == ("PBE", "r2SCAN")
    assert [functional_family(pull.convert(v, None, None)) for v in ("gga", "r2SCAN", "PBE,r2SCAN")] == [
        "gga",
        "r2scan",
        "both",
    ]
    with pytest.raises(click.BadParameter, match="unknown functional 'PBE\\+U'"):
        pull.convert("PBE+U", None, None)


def test_one_list_type() -> None:
    from curate.cli.options import SHARES, CommaList

    assert CommaList(click.IntRange(min=1), unique=True, sort=True).convert("300, 100,100,", None, None) == (100, 300)
    assert SHARES.convert("8:1:1", None, None) == (8.0, 1.0, 1.0)
    for bad, says in (("8:1", "expected 3 values"), ("8:-1:1", "-1.0 is not in the range x>=0"), (",", "at least one")):
        with pytest.raises(click.BadParameter, match=says):
            (SHARES if ":" in bad else CommaList(float)).convert(bad, None, None)
