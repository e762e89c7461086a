"""The damaged-input suite (issue 16): seeded damaged variants of the real files in ../shared/data, each imported.

One module builds the variants and judges the imports; ``tests/test_damaged_inputs.py`` runs a bounded seeded
sample of them in CI and this script runs them all and prints the table::

    PYTHONPATH=. .venv/bin/python bench/damaged_inputs.py               # every variant
    PYTHONPATH=. .venv/bin/python bench/damaged_inputs.py --sample 20   # a seeded sample

Families of damage:

- **one bad value in one record** (mp-tasks task documents, an MPtrj file built from them, MatPES element
  references, mlearn, vasprun/OUTCAR text, extxyz that curate writes itself): a boolean, a numeric string, text,
  a list or an object where a number or array belongs, a lattice as text, a non-element species, a site far
  outside its cell, a flat cell, an unknown GGA, a non-UTF8 key;
- **byte flips and truncations** of every file, gzipped or not;
- **file system**: empty files, directories and dangling links in place of files, a FIFO.

Each variant is imported with ``curate import`` (click's runner) in a forked child process, killed after a
timeout (a hang). Judged against the clean import of the same file (row ids):

- *traceback*: an exception other than curate's one-line error reached the command;
- *hang*: the import ran past the timeout;
- *good lost*: a row of the clean import whose record was not damaged is missing (for byte damage, where the
  damaged record is not known: records missing beyond those quarantined while the file is recorded complete;
  a row that comes back with a changed value or a changed label is not counted);
- *bad admitted*: a row built from the damaged record (its record label) that the clean import does not have;
- *unnamed*: a quarantine entry without file, record or (for a bad value) field; an error line without the file.

Exit status: 0 when every count is 0, 1 otherwise.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import multiprocessing
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = (REPO_ROOT.parent / "shared" / "data").resolve()
TIMEOUT_S = 60.0

BAD_VALUES: tuple[tuple[str, Any], ...] = (
    ("boolean", True),
    ("numeric string", "-3.25"),
    ("text", "abc"),
    ("list", [1.0, 2.0]),
    ("object", {"x": 1.0}),
)
FAMILY_VALUE = "one bad value in one record"
FAMILY_BYTES = "byte flips and truncations"
FAMILY_FS = "file system"


@dataclass(frozen=True)
class Variant:
    """One damaged input: how to build it, which importer reads it, which records it damaged.

    Attributes:
        family: one of the FAMILY_* names (a row of the table).
        fmt: the importer (``curate import FORMAT``).
        base: key of the clean input it derives from (its clean import is the reference); None: no reference.
        name: what was damaged, for the report.
        build: writes the damaged input below the folder it is given and returns the path to import.
        damaged: record labels (or label prefixes) whose rows may be lost; None when the damage is in bytes.
        must_reject: the damaged records hold a value that must never be stored.
    """

    family: str
    fmt: str
    base: str | None
    name: str
    build: Callable[[Path], Path]
    damaged: frozenset[str] | None = None
    must_reject: bool = True


@dataclass
class Outcome:
    """What one import of one variant did, judged."""

    variant: Variant
    traceback: bool = False
    hang: bool = False
    good_lost: int = 0
    bad_admitted: int = 0
    unnamed: int = 0
    seconds: float = 0.0
    detail: str = ""


@dataclass
class Clean:
    """The clean import of one base file: its rows' ids by record label."""

    ids_by_record: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- base inputs


def _load_json(path: Path) -> Any:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        return json.load(fh)


def _write_json(value: Any, path: Path, *, gz: bool) -> Path:
    text = json.dumps(value).encode()
    path.write_bytes(gzip.compress(text, mtime=0) if gz else text)
    return path


