"""Benchmark (issue 5): scoring candidates with a committee, and selecting from a 100,000-candidate pool.

1. **Scoring throughput.** The same candidate pool (``curate sample``'s built-in pool: Si, Cu, NaCl, MgO cells
   from ASE, seeded rattles and +-3 % strains, replicated with new seeds up to ``--candidates``) scored by the
   same CHGNet committee (0.3.0, 0.2.0, r2scan):

   - anchor (what users do today): one ASE ``CHGNetCalculator`` per model, ``atoms.get_potential_energy()``
     and ``atoms.get_forces()`` structure by structure, then the committee force deviation in NumPy;
   - curate: ``curate.models.committee.Committee`` over the candidate rows (batches sized by atom count,
     neighbour graphs shared by the models that allow it), the registered committee scores, plus the
     mean-SOAP descriptor the selectors need.

   Each side runs in its own process; peak memory is the largest PSS of that process sampled every 50 ms.
   Both sides must agree on the scores (checked, max |difference| printed).

2. **Selection time** on a 100,000-candidate pool with 64-dimensional features (200 clusters + noise, as
   rattles of a few hundred parents look) for every strategy, budget 100.

Usage (from the project root)::

    .venv/bin/python bench/sample.py                   # 96 candidates, about 3 minutes on 2 cores
    .venv/bin/python bench/sample.py --write-results   # also record the numbers in bench/RESULTS.md
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import psutil

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# bench/coverage.py would shadow the `coverage` package numba imports: keep bench/ itself off the path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != PROJECT_ROOT / "bench"]
sys.path.insert(0, str(PROJECT_ROOT))

from bench.process_memory import run_watched  # noqa: E402

RESULTS_PATH = PROJECT_ROOT / "bench" / "RESULTS.md"
RESULTS_SECTION = "## sample (issue 5)"
COST_SECTION = "## sample: the default path's scoring cost, describe and selection apart (issue 14, i14-sample)"
COMMITTEE = ("chgnet@0.3.0", "chgnet@0.2.0", "chgnet@r2scan")
CHGNET_NAMES = {"chgnet@0.3.0": "0.3.0", "chgnet@0.2.0": "0.2.0", "chgnet@r2scan": "r2scan"}


def candidate_pool(count: int) -> list[Any]:
    """``count`` distinct candidates: the built-in pool regenerated with seeds 0, 1, ... until there are enough.

    The strained cells do not depend on the seed, so a structure already drawn is skipped (candidate ids must be
    unique)."""
    from curate.dataset.configuration import batch_to_configurations, geometry_hash
    from sampling.pool import builtin_pool

    configurations: list[Any] = []
    seen: set[str] = set()
    seed = 0
    while len(configurations) < count:
        for cfg in batch_to_configurations(builtin_pool(seed=seed).rows):
            if geometry_hash(cfg) not in seen:
                seen.add(geometry_hash(cfg))
                configurations.append(cfg)
        seed += 1
    return configurations[:count]


def candidate_rows(configurations: list[Any]) -> Any:
    """The candidates as an Arrow table of the row schema (what ``curate sample`` carries from pool to output)."""
    import pyarrow as pa

    from curate.dataset.configuration import configurations_to_batch

    return pa.Table.from_batches([configurations_to_batch(configurations)])


def score_anchor(count: int) -> dict[str, Any]:
    """ASE calculator loop: per model, per structure, energy and forces; then the force deviation."""
    from ase import Atoms
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    from curate.models.committee import CommitteePredictions
    from sampling.scoring import SCORERS, ScoringInputs

    configurations = candidate_pool(count)
    rows = candidate_rows(configurations)
    started = time.perf_counter()
    forces, energies = [], []
    for spec in COMMITTEE:
        calculator = CHGNetCalculator(model=CHGNet.load(model_name=CHGNET_NAMES[spec], verbose=False), use_device="cpu")
        member_forces, member_energies = [], []
        for cfg in configurations:
            atoms = Atoms(cfg.species, positions=cfg.positions, cell=cfg.lattice, pbc=True)
            atoms.calc = calculator
            member_energies.append(atoms.get_potential_energy())
            member_forces.append(atoms.get_forces())
        forces.append(np.concatenate(member_forces))
        energies.append(member_energies)
    predictions = CommitteePredictions(
        members=tuple({"spec": spec} for spec in COMMITTEE),
        energy_ev=np.array(energies),
        forces_ev_per_ang=np.stack(forces),
        nsites=np.array([c.nsites for c in configurations]),
    )
    scores = SCORERS["force_std_max"].score(ScoringInputs(rows, committee=predictions))
    return {"seconds": time.perf_counter() - started, "force_std_max": scores.tolist()}


def score_curate(count: int) -> dict[str, Any]:
    """curate's committee over the candidate rows, every committee score, and the per-structure descriptor."""
    from curate.dataset.configuration import batch_to_configurations
    from curate.models.committee import Committee
    from sampling.scoring import ScoringInputs, score_candidates
    from sampling.selection.features import structure_descriptors

    rows = candidate_rows(candidate_pool(count))
    started = time.perf_counter()
    predictions = Committee.load(COMMITTEE, device="cpu").predict(batch_to_configurations(rows))
    scores = score_candidates(ScoringInputs(rows, committee=predictions))
    structure_descriptors(rows)
    return {"seconds": time.perf_counter() - started, "force_std_max": scores["force_std_max"].tolist()}


