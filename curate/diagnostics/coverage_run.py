"""A coverage measurement end to end: descriptors and distances, label-space bias, the report and its files."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curate.dataset.store import Dataset
from curate.diagnostics.coverage import CoverageOptions
from curate.execution.base import Executor

REPORT_FILES = ("coverage.json", "coverage.md", "coverage.png", "coverage_labels.png")


def measure_coverage(
    reference_dir: Path,
    target_dir: Path,
    options: CoverageOptions,
    *,
    labels: bool = True,
    executor: Executor | None = None,
    command: str = "curate coverage",
    parameters: dict[str, Any] | None = None,
    on_message: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """The coverage report of the target dataset by the reference dataset (see :func:`build_report`).

    With ``labels`` it also holds the label-space bias (force norms eV/A, energy above each material's lowest
    frame eV/atom, volumetric strain). ``command`` and ``parameters`` are recorded as given; ``on_message``
    hears when both datasets are open and the work starts.
    """
    from curate.diagnostics.coverage import compute_coverage
    from curate.diagnostics.coverage_report import build_report
    from curate.diagnostics.label_bias import label_statistics

    reference, target = Dataset.open(reference_dir), Dataset.open(target_dir)
    on_message(f"coverage: {reference_dir} -> {target_dir}")
    result = compute_coverage(reference, target, options, executor=executor)
    started = time.perf_counter()
    stats = (label_statistics(reference), label_statistics(target)) if labels else (None, None)
    result.timings_s["label_bias"] = time.perf_counter() - started
    report = build_report(
        result=result,
        options=options,
        reference={"path": str(reference_dir), "content_hash": reference.content_hash},
        target={"path": str(target_dir), "content_hash": target.content_hash},
        reference_labels=stats[0],
        target_labels=stats[1],
        command=command,
    )
    if parameters is not None:
        report["parameters"] = parameters
    return report


def write_coverage_files(report: dict[str, Any], folder: Path) -> None:
    """coverage.json, coverage.md, coverage.png (and coverage_labels.png with label bias) into ``folder``."""
    from curate.diagnostics.coverage_plots import plot_coverage, plot_label_bias
    from curate.diagnostics.coverage_report import render_markdown

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "coverage.json").write_text(json.dumps(report, indent=2) + "\n")
    (folder / "coverage.md").write_text(render_markdown(report))
    plot_coverage(report, folder / "coverage.png")
    if "label_bias" in report:
        plot_label_bias(report, folder / "coverage_labels.png")
