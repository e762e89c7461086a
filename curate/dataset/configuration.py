"""One atomic configuration as importers see it, and its conversion to Arrow record batches.

A :class:`Configuration` holds NumPy arrays in the schema's units (angstrom, eV, eV/angstrom, GPa with the
ASE sign). :func:`configurations_to_batch` turns many of them into one record batch of the row schema,
computing the derived columns (``id``, ``geometry_hash``, ``nsites``, ``elements``, formula) columnwise.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from math import gcd
from typing import Any

import numpy as np
import pyarrow as pa
from ase.data import atomic_numbers

from curate.dataset.schema import row_schema
from curate.errors import RecordRejected

HASH_DECIMALS = 6
KBAR_TO_GPA = 0.1


def stress_gpa_from_vasp_kbar(stress_kbar: Any) -> np.ndarray:
    """Convert a VASP stress tensor (kBar, VASP sign: positive = compressive) to GPa with the ASE sign.

    sigma_ASE [GPa] = -0.1 * sigma_VASP [kBar]; a 3x3 input gives a 3x3 output.
    """
    return -KBAR_TO_GPA * np.asarray(stress_kbar, dtype=np.float64)


def stress_vasp_kbar_from_gpa(stress_gpa: Any) -> np.ndarray:
    """Inverse of :func:`stress_gpa_from_vasp_kbar`: GPa (ASE sign) to kBar (VASP sign)."""
    return -np.asarray(stress_gpa, dtype=np.float64) / KBAR_TO_GPA


def voigt6_to_matrix(voigt: Sequence[float] | np.ndarray) -> np.ndarray:
    """Symmetric 3x3 matrix from Voigt order (xx, yy, zz, yz, xz, xy)."""
    xx, yy, zz, yz, xz, xy = (float(v) for v in voigt)
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]], dtype=np.float64)


@dataclass(frozen=True)
class Rejected:
    """A record that could not become a configuration (bad input or a failed quality check), with the reason.

    Attributes:
        record: where it came from (file record path, frame id, or generator step).
        field: the offending field, None for the record as a whole.
        reason: what was expected and what was found.
    """

    record: str
    field: str | None
    reason: str


@dataclass(slots=True)
class Configuration:
    """A structure with optional labels, in schema units.

    Attributes:
        species: chemical symbol per site, length n.
        lattice: cell vectors as rows, shape (3, 3), angstrom.
        positions: Cartesian positions, shape (n, 3), angstrom.
        pbc: periodicity flags per lattice vector.
        energy: uncorrected total energy, eV.
        forces: shape (n, 3), eV/angstrom.
        stress: shape (3, 3), GPa, ASE sign (positive = tensile).
        magmoms: shape (n,), Bohr magnetons.
        hubbard_u: element -> U_eff in eV, only non-zero values.
    """

    species: list[str]
    lattice: np.ndarray
    positions: np.ndarray
    pbc: tuple[int, int, int] = (1, 1, 1)
    energy: float | None = None
    energy_field: str | None = None
    energy_corrected: float | None = None
    scf_converged: bool | None = None
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    magmoms: np.ndarray | None = None
    functional: str | None = None
    hubbard_u: dict[str, float] | None = None
    source: str = "unknown"
    source_file: str | None = None
    source_record: str | None = None
    material_id: str | None = None
    task_id: str | None = None
    calc_index: int | None = None
    ionic_step: int | None = None
    parent_id: str | None = None
    generator: str | None = None
    generator_params: str | None = None
    seed: int | None = None
    pair_id: str | None = None
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def nsites(self) -> int:
        return len(self.species)


_SCALAR_META = (
    "source",
    "source_file",
    "source_record",
    "material_id",
    "task_id",
    "calc_index",
    "ionic_step",
    "functional",
    "energy_field",
    "scf_converged",
    "parent_id",
    "generator",
    "generator_params",
    "seed",
    "pair_id",
    "split",
)


def canonical_json(params: Mapping[str, Any]) -> str:
    """Canonical JSON (sorted keys, no spaces) for generator parameters."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=float)


def check_configuration(cfg: Configuration) -> None:
    """Raise :class:`RecordRejected` (field named) if shapes, elements or values are unusable.

    Checks: known elements, lattice (3, 3), positions/forces (n, 3), stress (3, 3), magmoms (n,), all finite.
    The caller fills in file and record.
    """
    n = len(cfg.species)
    if n == 0:
        raise RecordRejected("structure has no sites", field="species_at_sites")
    unknown = sorted({s for s in cfg.species if s not in atomic_numbers or s == "X"})
    if unknown:
        raise RecordRejected(f"unknown element(s) {unknown}", field="species_at_sites")
    _check_array(cfg.lattice, (3, 3), "lattice_vectors")
    _check_array(cfg.positions, (n, 3), "cartesian_site_positions")
    if cfg.forces is not None:
        _check_array(cfg.forces, (n, 3), "forces")
    if cfg.stress is not None:
        _check_array(cfg.stress, (3, 3), "stress")
    if cfg.magmoms is not None:
        _check_array(cfg.magmoms, (n,), "magmoms")
    for name in ("energy", "energy_corrected"):
        value = getattr(cfg, name)
        if value is not None and not math.isfinite(value):
            raise RecordRejected(f"value is {value}, expected a finite number in eV", field=name)
    if any(cfg.pbc) and abs(_triple_product(cfg.lattice.tolist())) < 1e-6:
        raise RecordRejected("periodic cell has zero volume", field="lattice_vectors")


