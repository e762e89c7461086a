"""Run a recipe over a dataset: stream the parents, apply each step, gate the outputs, write a new dataset.

Each output goes through the import quality gate (:func:`curate.checks.quality.configuration_findings`): a
structure with two atoms closer than ``min_distance_factor`` x the sum of their covalent radii is rejected,
counted per step and reason, and written to the output's quarantine with the reason. Accepted rows are
written through :func:`curate.sources.ingest.write_items`; a re-run with the same seed makes the same rows, which the
writer skips as already present.

Parents are cut into tasks of ``parents_per_task`` rows; :func:`generate_task` (a pure function of one task)
makes their outputs in-process or on any :mod:`curate.execution` executor, and only the main process writes,
in parent order. Each task draws its seeds from its own stream (task 0 from the run seed itself, task k from
:func:`task_seed`), so the rows depend on the run seed and ``parents_per_task``, never on what ran the tasks.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from curate.checks.quality import Finding, gate
from curate.dataset.configuration import Configuration, Rejected, batch_to_configurations, row_hashes
from curate.dataset.store import Dataset, DatasetWriter
from curate.errors import ConfigurationError
from curate.sources.ingest import FileReport, write_items
from sampling.generators import SeedStream
from sampling.recipe import PARENTS, Recipe, Step

if TYPE_CHECKING:
    from curate.execution import Executor

PARENTS_PER_TASK = 256


@dataclass
class StepReport:
    """Counts of one step: structures generated, rejected by reason, rows added, duplicates skipped.

    ``generated`` counts structures made; ``rejected`` counts those the quality gate refused (keyed by the
    check, e.g. ``min-distance``) and parents a generator refused (``generator-refused``).
    """

    name: str
    generator: str
    generated: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    written: FileReport = field(default_factory=lambda: FileReport(path=""))

    def as_dict(self) -> dict[str, object]:
        return {
            "generator": self.generator,
            "generated": self.generated,
            "rejected": dict(sorted(self.rejected.items())),
            "rows_added": self.written.rows_added,
            "duplicates": self.written.duplicates,
        }

    def summary(self) -> str:
        """One line: ``step (generator): N generated, M rejected (reason: count, ...), K added``."""
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.rejected.items()))
        rejected = sum(self.rejected.values())
        label = self.name if self.name == self.generator else f"{self.name} ({self.generator})"
        return (
            f"{label}: {self.generated} generated, {rejected} rejected{f' ({reasons})' if reasons else ''}, "
            f"{self.written.rows_added} added, {self.written.duplicates} already present"
        )


@dataclass
class GenerateReport:
    """Totals of one ``curate generate`` run."""

    parents: int = 0
    steps: list[StepReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_added(self) -> int:
        return sum(s.written.rows_added for s in self.steps)

    @property
    def rejected(self) -> int:
        return sum(sum(s.rejected.values()) for s in self.steps)


def _evenly(items: list[tuple[Configuration, str]], take: int | None) -> list[tuple[Configuration, str]]:
    """At most ``take`` items, evenly spaced over the list (first and last included)."""
    if take is None or len(items) <= take:
        return items
    picks = np.unique(np.round(np.linspace(0, len(items) - 1, take)).astype(int))
    return [items[int(k)] for k in picks]


def _gated(
    step: Step, parent: Configuration, parent_id: str, seeds: SeedStream, report: StepReport, factor: float
) -> Iterator[Configuration | Rejected]:
    """The step's outputs for one parent, each either accepted or turned into a Rejected with its reason."""

    def counted(items: Iterable[Configuration | Rejected]) -> Iterator[Configuration | Rejected]:
        for item in items:
            if isinstance(item, Rejected):
                report.rejected["generator-refused"] += 1
            else:
                report.generated += 1
            yield item

    def count_error(finding: Finding) -> None:
        report.rejected[finding.check] += 1

    outputs = counted(step.generator.generate(parent, parent_id=parent_id, seeds=seeds))
    yield from gate(outputs, min_distance_factor=factor, fallback_record=step.name, on_error=count_error)


