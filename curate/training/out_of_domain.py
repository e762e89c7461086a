"""An out-of-domain benchmark: does a fine-tuned model stay as good as it was *outside* its correction target?

A correction set aimed at one system (say Ge forces) can fix it while damaging everything else; a report that
only measures its own target would pass such a set. Every fine-tuning and correction report therefore also
evaluates the model before and after on a general benchmark made of named parts:

* the default parts, built from real DFT data with curate's own importers (:func:`default_parts`):
  ``matpes-pbe`` (MatPES v2025.1 PBE elemental structures, the ``matpes`` importer) and ``mp-tasks``
  (Materials Project task steps, the ``mp-tasks`` importer: PBE and PBE+U only, at most
  :data:`STEPS_PER_TASK` evenly spaced ionic steps per task), each deduplicated by geometry, bounded in size
  and in file order, so the same files always give the same benchmark;
* any curate dataset the user names (one part each).

MatPES and Materials Project energies are not on one scale (MatPES uses stricter settings; CHGNet is trained
on MP2020-corrected energies), so metrics are computed and reported per part, never pooled; the verdict
compares each part with itself before and after.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.dataset.configuration import Configuration, row_hashes
from curate.errors import ConfigurationError
from curate.models.base import Model, max_atoms_for
from curate.training.data import TrainingSet, load_training_set
from curate.training.evaluate import Metrics, evaluate

# (part name, importer, file paths relative to the reference-data root, functionals kept)
DEFAULT_SOURCES: tuple[tuple[str, str, tuple[str, ...], frozenset[str]], ...] = (
    ("matpes-pbe", "matpes", ("matcalc/MatPES-PBE-Element-Refs.json.gz",), frozenset({"PBE"})),
    (
        "mp-tasks",
        "mp-tasks",
        (
            "emmet/magnetism_task_docs.json.gz",
            "emmet/tasks_Li_Fe_V.json.gz",
            "emmet/test_As2SO6_tasks.json.gz",
            "emmet/test_si_tasks.json.gz",
        ),
        frozenset({"PBE", "PBE+U"}),
    ),
)
STEPS_PER_TASK = 3
MAX_STRUCTURES_PER_PART = 150
MAX_ATOMS_PER_STRUCTURE = 32
DATA_ROOT_VARIABLE = "CURATE_REFERENCE_DATA"
DEFAULT_DATA_ROOT = Path("../shared/data")
WORSE_THRESHOLD_PERCENT = 5.0


def default_data_root() -> Path:
    """Where the default parts' files are read: ``$CURATE_REFERENCE_DATA``, else ``../shared/data`` (from cwd)."""
    return Path(os.environ.get(DATA_ROOT_VARIABLE) or DEFAULT_DATA_ROOT)


@dataclass(frozen=True)
class BenchmarkPart:
    """One named part of the benchmark: labelled structures evaluated (and reported) on their own."""

    name: str
    data: TrainingSet


def _evenly_spaced(steps: list[Configuration], keep: int) -> list[Configuration]:
    """``keep`` steps spread over ``steps`` (first and last included), in order."""
    if len(steps) <= keep:
        return steps
    return [steps[int(k)] for k in np.unique(np.round(np.linspace(0, len(steps) - 1, keep)).astype(int))]


def bounded_part(
    name: str,
    configurations: Sequence[Configuration],
    *,
    steps_per_task: int = STEPS_PER_TASK,
    max_structures: int = MAX_STRUCTURES_PER_PART,
    max_atoms: int = MAX_ATOMS_PER_STRUCTURE,
) -> BenchmarkPart:
    """A part from imported structures: labelled, at most ``max_atoms`` atoms, ``steps_per_task`` steps per task,
    one structure per geometry (the first), at most ``max_structures``, in input order.

    Raises ConfigurationError when nothing is left.
    """
    usable = [
        c
        for c in configurations
        if c.energy is not None and c.forces is not None and c.nsites <= max_atoms and c.scf_converged is not False
    ]
    by_task: dict[str, list[Configuration]] = {}
    for k, cfg in enumerate(usable):
        by_task.setdefault(cfg.task_id or f"#{k}", []).append(cfg)
    kept_ids = {id(c) for steps in by_task.values() for c in _evenly_spaced(steps, steps_per_task)}
    thinned = [c for c in usable if id(c) in kept_ids]
    ids, geometries = row_hashes(thinned)
    seen: set[str] = set()
    chosen: list[tuple[Configuration, str]] = []
    for cfg, row_id, geometry in zip(thinned, ids, geometries, strict=True):
        if geometry not in seen and len(chosen) < max_structures:
            seen.add(geometry)
            chosen.append((cfg, row_id))
    if not chosen:
        raise ConfigurationError(f"out-of-domain part {name}: no labelled structure of <= {max_atoms} atoms left")
    digest = hashlib.sha256(" ".join(row_id for _, row_id in chosen).encode()).hexdigest()
    data = TrainingSet(tuple(c for c, _ in chosen), tuple(i for _, i in chosen), name, digest)
    return BenchmarkPart(name, data)


