"""``curate check``: run the quality gate over a whole dataset, streaming, and summarise the findings."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from curate.checks.quality import MIN_DISTANCE_FACTOR, Finding, configuration_findings
from curate.dataset.configuration import batch_to_configurations
from curate.dataset.store import Dataset

MEDIAN_PRESSURE_WARN_GPA = 20.0
EXAMPLES_PER_CHECK = 3


@dataclass(frozen=True)
class RowFinding:
    """A finding located in the dataset."""

    row_id: str
    source_file: str | None
    source_record: str | None
    finding: Finding


@dataclass
class ValidationReport:
    """Counts per check and severity, a few located examples of each, and dataset-level findings."""

    rows: int = 0
    counts: Counter = field(default_factory=Counter)
    examples: dict[tuple[str, str], list[RowFinding]] = field(default_factory=dict)
    dataset_findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(n for (check, severity), n in self.counts.items() if severity == "error") + sum(
            1 for f in self.dataset_findings if f.severity == "error"
        )

    @property
    def warnings(self) -> int:
        return sum(n for (check, severity), n in self.counts.items() if severity == "warning") + sum(
            1 for f in self.dataset_findings if f.severity == "warning"
        )


def validate_dataset(dataset: Dataset, *, min_distance_factor: float = MIN_DISTANCE_FACTOR) -> ValidationReport:
    """Check every row (shapes, finiteness, short bonds, unit-revealing magnitudes, missing labels) and the whole.

    Dataset-level checks: duplicate ids, and the median hydrostatic pressure |tr(sigma)/3| of labelled rows
    above 20 GPa, which in practice means kBar values stored as GPa.
    """
    report = ValidationReport()
    id_counts: Counter = Counter()
    pressures: list[float] = []
    for batch in dataset.iter_batches(batch_rows=1024):
        ids = batch.column("id").to_pylist()
        files = batch.column("source_file").to_pylist()
        records = batch.column("source_record").to_pylist()
        id_counts.update(ids)
        for row_id, source_file, record, cfg in zip(ids, files, records, batch_to_configurations(batch), strict=True):
            report.rows += 1
            if cfg.stress is not None:
                pressures.append(abs(float(np.trace(cfg.stress)) / 3.0))
            for finding in configuration_findings(cfg, min_distance_factor=min_distance_factor):
                key = (finding.check, finding.severity)
                report.counts[key] += 1
                examples = report.examples.setdefault(key, [])
                if len(examples) < EXAMPLES_PER_CHECK:
                    examples.append(RowFinding(row_id, source_file, record, finding))
    duplicated = {k: v for k, v in id_counts.items() if v > 1}
    if duplicated:
        report.dataset_findings.append(
            Finding(
                "duplicate-ids",
                "id",
                "error",
                f"{len(duplicated)} id(s) occur more than once ({sum(duplicated.values())} rows), "
                f"e.g. {next(iter(duplicated))}",
            )
        )
    if pressures:
        median = float(np.median(pressures))
        if median > MEDIAN_PRESSURE_WARN_GPA:
            report.dataset_findings.append(
                Finding(
                    "stress-unit",
                    "stress",
                    "warning",
                    f"median |pressure| is {median:.1f} GPa over {len(pressures)} rows; DFT training data sits near "
                    "0-5 GPa: were kBar values stored as GPa?",
                )
            )
    return report