def task_seed(run_seed: int, task_index: int) -> int:
    """The seed of task ``task_index``'s stream: the run seed for task 0, else drawn from SeedSequence(run_seed, k)."""
    if task_index == 0:
        return int(run_seed)
    state = np.random.SeedSequence(int(run_seed), spawn_key=(task_index,)).generate_state(2, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))


@dataclass(frozen=True)
class GenerateTask:
    """One task: consecutive parent rows (configuration, id), the recipe and the seed of the task's stream.

    ``recipe_key`` (the recipe's hash and a run token) lets a worker keep the first copy of the recipe it
    receives, and so one MD calculator, for every task of the run; None (in-process) uses ``recipe`` as is.
    """

    recipe: Recipe
    recipe_key: str | None
    parents: tuple[tuple[Configuration, str], ...]
    seed: int


@dataclass
class GenerateResult:
    """Per parent, per step, the step's gated outputs in order; and per step, generated / rejected counts."""

    outputs: list[list[list[Configuration | Rejected]]]
    generated: list[int]
    rejected: list[Counter[str]]


def recipe_key(recipe: Recipe) -> str:
    """sha256 of the recipe's canonical JSON (name, seed, steps, gate setting)."""
    return hashlib.sha256(json.dumps(recipe.as_dict(), sort_keys=True, default=str).encode()).hexdigest()


def generate_task(task: GenerateTask) -> GenerateResult:
    """Run every step of the recipe for each parent of ``task``; pure, runs in-process or on a worker."""
    from curate.execution.cache import worker_cached

    recipe = task.recipe if task.recipe_key is None else worker_cached(("recipe", task.recipe_key), lambda: task.recipe)
    seeds = SeedStream(task.seed)
    counts = [StepReport(name=s.name, generator=s.generator.name) for s in recipe.steps]
    outputs = [_parent_outputs(parent, parent_id, recipe, seeds, counts) for parent, parent_id in task.parents]
    return GenerateResult(
        outputs=outputs, generated=[c.generated for c in counts], rejected=[c.rejected for c in counts]
    )


def _tasks(
    parents_dataset: Dataset, recipe: Recipe, *, key: str | None, limit: int | None, parents_per_task: int
) -> Iterator[GenerateTask]:
    """Consecutive groups of exactly ``parents_per_task`` parents (the last may be shorter), whatever the shards."""
    pending: list[tuple[Configuration, str]] = []
    index = 0
    taken = 0
    for batch in parents_dataset.iter_batches(batch_rows=parents_per_task):
        ids = batch.column("id").to_pylist()
        pending += zip(batch_to_configurations(batch), ids, strict=True)
        if limit is not None:
            pending = pending[: max(0, limit - taken)]
        while len(pending) >= parents_per_task:
            chunk, pending = tuple(pending[:parents_per_task]), pending[parents_per_task:]
            yield GenerateTask(recipe, key, chunk, task_seed(recipe.seed, index))
            index += 1
            taken += len(chunk)
        if limit is not None and taken + len(pending) >= limit:
            break
    if pending:
        yield GenerateTask(recipe, key, tuple(pending), task_seed(recipe.seed, index))