def mptrj_from_tasks(docs: list[dict]) -> dict[str, dict[str, dict]]:
    """MPtrj layout {mp_id: {frame_id: frame}} built from real task documents (every ionic step)."""
    layout: dict[str, dict[str, dict]] = {}
    for doc in docs:
        for calc_index, calc in enumerate(reversed(doc["calcs_reversed"])):
            for step_index, step in enumerate(calc["output"]["ionic_steps"]):
                layout.setdefault(doc["task_id"], {})[f"{doc['task_id']}-{calc_index}-{step_index}"] = {
                    "structure": step["structure"],
                    "uncorrected_total_energy": step["e_fr_energy"],
                    "corrected_total_energy": step["e_fr_energy"] - 1.0,
                    "force": step["forces"],
                    "stress": step["stress"],
                    "magmom": None,
                    "mp_id": doc["task_id"],
                }
    return layout


def task_step_labels(docs: list[dict]) -> Iterator[tuple[str, int, int, int]]:
    """(record label, document, calcs_reversed index, local step) of every ionic step, as mp-tasks labels them."""
    for d, doc in enumerate(docs):
        calcs = doc["calcs_reversed"]
        step_index = 0
        for calc_index in range(len(calcs)):
            r = len(calcs) - 1 - calc_index
            for k in range(len(calcs[r]["output"]["ionic_steps"])):
                yield f"document {d} (task {doc['task_id']}) calc {calc_index} step {step_index}", d, r, k
                step_index += 1


def _extxyz_text(shared: Path) -> str:
    """The Si task documents imported and written back as extxyz by curate's own exporter."""
    from curate.dataset.configuration import batch_to_configurations
    from curate.dataset.store import Dataset
    from curate.exporters.extxyz import frame_text
    from curate.sources.ingest import import_paths

    with tempfile.TemporaryDirectory() as folder:
        import_paths([shared / "emmet" / "test_si_tasks.json.gz"], format_name="mp-tasks", out=Path(folder) / "d")
        table = Dataset.open(Path(folder) / "d").read()
    return "".join(frame_text(cfg) for cfg in batch_to_configurations(table))


@dataclass(frozen=True)
class Base:
    """A clean input: its importer and how to write it."""

    fmt: str
    file_name: str
    write: Callable[[Path], Path]


def bases(shared: Path) -> dict[str, Base]:
    """The clean inputs every variant derives from, by key."""
    emmet, mlearn, matcalc = shared / "emmet", shared / "mlearn", shared / "matcalc"
    vasp = shared / "vasp" / "pymatgen_core"

    def copy_of(source: Path, name: str) -> Callable[[Path], Path]:
        def write(folder: Path) -> Path:
            return Path(shutil.copyfile(source, folder / name))

        return write

    def mptrj(gz: bool) -> Callable[[Path], Path]:
        def write(folder: Path) -> Path:
            layout = mptrj_from_tasks(_load_json(emmet / "test_si_tasks.json.gz"))
            return _write_json(layout, folder / ("mptrj.json.gz" if gz else "mptrj.json"), gz=gz)

        return write

    def extxyz(folder: Path) -> Path:
        path = folder / "si.extxyz"
        path.write_text(_extxyz_text(shared))
        return path

    return {
        "si-tasks": Base("mp-tasks", "test_si_tasks.json.gz", copy_of(emmet / "test_si_tasks.json.gz", "si.json.gz")),
        "as2so6-tasks": Base(
            "mp-tasks", "test_As2SO6_tasks.json.gz", copy_of(emmet / "test_As2SO6_tasks.json.gz", "as.json.gz")
        ),
        "mptrj": Base("mptrj", "mptrj.json", mptrj(False)),
        "mptrj-gz": Base("mptrj", "mptrj.json.gz", mptrj(True)),
        "matpes": Base(
            "matpes",
            "MatPES-PBE-Element-Refs.json.gz",
            copy_of(matcalc / "MatPES-PBE-Element-Refs.json.gz", "matpes.json.gz"),
        ),
        "mlearn": Base("mlearn", "Ge_test.json", copy_of(mlearn / "Ge_test.json", "Ge_test.json")),
        "vasprun": Base("vasp", "vasprun.xml.gz", copy_of(vasp / "outputs__vasprun.lifepo4.xml.gz", "vasprun.xml.gz")),
        "outcar": Base("vasp", "OUTCAR", copy_of(vasp / "fixtures__relaxation__OUTCAR", "OUTCAR")),
        "extxyz": Base("ase", "si.extxyz", extxyz),
    }


