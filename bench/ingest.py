"""Benchmark (issue 2): ``curate import mptrj`` against what users do today with an MPtrj JSON.

The anchor is ``json.load`` of the whole file followed by ``pymatgen Structure.from_dict`` for every frame
into a list, energies and forces kept alongside. curate is ``curate import mptrj FILE --out DIR`` on the
same file. Each runs in its own fresh process, so that its wall time (interpreter start and imports
included, as a user pays them) and its peak memory are its own. Peak memory is the larger of the
process's ``ru_maxrss`` and the largest PSS sum over it and all processes it started (curate parses large
files in worker processes), sampled every 50 ms.

Targets: curate reaches at least 5x the anchor's frames/s, and curate's peak RSS stays under 1024 MB
whatever the file size.

The input is built, not downloaded: the real ionic steps with forces and stress in the Materials Project
task documents under ``../shared/data/emmet`` are replicated into an MPtrj-layout JSON
``{mp_id: {frame_id: {structure, uncorrected_total_energy, ..., force, stress, magmom, bandgap, mp_id}}}``,
20 to 60 frames per material as in MPtrj, every frame a copy of a real frame with its positions moved by a
seeded Gaussian (so that no two frames are the same row) and its energy, forces and stress perturbed
slightly. The file is written material by material into the work directory and reused when a sidecar
says it was built with the same parameters.

Usage (from the project root)::

    .venv/bin/python bench/ingest.py                      # 200,000 frames
    .venv/bin/python bench/ingest.py --frames 20000       # quick run
    .venv/bin/python bench/ingest.py --write-results      # also record the numbers in bench/RESULTS.md

Exit status: 0 when both targets pass, 1 when a target fails, 2 when a run fails or its output is wrong
(row count differs from the frame count, a frame was quarantined).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.process_memory import run_watched

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"
DEFAULT_WORK_DIR = PROJECT_ROOT / "bench" / "_work"
RESULTS_PATH = PROJECT_ROOT / "bench" / "RESULTS.md"
RESULTS_SECTION = "## ingest (issue 2)"

TASK_FILES = (
    "emmet/tasks_Li_Fe_V.json.gz",
    "emmet/test_As2SO6_tasks.json.gz",
    "emmet/magnetism_task_docs.json.gz",
    "emmet/test_si_tasks.json.gz",
    "emmet/task_doc_mp-2766060_PBEsol.json.gz",
)
ELEMENTAL_REFERENCES = "matbench_discovery/2023-02-07-mp-elemental-reference-entries.json.gz"

TARGET_SPEEDUP = 5.0
TARGET_PEAK_MB = 1024.0
# Build parameters; a change to any of them (or to GENERATOR_VERSION) rebuilds the cached file.
GENERATOR_VERSION = 1
FRAMES_PER_MATERIAL = (20, 60)
POSITION_SIGMA_ANG = 0.01
ENERGY_SIGMA_EV_PER_ATOM = 1e-3
FORCE_SIGMA_EV_PER_ANG = 5e-3
STRESS_SIGMA_KBAR = 0.05
# Anchor peak RSS per byte of JSON, measured on this script's files (20,000 frames: 73 MB file -> 584 MB
# peak, 8x), with headroom; used only to decide whether the anchor fits in memory.
ANCHOR_RSS_PER_FILE_BYTE = 10.0
ANCHOR_MEMORY_SHARE = 0.75

ANCHOR_CODE = """\
import json, sys, time
path = sys.argv[1]
t0 = time.perf_counter()
from pymatgen.core import Structure
t1 = time.perf_counter()
with open(path) as fh:
    data = json.load(fh)
t2 = time.perf_counter()
frames = []
for mp_id, material in data.items():
    for frame_id, frame in material.items():
        frames.append((
            Structure.from_dict(frame["structure"]),
            frame["uncorrected_total_energy"],
            frame["force"],
            frame["stress"],
            frame["magmom"],
        ))
