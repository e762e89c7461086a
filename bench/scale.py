"""Benchmark (issue 8): the execution layer on this machine: in-process vs a local pool vs a 2-worker LocalCluster.

1. **Import throughput.** ``curate import mptrj`` of the 20,000-frame MPtrj-layout file ``bench/ingest.py``
   builds (perturbed copies of the real ionic steps in ``../shared/data/emmet``), through
   :func:`curate.sources.ingest.import_paths` with ``workers=1`` (in-process), ``workers=2`` (process pool), and a
   :class:`~curate.execution.dask_executor.DaskExecutor` on a LocalCluster of 2 single-threaded workers
   (4 MiB chunks everywhere). The three datasets must have the same content hash (checked).
2. **Coverage-descriptor throughput.** SOAP (:class:`curate.descriptors.soap.SoapDescriptor`, default
   parameters) of every environment of the first ``--soap-rows`` rows of that dataset, 100-row record batches,
   through :func:`curate.execution.descriptors.soap_environments`: in-process vs on the LocalCluster (the same
   features, checked).
3. **Per-task overhead on small shards.** Import tasks (:func:`curate.sources.parallel.process_chunk`) of one frame
   each, ``--tiny-tasks`` of them: ms per task in-process vs on the (warm) LocalCluster.

Cluster start-up is timed separately and not included in the throughputs. Everything runs once, in this
process (the workers are the pool's / cluster's own processes).

Usage (from the project root)::

    .venv/bin/python bench/scale.py                   # about a minute on 2 cores
    .venv/bin/python bench/scale.py --write-results   # also record the numbers in bench/RESULTS.md
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
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

RESULTS_PATH = PROJECT_ROOT / "bench" / "RESULTS.md"
RESULTS_SECTION = "## scale (issue 8)"
WORK_DIR = PROJECT_ROOT / "bench" / "_work" / "scale"
DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"


def log(message: str) -> None:
    print(f"[scale] {message}", file=sys.stderr, flush=True)


def _timed_import(source: Path, out: Path, **kwargs: Any) -> tuple[float, Any]:
    from curate.sources.ingest import import_paths

    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    report = import_paths([source], format_name="mptrj", out=out, **kwargs)
    return time.perf_counter() - started, report


def bench_import(source: Path, frames: int, dask_executor: Any) -> list[dict[str, Any]]:
    """Seconds and frames/s of the three ways to import ``source``; raises if the datasets differ."""
    from curate.dataset.store import Dataset

    rows = []
    hashes = set()
    for name, kwargs in (
        ("in-process", {"workers": 1}),
        ("local pool, 2 processes", {"workers": 2}),
        ("Dask LocalCluster, 2 workers, cold", {"executor": dask_executor}),
        ("Dask LocalCluster, 2 workers, warm", {"executor": dask_executor}),
    ):
        out = WORK_DIR / f"import-{name.split()[0].lower()}"
        seconds, report = _timed_import(source, out, **kwargs)
        if report.rows_added != frames or report.quarantined:
            raise SystemExit(f"{name}: {report.rows_added} rows, {report.quarantined} quarantined; expected {frames}")
        hashes.add(Dataset.open(out).content_hash)
        rows.append({"way": name, "seconds": seconds, "rate": frames / seconds})
        log(f"import {name}: {seconds:.2f} s, {frames / seconds:,.0f} frames/s")
    if len(hashes) != 1:
        raise SystemExit(f"import: content hashes differ between executors: {sorted(hashes)}")
    return rows


def bench_soap(dataset_dir: Path, soap_rows: int, dask_executor: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Environments/s of SOAP in-process and on the cluster over the same 100-row batches."""
    import pyarrow.compute as pc

    from curate.dataset.store import Dataset
    from curate.execution import InProcessExecutor
    from curate.execution.descriptors import soap_environments, soap_tasks

    table = Dataset.open(dataset_dir).read().slice(0, soap_rows)
    species = sorted(set(pc.list_flatten(table.column("species_at_sites")).to_pylist()))
    batches = table.to_batches(max_chunksize=100)
    results = {}
    rows = []
    local = InProcessExecutor()
    list(local.map(soap_environments, soap_tasks(batches[:1], species=species)))  # imports dscribe, builds SOAP
    for name, executor in (
        ("in-process", local),
        ("Dask LocalCluster, 2 workers, cold", dask_executor),
        ("Dask LocalCluster, 2 workers, warm", dask_executor),
    ):
        started = time.perf_counter()
        parts = list(executor.map(soap_environments, soap_tasks(batches, species=species)))
        seconds = time.perf_counter() - started
        environments = sum(len(p.center_z) for p in parts)
        results[name] = np.concatenate([p.features for p in parts])
        rows.append({"way": name, "seconds": seconds, "rate": environments / seconds})
        log(f"soap {name}: {environments} environments in {seconds:.2f} s")
    first, *others = results.values()
    if any(other.shape != first.shape or not np.array_equal(first, other) for other in others):
        raise SystemExit("soap: features differ between in-process and the cluster")
    return rows, {
        "rows": soap_rows,
        "environments": first.shape[0],
        "species": len(species),
        "n_features": first.shape[1],
    }