def score_default(count: int) -> dict[str, Any]:
    """``curate sample``'s default path exactly: the models its score and strategy need (one: chgnet@0.3.0),
    one ``describe()`` pass with the force_information score (:func:`sampling.sample.score_pool`), then herding
    in the model's own features, budget 10. Load, describe+score and selection are timed apart."""
    from sampling.sample import DEFAULT_SCORE, DEFAULT_STRATEGY, load_scoring_models, model_specs, score_pool
    from sampling.selection import make_selector

    rows = candidate_rows(candidate_pool(count))
    started = time.perf_counter()
    model = load_scoring_models(model_specs(DEFAULT_SCORE, DEFAULT_STRATEGY), device="cpu")
    loaded = time.perf_counter()
    pool, _ = score_pool(rows, model, strategy=DEFAULT_STRATEGY, score=DEFAULT_SCORE)
    scored = time.perf_counter()
    picks = make_selector(DEFAULT_STRATEGY, score=DEFAULT_SCORE).select(pool, budget=10, seed=0)
    done = time.perf_counter()
    return {
        "seconds": done - started,
        "load_seconds": loaded - started,
        "describe_seconds": scored - loaded,
        "select_seconds": done - scored,
        "picks": [p.index for p in picks],
    }


def score_predict(count: int) -> dict[str, Any]:
    """One plain prediction pass of the model being corrected (the floor the default's scoring is held to)."""
    from curate.dataset.configuration import batch_to_configurations
    from curate.models import load_model
    from curate.models.base import max_atoms_for

    configurations = batch_to_configurations(candidate_rows(candidate_pool(count)))
    started = time.perf_counter()
    model = load_model(COMMITTEE[0], device="cpu")
    loaded = time.perf_counter()
    model.predict(configurations, max_atoms_per_batch=max_atoms_for([model]))
    done = time.perf_counter()
    return {"seconds": done - started, "load_seconds": loaded - started, "predict_seconds": done - loaded}


def run_side(side: str, count: int, work: Path) -> dict[str, Any]:
    """Run one side in a fresh process; return its result with the peak PSS (MB) and the process wall time."""
    out = work / f"sample-{side}.json"
    command = [sys.executable, __file__, "--side", side, "--candidates", str(count), "--side-out", str(out)]
    log = work / f"sample-{side}.log"
    with open(log, "wb") as err:
        watched = run_watched(command, stdout=subprocess.DEVNULL, stderr=err)
    if watched.returncode != 0:
        raise SystemExit(f"{side} failed:\n{log.read_text()[-3000:]}")
    result = json.loads(out.read_text())
    return {**result, "process_seconds": watched.seconds, "peak_mb": watched.peak_mb}