t3 = time.perf_counter()
print(json.dumps({"frames": len(frames), "import_s": t1 - t0, "json_load_s": t2 - t1, "from_dict_s": t3 - t2}))
"""


class BenchError(click.ClickException):
    """A run failed or its input is missing (exit status 2, apart from a failed target's 1)."""

    exit_code = 2


# --------------------------------------------------------------------------------------------- input file
@dataclass(frozen=True)
class SourceFrame:
    """One real ionic step with forces and stress, as read from a Materials Project task document.

    Attributes:
        structure: the step's pymatgen Structure dict (sites carry ``xyz`` and ``abc``).
        lattice: cell vectors as rows, shape (3, 3), angstrom.
        positions: Cartesian positions, shape (n, 3), angstrom.
        species: element symbol per site, length n.
        energy_ev: ``e_fr_energy`` (free energy; ``e_0_energy`` is 0 for most steps in these files), eV.
        forces: shape (n, 3), eV/angstrom.
        stress_kbar: shape (3, 3), VASP's kBar and sign.
        magmoms: per-site ``tot`` magnetisation of the calculation's OUTCAR, Bohr magnetons, or None.
        bandgap_ev: the calculation's band gap, eV, or None.
    """

    structure: dict[str, Any]
    lattice: np.ndarray
    positions: np.ndarray
    species: tuple[str, ...]
    energy_ev: float
    forces: np.ndarray
    stress_kbar: np.ndarray
    magmoms: list[float] | None
    bandgap_ev: float | None


def load_trajectories(data_dir: Path) -> list[list[SourceFrame]]:
    """Every calculation's ionic steps with forces and stress, in time order, one list per calculation.

    Raises:
        BenchError: a task file is missing, or no step has forces and stress.
    """
    trajectories: list[list[SourceFrame]] = []
    for name in TASK_FILES:
        path = data_dir / name
        if not path.is_file():
            raise BenchError(f"{path}: reference task file not found (see --data-dir)")
        with gzip.open(path, "rt") as fh:
            docs = json.load(fh)
        for doc in docs if isinstance(docs, list) else [docs]:
            for calc in reversed(doc.get("calcs_reversed") or []):  # newest-first in the file
                output = calc.get("output") or {}
                magnetization = (output.get("outcar") or {}).get("magnetization") or None
                steps = [
                    _source_frame(step, magnetization, output.get("bandgap"))
                    for step in output.get("ionic_steps") or []
                    if step.get("forces") is not None and step.get("stress") is not None
                ]
                if steps:
                    trajectories.append(steps)
    if not trajectories:
        raise BenchError(f"{data_dir}: no ionic step with forces and stress in {', '.join(TASK_FILES)}")
    return trajectories


def _source_frame(
    step: dict[str, Any], magnetization: list[dict[str, float]] | None, bandgap: float | None
) -> SourceFrame:
    structure = step["structure"]
    sites = structure["sites"]
    magmoms = None
    if magnetization is not None and len(magnetization) == len(sites):
        magmoms = [float(m["tot"]) for m in magnetization]
    return SourceFrame(
        structure=structure,
        lattice=np.asarray(structure["lattice"]["matrix"], dtype=np.float64),
        positions=np.asarray([site["xyz"] for site in sites], dtype=np.float64),
        species=tuple(site["species"][0]["element"] for site in sites),
        energy_ev=float(step["e_fr_energy"]),
        forces=np.asarray(step["forces"], dtype=np.float64),
        stress_kbar=np.asarray(step["stress"], dtype=np.float64),
        magmoms=magmoms,
        bandgap_ev=None if bandgap is None else float(bandgap),
    )


def elemental_energies(data_dir: Path) -> dict[str, float]:
    """Materials Project PBE elemental reference energies, eV/atom, keyed by element symbol."""
    with gzip.open(data_dir / ELEMENTAL_REFERENCES, "rt") as fh:
        entries = json.load(fh)
    return {el: float(e["energy"]) / sum(e["composition"].values()) for el, e in entries.items()}


def perturbed_frame(
    source: SourceFrame, rng: np.random.Generator, *, mp_id: str, relaxed: SourceFrame, mu_ev: dict[str, float]
) -> dict[str, Any]:
    """An MPtrj frame dict: ``source`` with Gaussian noise on positions, energy, forces and stress.

    Positions move by N(0, POSITION_SIGMA_ANG) per Cartesian component (fractional ``abc`` recomputed as
    xyz @ L^-1); the energy by N(0, ENERGY_SIGMA_EV_PER_ATOM) x n; forces by N(0, FORCE_SIGMA_EV_PER_ANG);
    stress by a symmetric N(0, STRESS_SIGMA_KBAR). Formation energies use the MP elemental references:
    ef = (E - sum_i mu_i) / n. No MP2020 corrections are known here, so corrected = uncorrected.
    """
    n = len(source.species)
    xyz = source.positions + rng.normal(0.0, POSITION_SIGMA_ANG, size=(n, 3))
    abc = xyz @ np.linalg.inv(source.lattice)
    noise = rng.normal(0.0, STRESS_SIGMA_KBAR, size=(3, 3))
    stress = source.stress_kbar + 0.5 * (noise + noise.T)
    forces = source.forces + rng.normal(0.0, FORCE_SIGMA_EV_PER_ANG, size=(n, 3))
    energy = round(source.energy_ev + float(rng.normal(0.0, ENERGY_SIGMA_EV_PER_ATOM)) * n, 8)
    reference = sum(mu_ev.get(el, 0.0) for el in source.species)
    relaxed_per_atom = relaxed.energy_ev / len(relaxed.species)
    relaxed_reference = sum(mu_ev.get(el, 0.0) for el in relaxed.species) / len(relaxed.species)
    sites = [
        {
            "species": [{"element": el, "occu": 1}],
            "abc": a,
            "xyz": x,
            "properties": site.get("properties", {}),
            "label": site.get("label", el),
        }
        for el, a, x, site in zip(source.species, abc.tolist(), xyz.tolist(), source.structure["sites"], strict=True)
    ]
    structure = {key: value for key, value in source.structure.items() if key != "sites"}
    structure["sites"] = sites
    return {
        "structure": structure,
        "uncorrected_total_energy": energy,
        "corrected_total_energy": energy,
        "energy_per_atom": round(energy / n, 8),
        "ef_per_atom": round((energy - reference) / n, 8),
        "e_per_atom_relaxed": round(relaxed_per_atom, 8),
        "ef_per_atom_relaxed": round(relaxed_per_atom - relaxed_reference, 8),
        "force": np.round(forces, 8).tolist(),
        "stress": np.round(stress, 8).tolist(),
        "magmom": source.magmoms,
        "bandgap": source.bandgap_ev,
        "mp_id": mp_id,
    }


def iter_materials(
    trajectories: Sequence[Sequence[SourceFrame]], mu_ev: dict[str, float], *, frames: int, seed: int
) -> Iterator[tuple[str, dict[str, dict[str, Any]]]]:
    """Yield ``(mp_id, {frame_id: frame})`` until ``frames`` frames in total.

    Each material replicates one real trajectory (chosen with probability proportional to its number of
    steps, so frames follow the real pool), 20 to 60 frames cycling through its steps. The stream for N
    frames is a prefix of the stream for any larger N with the same seed (the last material is cut).
    """
    rng = np.random.default_rng(seed)
    weights = np.array([len(t) for t in trajectories], dtype=np.float64)
    weights /= weights.sum()
    written = 0
    material_index = 0
    task_number = 20_000_000
    while written < frames:
        trajectory = trajectories[int(rng.choice(len(trajectories), p=weights))]
        group = int(rng.integers(FRAMES_PER_MATERIAL[0], FRAMES_PER_MATERIAL[1] + 1))
        group = min(group, frames - written)
        mp_id = f"mp-{8_000_000 + material_index}"
        material: dict[str, dict[str, Any]] = {}
        for j in range(group):
            step = j % len(trajectory)
            if step == 0:
                task_number += 1
            frame_id = f"mp-{task_number}-0-{step}"
            material[frame_id] = perturbed_frame(
                trajectory[step], rng, mp_id=mp_id, relaxed=trajectory[-1], mu_ev=mu_ev
            )
        yield mp_id, material
        written += group
        material_index += 1


@dataclass(frozen=True)
class BuiltFile:
    """An MPtrj-layout JSON built by this script, with what its sidecar records."""

    path: Path
    frames: int
    materials: int
    atoms: int
    size_bytes: int
    seed: int
    build_seconds: float

    @property
    def atoms_per_frame(self) -> float:
        return self.atoms / self.frames


def build_parameters(frames: int, seed: int) -> dict[str, Any]:
    """Everything that determines the file's bytes, as stored in the sidecar."""
    return {
        "generator_version": GENERATOR_VERSION,
        "frames": frames,
        "seed": seed,
        "frames_per_material": list(FRAMES_PER_MATERIAL),
        "position_sigma_ang": POSITION_SIGMA_ANG,
        "energy_sigma_ev_per_atom": ENERGY_SIGMA_EV_PER_ATOM,
        "force_sigma_ev_per_ang": FORCE_SIGMA_EV_PER_ANG,
        "stress_sigma_kbar": STRESS_SIGMA_KBAR,
        "sources": list(TASK_FILES),
    }


def ensure_mptrj_file(work_dir: Path, data_dir: Path, *, frames: int, seed: int) -> BuiltFile:
    """The MPtrj JSON for (frames, seed) in ``work_dir``: reused if its sidecar matches, else built."""
    import orjson

    path = work_dir / f"mptrj_{frames}_seed{seed}.json"
    sidecar = path.with_suffix(".meta.json")
    parameters = build_parameters(frames, seed)
    if path.is_file() and sidecar.is_file():
        meta = json.loads(sidecar.read_text())
        if meta.get("parameters") == parameters and meta.get("size_bytes") == path.stat().st_size:
            log(f"reusing {path} ({meta['size_bytes'] / 1e6:.0f} MB, {frames} frames, seed {seed})")
            return BuiltFile(
                path=path,
                frames=frames,
                materials=meta["materials"],
                atoms=meta["atoms"],
                size_bytes=meta["size_bytes"],
                seed=seed,
                build_seconds=meta["build_seconds"],
            )
    work_dir.mkdir(parents=True, exist_ok=True)
    log(f"building {path}: {frames} frames, seed {seed} ...")
    started = time.perf_counter()
    trajectories = load_trajectories(data_dir)
    mu_ev = elemental_energies(data_dir)
    materials = atoms = 0
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(b"{")
        for mp_id, material in iter_materials(trajectories, mu_ev, frames=frames, seed=seed):
            if materials:
                fh.write(b", ")
            fh.write(orjson.dumps(mp_id) + b": " + orjson.dumps(material))
            materials += 1
            atoms += sum(len(frame["force"]) for frame in material.values())
        fh.write(b"}")
    os.replace(tmp, path)
    seconds = time.perf_counter() - started
    size = path.stat().st_size
    sidecar.write_text(
        json.dumps(
            {
                "parameters": parameters,
                "materials": materials,
                "atoms": atoms,
                "size_bytes": size,
                "build_seconds": round(seconds, 1),
            },
            indent=2,
        )
        + "\n"
    )
    log(
        f"built {path}: {size / 1e6:.0f} MB, {materials} materials, {atoms / frames:.1f} atoms/frame, "
        f"{seconds:.0f} s (from {sum(len(t) for t in trajectories)} real frames in {len(trajectories)} calculations)"
    )
    return BuiltFile(
        path=path, frames=frames, materials=materials, atoms=atoms, size_bytes=size, seed=seed, build_seconds=seconds
    )


# --------------------------------------------------------------------------------------------- measuring
@dataclass(frozen=True)
class Measurement:
    """One timed process: frames it handled, wall seconds (start to exit), peak RSS in MB."""

    label: str
    frames: int
    seconds: float
    peak_rss_mb: float
    detail: str

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds


def measure(command: Sequence[str], *, log_path: Path) -> tuple[float, float, str]:
    """Run ``command`` to completion; return (wall seconds, peak memory MB, its stdout).

    Peak memory counts the process and every worker it starts (see bench/process_memory.py). stderr goes to
    ``log_path``.

    Raises:
        BenchError: the command exits non-zero (its log is named).
    """
    out_path = log_path.with_suffix(".stdout")
    with open(out_path, "wb") as out, open(log_path, "wb") as err:
        watched = run_watched(command, stdout=out, stderr=err)
    stdout = out_path.read_text()
    if watched.returncode != 0:
        raise BenchError(
            f"{shlex.join(command)} exited with status {watched.returncode}; stderr in {log_path}:\n"
            + "\n".join(log_path.read_text().splitlines()[-15:])
        )
    return watched.seconds, watched.peak_mb, stdout


def run_anchor(built: BuiltFile, work_dir: Path) -> Measurement:
    """json.load + Structure.from_dict per frame, in a fresh interpreter."""
    seconds, peak_mb, stdout = measure(
        [sys.executable, "-c", ANCHOR_CODE, str(built.path)], log_path=work_dir / f"anchor_{built.frames}.log"
    )
    phases = json.loads(stdout.strip().splitlines()[-1])
    if phases["frames"] != built.frames:
        raise BenchError(f"anchor read {phases['frames']} frames from {built.path}, expected {built.frames}")
    detail = (
        f"import pymatgen {phases['import_s']:.1f} s, json.load {phases['json_load_s']:.1f} s, "
        f"Structure.from_dict {phases['from_dict_s']:.1f} s"
    )
    return Measurement("anchor", built.frames, seconds, peak_mb, detail)


def curate_executable() -> Path:
    """The ``curate`` console script installed next to this interpreter."""
    script = Path(sys.executable).parent / "curate"
    if not script.is_file():
        raise BenchError(f"{script}: curate console script not found next to {sys.executable}")
    return script


def run_curate(built: BuiltFile, work_dir: Path) -> tuple[Measurement, int, int]:
    """``curate import mptrj FILE --out DIR`` on a fresh DIR; returns (measurement, rows, quarantined)."""
    out = work_dir / f"curate_{built.frames}"
    if out.exists():
        shutil.rmtree(out)
    command = [str(curate_executable()), "import", "mptrj", str(built.path), "--out", str(out)]
    seconds, peak_mb, stdout = measure(command, log_path=work_dir / f"curate_{built.frames}.log")
    manifest = json.loads((out / "manifest.json").read_text())
    rows = int(manifest["num_rows"])
    quarantined = int(manifest["history"][-1]["quarantined"])
    detail = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    return Measurement("curate", built.frames, seconds, peak_mb, detail), rows, quarantined


def warm_page_cache(path: Path) -> None:
    """Read the file once so that neither contestant pays the first read from disk."""
    with open(path, "rb") as fh:
        while fh.read(64 << 20):
            pass


# --------------------------------------------------------------------------------------------- machine
def meminfo_bytes(key: str) -> int:
    """A /proc/meminfo field (``MemTotal``, ``MemAvailable``) in bytes."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) * 1024
    raise BenchError(f"/proc/meminfo has no {key}")


def machine_description() -> str:
    """CPU count and model, RAM, Python and OS in one line."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        model = f" ({found.group(1).strip()})" if found else ""
    return (
        f"{len(os.sched_getaffinity(0))} cores{model}, {meminfo_bytes('MemTotal') / 2**30:.1f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def curate_revision() -> str:
    """``git describe --always --dirty`` of the project plus ``src:`` the sha256 (12 hex) of curate's sources.

    The source hash tells apart runs on different uncommitted states of the same commit.
    """
    digest = hashlib.sha256()
    for source in sorted((PROJECT_ROOT / "curate").rglob("*.py")):
        digest.update(source.relative_to(PROJECT_ROOT).as_posix().encode() + b"\0" + source.read_bytes())
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        described = "unknown"
    return f"{described} src:{digest.hexdigest()[:12]}"


def choose_anchor_frames(frames: int, size_bytes: int) -> tuple[int, str]:
    """Frames the anchor can load within ANCHOR_MEMORY_SHARE of MemAvailable, and why."""
    available = meminfo_bytes("MemAvailable")
    budget = ANCHOR_MEMORY_SHARE * available
    estimate = ANCHOR_RSS_PER_FILE_BYTE * size_bytes
    if estimate <= budget:
        return frames, (
            f"anchor on the same file: estimated peak {estimate / 2**30:.1f} GiB fits in "
            f"{ANCHOR_MEMORY_SHARE:.0%} of MemAvailable {available / 2**30:.1f} GiB"
        )
    fitting = max(1000, int(frames * budget / estimate) // 1000 * 1000)
    return fitting, (
        f"anchor on a {fitting}-frame prefix: the full file would need ~{estimate / 2**30:.1f} GiB, "
        f"more than {ANCHOR_MEMORY_SHARE:.0%} of MemAvailable {available / 2**30:.1f} GiB"
    )


def log(message: str) -> None:
    click.echo(f"[bench ingest] {message}", err=True)


# --------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Outcome:
    """Both measurements and the verdicts of one run."""

    date: str
    frames: int
    atoms_per_frame: float
    file_mb: float
    anchor: Measurement
    curate: Measurement
    quarantined: int
    command: str
    machine: str
    revision: str

    @property
    def speedup(self) -> float:
        return self.curate.frames_per_second / self.anchor.frames_per_second

    @property
    def speed_pass(self) -> bool:
        return self.speedup >= TARGET_SPEEDUP

    @property
    def memory_pass(self) -> bool:
        return self.curate.peak_rss_mb < TARGET_PEAK_MB


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def print_table(outcome: Outcome) -> None:
    """The comparison on stdout."""
    rows = [("", "frames", "seconds", "frames/s", "peak RSS MB")]
    for m in (outcome.anchor, outcome.curate):
        rows.append(
            (m.label, f"{m.frames}", f"{m.seconds:.1f}", f"{m.frames_per_second:,.0f}", f"{m.peak_rss_mb:,.0f}")
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    click.echo(f"command: {outcome.command}")
    click.echo(f"machine: {outcome.machine}; curate {outcome.revision}")
    click.echo(
        f"input:   {outcome.frames} frames, {outcome.atoms_per_frame:.1f} atoms/frame, "
        f"{outcome.file_mb:.0f} MB MPtrj JSON"
    )
    click.echo("")
    for row in rows:
        click.echo("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
    click.echo("")
    click.echo(f"anchor: {outcome.anchor.detail}")
    click.echo(f"curate: {outcome.curate.detail}")
    click.echo(f"curate quarantined {outcome.quarantined} frame(s)")
    click.echo(
        f"speed ratio curate/anchor: {outcome.speedup:.2f}x (target >= {TARGET_SPEEDUP:g}x)  "
        f"{verdict(outcome.speed_pass)}"
    )
    click.echo(
        f"curate peak RSS: {outcome.curate.peak_rss_mb:,.0f} MB (target < {TARGET_PEAK_MB:g} MB)  "
        f"{verdict(outcome.memory_pass)}"
    )


_RESULTS_HEADER = "# Benchmark results\n\nNumbers recorded by the scripts under `bench/` (one section per script).\n"
_TABLE_HEAD = (
    "| frames | atoms/frame | file MB | anchor frames | anchor s | anchor frames/s | anchor peak MB | curate s "
    "| curate frames/s | curate peak MB | ratio | speed (>= 5x) | memory (< 1024 MB) | date | curate rev |\n"
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|\n"
)


def table_row(o: Outcome) -> str:
    return (
        f"| {o.frames} | {o.atoms_per_frame:.1f} | {o.file_mb:.0f} | {o.anchor.frames} | {o.anchor.seconds:.1f} "
        f"| {o.anchor.frames_per_second:,.0f} | {o.anchor.peak_rss_mb:,.0f} | {o.curate.seconds:.1f} "
        f"| {o.curate.frames_per_second:,.0f} | {o.curate.peak_rss_mb:,.0f} | {o.speedup:.2f}x "
        f"| {verdict(o.speed_pass)} | {verdict(o.memory_pass)} | {o.date} | {o.revision} |"
    )


def record_results(outcome: Outcome, path: Path = RESULTS_PATH) -> None:
    """Replace this benchmark's section of RESULTS.md, keeping rows of other frame counts and other sections."""
    text = path.read_text() if path.is_file() else _RESULTS_HEADER
    start = text.find(f"\n{RESULTS_SECTION}\n")
    old_rows: dict[int, str] = {}
    old_commands: dict[int, str] = {}
    before, after = text.rstrip("\n") + "\n", ""
    if start >= 0:
        before = text[: start + 1]
        end = text.find("\n## ", start + 1)
        section = text[start + 1 : end + 1] if end >= 0 else text[start + 1 :]
        after = text[end + 1 :] if end >= 0 else ""
        for line in section.splitlines():
            found = re.match(r"\| (\d+) \|", line)
            if found:
                old_rows[int(found.group(1))] = line
            found = re.match(r"- (\d+) frames: (.+)$", line)
            if found:
                old_commands[int(found.group(1))] = found.group(2)
    old_rows[outcome.frames] = table_row(outcome)
    old_commands[outcome.frames] = f"`{outcome.command}` on {outcome.machine}"
    body = [
        RESULTS_SECTION,
        "",
        "`curate import mptrj FILE --out DIR` against the anchor users run today: `json.load` of the whole file,",
        "then `pymatgen Structure.from_dict` per frame into a list (energies, forces, stress, magmoms kept",
        "alongside; gc left on, as users run it). Each in a fresh process; seconds are wall time from process",
        "start to exit (imports included); peak is the larger of `ru_maxrss` and the sampled PSS sum over the",
        "process and its worker processes. The file is an MPtrj-layout JSON",
        "of perturbed copies of the real ionic steps in `../shared/data/emmet` (`bench/ingest.py` builds it).",
        "When the anchor would not fit in memory it runs on a prefix of the same stream and rates are compared.",
        "Targets: >= 5x the anchor's frames/s, curate peak RSS < 1024 MB. One row per frame count, latest run.",
        "",
        _TABLE_HEAD.rstrip("\n"),
        *(old_rows[k] for k in sorted(old_rows)),
        "",
        "Commands:",
        "",
        *(f"- {k} frames: {old_commands[k]}" for k in sorted(old_commands)),
        "",
        "Notes:",
        "",
        "- The target is set at >= 200,000 frames. Below ~50 MB curate's fixed costs (interpreter and imports,",
        "  ~0.5 s; starting two worker processes, ~1 s) weigh on a run of a few seconds, so the 20,000-frame row",
        "  is shown for scale, not judged against the 5x target.",
        "- The anchor's time varies between runs on this shared 2-core machine (89.6 s to 122.7 s for the same",
        "  200,000 frames on the same day), most of it in `json.load` and garbage collection; curate's took",
        "  14.3-14.4 s in the recorded runs. Fastest anchor against slowest curate still gives 6.2x.",
        "- Where the time goes in curate: one validating msgspec skim per 4 MB chunk in the main process to cut",
        "  the file at material boundaries, then in worker processes typed msgspec decoding, the quality gate",
        "  (shapes, finiteness, matscipy neighbour list for the minimum distance) and batch hashing; the main",
        "  process deduplicates and streams row groups into the shard.",
        "",
    ]
    path.write_text(before.rstrip("\n") + "\n\n" + "\n".join(body) + ("\n" + after if after else ""))


# --------------------------------------------------------------------------------------------- command
@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option(
    "--frames",
    default=200_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Frames in the MPtrj JSON that curate imports (use 20000 for a quick run).",
)
@click.option(
    "--anchor-frames",
    default=None,
    type=click.IntRange(min=1),
    help="Run the anchor on a prefix file of this many frames (same seed, same stream) and compare "
    "frames/s. [default: the same file if the anchor's estimated peak fits in 75% of MemAvailable, "
    "else the largest prefix that does]",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the numpy Generator for perturbations.")
@click.option(
    "--work-dir",
    default=DEFAULT_WORK_DIR,
    show_default=True,
    type=click.Path(path_type=Path),
    help="Where the JSON files, datasets and logs go (git-ignored; JSON files are reused across runs).",
)
@click.option(
    "--data-dir",
    default=DEFAULT_DATA_DIR,
    show_default=True,
    type=click.Path(path_type=Path),
    help="The shared reference data (emmet task documents, MP elemental reference entries).",
)
@click.option("--skip-anchor", is_flag=True, help="Time curate only (no ratio; the memory target is still checked).")
@click.option(
    "--write-results",
    "record",
    is_flag=True,
    help="Record the numbers in bench/RESULTS.md (section '## ingest (issue 2)', one row per frame count).",
)
def main(
    frames: int, anchor_frames: int | None, seed: int, work_dir: Path, data_dir: Path, skip_anchor: bool, record: bool
) -> None:
    """Benchmark `curate import mptrj` against json.load + Structure.from_dict (issue 2).

    Builds (or reuses) an MPtrj JSON of --frames perturbed copies of real frames, runs the anchor and
    curate on it, each in its own process, and prints frames/s, peak RSS, the speed ratio and PASS/FAIL
    for the targets (>= 5x the anchor's frames/s; curate peak RSS < 1024 MB). Exit status 0: both targets
    pass; 1: a target fails; 2: a run failed or curate's output is wrong (rows != frames, quarantined rows).
    """
    python = Path(sys.executable)
    shown = python.relative_to(PROJECT_ROOT).as_posix() if python.is_relative_to(PROJECT_ROOT) else str(python)
    command = shlex.join([shown, *sys.argv])
    work_dir = work_dir.resolve()
    machine = machine_description()
    revision = curate_revision()
    log(f"machine: {machine}; curate {revision}")
    built = ensure_mptrj_file(work_dir, data_dir, frames=frames, seed=seed)

    anchor: Measurement | None = None
    if not skip_anchor:
        if anchor_frames is None:
            anchor_frames, why = choose_anchor_frames(frames, built.size_bytes)
        else:
            why = f"anchor on {anchor_frames} frames (--anchor-frames)"
        log(why)
        anchor_file = built
        if anchor_frames != frames:
            anchor_file = ensure_mptrj_file(work_dir, data_dir, frames=anchor_frames, seed=seed)
        warm_page_cache(anchor_file.path)
        log(f"anchor: json.load + Structure.from_dict on {anchor_file.path.name} ...")
        anchor = run_anchor(anchor_file, work_dir)
        log(f"anchor: {anchor.seconds:.1f} s, peak {anchor.peak_rss_mb:,.0f} MB ({anchor.detail})")

    warm_page_cache(built.path)
    log(f"curate: import mptrj {built.path.name} ...")
    curate, rows, quarantined = run_curate(built, work_dir)
    log(f"curate: {curate.seconds:.1f} s, peak {curate.peak_rss_mb:,.0f} MB ({curate.detail})")

    targets_pass = curate.peak_rss_mb < TARGET_PEAK_MB
    if anchor is None:
        click.echo(f"command: {command}\nmachine: {machine}; curate {revision}")
        click.echo(
            f"curate: {frames} frames in {curate.seconds:.1f} s = {curate.frames_per_second:,.0f} frames/s, "
            f"peak RSS {curate.peak_rss_mb:,.0f} MB (target < {TARGET_PEAK_MB:g} MB) {verdict(targets_pass)}"
        )
        click.echo(f"curate quarantined {quarantined} frame(s)")
        if record:
            log("--write-results needs the anchor; nothing recorded")
    else:
        outcome = Outcome(
            date=dt.date.today().isoformat(),
            frames=frames,
            atoms_per_frame=built.atoms_per_frame,
            file_mb=built.size_bytes / 1e6,
            anchor=anchor,
            curate=curate,
            quarantined=quarantined,
            command=command,
            machine=machine,
            revision=revision,
        )
        print_table(outcome)
        targets_pass = outcome.speed_pass and outcome.memory_pass
        if record:
            record_results(outcome)
            log(f"recorded in {RESULTS_PATH}")
    if rows != frames or quarantined:
        log(
            f"curate wrote {rows} rows for {frames} frames and quarantined {quarantined}: see "
            f"{work_dir / f'curate_{frames}' / 'quarantine.jsonl'}"
        )
        sys.exit(2)
    if not targets_pass:
        sys.exit(1)


if __name__ == "__main__":
    main()