def default_parts(root: Path | None = None) -> list[BenchmarkPart]:
    """The default parts (:data:`DEFAULT_SOURCES`) read from ``root`` (default :func:`default_data_root`).

    Raises:
        ConfigurationError: a file of the default sources is missing under ``root`` (named).
    """
    from curate.sources import ImportOptions, get_importer

    root = default_data_root() if root is None else Path(root)
    parts = []
    for name, importer_name, files, functionals in DEFAULT_SOURCES:
        importer = get_importer(importer_name)
        configurations: list[Configuration] = []
        for relative in files:
            path = root / relative
            if not path.is_file():
                raise ConfigurationError(
                    f"out-of-domain default: {path} not found (set {DATA_ROOT_VARIABLE} to the folder holding "
                    f"{relative}, or switch the default benchmark off)"
                )
            items = importer.read(path, display_name=relative, options=ImportOptions())
            configurations += [c for c in items if isinstance(c, Configuration) and c.functional in functionals]
        parts.append(bounded_part(name, configurations))
    return parts


def benchmark_parts(datasets: Sequence[Path], *, default: bool, root: Path | None = None) -> list[BenchmarkPart]:
    """The default parts (when ``default``) and one part per curate dataset in ``datasets`` (named by its path)."""
    parts = default_parts(root) if default else []
    parts += [BenchmarkPart(str(path), load_training_set(path)) for path in datasets]
    names = [p.name for p in parts]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"out-of-domain parts must have distinct names, got {names}")
    return parts


def pooled_reference(parts: Sequence[BenchmarkPart]) -> TrainingSet:
    """Every structure of ``parts`` in one set (a replay reference: replay trains on forces and stress only, so
    the parts' different energy scales do not meet in a loss)."""
    return TrainingSet(
        tuple(c for p in parts for c in p.data.configurations),
        tuple(i for p in parts for i in p.data.ids),
        " + ".join(p.name for p in parts),
        hashlib.sha256(" ".join(p.data.content_hash for p in parts).encode()).hexdigest(),
    )


def without_ids(parts: Sequence[BenchmarkPart], ids: Sequence[str]) -> list[BenchmarkPart]:
    """``parts`` less the structures with these ids (e.g. the ones replay trained on: held out, not scored)."""
    drop = set(ids)
    out = []
    for part in parts:
        keep = [k for k, row_id in enumerate(part.data.ids) if row_id not in drop]
        if len(keep) == len(part.data):
            out.append(part)
        elif keep:
            out.append(BenchmarkPart(part.name, part.data.subset(keep, origin=f"{part.name} (replay held out)")))
    return out


def evaluate_parts(model: Model, parts: Sequence[BenchmarkPart]) -> dict[str, Metrics]:
    """Metrics of ``model`` on every part (see :class:`curate.training.evaluate.Metrics`), by part name."""
    return {p.name: evaluate(model, p.data, max_atoms_per_batch=max_atoms_for([model])) for p in parts}


def percent_change(before: float | None, after: float | None) -> float | None:
    """100 (after - before) / before; None when either is missing or before is 0."""
    if before is None or after is None or before == 0:
        return None
    return 100.0 * (after - before) / before