# ---------------------------------------------------------------- one bad value


def _set(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value


def _json_value_variants(
    key: str, base: Base, shared: Path, targets: list[tuple[str, tuple[Any, ...], frozenset[str]]], gz: bool
) -> Iterator[Variant]:
    """One variant per (target path, bad value): the clean JSON with that one value replaced."""
    for target_name, path, damaged in targets:
        for value_name, value in BAD_VALUES:

            def build(folder: Path, path: tuple[Any, ...] = path, value: Any = value) -> Path:
                clean = base.write(folder)
                doc = _load_json(clean)
                _set(doc, path, copy.deepcopy(value))
                return _write_json(doc, clean, gz=gz)

            yield Variant(FAMILY_VALUE, base.fmt, key, f"{key}: {target_name} = {value_name}", build, damaged)


def _special_json_variants(
    key: str, base: Base, specials: list[tuple[str, tuple[Any, ...], Any, frozenset[str], bool]], gz: bool
) -> Iterator[Variant]:
    for name, path, value, damaged, must_reject in specials:

        def build(folder: Path, path: tuple[Any, ...] = path, value: Any = value) -> Path:
            clean = base.write(folder)
            doc = _load_json(clean)
            _set(doc, path, copy.deepcopy(value))
            return _write_json(doc, clean, gz=gz)

        yield Variant(FAMILY_VALUE, base.fmt, key, f"{key}: {name}", build, damaged, must_reject)


STEP_FIELDS: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("e_fr_energy", ("e_fr_energy",)),
    ("forces", ("forces",)),
    ("forces[0][0]", ("forces", 0, 0)),
    ("stress[1][1]", ("stress", 1, 1)),
    ("lattice", ("structure", "lattice", "matrix")),
    ("lattice[0][0]", ("structure", "lattice", "matrix", 0, 0)),
    ("species", ("structure", "sites", 0, "species", 0, "element")),
    ("xyz[1]", ("structure", "sites", 0, "xyz", 1)),
)


def mp_task_variants(key: str, base: Base, shared: Path, rng: random.Random) -> Iterator[Variant]:
    docs = _load_json(shared / "emmet" / base.file_name)
    steps = list(task_step_labels(docs))
    targets = []
    for field_name, inner in STEP_FIELDS:
        label, d, r, k = rng.choice(steps)
        path = (d, "calcs_reversed", r, "output", "ionic_steps", k, *inner)
        targets.append((f"{label} {field_name}", path, frozenset({label})))
    yield from _json_value_variants(key, base, shared, targets, gz=True)
    label, d, r, k = rng.choice(steps)
    step = (d, "calcs_reversed", r, "output", "ionic_steps", k)
    calc_labels = frozenset(lab for lab, dd, rr, _ in steps if (dd, rr) == (d, r))
    doc_labels = frozenset(lab for lab, dd, _, _ in steps if dd == d)
    structure = docs[d]["calcs_reversed"][r]["output"]["ionic_steps"][k]["structure"]
    flat = copy.deepcopy(structure["lattice"]["matrix"])
    flat[2] = [0.0, 0.0, 1e-5]
    specials = [
        (
            f"{label} site 1e15 A outside the cell",
            (*step, "structure", "sites", 0, "xyz", 0),
            1e15,
            frozenset({label}),
            True,
        ),
        (
            f"{label} flat cell row (0, 0, 1e-5)",
            (*step, "structure", "lattice", "matrix"),
            flat,
            frozenset({label}),
            True,
        ),
        (f"document {d} calc {r} GGA='ZZ'", (d, "calcs_reversed", r, "input", "incar", "GGA"), "ZZ", calc_labels, True),
        (f"document {d} calc {r} input as text", (d, "calcs_reversed", r, "input"), "abc", calc_labels, True),
        (f"document {d} task_id as list", (d, "task_id"), [1, 2], doc_labels | {f"document {d}"}, True),
        (f"document {d} as a number", (d,), 3.5, doc_labels | {f"document {d}"}, True),
        (f"document {d} calcs_reversed[{r}] as text", (d, "calcs_reversed", r), "abc", calc_labels, True),
    ]
    yield from _special_json_variants(key, base, specials, gz=True)