def generate_dataset(
    source: Path,
    out: Path,
    recipe: Recipe,
    *,
    limit: int | None = None,
    on_parent: Callable[[], None] | None = None,
    on_step: Callable[[StepReport], None] | None = None,
    executor: Executor | None = None,
    parents_per_task: int = PARENTS_PER_TASK,
) -> GenerateReport:
    """Apply ``recipe`` to every row of the dataset ``source`` (the first ``limit`` rows) and write ``out``.

    Parents stream ``parents_per_task`` rows at a time, each batch one task run by ``executor`` (None: in this
    process); at most a few tasks' outputs are in memory at once. The output manifest gets a source entry (the
    source path and content hash) and a history entry (the recipe, per-step counts, time).

    Raises:
        ConfigurationError: ``out`` is the source dataset, or ``parents_per_task`` < 1.
        DatasetError: ``source`` is not a dataset, or ``out`` is being written by another process.
    """
    from curate.execution import InProcessExecutor

    parents_dataset = Dataset.open(source)
    if out.resolve() == source.resolve():
        raise ConfigurationError(f"out {out} is the source dataset; write generated rows to a new directory")
    if parents_per_task < 1:
        raise ConfigurationError(f"parents per task must be >= 1, got {parents_per_task}")
    dataset = Dataset.create(out)
    report = GenerateReport(steps=[StepReport(name=s.name, generator=s.generator.name) for s in recipe.steps])
    for step_report in report.steps:
        step_report.written.path = f"generate:{step_report.name}"
    runner = executor or InProcessExecutor()
    key = None if isinstance(runner, InProcessExecutor) else f"{recipe_key(recipe)}:{secrets.token_hex(8)}"
    started = time.perf_counter()
    with dataset.writer() as writer:
        tasks = _tasks(parents_dataset, recipe, key=key, limit=limit, parents_per_task=parents_per_task)
        for result in runner.map(generate_task, tasks):
            _write_result(result, recipe, report, writer, on_parent)
        writer.flush()
        report.seconds = time.perf_counter() - started
        dataset.record_source(
            {
                "file": str(source),
                "format": "curate-dataset",
                "content_hash": parents_dataset.content_hash,
                "rows_read": report.parents,
                "recipe": recipe.name,
            }
        )
        dataset.record_history(
            {
                "command": "generate",
                "source": str(source),
                "source_content_hash": parents_dataset.content_hash,
                "parents": report.parents,
                "limit": limit,
                "recipe": recipe.as_dict(),
                "parents_per_task": parents_per_task,
                **({"execution": executor.describe()} if executor is not None else {}),
                "steps": {s.name: s.as_dict() for s in report.steps},
                "rows_added": report.rows_added,
                "rejected": report.rejected,
                "seconds": round(report.seconds, 3),
            }
        )
    if on_step:
        for step_report in report.steps:
            on_step(step_report)
    return report


def _write_result(
    result: GenerateResult,
    recipe: Recipe,
    report: GenerateReport,
    writer: DatasetWriter,
    on_parent: Callable[[], None] | None,
) -> None:
    """Write one task's outputs parent by parent, step by step (the order the in-process loop always had)."""
    for step_report, generated, rejected in zip(report.steps, result.generated, result.rejected, strict=True):
        step_report.generated += generated
        step_report.rejected.update(rejected)
    for per_step in result.outputs:
        for step_report, items in zip(report.steps, per_step, strict=True):
            write_items(
                items,
                writer=writer,
                display_name=step_report.written.path,
                file_report=step_report.written,
                min_distance_factor=recipe.min_distance_factor,
            )
        report.parents += 1
        if on_parent:
            on_parent()


def _parent_outputs(
    parent: Configuration,
    parent_id: str,
    recipe: Recipe,
    seeds: SeedStream,
    counts: list[StepReport],
) -> list[list[Configuration | Rejected]]:
    """Every step's gated outputs for one parent; a chained step reads the accepted outputs of its input step."""
    accepted: dict[str, list[tuple[Configuration, str]]] = {PARENTS: [(parent, parent_id)]}
    chained = {s.input for s in recipe.steps}
    per_step: list[list[Configuration | Rejected]] = []
    for step, step_report in zip(recipe.steps, counts, strict=True):
        kept: list[Configuration] = []
        per_step.append(
            list(_step_items(step, accepted[step.input], seeds, step_report, recipe.min_distance_factor, kept))
        )
        if step.name in chained:
            accepted[step.name] = list(zip(kept, row_hashes(kept)[0], strict=True)) if kept else []
    return per_step


def _step_items(
    step: Step,
    inputs: list[tuple[Configuration, str]],
    seeds: SeedStream,
    report: StepReport,
    factor: float,
    kept: list[Configuration],
) -> Iterator[Configuration | Rejected]:
    """One step's gated outputs over its inputs; accepted configurations are also appended to ``kept``."""
    for source, source_id in _evenly(inputs, step.take):
        for item in _gated(step, source, source_id, seeds, report, factor):
            if isinstance(item, Configuration):
                kept.append(item)
            yield item
