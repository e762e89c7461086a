"""Run a recipe over a dataset: stream the parents, apply each step, gate the outputs, write a new dataset.

Each output goes through the import quality gate (:func:`curate.quality.configuration_findings`): a
structure with two atoms closer than ``min_distance_factor`` x the sum of their covalent radii is rejected,
counted per step and reason, and written to the output's quarantine with the reason. Accepted rows are
written through :func:`curate.ingest.write_items`; a re-run with the same seed makes the same rows, which the
writer skips as already present.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curate.configuration import Configuration, batch_to_configurations, row_hashes
from curate.errors import ConfigurationError
from curate.ingest import FileReport, write_items
from curate.quality import configuration_findings, first_error
from curate.sources.base import Rejected
from curate.store import Dataset, DatasetWriter
from sampling.generators import SeedStream
from sampling.recipe import PARENTS, Recipe, Step


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
    for item in step.generator.generate(parent, parent_id=parent_id, seeds=seeds):
        if isinstance(item, Rejected):
            report.rejected["generator-refused"] += 1
            yield item
            continue
        report.generated += 1
        error = first_error(configuration_findings(item, min_distance_factor=factor))
        if error is None:
            yield item
        else:
            report.rejected[error.check] += 1
            yield Rejected(item.source_record or step.name, error.field, error.reason)


def generate_dataset(
    source: Path,
    out: Path,
    recipe: Recipe,
    *,
    limit: int | None = None,
    on_parent: Callable[[], None] | None = None,
    on_step: Callable[[StepReport], None] | None = None,
) -> GenerateReport:
    """Apply ``recipe`` to every row of the dataset ``source`` (the first ``limit`` rows) and write ``out``.

    Parents stream one record batch at a time; the outputs of one parent's steps stay in memory until the
    next parent (later steps can take them as input). The output manifest gets a source entry (the source
    path and content hash) and a history entry (the recipe, per-step counts, time).

    Raises:
        ConfigurationError: ``out`` is the source dataset.
        DatasetError: ``source`` is not a dataset, or ``out`` is being written by another process.
    """
    parents_dataset = Dataset.open(source)
    if out.resolve() == source.resolve():
        raise ConfigurationError(f"--out {out} is the source dataset; write generated rows to a new directory")
    dataset = Dataset.create(out)
    seeds = SeedStream(recipe.seed)
    report = GenerateReport(steps=[StepReport(name=s.name, generator=s.generator.name) for s in recipe.steps])
    for step_report in report.steps:
        step_report.written.path = f"generate:{step_report.name}"
    started = time.perf_counter()
    with dataset.writer() as writer:
        for batch in parents_dataset.iter_batches(batch_rows=256):
            ids = batch.column("id").to_pylist()
            for parent, parent_id in zip(batch_to_configurations(batch), ids, strict=True):
                if limit is not None and report.parents >= limit:
                    break
                _one_parent(parent, parent_id, recipe, seeds, report, writer)
                report.parents += 1
                if on_parent:
                    on_parent()
            if limit is not None and report.parents >= limit:
                break
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


def _one_parent(
    parent: Configuration,
    parent_id: str,
    recipe: Recipe,
    seeds: SeedStream,
    report: GenerateReport,
    writer: DatasetWriter,
) -> None:
    """Run every step for one parent, writing each step's outputs before the next step reads them."""
    accepted: dict[str, list[tuple[Configuration, str]]] = {PARENTS: [(parent, parent_id)]}
    chained = {s.input for s in recipe.steps}
    for step, step_report in zip(recipe.steps, report.steps, strict=True):
        kept: list[Configuration] = []
        write_items(
            _step_items(step, accepted[step.input], seeds, step_report, recipe.min_distance_factor, kept),
            writer=writer,
            display_name=step_report.written.path,
            file_report=step_report.written,
            min_distance_factor=recipe.min_distance_factor,
        )
        if step.name in chained:
            accepted[step.name] = list(zip(kept, row_hashes(kept)[0], strict=True)) if kept else []


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