def mptrj_variants(key: str, base: Base, shared: Path, rng: random.Random) -> Iterator[Variant]:
    layout = mptrj_from_tasks(_load_json(shared / "emmet" / "test_si_tasks.json.gz"))
    frames = [(m, f) for m, fs in layout.items() for f in fs]
    targets = []
    inner_fields = (
        ("uncorrected_total_energy", ("uncorrected_total_energy",)),
        ("force", ("force",)),
        ("force[0][0]", ("force", 0, 0)),
        ("stress", ("stress",)),
        ("lattice", ("structure", "lattice", "matrix")),
        ("species", ("structure", "sites", 0, "species", 0, "element")),
    )
    for field_name, inner in inner_fields:
        m, f = rng.choice(frames)
        targets.append((f"{m}/{f} {field_name}", (m, f, *inner), frozenset({f"{m}/{f}"})))
    yield from _json_value_variants(key, base, shared, targets, gz=False)
    m, f = rng.choice(frames)

    def non_utf8_key(folder: Path, m: str = m, f: str = f) -> Path:
        path = base.write(folder)
        raw = path.read_bytes().replace(f'"{f}"'.encode(), f'"{f}\xff"'.encode("latin-1"), 1)
        path.write_bytes(raw)
        return path

    yield Variant(FAMILY_VALUE, base.fmt, key, f"{key}: {m}/{f} key not UTF-8", non_utf8_key, frozenset({f"{m}/{f}"}))
    specials = [(f"{m}/{f} mp_id as integer", (m, f, "mp_id"), 123, frozenset({f"{m}/{f}"}), False)]
    yield from _special_json_variants(key, base, specials, gz=False)


def matpes_variants(key: str, base: Base, shared: Path, rng: random.Random) -> Iterator[Variant]:
    docs = _load_json(shared / "matcalc" / base.file_name)
    elements = sorted(docs)
    targets = []
    for field_name, inner in (
        ("energy", ("energy",)),
        ("forces", ("forces",)),
        ("stress", ("stress",)),
        ("stress[0]", ("stress", 0)),
        ("lattice", ("structure", "lattice", "matrix")),
        ("species", ("structure", "sites", 0, "species", 0, "element")),
        ("bader_magmoms", ("bader_magmoms",)),
    ):
        el = rng.choice(elements)
        targets.append((f"{el} {field_name}", (el, *inner), frozenset({el})))
    yield from _json_value_variants(key, base, shared, targets, gz=True)
    el = rng.choice(elements)
    specials = [
        (f"{el} matpes_id as integer", (el, "matpes_id"), 12345, frozenset({el}), False),
        (f"{el} functional 'ZZ'", (el, "functional"), "ZZ", frozenset({el}), True),
        (f"{el} structure as text", (el, "structure"), "abc", frozenset({el}), True),
    ]
    yield from _special_json_variants(key, base, specials, gz=True)


