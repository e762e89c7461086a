"""Files ASE reads (extxyz, xyz, traj, db, aselmdb, ...): one configuration per frame, streamed.

Labels come from ``REF_``-prefixed keys first (``info["REF_energy"]`` eV, ``arrays["REF_forces"]`` eV/A,
``info["REF_stress"]`` eV/A^3 with the ASE sign as 3x3, 9 or Voigt 6 (xx, yy, zz, yz, xz, xy),
``arrays["REF_magmoms"]`` Bohr magnetons), then from a SinglePointCalculator's results (``energy``,
``forces``, ``stress``, ``magmoms``). MLIP data sets use ``REF_`` because ASE silently turns columns named
``energy``/``forces``/``stress`` into a calculator, where model predictions also live.

Curate's own metadata keys in ``atoms.info`` are read back (functional, material_id, task_id, calc_index,
ionic_step, energy_field, energy_corrected or REF_energy_corrected, parent_id, generator, generator_params,
seed, pair_id, split, hubbard_u as ``"Co=3.32,Fe=5.3"``, source_record). The functional is
``info["functional"]``, else ``--functional``; a labelled frame with neither is refused, never guessed.

extxyz files are cut into frames here (count line, comment line, one line per atom) and each frame is
parsed by ASE: ASE's own iterator scans every header first, so its errors cannot name the frame.

ASE databases (``.db`` SQLite, ``.json``, and ``.aselmdb``, the LMDB layout of fairchem's OMat24/OMol25/OMC25
read through the ``ase-db-backends`` package) are read row by row: a row's calculator results are its labels
(energy eV, forces eV/A, stress eV/A^3 as ASE Voigt 6 with the ASE sign, as fairchem writes them), and its
``key_value_pairs``, then its ``data``, are merged into ``atoms.info`` (fairchem's AseDBDataset merges ``data``),
so the metadata keys above are read from either. An ``.aselmdb`` is opened read-only without a lock file (as
fairchem does), so files on read-only storage import; a row that cannot be decoded is quarantined by its row id.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np

from curate.dataset.configuration import Configuration, Rejected, canonical_json, voigt6_to_matrix
from curate.dataset.store import is_valid_id
from curate.errors import InputError, RecordRejected
from curate.sources.base import ImportOptions, optional_array
from curate.sources.validate import element, optional_float, record_id
from curate.sources.vasp_inputs import known_functional

ASELMDB = "aselmdb"
_DATABASE_FORMATS = ("db", "json", ASELMDB)
_TEXT_META = ("material_id", "task_id", "parent_id", "generator", "pair_id", "split")
_FREE_TEXT = ("generator", "split")
_INT_META = ("calc_index", "ionic_step", "seed")
# what ASE raises on a frame it cannot parse (XYZError is an OSError)
_FRAME_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    OSError,
    EOFError,
    zlib.error,
    UnicodeDecodeError,
)


def stress_gpa_from_ase(value: Any, field: str) -> np.ndarray | None:
    """ASE stress (eV/A^3, ASE sign: positive = tensile) as a 3x3 tensor in GPa.

    Accepts shape (3, 3), (9,) or Voigt (6,) in the order xx, yy, zz, yz, xz, xy; sigma[GPa] =
    sigma[eV/A^3] / ase.units.GPa. None for a missing value.
    """
    from ase.units import GPa

    array = optional_array(value, field)
    if array is None:
        return None
    if array.shape == (6,):
        matrix = voigt6_to_matrix(array)
    elif array.shape in ((3, 3), (9,)):
        matrix = array.reshape(3, 3)
    else:
        raise RecordRejected(f"expected a 3x3 tensor, 9 or 6 Voigt components, found shape {array.shape}", field=field)
    return matrix / GPa


def parse_hubbard_u(text: str) -> dict[str, float] | None:
    """``"Co=3.32,Fe=5.3"`` -> {"Co": 3.32, "Fe": 5.3} (U_eff in eV); None for an empty string."""
    result: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in str(text).split(","))):
        element, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError(item)
            result[element.strip()] = float(value)
        except ValueError as exc:
            raise RecordRejected(f"expected 'El=U,El=U' in eV, found {text!r}", field="hubbard_u") from exc
    return result or None


def _first(mapping: Mapping[str, Any], *keys: str) -> Any:
    """Value of the first key present with a non-None value."""
    for key in keys:
        value = mapping.get(key)
        if value is not None:
            return value
    return None


def frame_configuration(atoms: Any, *, display_name: str, index: int, options: ImportOptions) -> Configuration:
    """One ASE Atoms frame as a configuration in schema units.

    Raises:
        RecordRejected: a label or metadata value is malformed (field named).
        InputError: the frame carries DFT labels but neither the file nor the options give the functional.
    """
    info: Mapping[str, Any] = atoms.info
    arrays: Mapping[str, Any] = atoms.arrays
    results: Mapping[str, Any] = atoms.calc.results if atoms.calc is not None else {}

    ref_energy = info.get("REF_energy")
    energy = ref_energy if ref_energy is not None else results.get("energy")
    forces = optional_array(arrays["REF_forces"] if "REF_forces" in arrays else results.get("forces"), "forces")
    stress = stress_gpa_from_ase(info["REF_stress"] if "REF_stress" in info else results.get("stress"), "stress")
    magmoms = optional_array(arrays["REF_magmoms"] if "REF_magmoms" in arrays else results.get("magmoms"), "magmoms")

    functional = info.get("functional") or options.functional
    if functional is not None:
        functional = known_functional(functional)
    if functional is None and (energy is not None or forces is not None):
        raise InputError(
            "frames carry DFT labels but the file does not record the functional: give the functional import "
            "option, e.g. PBE (or r2SCAN, ...)",
            file=display_name,
            record=f"frame {index}",
            field="functional",
        )
    energy_field = info.get("energy_field")
    if energy_field is None and energy is not None:
        energy_field = "REF_energy" if ref_energy is not None else "energy"
    corrected = _first(info, "REF_energy_corrected", "energy_corrected")
    generator_params = info.get("generator_params")
    if isinstance(generator_params, Mapping):
        generator_params = canonical_json(generator_params)
    record = f"frame {index}"
    if info.get("source_record") is not None:
        record = f"{record} ({info['source_record']})"

    cfg = Configuration(
        species=[element(s, f"species[{k}]") for k, s in enumerate(atoms.get_chemical_symbols())],
        lattice=np.array(atoms.cell.array, dtype=np.float64),
        positions=np.array(atoms.positions, dtype=np.float64),
        pbc=(int(atoms.pbc[0]), int(atoms.pbc[1]), int(atoms.pbc[2])),
        energy=optional_float(energy, "energy", unit="eV"),
        energy_field=None if energy_field is None else str(energy_field),
        energy_corrected=optional_float(corrected, "energy_corrected", unit="eV"),
        forces=forces,
        stress=stress,
        magmoms=magmoms,
        functional=None if functional is None else str(functional),
        hubbard_u=None if info.get("hubbard_u") is None else parse_hubbard_u(info["hubbard_u"]),
        source="ase",
        source_file=display_name,
        source_record=record,
        generator_params=None if generator_params is None else str(generator_params),
    )
    for name in _TEXT_META:
        if info.get(name) is not None:
            setattr(cfg, name, str(info[name]) if name in _FREE_TEXT else record_id(info[name], name))
    if cfg.parent_id is not None and not is_valid_id(cfg.parent_id):
        raise RecordRejected(
            f"expected a row id (64 hexadecimal digits), found {cfg.parent_id[:70]!r}", field="parent_id"
        )
    for name in _INT_META:
        if info.get(name) is not None:
            setattr(cfg, name, _int(info[name], name))
    if info.get("scf_converged") is not None:
        cfg.scf_converged = _bool(info["scf_converged"], "scf_converged")
    return cfg


def _unparsed_field(frame: str, exc: BaseException) -> str:
    """Where in an extxyz frame the value ASE quotes in its error sits: a comment-line key, or ``site N``."""
    quoted = re.search(r"'([^']*)'", str(exc))
    token = quoted.group(1) if quoted else ""
    lines = frame.splitlines()
    for k, line in enumerate(lines[2:]):
        if token and token in line.split():
            return f"site {k}"
    comment = lines[1] if len(lines) > 1 else ""
    key = (
        re.search(r"(\w+)=(\"[^\"]*" + re.escape(token) + r"|\S*" + re.escape(token) + ")", comment) if token else None
    )
    return key.group(1) if key else "comment line"


def _bool(value: Any, field: str) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, str) and value.strip().upper() in {"T", "TRUE", "F", "FALSE"}:
        return value.strip().upper().startswith("T")
    raise RecordRejected(f"expected a boolean, found {value!r}", field=field)


def _int(value: Any, field: str) -> int:
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return int(value)  # not through float: a 64-bit seed would lose its low bits
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    raise RecordRejected(f"expected an integer, found {value!r}", field=field)


def iter_extxyz_frames(fh: IO[str], *, display_name: str) -> Iterator[tuple[int, str]]:
    """(frame index, frame text) of an (ext)xyz stream: count line, comment line, one line per atom.

    Raises InputError naming the frame when a count line is not a number or the file ends inside a frame.
    """
    index = 0
    while True:
        line = _readline(fh, display_name, index)
        if not line:
            return
        if not line.strip():
            continue
        try:
            natoms = int(line.split()[0])
        except ValueError:
            raise InputError(
                f"expected the atom count line of a frame, found {line.strip()[:60]!r}",
                file=display_name,
                record=f"frame {index}",
            ) from None
        body: list[str] = []
        for _ in range(natoms + 1):
            next_line = _readline(fh, display_name, index)
            if not next_line:
                raise InputError(
                    f"file ends inside the frame: {max(len(body) - 1, 0)} of {natoms} atom lines present",
                    file=display_name,
                    record=f"frame {index}",
                )
            body.append(next_line)
        yield index, line + "".join(body)
        index += 1


def _readline(fh: IO[str], display_name: str, index: int) -> str:
    try:
        return fh.readline()
    except (EOFError, OSError, zlib.error, UnicodeDecodeError) as exc:
        raise InputError(
            f"compressed stream is damaged or truncated ({exc})", file=display_name, record=f"frame {index}"
        ) from exc


class AseImporter:
    """extxyz and anything ``ase.io`` reads, one configuration per frame."""

    name: ClassVar[str] = "ase"
    summary: ClassVar[str] = "extxyz and anything ase.io reads (REF_energy/REF_forces/REF_stress or calculator results)"

    def read(self, path: Path, *, display_name: str, options: ImportOptions) -> Iterator[Configuration | Rejected]:
        """Yield one item per frame; InputError for damage that loses the frame boundaries."""
        from ase.io.formats import UnknownFileTypeError, filetype, ioformats

        if path.suffix == f".{ASELMDB}":
            # ase.io's filetype() calls these "db" and would open them with the SQLite reader
            yield from self._read_database(path, ASELMDB, display_name=display_name, options=options)
            return
        try:
            # the name first: sniffing reads the file, and a damaged one would fail here, before any frame
            file_format = filetype(str(path), read=False)
            if file_format not in ioformats:
                file_format = filetype(str(path))
        except (UnknownFileTypeError, OSError, EOFError, zlib.error) as exc:
            raise InputError(f"ASE cannot tell the file format ({exc})", file=display_name) from exc
        if file_format not in ioformats:
            raise InputError(f"ASE has no reader for {file_format!r} files", file=display_name)
        if file_format == "extxyz":
            yield from self._read_extxyz(path, display_name=display_name, options=options)
        elif file_format in _DATABASE_FORMATS:
            yield from self._read_database(path, file_format, display_name=display_name, options=options)
        else:
            yield from self._read_any(path, file_format, display_name=display_name, options=options)

    def _read_extxyz(
        self, path: Path, *, display_name: str, options: ImportOptions
    ) -> Iterator[Configuration | Rejected]:
        import ase.io
        from ase.io.formats import open_with_compression

        with open_with_compression(str(path), "r") as fh:
            for index, text in iter_extxyz_frames(fh, display_name=display_name):
                try:
                    atoms = ase.io.read(io.StringIO(text), format="extxyz")
                except _FRAME_ERRORS as exc:
                    # the frame boundaries are intact, so only this frame is lost
                    reason = f"ASE cannot parse the frame ({type(exc).__name__}: {exc})"
                    yield Rejected(f"frame {index}", _unparsed_field(text, exc), reason)
                    continue
                yield from _frame_item(atoms, display_name=display_name, index=index, options=options)

    def _read_database(
        self, path: Path, file_format: str, *, display_name: str, options: ImportOptions
    ) -> Iterator[Configuration | Rejected]:
        """ASE databases: ``ase.io`` would drop each row's key-value pairs and data, where metadata lives."""
        import sqlite3

        import ase.db
        import lmdb

        database_errors: tuple[type[BaseException], ...] = (sqlite3.Error, lmdb.Error, *_FRAME_ERRORS)

        index = 0
        # read-only and without a lock file, as fairchem opens them: shared data sets sit on read-only storage
        connect_args = {"readonly": True} if file_format == ASELMDB else {}
        if file_format == ASELMDB:
            _check_lmdb(path, display_name)
        try:
            with ase.db.connect(str(path), type=file_format, **connect_args) as db:
                for index, row in enumerate(_database_rows(db)):
                    if isinstance(row, Rejected):
                        yield row
                        continue
                    atoms = row.toatoms()
                    atoms.info.update(row.key_value_pairs)
                    atoms.info.update(row.get("data") or {})
                    yield from _frame_item(atoms, display_name=display_name, index=index, options=options)
        except database_errors as exc:
            raise InputError(
                f"ASE ({file_format}) cannot read on ({type(exc).__name__}: {exc})",
                file=display_name,
                record=f"frame {index}",
            ) from exc

    def _read_any(
        self, path: Path, file_format: str, *, display_name: str, options: ImportOptions
    ) -> Iterator[Configuration | Rejected]:
        import ase.io

        frames = ase.io.iread(str(path), index=":", format=file_format)
        index = 0
        while True:
            try:
                atoms = next(frames)
            except StopIteration:
                return
            except _FRAME_ERRORS as exc:
                raise InputError(
                    f"ASE ({file_format}) cannot read on ({type(exc).__name__}: {exc})",
                    file=display_name,
                    record=f"frame {index}",
                ) from exc
            yield from _frame_item(atoms, display_name=display_name, index=index, options=options)
            index += 1


