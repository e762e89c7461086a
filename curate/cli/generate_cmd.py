"""``curate generate``: new, unlabelled candidate structures from the rows of a dataset."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from curate.checks.quality import MIN_DISTANCE_FACTOR
from curate.cli.echo import dataset_state, quarantine_note
from curate.cli.options import (
    NON_NEGATIVE,
    POSITIVE,
    STRAIN,
    CommaList,
    CurateCommand,
    device_option,
    execution_options,
    limit_option,
    min_distance_option,
    model_option,
    out_option,
    seed_option,
    task_rows_option,
)
from curate.execution import ExecutorKind

if TYPE_CHECKING:
    from sampling.recipe import Recipe

LENGTHS = CommaList(POSITIVE)
STRAINS = CommaList(STRAIN)


def _plus_minus(values: tuple[float, ...] | None) -> list[float]:
    """Each magnitude m as -m and +m, sorted (empty when the option is absent)."""
    return sorted({s * abs(v) for v in values or () for s in (-1.0, 1.0)})


def recipe_from_options(options: dict[str, Any]) -> dict[str, Any]:
    """The recipe mapping the command-line options describe (same shape as a YAML recipe)."""
    steps: list[dict[str, Any]] = []
    if options["rattle"]:
        steps.append(
            {
                "generator": "gaussian-rattle",
                "params": {"std_ang": list(options["rattle"]), "n_structures": options["rattle_count"]},
            }
        )
    if options["mc_rattle"]:
        params: dict[str, Any] = {"std_ang": list(options["mc_rattle"]), "n_structures": options["rattle_count"]}
        if options["mc_d_min"] is not None:
            params["d_min_ang"] = options["mc_d_min"]
        steps.append({"generator": "mc-rattle", "params": params})
    strain = {
        key: _plus_minus(options[f"strain_{key}"])
        for key in ("isotropic", "uniaxial", "shear")
        if options[f"strain_{key}"]
    }
    if strain:
        steps.append({"generator": "strain", "params": strain})
    for flag, name in (("vacancies", "vacancy"), ("antisites", "antisite"), ("interstitials", "interstitial")):
        if options[flag]:
            steps.append({"generator": name, "params": {"min_atoms": options["defect_min_atoms"]}})
    if options["surfaces"]:
        steps.append(
            {
                "generator": "surface",
                "params": {"max_index": options["surface_max_index"], "vacuum_ang": options["vacuum"]},
            }
        )
    if options["md_temperature"] is not None:
        steps.append(
            {
                "generator": "md",
                "params": {
                    "calculator": options["model"],
                    "temperature_k": options["md_temperature"],
                    "timestep_fs": options["md_timestep"],
                    "interval_steps": options["md_interval"],
                    "n_frames": options["md_frames"],
                },
            }
        )
    factor = options["min_distance_factor"]
    return {
        "name": "command-line",
        "min_distance_factor": MIN_DISTANCE_FACTOR if factor is None else factor,
        "steps": steps,
    }


@click.command("generate", cls=CurateCommand, renamed={"--md-calculator": "--model"})
@click.argument("source", metavar="DIR", type=click.Path(path_type=Path))
@out_option("Output dataset directory.", file_okay=False)
@click.option(
    "--recipe",
    default=None,
    help="Recipe YAML file, or the name of a built-in one in datasets/ (e.g. high-energy). Excludes the "
    "generator options below.",
)
@click.option(
    "--rattle",
    type=LENGTHS,
    help="Gaussian rattle: displacement standard deviations, A (e.g. 0.05,0.1).",
)
@click.option("--mc-rattle", type=LENGTHS, help="Monte-Carlo rattle: trial-move standard deviations, A.")
@click.option(
    "--mc-d-min",
    type=POSITIVE,
    default=None,
    help="Monte-Carlo rattle minimum distance, A  [default: 0.85 x the parent's shortest distance]",
)
@click.option(
    "--rattle-count", default=1, show_default=True, type=click.IntRange(min=1), help="Rattles per std and parent."
)
@click.option(
    "--strain-isotropic",
    type=STRAINS,
    help="Isotropic strain magnitudes; each applied as +e and -e.",
)
@click.option(
    "--strain-uniaxial",
    type=STRAINS,
    help="Uniaxial strain magnitudes along each lattice vector; each applied as +e and -e (0.03 = +-3 %).",
)
@click.option(
    "--strain-shear",
    type=STRAINS,
    help="Shear strain tensor components (yz, xz, xy); +e and -e.",
)
@click.option("--vacancies", is_flag=True, help="One vacancy per inequivalent site of a supercell.")
@click.option("--antisites", is_flag=True, help="Each inequivalent site occupied by each other element.")
@click.option("--interstitials", is_flag=True, help="An extra atom of each element at the largest empty sphere.")
@click.option(
    "--defect-min-atoms", default=32, show_default=True, type=click.IntRange(min=1), help="Defect supercell size."
)
@click.option("--surfaces", is_flag=True, help="pymatgen slabs of every (hkl) up to --surface-max-index.")
@click.option(
    "--surface-max-index", default=2, show_default=True, type=click.IntRange(1, 2), help="Largest Miller index."
)
@click.option("--vacuum", default=10.0, show_default=True, type=NON_NEGATIVE, help="Slab vacuum along the normal, A.")
@click.option(
    "--md-temperature", type=NON_NEGATIVE, default=None, help="Run NVT MD at this temperature, K (e.g. 1000)."
)
@model_option(required=False, default="chgnet@0.3.0", help="Model driving the MD: emt or a CHGNet spec.")
@device_option
@click.option("--md-frames", default=10, show_default=True, type=click.IntRange(min=1), help="Frames per parent.")
@click.option("--md-interval", default=50, show_default=True, type=click.IntRange(min=1), help="Steps between frames.")
@click.option("--md-timestep", default=2.0, show_default=True, type=POSITIVE, help="MD time step, fs.")
@seed_option("Run seed  [default: the recipe's, else 0]", default=None)
@limit_option("Use only the first N parent rows.")
@min_distance_option(default=None)
@task_rows_option(
    default=256, what="parents; each task has its own seed stream, so the rows depend on N, not on the executor"
)
@execution_options(workers_help="Worker processes  [default: in-process]")
def command(
    source: Path,
    out: Path,
    recipe: str | None,
    seed: int | None,
    limit: int | None,
    task_rows: int,
    device: str,
    executor: ExecutorKind | None,
    scheduler: str | None,
    workers: int | None,
    **options: Any,
) -> None:
    """Generate unlabelled candidate structures from every row of DIR into the dataset --out.

    \b
    Generators (one step each, in this order when given as options):
      gaussian-rattle  --rattle 0.05,0.1           a fresh seed per structure
      mc-rattle        --mc-rattle 0.05            no two atoms closer than --mc-d-min
      strain           --strain-uniaxial 0.03      +-3 % along a, b and c (also isotropic, shear)
      vacancy, antisite, interstitial              --vacancies --antisites --interstitials
      surface          --surfaces                  Miller index <= 2, vacuum >= 10 A
      md               --md-temperature 1000       NVT with --model on --device, a frame every --md-interval steps
    Or a recipe: steps that chain (strain the MD frames), e.g. --recipe high-energy (datasets/high-energy.yaml).

    Every row records parent_id, generator, generator_params (canonical JSON) and seed, and has no labels
    (MD energies from CHGNet are predictions, not labels). Outputs with atoms too close are rejected, counted
    per generator and written to OUT/quarantine.jsonl with the reason. Same seed, same rows: parents go out
    --task-rows at a time, in-process or to workers (--workers N, --executor dask, --scheduler ADDRESS), and
    the rows do not depend on which.

    \b
    Example:
      curate generate si --strain-uniaxial 0.03 --rattle 0.05 --out si-candidates
    """
    from tqdm import tqdm

    from curate.dataset.store import Dataset
    from curate.execution import open_executor
    from sampling.generate import generate_dataset

    parsed = _md_on_device(_recipe(recipe, seed, options), device)
    parents = Dataset.open(source)
    total = parents.num_rows if limit is None else min(limit, parents.num_rows)
    with (
        open_executor(executor, scheduler=scheduler, workers=workers) as engine,
        tqdm(total=total, unit=" parents", desc=f"generate {parsed.name}", disable=None, file=sys.stderr) as bar,
    ):
        report = generate_dataset(
            source,
            out,
            parsed,
            limit=limit,
            executor=engine,
            parents_per_task=task_rows,
            on_parent=lambda: bar.update(1),
            on_step=lambda step: click.echo(step.summary(), err=True),
        )
    click.echo(
        f"{report.rows_added} rows added from {report.parents} parents, {report.rejected} rejected in "
        f"{report.seconds:.1f} s; {dataset_state(out)}"
    )
    quarantine_note(out, report.rejected, "rejected structures")


def _recipe(recipe: str | None, seed: int | None, options: dict[str, Any]) -> Recipe:
    """The recipe --recipe names, or the one the generator options describe (never both)."""
    from curate.errors import ConfigurationError
    from sampling.recipe import load_recipe, recipe_from_mapping

    from_options = recipe_from_options(options)
    if recipe is None:
        if not from_options["steps"]:
            raise ConfigurationError("nothing to generate: give --recipe or at least one generator option (see --help)")
        return recipe_from_mapping(from_options, origin="command line", seed=seed)
    if from_options["steps"]:
        raise ConfigurationError("give either --recipe or generator options (--rattle, --strain-*, ...), not both")
    parsed = load_recipe(recipe, seed=seed)
    if options["min_distance_factor"] is not None:
        parsed = dataclasses.replace(parsed, min_distance_factor=options["min_distance_factor"])
    return parsed


def _md_on_device(recipe: Recipe, device: str) -> Recipe:
    """``recipe`` with its MD steps' models on ``device`` (a run-time choice: rows do not record it)."""
    from sampling.generators.md import MolecularDynamics

    steps = tuple(
        dataclasses.replace(s, generator=dataclasses.replace(s.generator, device=device))
        if isinstance(s.generator, MolecularDynamics)
        else s
        for s in recipe.steps
    )
    return dataclasses.replace(recipe, steps=steps)
