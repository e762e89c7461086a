"""``curate properties``: elastic moduli, EOS bulk modulus and phonons of a model before and after a correction."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from curate.cli.options import (
    POSITIVE,
    device_option,
    execution_options,
    list_option,
    model_option,
    out_option,
    seed_option,
)
from curate.execution import ExecutorKind, open_executor

DEFAULT_REFERENCE = Path("../shared/data/matcalc/mp-binary-pbe-elasticity-2025.1.json.gz")


@click.command("properties")
@click.argument("structures", nargs=-1, type=click.Path(path_type=Path, exists=True))
@model_option(help="The base model spec (relaxes the structures; the others are compared with it).")
@click.option(
    "--compare",
    "compare",
    multiple=True,
    metavar="SPEC",
    help="Another model to compute the same properties with, e.g. a fine-tuned chgnet:FILE (repeatable).",
)
@click.option(
    "--energy-scale",
    "energy_scales",
    multiple=True,
    type=POSITIVE,
    help="Also the base model with the linear correction of this scale s: forces and stress x s (repeatable).",
)
@click.option(
    "--reference",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Elasticity reference with DFT moduli (matcalc's benchmark format: a JSON list of {mp_id, formula, "
    "structure, bulk_modulus_vrh, shear_modulus_vrh} in GPa)  "
    f"[default: {DEFAULT_REFERENCE} when no STRUCTURES]",
)
@list_option("--material", help="Material ids of --reference to compute (default: a seeded pick).")
@click.option(
    "--pick", default=50, show_default=True, type=click.IntRange(min=1), help="Materials picked from --reference."
)
@click.option(
    "--max-sites", default=8, show_default=True, type=click.IntRange(min=1), help="Pick only cells of at most N atoms."
)
@seed_option("Seed of the pick from --reference.")
@list_option(
    "--property",
    "properties",
    item=click.Choice(("elasticity", "eos", "phonon")),
    help="Properties: elasticity (K_VRH, G_VRH), eos (Birch-Murnaghan B0), phonon  [default: elasticity,eos]",
)
@click.option(
    "--fmax",
    "fmax_ev_per_ang",
    default=0.1,
    show_default=True,
    type=POSITIVE,
    help="Force tolerance of every relaxation (eV/A).",
)
@click.option(
    "--relax-with",
    type=click.Choice(("base", "own")),
    default="base",
    show_default=True,
    help="base: every model on the structure --model relaxed (a linear correction then scales moduli by "
    "exactly s); own: each model relaxes its own.",
)
@out_option("Where properties.json, properties.md and properties_parity.png go.", file_okay=False)
@device_option
@execution_options(workers_help="Worker processes, one torch thread each (default: in-process; 1: in-process).")
def command(
    structures: tuple[Path, ...],
    model: str,
    compare: tuple[str, ...],
    energy_scales: tuple[float, ...],
    reference: Path | None,
    material: tuple[str, ...],
    pick: int,
    max_sites: int,
    seed: int,
    properties: tuple[str, ...],
    fmax_ev_per_ang: float,
    relax_with: str,
    out: Path,
    device: str,
    executor: ExecutorKind | None,
    scheduler: str | None,
    workers: int | None,
) -> None:
    """Elastic moduli, equation-of-state bulk modulus and phonons of --model (and --compare, --energy-scale
    variants) by matcalc, against DFT moduli where the reference has them.

    \b
    STRUCTURES are structure files ASE reads or curate dataset folders; without them, --pick materials
    (cells of <= --max-sites atoms, seeded) or the --material ids of the elasticity --reference, whose
    DFT (PBE) moduli are the comparison. Reported per model: MAE (GPa) of K_VRH, G_VRH and B0 against
    DFT's K_VRH/G_VRH, and the share of materials under-predicted (the property-level softening); per
    extra model, the median ratio of each property to --model's. The Markdown summary goes to stdout.

    \b
    Example (pretrained CHGNet and its linear correction fitted on Ge, s = 1.64):
      curate properties -m chgnet@0.3.0 --energy-scale 1.64 --workers 2 -o props
    """
    from tqdm import tqdm

    from curate.diagnostics.properties import ModelVariant, PropertySettings
    from curate.diagnostics.properties_report import report_markdown, summarise, write_report
    from curate.diagnostics.properties_run import POOL_PRELOAD, check_variants, compute_properties

    variants = [ModelVariant(model, model)]
    variants += [ModelVariant(spec, spec) for spec in compare]
    variants += [ModelVariant(f"{model} x {s:g}", model, s) for s in energy_scales]
    check_variants(variants)
    settings = PropertySettings(
        properties=tuple(properties) or ("elasticity", "eos"),  # type: ignore[arg-type]
        fmax_ev_per_ang=fmax_ev_per_ang,
        relax_with=relax_with,  # type: ignore[arg-type]
    )
    items, source = _inputs(structures, reference, material, pick=pick, max_sites=max_sites, seed=seed)
    started = time.perf_counter()
    with (
        open_executor(executor, scheduler=scheduler, workers=workers, preload=POOL_PRELOAD) as runner,
        tqdm(total=len(items), unit=" structures", desc="properties", disable=None, file=sys.stderr) as bar,
    ):
        records = list(
            compute_properties(
                items, variants, settings, device=device, executor=runner, on_result=lambda _r: bar.update()
            )
        )
        execution = runner.describe() if runner is not None else {"executor": "local", "workers": 1}
    labels = [v.label for v in variants]
    report = {
        "command": " ".join(["curate", *sys.argv[1:]]),
        "models": [{"label": v.label, "spec": v.spec, "energy_scale": v.energy_scale} for v in variants],
        "settings": {**settings.__dict__},
        "source": source,
        "execution": execution,
        "seconds": time.perf_counter() - started,
        "structures": len(records),
        "summary": summarise(records, labels),
        "records": records,
    }
    json_path, _md, plot = write_report(report, out)
    click.echo(report_markdown(report, plot_name=plot.name), nl=False)
    click.echo(f"report: {json_path} ({len(records)} structures, {report['seconds']:.0f} s)", err=True)


def _inputs(
    structures: tuple[Path, ...],
    reference: Path | None,
    material: tuple[str, ...],
    *,
    pick: int,
    max_sites: int,
    seed: int,
) -> tuple[list, dict]:
    """The structures to compute and a record of where they came from."""
    from curate.diagnostics import property_inputs as inputs

    if structures:
        items = []
        for path in structures:
            items += inputs.inputs_from_dataset(path) if path.is_dir() else inputs.inputs_from_files([path])
        return items, {"structures": [str(p) for p in structures]}
    path = reference or DEFAULT_REFERENCE
    materials = inputs.load_elasticity_reference(path)
    if material:
        return inputs.select_materials(materials, material), {"reference": str(path), "materials": list(material)}
    chosen = inputs.pick_materials(materials, count=pick, seed=seed, max_sites=max_sites)
    return chosen, {"reference": str(path), "pick": pick, "max_sites": max_sites, "seed": seed}
