"""What ``curate sample`` writes: the picks as a dataset and as POSCAR/CIF files, the pool, every score."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate.dataset.store import Dataset
from sampling.selection import CandidatePool, Pick

SAMPLE_SUMMARY = "sample.json"
_OUTPUTS = ("picks", "pool", "structures", "scores.parquet", SAMPLE_SUMMARY)


def check_output_folder(out: Path) -> None:
    """DatasetError unless ``out`` is absent, empty, or an earlier ``curate sample`` output (checked before work)."""
    from curate.errors import DatasetError

    if out.exists() and any(out.iterdir()) and not (out / SAMPLE_SUMMARY).is_file():
        raise DatasetError(f"{out}: exists, is not empty and holds no earlier `curate sample` output")


def prepare_folder(out: Path) -> None:
    """Make ``out`` an empty folder, removing an earlier sample's outputs; DatasetError for a foreign folder."""
    import shutil

    check_output_folder(out)
    if out.exists():
        for name in _OUTPUTS:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def write_dataset(path: Path, rows: pa.Table, *, history: dict[str, Any]) -> Dataset:
    """Write candidate rows as a curate dataset at ``path``, batch by batch (appending; ids dedupe)."""
    dataset = Dataset.create(path)
    with dataset.writer() as writer:
        for batch in rows.to_batches():
            if batch.num_rows:
                writer.append(batch)
        writer.flush()
        dataset.record_history(history)
    return dataset


def scores_table(pool: CandidatePool, picks: Sequence[Pick], *, strategy: str) -> pa.Table:
    """One row per candidate: id, formula, every score, pick rank (null if not picked) and the reason."""
    by_index = {p.index: p for p in picks}
    columns: dict[str, Any] = {"id": list(pool.ids), "formula": list(pool.formulas)}
    for name, values in pool.scores.items():
        columns[name] = [float(v) for v in values]
    columns["pick_rank"] = pa.array(
        [by_index[i].rank if i in by_index else None for i in range(len(pool))], type=pa.int32()
    )
    columns["reason"] = [by_index[i].reason if i in by_index else None for i in range(len(pool))]
    columns["strategy"] = [strategy] * len(pool)
    return pa.table(columns)


def write_structures(folder: Path, rows: pa.Table, picks: Sequence[Pick]) -> list[Path]:
    """POSCAR and CIF of every pick, named ``<rank>-<formula>-<id prefix>``; returns the POSCAR paths."""
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.cif import CifWriter
    from pymatgen.io.vasp import Poscar

    folder.mkdir(parents=True, exist_ok=True)
    columns = ["species_at_sites", "lattice_vectors", "cartesian_site_positions"]
    picked = rows.select(columns).take(pa.array([p.index for p in picks], type=pa.int64())).to_pylist()
    written = []
    for pick, row in zip(picks, picked, strict=True):
        structure = Structure(
            Lattice(row["lattice_vectors"]),
            row["species_at_sites"],
            row["cartesian_site_positions"],
            coords_are_cartesian=True,
        )
        stem = f"{pick.rank:02d}-{structure.composition.reduced_formula}-{pick.candidate_id[:12]}"
        Poscar(structure, comment=f"curate pick {pick.rank} id {pick.candidate_id}").write_file(folder / f"{stem}.vasp")
        CifWriter(structure).write_file(folder / f"{stem}.cif")
        written.append(folder / f"{stem}.vasp")
    return written


def write_sample_output(
    out: Path,
    *,
    candidates: pa.Table,
    pool: CandidatePool,
    picks: Sequence[Pick],
    strategy: str,
    settings: dict[str, Any],
) -> dict[str, Path]:
    """Write ``out/picks`` (dataset), ``out/pool`` (dataset), ``out/scores.parquet``, ``out/structures``, and
    ``out/sample.json`` (settings, models, picks with reasons) from the candidate rows. Returns the paths by name.

    A folder from an earlier ``curate sample`` (it holds ``sample.json``) is replaced whole, so picks of two runs
    never mix; any other non-empty folder is refused.
    """
    prepare_folder(out)
    history = {"command": "sample", **settings}
    write_dataset(out / "pool", candidates, history=history)
    picked = candidates.take(pa.array([p.index for p in picks], type=pa.int64()))
    write_dataset(out / "picks", picked, history=history)
    pq.write_table(scores_table(pool, picks, strategy=strategy), out / "scores.parquet")
    write_structures(out / "structures", candidates, picks)
    summary = {
        "settings": settings,
        "picks": [
            {
                "rank": p.rank,
                "id": p.candidate_id,
                "formula": pool.formulas[p.index],
                "reason": p.reason,
                "scores": p.scores,
            }
            for p in picks
        ],
    }
    (out / SAMPLE_SUMMARY).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return {
        "picks": out / "picks",
        "pool": out / "pool",
        "scores": out / "scores.parquet",
        "structures": out / "structures",
        "summary": out / SAMPLE_SUMMARY,
    }


def _generator_label(generator: str | None, params: str | None) -> str:
    if not generator:
        return "-"
    return f"{generator} {params}" if params else generator


# the pick table's score columns: header, width, and the value as printed (in the order they appear)
_SCORE_COLUMNS: dict[str, tuple[str, Callable[[float], str]]] = {
    "force_information": (f"{'F_info':>9}", lambda v: f"{v:>9.4g}"),
    "force_std_max": (f"{'F_std_max':>9}", lambda v: f"{v:>9.4f}"),
    "force_std_mean": (f"{'F_std_mean':>10}", lambda v: f"{v:>10.4f}"),
    "energy_std_per_atom": (f"{'E_std':>9}", lambda v: f"{v * 1000:>6.2f} meV"),
    "novelty": (f"{'novelty':>7}", lambda v: f"{v:>7.4f}"),
}
_SCORE_UNITS = {
    "force_information": "F_info = 0.1 u^2 + 100 <f^2> + 0.1 <sigma^2> of the corrected model's predictions "
    "(u eV/atom, f eV/A, sigma GPa)",
    "force_std_max": "force spreads in eV/A",
    "energy_std_per_atom": "energy spread in meV/atom",
    "novelty": "novelty a SOAP distance (0-2)",
}


def picks_table(rows: pa.Table, pool: CandidatePool, picks: Sequence[Pick]) -> str:
    """One line per pick under a header: rank, id, formula, generator, the model scores and the reason.

    Columns for the scores the pool has: force information (loss units), force spreads in eV/A, the energy
    spread in meV/atom, novelty (SOAP distance).
    """
    columns = [name for name in _SCORE_COLUMNS if name in pool.scores]
    header = f"{'rank':>4}  {'id':<12}  {'formula':<8}  {'generator':<34}"
    header += "".join(f"  {_SCORE_COLUMNS[name][0]}" for name in columns) + "  why"
    generators = rows.column("generator").to_pylist()
    generator_params = rows.column("generator_params").to_pylist()
    lines = [header]
    for pick in picks:
        label = _generator_label(generators[pick.index], generator_params[pick.index])
        values = "".join(f"  {_SCORE_COLUMNS[name][1](pick.scores[name])}" for name in columns)
        lines.append(
            f"{pick.rank:>4}  {pick.candidate_id[:12]:<12}  {pool.formulas[pick.index]:<8}  "
            f"{label[:34]:<34}{values}  {pick.reason}"
        )
    return "\n".join(lines)


def units_note(pool: CandidatePool) -> str:
    """The units of the pick table's score columns, one clause per kind of score."""
    return "; ".join(note for name, note in _SCORE_UNITS.items() if name in pool.scores) or "scores as named"
