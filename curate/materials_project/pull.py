"""``curate pull mp``: Materials Project GGA/GGA+U and r2SCAN frames into a dataset, paired by material.

Flow, per batch of tasks: materials search (REST) -> plan (functional, kind, no deprecated tasks) -> task
metadata (REST: INCAR, POTCARs, run type) + ionic steps (Delta table) -> MP task documents ->
:func:`curate.sources.mp_tasks.task_configurations` (the same rows, and ids, as ``curate import mp-tasks``)
-> frame policy -> quality gate -> Parquet; then the checkpoint. Each row's ``pair_id`` is its material id,
so GGA(+U) and r2SCAN rows of one material share it. The energy stored is ``e_fr_energy`` for every row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curate.checks.quality import MIN_DISTANCE_FACTOR
from curate.dataset.configuration import Configuration, Rejected
from curate.dataset.store import Dataset
from curate.errors import ConfigurationError, RecordRejected
from curate.materials_project.checkpoint import Checkpoint
from curate.materials_project.client import RetryPolicy, call_with_retries, open_rester
from curate.materials_project.frames import FramePolicy, select_frames
from curate.materials_project.selection import MATERIAL_FIELDS, Functional, PlannedTask, What, plan_tasks
from curate.materials_project.trajectories import MP_TRAJECTORIES_URI, TrajectoryTable, alpha_identifier, ionic_steps
from curate.sources.ingest import FileReport, write_items
from curate.sources.mp_tasks import ENERGY_FIELD, task_configurations
from curate.sources.parallel import no_cyclic_gc

# mp-api validates each requested field by rebuilding the document model's JSON schema (~0.1 s per field, per
# call): ask only for what the rows need (the calc type is already known from the material document).
TASK_FIELDS = ["task_id", "input", "output"]
THERMO_TYPES = ["GGA_GGA+U", "R2SCAN"]
THERMO_FIELDS = ["material_id", "thermo_type", "energy_per_atom", "uncorrected_energy_per_atom"]
SOURCE_NAME = "mp-api"


@dataclass(frozen=True)
class PullQuery:
    """What to pull. At least one of chemsys / elements / material_ids is required; ``limit`` caps materials."""

    chemsys: tuple[str, ...] = ()
    elements: tuple[str, ...] = ()
    material_ids: tuple[str, ...] = ()
    functional: Functional = "both"
    what: What = "both"
    limit: int | None = None

    def check(self) -> None:
        """ConfigurationError when no filter is given (a pull of all of MP belongs to MP's bulk downloads)."""
        if not (self.chemsys or self.elements or self.material_ids):
            raise ConfigurationError("give at least one of chemsys, elements, material_ids")


@dataclass(frozen=True)
class PullOptions:
    """How to pull: server, trajectory table, frame policy, retries, batch size and quality gate."""

    endpoint: str | None = None
    trajectories_uri: str = MP_TRAJECTORIES_URI
    policy: FramePolicy = field(default_factory=FramePolicy)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    batch_tasks: int = 50
    min_distance_factor: float = MIN_DISTANCE_FACTOR


@dataclass
class PullPlan:
    """Materials found and the tasks chosen from them."""

    materials: list[dict[str, Any]]
    tasks: list[PlannedTask]
    deprecated_skipped: int


@dataclass
class PullReport:
    """Counts of one pull run. ``frames_read``: frames after the frame policy (plus rejected records) that
    went through the quality gate; ``rows_added`` of them were new."""

    materials: int = 0
    tasks_planned: int = 0
    tasks_already_done: int = 0
    tasks_pulled: int = 0
    deprecated_skipped: int = 0
    missing_trajectories: int = 0
    frames_read: int = 0
    frames_dropped_by_policy: int = 0
    rows_added: int = 0
    duplicates: int = 0
    quarantined: int = 0
    seconds: float = 0.0


class _Session:
    """One MPRester plus the retry policy, so every call below is one line."""

    def __init__(self, rester: Any, api_key: str, options: PullOptions, on_message: Callable[[str], None] | None):
        self.rester, self.api_key, self.options, self.on_message = rester, api_key, options, on_message

    def call(self, what: str, call: Callable[[], Any]) -> Any:
        return call_with_retries(
            call,
            what=what,
            policy=self.options.retry,
            api_key=self.api_key,
            endpoint=str(self.rester.endpoint),
            on_retry=self.on_message,
        )


def _search_materials(session: _Session, query: PullQuery) -> list[dict[str, Any]]:
    materials = session.rester.materials
    docs = session.call(
        "materials search",
        lambda: materials.search(
            material_ids=list(query.material_ids) or None,
            chemsys=list(query.chemsys) or None,
            elements=list(query.elements) or None,
            fields=MATERIAL_FIELDS,
        ),
    )
    docs = sorted((dict(d) for d in docs), key=lambda d: str(d.get("material_id")))
    return docs[: query.limit] if query.limit is not None else docs


def make_plan(session: _Session, query: PullQuery) -> PullPlan:
    """Search materials and choose their tasks."""
    materials = _search_materials(session, query)
    tasks, deprecated = plan_tasks(materials, functional=query.functional, what=query.what)
    return PullPlan(materials, tasks, deprecated)


def _task_document(meta: Mapping[str, Any], row: Mapping[str, Any], task: PlannedTask) -> dict[str, Any]:
    """An MP task document (one calculation) from REST metadata and the trajectory row of the same task."""
    calc_input = meta.get("input")
    if not isinstance(calc_input, Mapping) or not isinstance(calc_input.get("incar"), Mapping):
        raise RecordRejected("task metadata has no INCAR (input.incar)", field="input")
    steps = ionic_steps(dict(row), task_id=task.task_id)
    output: dict[str, Any] = {"ionic_steps": steps}
    final_sites = ((meta.get("output") or {}).get("structure") or {}).get("sites") or []
    magmoms = [(s.get("properties") or {}).get("magmom") for s in final_sites]
    if steps and magmoms and all(m is not None for m in magmoms):
        output["outcar"] = {"magnetization": [{"tot": m} for m in magmoms]}
    return {
        "task_id": task.task_id,
        "material_id": task.material_id,
        "calcs_reversed": [{"input": dict(calc_input), "output": output}],
    }


def _rows_of_task(
    meta: Mapping[str, Any] | None, row: Mapping[str, Any] | None, task: PlannedTask, policy: FramePolicy
) -> tuple[list[Configuration | Rejected], int]:
    record = f"{task.material_id} task {task.task_id}"
    if meta is None:
        return [Rejected(record, "task_id", "the tasks endpoint returned no document for this task")], 0
    if row is None:
        return [Rejected(record, "identifier", "no trajectory for this task in the Delta table")], 0
    try:
        doc = _task_document(meta, row, task)
    except RecordRejected as exc:
        return [Rejected(record, exc.field, exc.reason)], 0
    items = list(task_configurations(doc, display_name=SOURCE_NAME, record=record))
    for item in items:
        if isinstance(item, Configuration):
            item.pair_id = task.material_id
    return select_frames(items, policy) if task.kind == "relaxation" else (items, 0)


def _fetch_metadata(session: _Session, task_ids: list[str]) -> dict[str, dict[str, Any]]:
    tasks = session.rester.materials.tasks
    docs = session.call(
        f"task documents {task_ids[0]}..{task_ids[-1]}",
        lambda: tasks.search(task_ids=task_ids, fields=TASK_FIELDS, chunk_size=len(task_ids)),
    )
    # MP answers with either id form (mp-djowr or its padded AlphaID mp-aaadjowr): match on the AlphaID.
    wanted = {alpha_identifier(t): t for t in task_ids}
    found: dict[str, dict[str, Any]] = {}
    for doc in docs:
        if isinstance(doc, Mapping) and doc.get("task_id") is not None:
            task_id = wanted.get(alpha_identifier(str(doc["task_id"])))
            if task_id is not None:
                found[task_id] = dict(doc)
    return found


def _fetch_thermo(session: _Session, material_ids: list[str]) -> dict[str, dict[str, Any]]:
    thermo = session.rester.materials.thermo
    docs = session.call(
        "thermo documents",
        lambda: thermo.search(material_ids=material_ids, thermo_types=THERMO_TYPES, fields=THERMO_FIELDS),
    )
    table: dict[str, dict[str, Any]] = {}
    for doc in docs:
        entry = {k: doc.get(k) for k in ("energy_per_atom", "uncorrected_energy_per_atom")}
        table.setdefault(str(doc.get("material_id")), {})[str(doc.get("thermo_type"))] = entry
    return table


def _checkpoint_query(query: PullQuery, options: PullOptions) -> dict[str, Any]:
    return {
        "query": asdict(query),
        "frame_policy": asdict(options.policy),
        "trajectories": options.trajectories_uri,
        "energy_field": ENERGY_FIELD,
    }


def count_pull(query: PullQuery, *, api_key: str, options: PullOptions) -> dict[str, int]:
    """What a pull would bring: materials, tasks (per family and kind), deprecated skipped, raw ionic steps."""
    query.check()
    with open_rester(api_key, options.endpoint) as rester:
        plan = make_plan(_Session(rester, api_key, options, None), query)
    counts = {"materials": len(plan.materials), "tasks": len(plan.tasks), "deprecated_skipped": plan.deprecated_skipped}
    for task in plan.tasks:
        key = f"tasks_{task.family}_{task.kind}"
        counts[key] = counts.get(key, 0) + 1
    counts["ionic_steps"] = TrajectoryTable(options.trajectories_uri).count_steps(t.task_id for t in plan.tasks)
    return counts


def pull(
    query: PullQuery,
    out: Path,
    *,
    api_key: str,
    options: PullOptions,
    on_plan: Callable[[int, int], None] | None = None,
    on_task: Callable[[int, int], None] | None = None,
    on_message: Callable[[str], None] | None = None,
) -> PullReport:
    """Pull the tasks ``query`` selects into the dataset at ``out`` (created if needed), resuming a checkpoint.

    ``on_plan(tasks_total, tasks_already_done)`` is called once; ``on_task(tasks, frames_written)`` after each
    batch. Returns the counts; raises ConfigurationError (bad key, options) or RemoteError (server down).
    """
    query.check()
    started = time.perf_counter()
    report = PullReport()
    table = TrajectoryTable(options.trajectories_uri)
    with open_rester(api_key, options.endpoint) as rester:
        session = _Session(rester, api_key, options, on_message)
        plan = make_plan(session, query)  # before anything is written: a bad key or a dead server leaves no trace
        dataset = Dataset.create(out)
        checkpoint = Checkpoint.load(out, _checkpoint_query(query, options))
        report.materials, report.tasks_planned = len(plan.materials), len(plan.tasks)
        report.deprecated_skipped = plan.deprecated_skipped
        todo = [t for t in plan.tasks if t.task_id not in checkpoint.done_task_ids]
        report.tasks_already_done = len(plan.tasks) - len(todo)
        if on_plan:
            on_plan(len(plan.tasks), report.tasks_already_done)
        thermo = _fetch_thermo(session, [str(m["material_id"]) for m in plan.materials]) if plan.materials else {}
        file_report = FileReport(path=SOURCE_NAME)
        with dataset.writer() as writer, no_cyclic_gc():
            for start in range(0, len(todo), options.batch_tasks):
                batch = todo[start : start + options.batch_tasks]
                ids = [t.task_id for t in batch]
                metadata = _fetch_metadata(session, ids)
                trajectories = table.fetch(ids)
                items: list[Configuration | Rejected] = []
                for task in batch:
                    rows, dropped = _rows_of_task(
                        metadata.get(task.task_id), trajectories.get(task.task_id), task, options.policy
                    )
                    report.frames_dropped_by_policy += dropped
                    report.missing_trajectories += task.task_id not in trajectories
                    items.extend(rows)
                before = file_report.rows_added
                write_items(
                    items,
                    writer=writer,
                    display_name=SOURCE_NAME,
                    file_report=file_report,
                    min_distance_factor=options.min_distance_factor,
                )
                writer.flush()
                checkpoint.mark_done(ids)
                report.tasks_pulled += len(batch)
                if on_task:
                    on_task(len(batch), file_report.rows_added - before)
            report.frames_read = file_report.rows_read
            report.rows_added, report.duplicates = file_report.rows_added, file_report.duplicates
            report.quarantined = file_report.quarantined
            report.seconds = time.perf_counter() - started
            _record(dataset, query, options, thermo, report)  # inside the writer: the card sees the final manifest
    return report


def _record(
    dataset: Dataset,
    query: PullQuery,
    options: PullOptions,
    thermo: dict[str, dict[str, Any]],
    report: PullReport,
) -> None:
    """Provenance in the manifest: source entry, MP thermo energies per material, history (never the key)."""
    dataset.record_source(
        {
            "file": options.endpoint or "https://api.materialsproject.org/",
            "format": "mp-api",
            "sha256": None,
            "trajectories": options.trajectories_uri,
            "materials": report.materials,
            "tasks": report.tasks_planned,
            "rows_added": report.rows_added,
            "quarantined": report.quarantined,
            "complete": report.tasks_already_done + report.tasks_pulled == report.tasks_planned,
        }
    )
    stored = dataset.manifest_section("mp_thermo") or {}
    stored.update(thermo)
    dataset.set_manifest_section("mp_thermo", stored)
    dataset.record_history(
        {
            "command": "pull mp",
            "query": asdict(query),
            "frame_policy": asdict(options.policy),
            "energy_field": ENERGY_FIELD,
            "trajectories": options.trajectories_uri,
            "pair_id": "material_id",
            "report": asdict(report),
        }
    )