@dataclass(frozen=True)
class OutOfDomainChange:
    """A model's errors on the out-of-domain parts before and after fine-tuning, and the verdict.

    Attributes:
        parts: provenance of each part (origin, content hash, structures, atoms).
        before: metrics of the starting model, by part.
        after: metrics of the fine-tuned model, by part.
        threshold_percent: a part whose force or energy MAE grew by more than this (%) makes the verdict "worse".
    """

    parts: dict[str, dict[str, Any]]
    before: dict[str, Metrics]
    after: dict[str, Metrics]
    threshold_percent: float = WORSE_THRESHOLD_PERCENT

    def changes(self) -> dict[str, dict[str, float | None]]:
        """Per part: percent change of force, energy-per-atom and stress MAE (positive = worse)."""
        out = {}
        for name, before in self.before.items():
            after = self.after[name]
            out[name] = {
                "force_mae_percent": percent_change(before.force_mae_ev_per_ang, after.force_mae_ev_per_ang),
                "energy_mae_percent": percent_change(before.energy_mae_ev_per_atom, after.energy_mae_ev_per_atom),
                "stress_mae_percent": percent_change(before.stress_mae_gpa, after.stress_mae_gpa),
            }
        return out

    def worse(self) -> list[str]:
        """One phrase per part and metric that grew by more than the threshold, e.g. ``mp-tasks force MAE +12.3 %``."""
        phrases = []
        for name, change in self.changes().items():
            for key, label in (("force_mae_percent", "force MAE"), ("energy_mae_percent", "energy MAE")):
                value = change[key]
                if value is not None and value > self.threshold_percent:
                    phrases.append(f"{name} {label} {value:+.1f} %")
        return phrases

    def verdict(self) -> str:
        """ "worse outside its target: ..." naming every part and metric over the threshold, or "no worse ..."."""
        worse = self.worse()
        if worse:
            return "worse outside its target: " + "; ".join(worse) + f" (threshold +{self.threshold_percent:g} %)"
        return f"no worse outside its target (no force or energy MAE up by more than {self.threshold_percent:g} %)"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready record: parts, before and after metrics per part, percent changes and the verdict."""
        return {
            "parts": self.parts,
            "before": {k: v.as_dict() for k, v in self.before.items()},
            "after": {k: v.as_dict() for k, v in self.after.items()},
            "change_percent": self.changes(),
            "threshold_percent": self.threshold_percent,
            "worse": self.worse(),
            "verdict": self.verdict(),
            "note": "metrics per part, never pooled: MatPES, Materials Project and user energies may sit on "
            "different reference scales",
        }


class OutOfDomainCheck:
    """Evaluates the starting model once, then any number of fine-tuned models, on the same parts."""

    def __init__(
        self, parts: Sequence[BenchmarkPart], base: Model, *, threshold_percent: float = WORSE_THRESHOLD_PERCENT
    ):
        self.parts = list(parts)
        self.threshold_percent = threshold_percent
        self.before = evaluate_parts(base, self.parts)

    def change(self, model: Model) -> OutOfDomainChange:
        """Before (the starting model) and after (``model``) on every part, with the verdict."""
        return OutOfDomainChange(
            parts={p.name: p.data.describe() for p in self.parts},
            before=self.before,
            after=evaluate_parts(model, self.parts),
            threshold_percent=self.threshold_percent,
        )


def change_lines(change: OutOfDomainChange) -> list[str]:
    """One line per part (force and energy MAE before -> after, percent), then the verdict; for stderr."""
    lines = []
    for name, before in change.before.items():
        after = change.after[name]
        pct = change.changes()[name]
        lines.append(
            f"out of domain {name} ({before.structures}): force MAE {before.force_mae_ev_per_ang:.4f} -> "
            f"{after.force_mae_ev_per_ang:.4f} eV/A ({_pct(pct['force_mae_percent'])}), energy MAE "
            f"{1000 * before.energy_mae_ev_per_atom:.1f} -> {1000 * after.energy_mae_ev_per_atom:.1f} meV/atom "
            f"({_pct(pct['energy_mae_percent'])})"
        )
    lines.append(change.verdict())
    return lines


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f} %"


def change_markdown(record: dict[str, Any]) -> list[str]:
    """Markdown lines of an :meth:`OutOfDomainChange.as_dict` record: a table per part and the verdict."""
    lines = [
        "| out-of-domain part | structures | force MAE (eV/Å) before → after | change | "
        "energy MAE (meV/atom) before → after | change |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, before in record["before"].items():
        after, change = record["after"][name], record["change_percent"][name]
        lines.append(
            f"| {name} | {before['structures']} | {before['force_mae_ev_per_ang']:.4f} → "
            f"{after['force_mae_ev_per_ang']:.4f} | {_pct(change['force_mae_percent'])} | "
            f"{1000 * before['energy_mae_ev_per_atom']:.1f} → {1000 * after['energy_mae_ev_per_atom']:.1f} | "
            f"{_pct(change['energy_mae_percent'])} |"
        )
    return [*lines, "", f"**{record['verdict']}**"]