def mlearn_variants(key: str, base: Base, shared: Path, rng: random.Random) -> Iterator[Variant]:
    docs = _load_json(shared / "mlearn" / base.file_name)
    targets = []
    for field_name, inner in (
        ("outputs.energy", ("outputs", "energy")),
        ("outputs.forces", ("outputs", "forces")),
        ("outputs.forces[0][1]", ("outputs", "forces", 0, 1)),
        ("outputs.virial_stress", ("outputs", "virial_stress")),
        ("lattice", ("structure", "lattice", "matrix")),
        ("species", ("structure", "sites", 0, "species", 0, "element")),
    ):
        i = rng.randrange(len(docs))
        targets.append((f"#{i} {field_name}", (i, *inner), frozenset({f"#{i}"})))
    yield from _json_value_variants(key, base, shared, targets, gz=False)


# text formats: replace one number of one step by a bad token
TEXT_TOKENS = ("T", "abc", "1e15x", "[1,2]")


def _text_variants(key: str, base: Base, sites: list[tuple[str, str, frozenset[str]]]) -> Iterator[Variant]:
    """``sites``: (name, regex with one group around the number to replace, damaged labels)."""
    for name, pattern, damaged in sites:
        for token in TEXT_TOKENS:

            def build(folder: Path, pattern: str = pattern, token: str = token) -> Path:
                path = base.write(folder)
                gz = path.read_bytes()[:2] == b"\x1f\x8b"
                text = (gzip.decompress(path.read_bytes()) if gz else path.read_bytes()).decode("latin-1")
                match = re.search(pattern, text, flags=re.S)
                assert match is not None, pattern
                text = text[: match.start(1)] + token + text[match.end(1) :]
                data = text.encode("latin-1")
                path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
                return path

            yield Variant(FAMILY_VALUE, base.fmt, key, f"{key}: {name} = {token!r}", build, damaged)


def vasp_variants(key: str, base: Base, shared: Path, rng: random.Random) -> Iterator[Variant]:
    name = "vasprun.xml.gz"
    s = rng.randrange(11)
    # the s-th <calculation> block: its free energy, first force and the first coordinate of its positions
    calc = rf"(?:<calculation>.*?){{{s + 1}}}"
    sites = [
        (
            f"step {s} e_fr_energy",
            calc + r'<energy>\s*<i name="e_fr_energy">\s*([-0-9.]+)',
            frozenset({f"{name} step {s}"}),
        ),
        (
            f"step {s} forces[0][0]",
            calc + r'<varray name="forces" >\s*<v>\s*([-0-9.]+)',
            frozenset({f"{name} step {s}"}),
        ),
        (
            f"step {s} positions[0][0]",
            calc + r'<varray name="positions" >\s*<v>\s*([-0-9.]+)',
            frozenset({f"{name} step {s}"}),
        ),
    ]
    yield from _text_variants(key, base, sites)


def outcar_variants(key: str, base: Base, shared: Path, rng: random.Random) -> Iterator[Variant]:
    s = rng.randrange(3)
    step = rf"(?:TOTAL-FORCE.*?){{{s + 1}}}"
    sites = [
        (f"step {s} forces[0][3]", step + r"-{20,}\s+\S+\s+\S+\s+\S+\s+([-0-9.]+)", frozenset({f"OUTCAR step {s}"})),
        (
            f"step {s} TOTEN",
            rf"(?:free  energy   TOTEN.*?){{{s}}}free  energy   TOTEN\s+=\s+([-0-9.]+)",
            frozenset({f"OUTCAR step {s}"}),
        ),
    ]
    yield from _text_variants(key, base, sites)


def _extxyz_frames(text: str) -> list[list[str]]:
    lines = text.splitlines()
    frames, at = [], 0
    while at < len(lines):
        count = int(lines[at])
        frames.append(lines[at : at + count + 2])
        at += count + 2
    return frames