def one_frame_tasks(source: Path, tasks: int) -> list[Any]:
    """``tasks`` import tasks of one MPtrj frame each (the first frames of ``source``), as the importer cuts them."""
    import json

    from curate.checks.quality import MIN_DISTANCE_FACTOR
    from curate.sources import ImportOptions, get_importer
    from curate.sources.base import RawChunk
    from curate.sources.parallel import ChunkTask

    importer = get_importer("mptrj")
    chunk = next(importer.chunks(source, target_bytes=4 << 20))
    members = json.loads(b"{" + chunk.members + b"}")
    frames = [(mp_id, frame_id, frame) for mp_id, doc in members.items() for frame_id, frame in doc.items()]
    out = []
    for k in range(tasks):
        mp_id, frame_id, frame = frames[k % len(frames)]
        raw = json.dumps({mp_id: {frame_id: frame}})[1:-1].encode()
        out.append(ChunkTask("mptrj", RawChunk(k, raw), str(source), ImportOptions(), MIN_DISTANCE_FACTOR))
    return out


def bench_tiny_tasks(source: Path, tasks: int, dask_executor: Any) -> list[dict[str, Any]]:
    """ms per one-frame import task (parse, gate, batch), in-process and on the warm cluster."""
    from curate.execution import InProcessExecutor
    from curate.sources.parallel import process_chunk

    work = one_frame_tasks(source, tasks)
    out = []
    local = InProcessExecutor()
    list(local.map(process_chunk, work[:2]))
    list(dask_executor.map(process_chunk, work[:4]))
    for name, executor in (("in-process", local), ("Dask LocalCluster, 2 workers, warm", dask_executor)):
        started = time.perf_counter()
        rows = sum(r.records_read for r in executor.map(process_chunk, work))
        seconds = time.perf_counter() - started
        if rows != tasks:
            raise SystemExit(f"tiny tasks {name}: {rows} frames read, expected {tasks}")
        out.append({"way": name, "seconds": seconds, "rate": tasks / seconds, "ms_per_task": 1000 * seconds / tasks})
        log(f"tiny tasks {name}: {1000 * seconds / tasks:.2f} ms per task")
    return out


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    return (
        f"{psutil.cpu_count()} cores ({cpu}), {psutil.virtual_memory().total / 2**30:.1f} GiB RAM, "
        f"Python {platform.python_version()}, Linux {platform.release()}"
    )


def _revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        rev = "unknown"
    return rev


def _write_results(text: str) -> None:
    body = RESULTS_PATH.read_text() if RESULTS_PATH.exists() else "# Benchmark results\n"
    if RESULTS_SECTION in body:
        head, rest = body.split(RESULTS_SECTION, 1)
        following = rest.find("\n## ")
        tail = rest[following:] if following >= 0 else "\n"
        body = head + text + tail
    else:
        body = body.rstrip("\n") + "\n\n" + text + "\n"
    RESULTS_PATH.write_text(body)