def interleaved_rounds(count: int, rounds: int) -> None:
    """Print ``rounds`` rounds of the default's scoring + herding against one plain predict pass, one process."""
    from curate.dataset.configuration import batch_to_configurations
    from curate.models.base import max_atoms_for
    from sampling.sample import DEFAULT_SCORE, DEFAULT_STRATEGY, load_scoring_models, model_specs, score_pool
    from sampling.selection import make_selector

    rows = candidate_rows(candidate_pool(count))
    model = load_scoring_models(model_specs(DEFAULT_SCORE, DEFAULT_STRATEGY), device="cpu")
    structures = batch_to_configurations(rows)
    for k in range(1, rounds + 1):
        started = time.perf_counter()
        pool, _ = score_pool(rows, model, strategy=DEFAULT_STRATEGY, score=DEFAULT_SCORE)
        scored = time.perf_counter()
        make_selector(DEFAULT_STRATEGY, score=DEFAULT_SCORE).select(pool, budget=10, seed=0)
        selected = time.perf_counter()
        model.predict(structures, max_atoms_per_batch=max_atoms_for([model]))  # type: ignore[union-attr]
        predicted = time.perf_counter()
        ratio = (selected - started) / (predicted - selected)
        click.echo(
            f"round {k}: describe + force_information {scored - started:.2f} s, herding {selected - scored:.3f} s, "
            f"predict {predicted - selected:.2f} s; (scoring + selection) / predict {ratio:.2f}"
        )


def selection_times(n: int = 100_000, budget: int = 100, seed: int = 0) -> dict[str, float]:
    """Seconds each strategy takes to pick ``budget`` of ``n`` candidates with 64 features."""
    from sampling.selection import STRATEGIES, CandidatePool, make_selector

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(200, 64)) * 3.0
    features = centres[rng.integers(0, len(centres), n)] + rng.normal(size=(n, 64)) * 0.3
    pool = CandidatePool(
        ids=[f"c{i:06d}" for i in range(n)], features=features, scores={"force_std_max": rng.random(n)}
    )
    times = {}
    for name in STRATEGIES:
        started = time.perf_counter()
        picks = make_selector(name, min_distance=1.0).select(pool, budget=budget, seed=seed)
        times[name] = time.perf_counter() - started
        assert len({p.candidate_id for p in picks}) == budget
    return times


def _scoring_cost(candidates: int, work: Path, *, write_results: bool) -> None:
    """`curate sample`'s default path (one model, describe + force_information, herding) against the committee's."""
    load_before = os.getloadavg()
    default = run_side("default", candidates, work)
    committee = run_side("curate", candidates, work)
    predict = run_side("predict", candidates, work)
    load_after = os.getloadavg()
    memory_gib = psutil.virtual_memory().total / 2**30
    lines = [
        COST_SECTION,
        "",
        "The same candidates (`curate sample`'s built-in pool, replicated), CPU. Default: `curate sample`'s own path",
        "(`sampling.sample.model_specs`, `load_scoring_models`, `score_pool`): load chgnet@0.3.0, one `describe()`",
        "pass (predictions + crystal features) with the force_information score, then herding picks 10 in the",
        "model's own features. Committee (`--strategy greedy --score force_std_max`): load three CHGNet models,",
        "predict with each, committee scores, the mean-SOAP descriptors its selectors need. Seconds include model",
        "loading, not interpreter start.",
        "",
        "| candidates | default s | default cand/s | default peak MB | committee s | committee cand/s "
        "| committee peak MB | committee / default |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {candidates} | {default['seconds']:.1f} | {candidates / default['seconds']:.2f} | "
        f"{default['peak_mb']:.0f} | {committee['seconds']:.1f} | {candidates / committee['seconds']:.2f} | "
        f"{committee['peak_mb']:.0f} | {committee['seconds'] / default['seconds']:.2f}x |",
        "",
        "The default apart, against one plain `predict` pass of chgnet@0.3.0 over the same candidates (seconds):",
        "",
        "| load | describe + force_information | herding selection | plain predict (after its load) "
        "| describe / predict |",
        "|---:|---:|---:|---:|---:|",
        f"| {default['load_seconds']:.2f} | {default['describe_seconds']:.2f} | {default['select_seconds']:.3f} | "
        f"{predict['predict_seconds']:.2f} | {default['describe_seconds'] / predict['predict_seconds']:.2f}x |",
        "",
        f"Command: `.venv/bin/python bench/sample.py --scoring-cost --candidates {candidates}` on "
        f"{os.cpu_count()} cores, {memory_gib:.1f} GiB RAM, {dt.date.today().isoformat()}; load average (1, 5, 15 min) "
        f"{', '.join(f'{v:.2f}' for v in load_before)} before, {', '.join(f'{v:.2f}' for v in load_after)} after.",
    ]
    click.echo("\n".join(lines))
    if write_results:
        _write_results("\n".join(lines), section=COST_SECTION)