def extxyz_variants(key: str, base: Base, shared: Path, rng: random.Random) -> Iterator[Variant]:
    f = rng.randrange(7)
    damaged = frozenset({f"frame {f}"})
    edits: list[tuple[str, int, str]] = [
        ("REF_energy", 1, r"REF_energy=([-0-9.e]+)"),
        ("Lattice", 1, r'Lattice="([-0-9. e]+)"'),
        ("species of site 0", 2, r"^(Si) "),
        ("x of site 0", 2, r"^Si ([-0-9.e]+)"),
    ]
    for name, line, pattern in edits:
        for token in TEXT_TOKENS:

            def build(folder: Path, line: int = line, pattern: str = pattern, token: str = token) -> Path:
                path = base.write(folder)
                frames = _extxyz_frames(path.read_text())
                match = re.search(pattern, frames[f][line])
                assert match is not None, pattern
                text = frames[f][line]
                frames[f][line] = text[: match.start(1)] + token + text[match.end(1) :]
                path.write_text("".join(line + "\n" for frame in frames for line in frame))
                return path

            yield Variant(FAMILY_VALUE, base.fmt, key, f"{key}: frame {f} {name} = {token!r}", build, damaged)


VALUE_VARIANTS: dict[str, Callable[[str, Base, Path, random.Random], Iterator[Variant]]] = {
    "si-tasks": mp_task_variants,
    "as2so6-tasks": mp_task_variants,
    "mptrj": mptrj_variants,
    "matpes": matpes_variants,
    "mlearn": mlearn_variants,
    "vasprun": vasp_variants,
    "outcar": outcar_variants,
    "extxyz": extxyz_variants,
}


# ---------------------------------------------------------------- bytes and file system


def byte_variants(key: str, base: Base, rng: random.Random, count: int) -> Iterator[Variant]:
    """``count`` seeded damages of the file's bytes: flips of 1-8 bytes, truncations."""
    for n in range(count):
        seed = rng.randrange(1 << 30)
        truncate = n % 3 == 2

        def build(folder: Path, seed: int = seed, truncate: bool = truncate) -> Path:
            path = base.write(folder)
            data = bytearray(path.read_bytes())
            r = random.Random(seed)
            if truncate:
                del data[r.randrange(1, len(data)) :]
            else:
                for _ in range(r.randint(1, 8)):
                    data[r.randrange(len(data))] ^= 1 << r.randrange(8)
            path.write_bytes(bytes(data))
            return path

        what = "truncated" if truncate else "byte flips"
        yield Variant(FAMILY_BYTES, base.fmt, key, f"{key}: {what} (seed {seed})", build, None, False)


def fs_variants(all_bases: dict[str, Base]) -> Iterator[Variant]:
    """Empty files, directories, dangling and looping links and a FIFO where a file belongs."""
    for key, base in all_bases.items():
        name = base.write.__name__

        def empty(folder: Path, base: Base = base) -> Path:
            path = base.write(folder)
            path.write_bytes(b"")
            return path

        def empty_gz(folder: Path, base: Base = base) -> Path:
            path = base.write(folder)
            path.write_bytes(gzip.compress(b"", mtime=0))
            return path

        def directory(folder: Path, base: Base = base) -> Path:
            path = base.write(folder)
            path.unlink()
            path.mkdir()
            return path

        def dangling(folder: Path, base: Base = base) -> Path:
            path = base.write(folder)
            path.unlink()
            path.symlink_to(folder / "nowhere")
            return path

        def fifo(folder: Path, base: Base = base) -> Path:
            path = base.write(folder)
            path.unlink()
            os.mkfifo(path)
            return path

        del name
        for what, build in (
            ("empty file", empty),
            ("empty gzip", empty_gz),
            ("directory", directory),
            ("dangling link", dangling),
            ("FIFO", fifo),
        ):
            yield Variant(FAMILY_FS, base.fmt, None, f"{key}: {what} in place of the file", build, None, False)


def all_variants(shared: Path, *, seed: int = 16, byte_damages: int = 12) -> list[Variant]:
    """Every variant, in a fixed order for a seed."""
    rng = random.Random(seed)
    found = bases(shared)
    variants: list[Variant] = []
    for key, make in VALUE_VARIANTS.items():
        variants.extend(make(key, found[key], shared, rng))
    for key, base in found.items():
        variants.extend(byte_variants(key, base, rng, byte_damages))
    variants.extend(fs_variants(found))
    return variants


