"""``curate sample``: pick the few candidate structures most worth a DFT calculation."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from curate.cli.options import CurateCommand, device_option, model_option, out_option, seed_option
from sampling.selection import STRATEGIES

if TYPE_CHECKING:
    from sampling.pool import Candidates
    from sampling.selection.base import CandidatePool, Pick


def _generator_label(generator: str | None, params: str | None) -> str:
    if not generator:
        return "-"
    return f"{generator} {params}" if params else generator


@click.command("sample", cls=CurateCommand, renamed={"--models": "--model"})
@click.option(
    "--budget", "-k", default=1, show_default=True, type=click.IntRange(min=1), help="How many structures to pick."
)
@click.option(
    "--pool",
    "pool_dir",
    type=click.Path(path_type=Path),
    help="Dataset of candidates; default: built in (Si, Cu, NaCl, MgO from ASE, rattled and strained).",
)
@model_option(
    multiple=True,
    required=False,
    help="Committee member (repeat); default: the three CHGNet models shipped in its wheel.",
)
@click.option(
    "--strategy",
    type=click.Choice(STRATEGIES),
    default="greedy",
    show_default=True,
    help="greedy: most disagreement first with a diversity guard; fps: farthest-point; "
    "direct: PCA+BIRCH clusters; random: seeded baseline.",
)
@click.option(
    "--score",
    default="force_std_max",
    show_default=True,
    type=click.Choice(["force_std_max", "force_std_mean", "energy_std_per_atom"]),
    help="Score greedy and fps rank by (eV/A for forces, eV/atom for energies).",
)
@click.option(
    "--min-distance",
    default=0.02,
    show_default=True,
    type=float,
    help="Diversity guard of greedy: no two picks closer than this in mean-SOAP space.",
)
@click.option(
    "--reference",
    "reference_dir",
    type=click.Path(path_type=Path),
    help="Training dataset: adds a 'novelty' score (SOAP distance of the least-covered atom).",
)
@seed_option("Seed of candidate generation and of random choices.")
@out_option(
    "Output folder: picks/ and pool/ datasets, structures/ POSCAR+CIF, scores.parquet, sample.json.",
    default=Path("curate-sample"),
    file_okay=False,
)
@device_option
def command(
    budget: int,
    pool_dir: Path | None,
    models: tuple[str, ...],
    strategy: str,
    score: str,
    min_distance: float,
    reference_dir: Path | None,
    seed: int,
    out: Path,
    device: str,
) -> None:
    """Pick the BUDGET candidates a committee of uMLIPs disagrees on most.

    \b
    With no arguments it runs offline on a built-in default: seed structures from ASE's builders,
    Gaussian rattles (0.05, 0.1, 0.2 A, a distinct seed per structure) and +-3 % uniaxial strains,
    scored by the CHGNet committee from its wheel (0.3.0, 0.2.0, r2scan):
      force_std_max       max over atoms of the RMS deviation of the members' forces (eV/A)
      force_std_mean      its mean over atoms (eV/A)
      energy_std_per_atom spread of the members' energies per atom, each member centred per composition (eV/atom)
    The same seed gives the same picks. Then write inputs for the picks:
      curate label curate-sample/picks --vasp-inputs calcs --functional PBE
    """
    from curate.errors import ConfigurationError
    from sampling.output import check_output_folder, write_sample_output
    from sampling.pool import default_seeds, generate_candidates, read_pool
    from sampling.scoring import DEFAULT_COMMITTEE, build_pool, run_committee
    from sampling.selection import make_selector

    started = time.perf_counter()
    check_output_folder(out)
    specs = list(models) or list(DEFAULT_COMMITTEE)
    if len(specs) < 2:
        raise ConfigurationError("a committee needs at least two --model")
    candidates = read_pool(pool_dir) if pool_dir else generate_candidates(default_seeds(), seed=seed)
    if not candidates.ids:
        raise ConfigurationError("the candidate pool is empty")
    click.echo(f"scoring {len(candidates.ids)} candidates with {', '.join(specs)} ...", err=True)
    committee = run_committee(candidates.configurations, specs, device=device)
    scores = dict(committee.scores)
    if reference_dir is not None:
        from sampling.novelty import structure_novelty

        scores["novelty"] = structure_novelty(reference_dir, candidates.configurations)
    pool = build_pool(candidates.ids, candidates.configurations, scores)
    selector = make_selector(strategy, score=score, min_distance=min_distance)
    picks = selector.select(pool, budget=budget, seed=seed)
    settings = {
        "budget": budget,
        "strategy": strategy,
        "score": score,
        "min_distance": min_distance,
        "seed": seed,
        "pool": str(pool_dir) if pool_dir else "builtin",
        "reference": str(reference_dir) if reference_dir else None,
        "models": committee.models,
        "candidates": len(candidates.ids),
        "rejected_candidates": len(candidates.rejected),
    }
    paths = write_sample_output(
        out, candidates=candidates, pool=pool, picks=picks, strategy=strategy, settings=settings
    )
    _print_picks(picks, candidates, pool)
    click.echo(
        f"units: force spreads in eV/A; energy spread per atom. {len(picks)} pick(s) of {len(pool)} "
        f"in {time.perf_counter() - started:.0f} s -> {paths['picks']} (dataset), {paths['structures']} "
        "(POSCAR, CIF)",
        file=sys.stderr,
    )


def _print_picks(picks: list[Pick], candidates: Candidates, pool: CandidatePool) -> None:
    """One table line per pick: rank, id, formula, generator, force and energy spreads (eV/A, meV/atom), why."""
    header = (
        f"{'rank':>4}  {'id':<12}  {'formula':<8}  {'generator':<34}  {'F_std_max':>9}  {'F_std_mean':>10}  "
        f"{'E_std':>9}  why"
    )
    click.echo(header)
    for pick in picks:
        cfg = candidates.configurations[pick.index]
        s = pick.scores
        click.echo(
            f"{pick.rank:>4}  {pick.candidate_id[:12]:<12}  {pool.formulas[pick.index]:<8}  "
            f"{_generator_label(cfg.generator, cfg.generator_params)[:34]:<34}  {s['force_std_max']:>9.4f}  "
            f"{s['force_std_mean']:>10.4f}  {s['energy_std_per_atom'] * 1000:>6.2f} meV  {pick.reason}"
        )
