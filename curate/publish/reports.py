"""Bias reports a dataset carries in ``DIR/reports/``, rendered into the card as they are.

Contract: every ``DIR/reports/*.json`` (e.g. ``softening.json`` from ``curate softening``, ``coverage.json``
from ``curate coverage``) becomes one card section; every ``DIR/reports/*.png`` is copied to
``figures/reports/`` and shown under the section whose name starts its file name (``softening_parity.png``
goes under ``softening``). JSON is rendered generically: top-level scalars (and one level of nested scalars) as
a key/value table, lists of flat records as tables, anything else as a JSON block, so a new report needs no
change here.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.dataset.paths import REPORTS_DIR, safe_join
from curate.errors import InputError

REPORT_FIGURES_DIR = "figures/reports"
MAX_TABLE_ROWS = 40
MAX_JSON_CHARS = 3000
KNOWN_TITLES = {
    "softening": "Softening: model vs DFT forces",
    "coverage": "Coverage of configuration space",
}


@dataclass
class Report:
    """One report: its name (file stem), parsed JSON and the figures copied for it (release-relative paths)."""

    name: str
    content: Any
    figures: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return KNOWN_TITLES.get(self.name, self.name.replace("_", " ").capitalize())


def load_reports(dataset_dir: Path, release_root: Path) -> list[Report]:
    """Read ``dataset_dir/reports/*.json`` and copy ``*.png`` next to the card; none when the folder is absent.

    Links are not followed: a release holds only files of the dataset itself.

    Raises:
        InputError: a report is not valid JSON, or ``reports/`` or a report in it is a symbolic link (names it).
    """
    folder = dataset_dir / REPORTS_DIR
    if folder.is_symlink():
        raise InputError(
            "reports folder is a symbolic link; curate publishes only files inside the dataset", file=str(folder)
        )
    if not folder.is_dir():
        return []
    reports = []
    for path in sorted(folder.glob("*.json")):
        _refuse_link(path)
        try:
            content = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"report is not valid JSON ({exc})", file=str(path)) from exc
        reports.append(Report(name=path.stem, content=content))
    for png in sorted(folder.glob("*.png")):
        _refuse_link(png)
        figures = release_root / REPORT_FIGURES_DIR
        figures.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, safe_join(figures, png.name, what="report figure"), follow_symlinks=False)
        owner = next((r for r in reports if png.stem.startswith(r.name)), None)
        if owner is None:
            owner = Report(name=png.stem, content=None)
            reports.append(owner)
        owner.figures.append(f"{REPORT_FIGURES_DIR}/{png.name}")
    return reports


def _refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise InputError(
            "report is a symbolic link; curate publishes only files inside the dataset (copy the file in instead)",
            file=str(path),
        )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        text = json.dumps(value)
        return text if len(text) <= 80 else text[:77] + "..."
    return str(value).replace("|", "\\|").replace("\n", " ")


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _records_table(records: list[dict]) -> list[str]:
    columns: list[str] = []
    for record in records:
        columns += [k for k in record if k not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for record in records[:MAX_TABLE_ROWS]:
        lines.append("| " + " | ".join(_cell(record.get(c, "")) for c in columns) + " |")
    if len(records) > MAX_TABLE_ROWS:
        lines.append(f"\n{len(records) - MAX_TABLE_ROWS} more rows in `reports/` of the source dataset.")
    return lines


def render_report(report: Report) -> list[str]:
    """Markdown lines of one report section (heading level 3)."""
    lines = [f"### {report.title}", "", f"From `reports/{report.name}.json`." if report.content is not None else ""]
    content = report.content
    if isinstance(content, dict):
        scalars = [(k, v) for k, v in content.items() if _is_scalar(v)]
        for key, value in content.items():
            if isinstance(value, dict) and all(_is_scalar(v) for v in value.values()):
                scalars += [(f"{key}.{k}", v) for k, v in value.items()]
        if scalars:
            lines += ["", "| key | value |", "|---|---|"] + [f"| {k} | {_cell(v)} |" for k, v in scalars]
        for key, value in content.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                lines += ["", f"**{key}**", "", *_records_table(value)]
    elif isinstance(content, list) and content and all(isinstance(v, dict) for v in content):
        lines += ["", *_records_table(content)]
    elif content is not None:
        text = json.dumps(content, indent=1)
        lines += ["", "```json", text[:MAX_JSON_CHARS] + ("\n..." if len(text) > MAX_JSON_CHARS else ""), "```"]
    for figure in report.figures:
        lines += ["", f"![{report.name}]({figure})"]
    return [*lines, ""]