# ---------------------------------------------------------------- running and judging


def _child(fmt: str, path: str, out: str, report: str) -> None:
    from click.testing import CliRunner

    from curate.cli import main

    result = CliRunner().invoke(main, ["import", fmt, path, "--out", out])
    exception = result.exception
    crashed = exception is not None and not isinstance(exception, SystemExit)
    Path(report).write_text(
        json.dumps(
            {
                "exit_code": result.exit_code,
                "output": result.output[-4000:],
                "crashed": crashed,
                "error": repr(exception),
            }
        )
    )


def run_import(fmt: str, path: Path, out: Path, *, timeout_s: float) -> dict[str, Any] | None:
    """Import ``path`` in a forked child; its report, or None when it was killed after ``timeout_s`` (a hang)."""
    report = out.parent / "report.json"
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_child, args=(fmt, str(path), str(out), str(report)))
    child.start()
    child.join(timeout_s)
    if child.is_alive():
        child.kill()
        child.join()
        return None
    if not report.is_file():
        return {"exit_code": child.exitcode, "output": "", "crashed": True, "error": f"child died ({child.exitcode})"}
    return json.loads(report.read_text())


def _rows(out: Path) -> tuple[dict[str, str], list[dict[str, Any]], list[dict[str, Any]]]:
    """(id by record label, quarantine entries, sources) of the dataset at ``out`` (empty when there is none)."""
    from curate.dataset.store import Dataset

    if not (out / "manifest.json").is_file() and not (out / "data").is_dir():
        return {}, [], []
    dataset = Dataset.open(out)
    table = dataset.read(columns=["id", "source_record"]) if dataset.num_rows else None
    ids = (
        {}
        if table is None
        else dict(zip(table.column("source_record").to_pylist(), table.column("id").to_pylist(), strict=True))
    )
    return ids, dataset.quarantine_records(), list(dataset.manifest.get("sources") or [])


def _matches(label: str, damaged: frozenset[str]) -> bool:
    return any(label == d or label.startswith(d + " ") for d in damaged)


def clean_reference(base: Base, work: Path, *, timeout_s: float) -> Clean:
    folder = work / "clean"
    folder.mkdir(parents=True)
    path = base.write(folder)
    run_import(base.fmt, path, folder / "d", timeout_s=timeout_s)
    ids, _, _ = _rows(folder / "d")
    return Clean(ids)


def judge(variant: Variant, clean: Clean | None, work: Path, *, timeout_s: float) -> Outcome:
    """Build ``variant`` in ``work``, import it and judge the import against ``clean``."""
    outcome = Outcome(variant)
    folder = work / "input"
    folder.mkdir(parents=True)
    path = variant.build(folder)
    started = time.perf_counter()
    result = run_import(variant.fmt, path, work / "d", timeout_s=timeout_s)
    outcome.seconds = time.perf_counter() - started
    if result is None:
        outcome.hang = True
        return outcome
    output = result["output"]
    outcome.traceback = bool(result["crashed"]) or "Traceback" in output or result["exit_code"] not in (0, 1)
    if outcome.traceback:
        outcome.detail = result["error"] + " " + output[-300:]
    ids, quarantine, sources = _rows(work / "d")
    errors = [line for line in output.splitlines() if line.startswith("curate: error:")]
    outcome.unnamed += sum(1 for line in errors if str(path) not in line)
    for entry in quarantine:
        # a bad value must be named down to its field; damaged bytes and missing files name the file (and the
        # record where the reader knows it)
        named = entry.get("file") and (variant.family != FAMILY_VALUE or (entry.get("record") and entry.get("field")))
        if not named:
            outcome.unnamed += 1
            outcome.detail += f" unnamed: {entry}"
    if clean is None:
        return outcome
    present = set(ids.values())
    if variant.damaged is not None:
        lost = [r for r, i in clean.ids_by_record.items() if not _matches(r, variant.damaged) and i not in present]
        outcome.good_lost = len(lost)
        if lost:
            outcome.detail += f" lost e.g. {lost[:2]} {output[-200:]}"
        if variant.must_reject:
            clean_ids = set(clean.ids_by_record.values())
            admitted = [r for r, i in ids.items() if _matches(r, variant.damaged) and i not in clean_ids]
            outcome.bad_admitted = len(admitted)
            if admitted:
                outcome.detail += f" admitted {admitted[:2]}"
    else:
        complete = all(s.get("complete") for s in sources) and not errors
        # a row counts as missing when neither its id nor its record label came back: a flipped digit inside a
        # number changes a row's id, a flipped letter in its label changes the label, and neither loses the row
        missing = sum(1 for label, i in clean.ids_by_record.items() if label not in ids and i not in present)
        if complete and missing > len(quarantine):
            outcome.good_lost = missing - len(quarantine)
            outcome.detail += f" {missing} rows missing, file recorded complete"
    return outcome