@click.command()
@click.option("--frames", default=20_000, show_default=True, help="Frames of the MPtrj file (bench/ingest.py builds).")
@click.option("--soap-rows", default=2_000, show_default=True, help="Rows whose environments SOAP describes.")
@click.option("--tiny-tasks", default=600, show_default=True, help="One-row tasks for the overhead measurement.")
@click.option("--write-results", is_flag=True, help="Record the numbers in bench/RESULTS.md.")
def main(frames: int, soap_rows: int, tiny_tasks: int, write_results: bool) -> None:
    """Import, SOAP and tiny-task throughput: in-process vs local pool vs a 2-worker Dask LocalCluster."""
    from bench.ingest import ensure_mptrj_file
    from curate.execution.dask_executor import DaskExecutor

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    built = ensure_mptrj_file(PROJECT_ROOT / "bench" / "_work", DATA_DIR, frames=frames, seed=0)
    log(f"load average before: {os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    dask_executor = DaskExecutor.local(2)
    startup_s = time.perf_counter() - started
    log(f"LocalCluster(2) up in {startup_s:.2f} s")
    try:
        imports = bench_import(built.path, frames, dask_executor)
        soap, soap_info = bench_soap(WORK_DIR / "import-in-process", soap_rows, dask_executor)
        tiny = bench_tiny_tasks(built.path, tiny_tasks, dask_executor)
    finally:
        dask_executor.close()
    load_after = os.getloadavg()[0]

    def table(title: str, unit: str, rows: list[dict[str, Any]], extra: str = "") -> list[str]:
        base = rows[0]["seconds"]
        lines = [f"| {title} | s | {unit} | vs in-process |{extra and ' ms/task |'}", "|---|---:|---:|---:|"]
        if extra:
            lines[1] += "---:|"
        for row in rows:
            cells = f"| {row['way']} | {row['seconds']:.2f} | {row['rate']:,.0f} | {base / row['seconds']:.2f}x |"
            if extra:
                cells += f" {row['ms_per_task']:.2f} |"
            lines.append(cells)
        return lines

    overhead_ms = tiny[1]["ms_per_task"] - tiny[0]["ms_per_task"]
    lines = [
        RESULTS_SECTION,
        "",
        "The execution layer (`curate.execution`) on this machine: the same work in-process, on a local process",
        "pool of 2, and on a Dask LocalCluster of 2 single-threaded workers (`--executor dask`); cluster start-up",
        f"({startup_s:.1f} s) not included. Cold: the first call on fresh workers (imports, descriptor built);",
        "warm: the same call again (a long-lived cluster behind `--scheduler`). The local pool starts its",
        "processes in every call. Every way wrote the same dataset / features (content hash and feature",
        "arrays compared by the script).",
        "",
        *table(f"import mptrj, {frames:,} frames ({built.size_bytes / 1e6:.0f} MB), 4 MiB chunks", "frames/s", imports),
        "",
        *table(
            f"SOAP, {soap_info['rows']:,} rows = {soap_info['environments']:,} environments, "
            f"{soap_info['species']} species, {soap_info['n_features']} features, 100-row batches",
            "environments/s",
            soap,
        ),
        "",
        *table(f"{tiny_tasks} one-frame import tasks (small shards)", "tasks/s", tiny, extra="ms"),
        "",
        f"Per-task cost of the Dask path: {tiny[1]['ms_per_task']:.2f} ms of wall time per one-frame task with two "
        f"workers, against {tiny[0]['ms_per_task']:.2f} ms for the whole task in-process: so the "
        f"Dask path adds about {overhead_ms:.1f} ms per task (submit, schedule, pickle both ways, gather; at most "
        "4 tasks in flight on 2 workers).",
        "",
        "Where Dask does not pay off on two cores:",
        "",
        "- **Import**: the main process reads and cuts the file, deduplicates and writes; on 2 cores it shares",
        f"  them with the 2 workers, so 2 workers give {imports[0]['seconds'] / imports[3]['seconds']:.2f}x "
        "(warm cluster), not 2x, and Dask is only a little ahead",
        "  of the local pool, which pays its process start-up in every call (cold they are level).",
        f"- **SOAP**: {soap_info['n_features']} float32 features per environment "
        f"({soap_info['n_features'] * 4 * soap_info['environments'] / 1e6:.0f} MB for this run) travel back "
        "from the workers, pickled over TCP:",
        "  on 2 workers that costs as much as computing them, so no gain. Coverage should reduce (PCA-transform)",
        "  on the workers and send back only the reduced coordinates.",
        "- **Small tasks**: the scheduler round trip dominates tasks of a millisecond (above). Keep tasks at",
        "  tens of rows or megabytes (`--task-rows`, the 4 MiB import chunks).",
        "- **Cold workers**: the first call on fresh workers pays the imports (curate, ASE, dscribe) and builds",
        "  the descriptor or model; a long-lived cluster behind `--scheduler` pays that once.",
        "",
        "Dask pays off when the work per task is heavy relative to its result (model inference, MD in",
        "`curate generate`) and when the workers are on other machines (SLURM through dask-jobqueue), which a",
        "2-core box cannot show.",
        "",
        f"Command: `.venv/bin/python bench/scale.py{' --write-results' if write_results else ''}` on {_machine()}, "
        f"load average {load_after:.2f} after the run; {dt.date.today().isoformat()}, curate {_revision()}.",
    ]
    text = "\n".join(lines)
    print(text)
    if write_results:
        _write_results(text)


if __name__ == "__main__":
    main()