def _triple_product(m: list[list[float]]) -> float:
    """a . (b x c) of the rows of a 3x3 matrix (the cell volume, signed); plain floats beat np.linalg.det here."""
    (a0, a1, a2), (b0, b1, b2), (c0, c1, c2) = m
    return a0 * (b1 * c2 - b2 * c1) - a1 * (b0 * c2 - b2 * c0) + a2 * (b0 * c1 - b1 * c0)


def _check_array(array: np.ndarray, shape: tuple[int, ...], name: str) -> None:
    if array.shape != shape:
        raise RecordRejected(f"expected shape {shape}, found {array.shape}", field=name)
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise RecordRejected(f"{bad} non-finite value(s) (NaN or inf)", field=name)


def reduced_formula(species: Sequence[str]) -> str:
    """OPTIMADE ``chemical_formula_reduced``: elements alphabetical, counts divided by their gcd, 1 omitted."""
    counts: dict[str, int] = {}
    for s in species:
        counts[s] = counts.get(s, 0) + 1
    divisor = 0
    for c in counts.values():
        divisor = gcd(divisor, c)
    return "".join(f"{el}{'' if c // divisor == 1 else c // divisor}" for el, c in sorted(counts.items()))


def _snap(array: np.ndarray) -> np.ndarray:
    """Round to HASH_DECIMALS after first snapping to 1e-12.

    The first rounding washes out the last-bit noise of unit conversions (kBar -> eV/A^3 -> GPa), so a value
    lying on a 1e-6 rounding boundary does not fall on different sides of it after a round trip.
    """
    return np.round(np.round(array, 12), HASH_DECIMALS)


def _snapped_bytes_per_row(arrays: Sequence[np.ndarray | None]) -> list[bytes]:
    """Hash bytes of each row's array, snapped in one vectorised pass over the whole batch (b"-" for None)."""
    present = [a.reshape(-1) for a in arrays if a is not None]
    if not present:
        return [b"-"] * len(arrays)
    # + 0.0 turns -0.0 into 0.0 so that the sign of a zero never changes an id
    flat = _snap(np.concatenate(present).astype(np.float64, copy=False)) + 0.0
    out: list[bytes] = []
    start = 0
    for array in arrays:
        if array is None:
            out.append(b"-")
            continue
        end = start + array.size
        out.append(flat[start:end].tobytes())
        start = end
    return out


def row_hashes(configurations: Sequence[Configuration]) -> tuple[list[str], list[str]]:
    """(ids, geometry hashes) of many configurations; see the schema's conventions.id and .geometry_hash.

    geometry_hash = sha256(species, lattice, positions, pbc); id = sha256(geometry_hash, functional, energy,
    forces, stress), every float snapped to 1e-12 and rounded to 1e-6 in stored units.
    """
    lattices = _snapped_bytes_per_row([c.lattice for c in configurations])
    positions = _snapped_bytes_per_row([c.positions for c in configurations])
    forces = _snapped_bytes_per_row([c.forces for c in configurations])
    stresses = _snapped_bytes_per_row([c.stress for c in configurations])
    energies = _snap(np.array([np.nan if c.energy is None else c.energy for c in configurations], dtype=np.float64))
    ids, geometries = [], []
    for k, cfg in enumerate(configurations):
        h = hashlib.sha256(" ".join(cfg.species).encode())
        h.update(lattices[k])
        h.update(positions[k])
        h.update(bytes(cfg.pbc))
        geometry = h.hexdigest()
        h = hashlib.sha256(geometry.encode())
        h.update((cfg.functional or "-").encode())
        h.update(b"-" if cfg.energy is None else f"{energies[k] + 0.0:.{HASH_DECIMALS}f}".encode())
        h.update(forces[k])
        h.update(stresses[k])
        ids.append(h.hexdigest())
        geometries.append(geometry)
    return ids, geometries


def geometry_hash(cfg: Configuration) -> str:
    """sha256 of species, lattice, positions (rounded to 1e-6 angstrom) and pbc."""
    return row_hashes([cfg])[1][0]