def _check_lmdb(path: Path, display_name: str) -> None:
    """InputError unless ``path`` opens as an LMDB file.

    Checked before ase-db-backends opens it: its LMDBDatabase retries opening in ``__del__`` after a failed
    ``__init__`` and Python prints that second failure as a traceback, where one line must do.
    """
    import lmdb

    try:
        lmdb.open(str(path), subdir=False, readonly=True, lock=False).close()
    except lmdb.Error as exc:
        raise InputError(f"ASE ({ASELMDB}) cannot open it ({type(exc).__name__}: {exc})", file=display_name) from exc


def _database_rows(db: Any) -> Iterator[Any]:
    """The rows of an ASE database in id order; in an LMDB one, a row that cannot be decoded comes as a Rejected.

    LMDB rows are independent compressed records, so one damaged row costs only itself; SQLite and JSON rows
    come from one cursor or document, and damage there stops the file.
    """
    row_ids = getattr(db, "ids", None)
    if row_ids is None:
        yield from db.select()
        return
    for index, row_id in enumerate(list(row_ids)):
        try:
            yield db.get(row_id)
        except (zlib.error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            reason = f"row cannot be decoded ({type(exc).__name__}: {exc})"
            yield Rejected(f"frame {index} (row id {row_id})", None, reason)


def _frame_item(
    atoms: Any, *, display_name: str, index: int, options: ImportOptions
) -> Iterator[Configuration | Rejected]:
    try:
        yield frame_configuration(atoms, display_name=display_name, index=index, options=options)
    except RecordRejected as exc:
        yield Rejected(f"frame {index}", exc.field, exc.reason)