def run_suite(variants: list[Variant], shared: Path, *, timeout_s: float = TIMEOUT_S) -> list[Outcome]:
    """Judge every variant (clean references imported once per base)."""
    all_bases = bases(shared)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="curate-damage-") as root:
        cleans: dict[str, Clean] = {}
        for key in sorted({v.base for v in variants if v.base is not None}):
            cleans[key] = clean_reference(all_bases[key], Path(root) / f"clean-{key}", timeout_s=timeout_s)
        for n, variant in enumerate(variants):
            work = Path(root) / f"v{n}"
            work.mkdir()
            clean = cleans.get(variant.base) if variant.base is not None else None
            outcomes.append(judge(variant, clean, work, timeout_s=timeout_s))
            shutil.rmtree(work, ignore_errors=True)
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    """The issue's table: one row per family (one bad value split by format)."""

    def row_key(o: Outcome) -> str:
        return f"{o.variant.family}: {o.variant.base}" if o.variant.family == FAMILY_VALUE else o.variant.family

    lines = [
        "| damage | tried | tracebacks | hangs | good lost | bad admitted | unnamed messages |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(row_key(o), []).append(o)
    for name, group in [*groups.items(), ("all", outcomes)]:
        lines.append(
            f"| {name} | {len(group)} | {sum(o.traceback for o in group)} | {sum(o.hang for o in group)} | "
            f"{sum(o.good_lost for o in group)} | {sum(o.bad_admitted for o in group)} | "
            f"{sum(o.unnamed for o in group)} |"
        )
    return "\n".join(lines)


def describe(o: Outcome) -> str:
    """One line: the counts of one outcome and what was seen."""
    counts = f"tb={o.traceback} hang={o.hang} lost={o.good_lost} admitted={o.bad_admitted} unnamed={o.unnamed}"
    return f"{counts} {o.detail[:600]}"


def failures(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.traceback or o.hang or o.good_lost or o.bad_admitted or o.unnamed]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--sample", type=int, default=None, help="a seeded sample of this many variants")
    parser.add_argument("--match", default=None, help="only the variants whose name matches this regular expression")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds before an import counts as a hang")
    args = parser.parse_args(argv)
    variants = all_variants(SHARED_DATA, seed=args.seed)
    if args.match is not None:
        variants = [v for v in variants if re.search(args.match, v.name)]
    if args.sample is not None:
        variants = random.Random(args.seed).sample(variants, min(args.sample, len(variants)))
    started = time.perf_counter()
    outcomes = run_suite(variants, SHARED_DATA, timeout_s=args.timeout)
    print(table(outcomes))
    print(
        f"\n{len(outcomes)} variants in {time.perf_counter() - started:.0f} s "
        f"(seed {args.seed}, timeout {args.timeout:g} s)"
    )
    for o in failures(outcomes):
        print(f"FAIL {o.variant.name}: {describe(o)}", file=sys.stderr)
    return 1 if failures(outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