def _nested_fixed(arrays: list[np.ndarray | None], width: int) -> pa.Array:
    """list<fixed_size_list<float64, width>> from per-row (k, width) arrays (None -> null)."""
    lengths = np.array([0 if a is None else len(a) for a in arrays], dtype=np.int32)
    offsets = np.zeros(len(arrays) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    present = [a.reshape(-1) for a in arrays if a is not None]
    flat = np.concatenate(present) if present else np.zeros(0)
    inner = pa.FixedSizeListArray.from_arrays(pa.array(flat, type=pa.float64()), width)
    mask = pa.array([a is None for a in arrays])
    return pa.ListArray.from_arrays(pa.array(offsets), inner, mask=mask)


def _matrix3(arrays: list[np.ndarray | None]) -> pa.Array:
    """fixed_size_list<fixed_size_list<float64, 3>, 3> from per-row (3, 3) arrays (None -> null)."""
    flat = np.concatenate([np.zeros(9) if a is None else a.reshape(9) for a in arrays]) if arrays else np.zeros(0)
    inner = pa.FixedSizeListArray.from_arrays(pa.array(flat, type=pa.float64()), 3)
    mask = pa.array([a is None for a in arrays])
    return pa.FixedSizeListArray.from_arrays(inner, 3, mask=mask)


def configurations_to_batch(configurations: Sequence[Configuration]) -> pa.RecordBatch:
    """Build one record batch of the row schema from checked configurations.

    Derived columns (id, geometry_hash, nsites, elements, chemical_formula_reduced) are computed here so that
    no importer can get them wrong.
    """
    schema = row_schema().arrow
    ids, geometry = row_hashes(configurations)
    columns: dict[str, pa.Array | list[Any]] = {
        "id": ids,
        "geometry_hash": geometry,
        "hubbard_u": [
            None if not c.hubbard_u else [{"element": el, "u_ev": float(u)} for el, u in sorted(c.hubbard_u.items())]
            for c in configurations
        ],
        "nsites": [c.nsites for c in configurations],
        "species_at_sites": [c.species for c in configurations],
        "elements": [sorted(set(c.species)) for c in configurations],
        "chemical_formula_reduced": [reduced_formula(c.species) for c in configurations],
        "lattice_vectors": _matrix3([c.lattice for c in configurations]),
        "cartesian_site_positions": _nested_fixed([c.positions for c in configurations], 3),
        "dimension_types": [list(c.pbc) for c in configurations],
        "energy": [c.energy for c in configurations],
        "energy_corrected": [c.energy_corrected for c in configurations],
        "forces": _nested_fixed([c.forces for c in configurations], 3),
        "stress": _matrix3([c.stress for c in configurations]),
        "magmoms": [None if c.magmoms is None else c.magmoms.tolist() for c in configurations],
    }
    for name in _SCALAR_META:
        columns[name] = [getattr(c, name) for c in configurations]
    arrays = []
    for f in schema:
        column = columns[f.name]
        arrays.append(column if isinstance(column, pa.Array) else pa.array(column, type=f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def batch_to_configurations(batch: pa.RecordBatch | pa.Table) -> list[Configuration]:
    """Inverse of :func:`configurations_to_batch` (derived columns are dropped, they are recomputed)."""
    rows = batch.to_pylist()
    known = {f.name for f in fields(Configuration)}
    out = []
    for row in rows:
        n = row["nsites"]
        hubbard = row.get("hubbard_u")
        cfg = Configuration(
            species=list(row["species_at_sites"]),
            lattice=np.asarray(row["lattice_vectors"], dtype=np.float64),
            positions=np.asarray(row["cartesian_site_positions"], dtype=np.float64).reshape(n, 3),
            pbc=tuple(int(p) for p in row["dimension_types"]),  # type: ignore[arg-type]
            energy=row["energy"],
            energy_corrected=row["energy_corrected"],
            forces=None if row["forces"] is None else np.asarray(row["forces"], dtype=np.float64).reshape(n, 3),
            stress=None if row["stress"] is None else np.asarray(row["stress"], dtype=np.float64),
            magmoms=None if row["magmoms"] is None else np.asarray(row["magmoms"], dtype=np.float64),
            hubbard_u=None if not hubbard else {h["element"]: h["u_ev"] for h in hubbard},
        )
        for name in _SCALAR_META:
            if name in known:
                setattr(cfg, name, row.get(name))
        out.append(cfg)
    return out


def iter_batches_of(configurations: Iterable[Configuration], batch_rows: int) -> Iterable[pa.RecordBatch]:
    """Group configurations into record batches of at most ``batch_rows`` rows."""
    pending: list[Configuration] = []
    for cfg in configurations:
        pending.append(cfg)
        if len(pending) >= batch_rows:
            yield configurations_to_batch(pending)
            pending = []
    if pending:
        yield configurations_to_batch(pending)
