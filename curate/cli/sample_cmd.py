"""``curate sample``: pick the few candidate structures most worth a DFT calculation."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from curate.cli.options import NON_NEGATIVE, CurateCommand, device_option, model_option, out_option, seed_option
from sampling.sample import DEFAULT_SCORE
from sampling.scoring import SCORE_NAMES
from sampling.selection import DEFAULT_STRATEGY_FOR_METHOD, STRATEGIES, STRATEGY_FOR_METHOD

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

    from curate.dataset.configuration import Configuration
    from curate.models.base import Model
    from sampling.sample import LossGradients, ScoringModels


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
    help="The model being corrected, once, for force_information and herding (default chgnet@0.3.0); or the "
    "committee, repeated, for the committee scores (default the three CHGNet models shipped in its wheel).",
)
@click.option(
    "--method",
    type=click.Choice(list(DEFAULT_STRATEGY_FOR_METHOD)),
    default="linear",
    show_default=True,
    help="The fine-tuning the picks are for: sets the default --strategy (linear, full: herding; heads: gradient) "
    "and the weights gradient takes its loss gradients over (heads' for linear).",
)
@click.option(
    "--strategy",
    type=click.Choice(STRATEGIES),
    default=None,
    help="Default: the --method's. herding: picks whose --score-weighted distribution in the corrected model's own "
    "features matches the pool's, or --target's (the set a linear correction should be fitted on); gradient: "
    "picks whose mean label-free loss-gradient direction (one backward pass per candidate through the corrected "
    "model's training step, labels ~ s x predictions) matches the pool's; maxdet: greedy max-det of those "
    "gradients, unnormalised (each pick the candidate the earlier picks constrain least: a last-layer Laplace "
    "variance; Zaverkin et al. 2022); representative: picks whose atomic environments in the model's atom "
    "features are distributed like the pool's; greedy: highest --score first with a diversity guard; fps: "
    "farthest-point; direct: PCA+BIRCH clusters (greedy, fps and direct in mean-SOAP space); "
    "random: seeded baseline. " + STRATEGY_FOR_METHOD,
)
@click.option(
    "--score",
    default=DEFAULT_SCORE,
    show_default=True,
    type=click.Choice(SCORE_NAMES),
    help="What greedy and fps rank by and herding weights by. force_information (label-free, one pass of the "
    "corrected model): 0.1 u^2 + 100 <f^2> + 0.1 <sigma^2> of its predicted interaction energy per atom (eV/atom), "
    "forces (eV/A) and stress (GPa); force_std_max, force_std_mean (eV/A), energy_std_per_atom (eV/atom): a "
    "committee's disagreement; novelty: needs --reference.",
)
@click.option(
    "--min-distance",
    default=0.02,
    show_default=True,
    type=NON_NEGATIVE,
    help="Diversity guard of greedy: no two picks closer than this in mean-SOAP space.",
)
@click.option(
    "--reference",
    "reference_dir",
    type=click.Path(path_type=Path),
    help="Training dataset: adds a 'novelty' score (SOAP distance of the least-covered atom).",
)
@click.option(
    "--target",
    "target_dir",
    type=click.Path(path_type=Path),
    help="Dataset of the structures the corrected model is to serve (e.g. frames of the MD you will run with "
    "it; no labels needed): herding then matches their force-information-weighted distribution, not the pool's, "
    "so the fitted scale suits them (strategy herding, score force_information only). One more pass of the model. "
    "Default: the pool itself.",
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
    method: str,
    strategy: str | None,
    score: str,
    min_distance: float,
    reference_dir: Path | None,
    target_dir: Path | None,
    seed: int,
    out: Path,
    device: str,
) -> None:
    """Pick the BUDGET candidates most worth a DFT calculation for correcting a model.

    \b
    With no arguments it runs offline on a built-in default: seed structures from ASE's builders,
    Gaussian rattles (0.05, 0.1, 0.2 A, a distinct seed per structure) and +-3 % uniaxial strains,
    described in one pass of the model being corrected (chgnet@0.3.0 from its wheel) and picked by
    herding weighted by each candidate's force_information in that model's own features: the set a
    linear correction (or a full fine-tune) should be fitted on. For a heads fine-tune, --method heads
    picks by gradient matching (each candidate's label-free loss gradient over the weights heads trains).
    The committee scores (--strategy greedy --score force_std_max; models 0.3.0, 0.2.0, r2scan):
      force_std_max       max over atoms of the RMS deviation of the members' forces (eV/A)
      force_std_mean      its mean over atoms (eV/A)
      energy_std_per_atom spread of the members' energies per atom, each member centred per composition (eV/atom)
    The same seed gives the same picks. Then write inputs for the picks:
      curate label curate-sample/picks --vasp-inputs calcs --functional PBE
    """
    from sampling.output import check_output_folder, picks_table, units_note, write_sample_output
    from sampling.pool import builtin_pool, read_pool
    from sampling.sample import check_target, load_scoring_models, model_specs, score_and_select

    started = time.perf_counter()
    check_output_folder(out)
    strategy = strategy or DEFAULT_STRATEGY_FOR_METHOD[method]
    target = read_pool(target_dir).rows if target_dir else None
    if target is not None:
        check_target(target, strategy=strategy, score=score)
    specs = model_specs(score, strategy, models)
    loaded = load_scoring_models(specs, device=device)
    candidates = read_pool(pool_dir) if pool_dir else builtin_pool(seed=seed)
    rows = candidates.rows
    click.echo(f"scoring {rows.num_rows} candidates with {', '.join(specs) or 'no model'} ...", err=True)
    result = score_and_select(
        rows,
        loaded,
        budget=budget,
        strategy=strategy,
        score=score,
        min_distance=min_distance,
        seed=seed,
        reference=reference_dir,
        loss_gradients=_loss_gradients(method),
        target=target,
    )
    pool, picks = result.pool, result.picks
    settings = {
        "budget": budget,
        "method": method,
        "strategy": strategy,
        "score": score,
        "features": result.features,
        "min_distance": min_distance,
        "seed": seed,
        "pool": str(pool_dir) if pool_dir else "builtin",
        "reference": str(reference_dir) if reference_dir else None,
        "target": {"path": str(target_dir), "structures": target.num_rows} if target is not None else None,
        "models": _provenance(loaded),
        "candidates": rows.num_rows,
        "rejected_candidates": len(candidates.rejected),
    }
    paths = write_sample_output(out, candidates=rows, pool=pool, picks=picks, strategy=strategy, settings=settings)
    click.echo(picks_table(rows, pool, picks))
    click.echo(
        f"units: {units_note(pool)}. {len(picks)} pick(s) of {len(pool)} "
        f"in {time.perf_counter() - started:.0f} s -> {paths['picks']} (dataset), {paths['structures']} "
        "(POSCAR, CIF)",
        file=sys.stderr,
    )


def _loss_gradients(method: str) -> LossGradients:
    """The fine-tuner's label-free loss gradients for ``method`` (default settings), with a progress bar."""

    def gradients(model: Model, structures: Sequence[Configuration]) -> np.ndarray:
        from tqdm import tqdm

        from curate.training.settings import TrainingSettings
        from curate.training.softening_gradients import gradient_method, model_loss_gradients

        label = f"loss gradients ({gradient_method(method)})"
        with tqdm(total=len(structures), unit=" candidates", desc=label, disable=None) as bar:
            return model_loss_gradients(
                model,
                structures,
                method=method,
                settings=TrainingSettings(),
                on_progress=lambda done: bar.update(done - bar.n),
            )

    return gradients


def _provenance(models: ScoringModels) -> list[dict[str, str]]:
    """Provenance of every model that scored the pool (none, one, or a committee's members)."""
    from curate.models.committee import Committee

    if models is None:
        return []
    if isinstance(models, Committee):
        return list(models.members)
    return [models.info.as_dict()]