def _write_results(text: str, section: str = RESULTS_SECTION) -> None:
    body = RESULTS_PATH.read_text() if RESULTS_PATH.exists() else "# Benchmark results\n"
    if section in body:
        head, rest = body.split(section, 1)
        tail = rest[rest.find("\n## ") :] if "\n## " in rest else ""
        body = head.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n" + tail
    else:
        body = body.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    RESULTS_PATH.write_text(body)


@click.command()
@click.option("--candidates", default=96, show_default=True, help="Candidates scored by both sides.")
@click.option("--write-results", is_flag=True, help="Record the numbers in bench/RESULTS.md.")
@click.option(
    "--scoring-cost",
    is_flag=True,
    help="Only compare the default strategy's scoring (one describe pass + herding) with the committee's (issue 14).",
)
@click.option(
    "--interleaved",
    type=click.IntRange(min=1),
    default=None,
    help="With --scoring-cost: instead, N rounds in one process of the default's scoring + selection, then one "
    "plain predict pass on the same candidates (separate processes swing on a shared machine).",
)
@click.option("--side", type=click.Choice(["anchor", "curate", "default", "predict"]), hidden=True)
@click.option("--side-out", type=click.Path(path_type=Path), hidden=True)
def main(
    candidates: int,
    write_results: bool,
    scoring_cost: bool,
    interleaved: int | None,
    side: str | None,
    side_out: Path | None,
) -> None:
    """Committee scoring throughput (curate vs an ASE calculator loop) and 100k-candidate selection time."""
    if side is not None and side_out is not None:
        sides = {"anchor": score_anchor, "curate": score_curate, "default": score_default, "predict": score_predict}
        side_out.write_text(json.dumps(sides[side](candidates)))
        return
    work = PROJECT_ROOT / "bench" / "_work"
    work.mkdir(parents=True, exist_ok=True)
    if scoring_cost and interleaved:
        interleaved_rounds(candidates, interleaved)
        return
    if scoring_cost:
        _scoring_cost(candidates, work, write_results=write_results)
        return
    anchor = run_side("anchor", candidates, work)
    curate = run_side("curate", candidates, work)
    disagreement = float(np.max(np.abs(np.array(anchor["force_std_max"]) - np.array(curate["force_std_max"]))))
    ratio = anchor["seconds"] / curate["seconds"]
    times = selection_times()
    memory_gib = psutil.virtual_memory().total / 2**30
    machine = f"{os.cpu_count()} cores, {memory_gib:.1f} GiB RAM, Python {platform.python_version()}"
    lines = [
        RESULTS_SECTION,
        "",
        "Scoring: the same candidates, the CHGNet committee (0.3.0, 0.2.0, r2scan) on CPU. Anchor: an ASE",
        "`CHGNetCalculator` per model, energy and forces structure by structure, then the force deviation in",
        "NumPy. curate: `curate.models.committee.Committee` (atom-count batches, shared neighbour graphs), the",
        "committee scores, plus the mean-SOAP descriptor (work the anchor does not do). Seconds include loading",
        "the three models but not interpreter start; peak is the PSS of each side's process.",
        "",
        "| candidates | anchor s | anchor cand/s | anchor peak MB | curate s | curate cand/s | curate peak MB "
        "| ratio | max score difference (eV/A) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {candidates} | {anchor['seconds']:.1f} | {candidates / anchor['seconds']:.2f} | {anchor['peak_mb']:.0f} "
        f"| {curate['seconds']:.1f} | {candidates / curate['seconds']:.2f} | {curate['peak_mb']:.0f} | {ratio:.2f}x "
        f"| {disagreement:.2e} |",
        "",
        "Selection, 100,000 candidates x 64 features (200 clusters + noise), budget 100, seconds:",
        "",
        "| " + " | ".join(times) + " |",
        "|" + "---:|" * len(times),
        "| " + " | ".join(f"{t:.2f}" for t in times.values()) + " |",
        "",
        f"Command: `.venv/bin/python bench/sample.py{' --write-results' if write_results else ''}` on {machine}, "
        f"{dt.date.today().isoformat()}.",
    ]
    click.echo("\n".join(lines))
    if write_results:
        _write_results("\n".join(lines))


if __name__ == "__main__":
    main()
