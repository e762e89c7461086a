"""Benchmark (issue 3): ``curate pull mp`` against mp-api's own fetch of the same documents into Python objects.

Both sides talk to the same local Materials Project server (``tests/materials_project/fake_mp_server.py``,
127.0.0.1) and read the same local Delta table of trajectories:

- **transfer** (what mp-api gives a user): ``MPRester.materials.search`` for the materials, then per batch of
  tasks ``MPRester.materials.tasks.search(task_ids=..., fields=...)`` into emmet ``CoreTaskDoc`` models, and
  the batch's trajectory rows read from the Delta table with deltalake's ``QueryBuilder`` (one query per
  batch) into emmet ``RelaxTrajectory`` models, as ``TaskRester.get_trajectory`` does per task. mp-api
  cannot be pointed at a local Delta table (its S3 location is fixed), hence this explicit path.
- **curate**: ``curate.materials_project.pull.pull`` of the same query, every frame kept (thresholds 0), to
  Parquet through the quality gate, with the checkpoint and thermo query.

The documents are the real relaxation and static task documents in ``../shared/data/emmet`` replicated
``--copies`` times under new task ids, each copy's positions translated by a different rigid shift (so that
every frame is a distinct row). Target: curate's time over the transfer's stays under 1.25 (overhead < 25 %).

Usage (from the project root)::

    .venv/bin/python bench/pull.py                 # 30 copies: 5,910 frames, about a minute
    .venv/bin/python bench/pull.py --write-results # also record the numbers in bench/RESULTS.md
"""

from __future__ import annotations

import copy
import datetime as dt
import platform
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import click

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tests.materials_project.conftest import API_KEY, TASK_FILES, load_tasks  # noqa: E402
from tests.materials_project.fake_mp_server import FakeMP, materials_from_tasks, serve  # noqa: E402
from tests.materials_project.trajectory_table import KINDS, thermo_from_tasks, write_trajectory_table  # noqa: E402

RESULTS_PATH = PROJECT_ROOT / "bench" / "RESULTS.md"
RESULTS_SECTION = "## pull (issue 3)"
TARGET_RATIO = 1.25


def replicate(docs: list[dict[str, Any]], copies: int) -> list[dict[str, Any]]:
    """``copies`` copies of the relaxation/static documents, new task ids and formula labels, shifted positions."""
    from emmet.core.mpid import AlphaID

    base = [d for d in docs if d.get("task_type") in KINDS and d.get("calcs_reversed")]
    out = []
    next_id = 10_000_000
    for k in range(copies):
        shift = 1e-3 * (k + 1)
        for doc in base:
            new = copy.deepcopy(doc)
            new["task_id"] = str(AlphaID(next_id))
            next_id += 1
            new["formula_pretty"] = f"{doc['formula_pretty']}#{k}"  # one material per formula and copy
            for calc in new["calcs_reversed"]:
                for step in calc["output"]["ionic_steps"]:
                    for site in step["structure"]["sites"]:
                        site["xyz"] = [x + shift for x in site["xyz"]]
            out.append(new)
    return out


def transfer(url: str, uri: str, material_ids: list[str], batch: int, *, models: bool = True) -> int:
    """mp-api's path into Python objects; returns the number of frames (ionic steps) received.

    ``models`` False is the bare transfer: plain dicts from MPRester and from the Delta rows, no emmet models.
    """
    import pyarrow as pa
    from deltalake import DeltaTable, QueryBuilder
    from emmet.core.trajectory import RelaxTrajectory
    from mp_api.client import MPRester

    from curate.materials_project.pull import TASK_FIELDS
    from curate.materials_project.selection import MATERIAL_FIELDS, plan_tasks
    from curate.materials_project.trajectories import alpha_identifier

    frames = 0
    query = QueryBuilder().register("traj", DeltaTable(uri))
    with MPRester(api_key=API_KEY, endpoint=url, mute_progress_bars=True, use_document_model=models) as mpr:
        materials = mpr.materials.search(material_ids=material_ids, fields=MATERIAL_FIELDS)
        plain = [{k: m[k] if isinstance(m, dict) else getattr(m, k) for k in MATERIAL_FIELDS} for m in materials]
        for m in plain:
            m["calc_types"] = {k: str(v) for k, v in m["calc_types"].items()}
        tasks, _ = plan_tasks(plain, functional="both", what="both")
        ids = [t.task_id for t in tasks]
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            docs = mpr.materials.tasks.search(task_ids=chunk, fields=TASK_FIELDS, chunk_size=len(chunk))
            assert len(docs) == len(chunk)
            listed = ", ".join(f"'{alpha_identifier(t)}'" for t in chunk)
            rows = pa.table(query.execute(f"SELECT * FROM traj WHERE identifier IN ({listed})").read_all())
            for row in rows.to_pylist(maps_as_pydicts="strict"):
                frames += len(RelaxTrajectory(**row).model_dump()["cart_coords"] if models else row["cart_coords"])
    return frames


def curate_pull(url: str, uri: str, material_ids: list[str], batch: int, out: Path) -> int:
    """curate's pull of the same materials, every frame kept; returns rows written."""
    from curate.materials_project.frames import FramePolicy
    from curate.materials_project.pull import PullOptions, PullQuery, pull

    options = PullOptions(endpoint=url, trajectories_uri=uri, policy=FramePolicy(0.0, 0.0), batch_tasks=batch)
    report = pull(PullQuery(material_ids=tuple(material_ids)), out, api_key=API_KEY, options=options)
    assert report.quarantined == 0, report
    return report.rows_added


