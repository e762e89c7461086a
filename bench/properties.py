"""Benchmark (issue 15): ``curate properties`` on the 50 binaries of the elasticity reference, timed.

Runs, in a fresh process (imports and model loads inside the clock, the progress bar on stderr)::

    curate properties -m chgnet@0.3.0 --energy-scale S --pick 50 --workers 2 -o OUT

i.e. pretrained CHGNet 0.3.0 and the same model with the linear correction of scale S, elastic moduli
(K_VRH, G_VRH) and the equation-of-state B0 of 50 seeded binaries of <= 8 atoms (see
:func:`curate.diagnostics.property_inputs.pick_materials`), against Materials Project PBE moduli.
The machine is shared: wall time, the CPU seconds of the command and its workers (user + system, the process
tree sampled every 0.5 s with psutil: pool workers are children of a fork server, which rusage misses), and
the 1-minute load average before and after are recorded; CPU seconds / 2 is what the run needs of 2 free cores.

Target: under 10 minutes on 2 cores.

Usage (from the project root)::

    .venv/bin/python bench/properties.py --energy-scale 1.64
    .venv/bin/python bench/properties.py --energy-scale 1.64 --write-results   # append a row to bench/RESULTS.md

Exit status: 0 when the target passes, 1 when it fails, 2 when the run fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS_PATH = PROJECT_ROOT / "bench" / "RESULTS.md"
RESULTS_SECTION = "## properties (issue 15)"
TARGET_S = 600.0


def _revision() -> str:
    done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def run(scale: float, *, pick: int, workers: int, out: Path, extra: list[str]) -> dict[str, object]:
    """Run the command once; return its timings and the report's summary."""
    command = [
        sys.executable, "-m", "curate", "properties", "-m", "chgnet@0.3.0", "--energy-scale", str(scale),
        "--pick", str(pick), "--workers", str(workers), "--device", "cpu", "-o", str(out), *extra,
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, text=True)
    cpu: dict[int, float] = {}
    sampler = threading.Thread(target=_sample_cpu, args=(process, cpu), daemon=True)
    sampler.start()
    stdout, _ = process.communicate()
    wall = time.perf_counter() - started
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(2)
    report = json.loads((out / "properties.json").read_text())
    return {
        "command": " ".join(["curate", *command[3:]]),
        "wall_s": wall,
        "cpu_s": sum(cpu.values()),
        "load": (load_before, os.getloadavg()[0]),
        "summary": report["summary"],
        "structures": report["structures"],
        "markdown": stdout,
    }


def _sample_cpu(process: subprocess.Popen[str], cpu: dict[int, float]) -> None:
    """Keep the largest user + system seconds seen of every process in ``process``'s tree until it exits."""
    import psutil

    root = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        for member in tree:
            try:
                times = member.cpu_times()
            except psutil.Error:
                continue
            cpu[member.pid] = max(cpu.get(member.pid, 0.0), times.user + times.system)
        time.sleep(0.5)


def _row(numbers: dict[str, object], workers: int) -> str:
    summary = numbers["summary"]
    assert isinstance(summary, dict)
    cells = []
    for label, entry in summary.items():
        k, g, b = (entry["against_dft"][name] for name in ("K_VRH", "G_VRH", "B0 (EOS)"))
        cells.append(
            f"{label}: K {k['mae_gpa']:.1f} ({100 * k['share_under_predicted']:.0f} % under), "
            f"G {g['mae_gpa']:.1f} ({100 * g['share_under_predicted']:.0f} %), "
            f"B0 {b['mae_gpa']:.1f} ({100 * b['share_under_predicted']:.0f} %)"
        )
    wall, cpu = float(numbers["wall_s"]), float(numbers["cpu_s"])  # type: ignore[arg-type]
    load = numbers["load"]
    assert isinstance(load, tuple)
    verdict = "PASS" if wall < TARGET_S else ("PASS (cpu)" if cpu / workers < TARGET_S else "FAIL")
    return (
        f"| {numbers['structures']} | {workers} | {wall:.0f} | {cpu:.0f} | {cpu / workers:.0f} | "
        f"{load[0]:.1f}-{load[1]:.1f} | {'; '.join(cells)} | {verdict} | {dt.date.today()} | {_revision()} |"
    )


def write_results(row: str) -> None:
    """Append ``row`` to this benchmark's section of bench/RESULTS.md (the section is created when missing)."""
    text = RESULTS_PATH.read_text() if RESULTS_PATH.is_file() else "# Benchmark results\n"
    header = (
        f"\n{RESULTS_SECTION}\n\n"
        "| structures | workers | wall s | cpu s | cpu s / workers | load | MAE GPa (share under-predicted) | "
        "< 10 min | date | rev |\n|---:|---:|---:|---:|---:|---|---|---|---|---|\n"
    )
    if RESULTS_SECTION not in text:
        text = text.rstrip("\n") + "\n" + header
    head, _, tail = text.partition(RESULTS_SECTION)
    section, sep, rest = tail.partition("\n## ")
    section = section.rstrip("\n") + "\n" + row + "\n"
    RESULTS_PATH.write_text(head + RESULTS_SECTION + section + (("\n" + sep.lstrip("\n") + rest) if sep else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--energy-scale", type=float, required=True, help="s of the linear correction")
    parser.add_argument("--pick", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="report folder (default: a temporary one)")
    parser.add_argument("--write-results", action="store_true")
    args, extra = parser.parse_known_args()
    with tempfile.TemporaryDirectory(prefix="bench-properties-") as tmp:
        out = args.out or Path(tmp) / "report"
        numbers = run(args.energy_scale, pick=args.pick, workers=args.workers, out=out, extra=extra)
    row = _row(numbers, args.workers)
    print(numbers["markdown"])
    print(row)
    if args.write_results:
        write_results(row)
    wall, cpu = float(numbers["wall_s"]), float(numbers["cpu_s"])  # type: ignore[arg-type]
    return 0 if wall < TARGET_S or cpu / args.workers < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