@click.command()
@click.option("--copies", default=30, show_default=True, help="Replicas of the real task documents.")
@click.option("--batch", default=50, show_default=True, help="Tasks per request (both sides).")
@click.option("--repeats", default=2, show_default=True, help="Timed runs per side (best is kept).")
@click.option("--write-results", is_flag=True, help="Record the numbers in bench/RESULTS.md (own section only).")
def main(copies: int, batch: int, repeats: int, write_results: bool) -> None:
    """Run both sides against one local server; print frames/s and curate's overhead ratio."""
    warnings.simplefilter("ignore")
    from mp_api.client import MPRester  # noqa: F401 - import once, outside the timings

    shared = PROJECT_ROOT.parent / "shared" / "data"
    work = Path(tempfile.mkdtemp(prefix="curate-bench-pull-"))
    try:
        started = time.perf_counter()
        docs = replicate(load_tasks(shared, TASK_FILES), copies)
        uri = str(work / "trajectories")
        write_trajectory_table(docs, uri)
        materials = materials_from_tasks(docs)
        material_ids = [m["material_id"] for m in materials]
        click.echo(
            f"built {len(docs)} tasks, {len(materials)} materials in {time.perf_counter() - started:.1f} s", err=True
        )
        state = FakeMP(api_key=API_KEY, tasks=docs, materials=materials, thermo=thermo_from_tasks(docs))
        with serve(state):
            best_transfer = best_raw = best_curate = float("inf")
            frames = rows = 0
            for repeat in range(repeats):
                t0 = time.perf_counter()
                frames = transfer(state.url, uri, material_ids, batch)
                best_transfer = min(best_transfer, time.perf_counter() - t0)
                t0 = time.perf_counter()
                assert transfer(state.url, uri, material_ids, batch, models=False) == frames
                best_raw = min(best_raw, time.perf_counter() - t0)
                out = work / f"ds{repeat}"
                t0 = time.perf_counter()
                rows = curate_pull(state.url, uri, material_ids, batch, out)
                best_curate = min(best_curate, time.perf_counter() - t0)
        if rows != frames:
            raise SystemExit(f"curate wrote {rows} rows for {frames} frames")
        ratio = best_curate / best_transfer
        verdict = "PASS" if ratio < TARGET_RATIO else "FAIL"
        click.echo(f"frames {frames}")
        click.echo(f"transfer (mp-api objects): {best_transfer:.2f} s, {frames / best_transfer:,.0f} frames/s")
        click.echo(f"bare transfer (dicts):     {best_raw:.2f} s, {frames / best_raw:,.0f} frames/s")
        click.echo(f"curate pull (Parquet):     {best_curate:.2f} s, {frames / best_curate:,.0f} frames/s")
        click.echo(f"ratio curate/transfer {ratio:.3f} (overhead {100 * (ratio - 1):+.1f} %, target < 25 %): {verdict}")
        click.echo(f"ratio curate/bare transfer {best_curate / best_raw:.3f} (for information)")
        if write_results:
            timings = {"transfer": best_transfer, "bare": best_raw, "curate": best_curate}
            record(copies, batch, len(docs), frames, timings, verdict)
        raise SystemExit(0 if verdict == "PASS" else 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def record(copies: int, batch: int, tasks: int, frames: int, seconds: dict[str, float], verdict: str) -> None:
    """Replace this benchmark's section of RESULTS.md (other sections untouched)."""
    import os

    cells = [str(tasks), str(frames), str(batch)]
    for name in ("transfer", "bare", "curate"):
        cells += [f"{seconds[name]:.2f}", f"{frames / seconds[name]:,.0f}"]
    ratio = seconds["curate"] / seconds["transfer"]
    cells += [f"{ratio:.3f}", f"{seconds['curate'] / seconds['bare']:.3f}", verdict, str(dt.date.today())]
    header = "| tasks | frames | batch | transfer s | frames/s | bare s | frames/s | curate s | frames/s | ratio |"
    header += " ratio vs bare | overhead < 25 % | date |"

    text = RESULTS_PATH.read_text()
    start = text.find(f"\n{RESULTS_SECTION}\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + (text[end:] if end >= 0 else "\n")
    machine = f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"
    section = f"""
{RESULTS_SECTION}

`curate pull mp` (every frame kept) against mp-api's own fetch of the same documents into Python objects
(`MPRester` task search into `CoreTaskDoc` + the trajectory rows of each batch from the same Delta table
into emmet `RelaxTrajectory`), both against one local MP server on 127.0.0.1 and one local Delta table built
from the real task documents in `../shared/data/emmet`, replicated {copies}x with rigid shifts. Best of the
timed runs, in one process (imports excluded from both). Target: curate's overhead on top of the transfer
< 25 %.

{header}
|{"---:|" * 11}---|---|
| {" | ".join(cells)} |

"Bare" is the same transfer with plain dicts (`use_document_model=False`, Delta rows as lists, every column
read as `get_trajectory` does; curate reads the 7 it stores): for information, the target is against the
document models. On both sides about half the REST time is mp-api validating each requested field by
rebuilding the document model's JSON schema (~0.1 s per field per call), which is why curate asks for 3.

Command: `.venv/bin/python bench/pull.py --copies {copies} --batch {batch} --write-results` on {machine}.
"""
    RESULTS_PATH.write_text(text.rstrip("\n") + "\n" + section)


if __name__ == "__main__":
    main()
