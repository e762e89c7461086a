"""VASP calculations: vasprun.xml or OUTCAR files, or directories of them; every ionic step, in time order.

A path may be:

- a vasprun file (name contains ``vasprun``, or XML content): read with pymatgen's ``Vasprun``, one
  configuration per ``<calculation>`` block;
- an OUTCAR file (name contains ``OUTCAR``, or an OUTCAR header): read with ASE's ``vasp-out`` reader;
- a directory: every calculation in it and below it, folders in natural name order. In each folder a
  vasprun claims its companion OUTCAR (the same name with ``vasprun`` -> ``OUTCAR`` and ``.xml`` dropped,
  gzipped or not, e.g. ``vasprun.xml.gz`` -> ``OUTCAR``, ``x__vasprun.xml.gz`` -> ``x__OUTCAR``), so no
  step is imported twice; that OUTCAR then only supplies the final magnetic moments.

Energy: ``e_fr_energy``, VASP's free energy TOTEN (the same choice as ``mp_tasks``). The forces VASP prints
are derivatives of this free energy (Mermin's finite-temperature functional), so energy and forces stay
consistent; and ``e_0_energy`` (sigma -> 0) is written as 0 in some vasprun files (the Li relaxation in
shared/data/vasp/pymatgen_core is one).

Stress: vasprun holds VASP's kBar with VASP's sign (positive = compressive), stored as -0.1 x that in GPa;
ASE already gives OUTCAR stress in eV/A^3 with the ASE sign, stored divided by ``ase.units.GPa``.

Functional and Hubbard U: read from the calculation's own inputs through
:func:`~curate.sources.vasp_inputs.functional_from_vasp`, never guessed: for a vasprun its ``incar``,
``parameters`` and POTCAR titles; for an OUTCAR the parameter echo and TITEL lines inside it, with the INCAR
beside it filling what the echo lacks (an INCAR that names another functional is refused as another run's).
When the inputs cannot tell, ``--functional`` is used if given; otherwise the steps are rejected.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import tempfile
import warnings
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

import numpy as np

from curate.configuration import Configuration, stress_gpa_from_vasp_kbar, voigt6_to_matrix
from curate.errors import InputError, RecordRejected
from curate.sources.base import ImportOptions, Rejected, optional_array
from curate.sources.jsonstream import GZIP_MAGIC, open_binary
from curate.sources.vasp_inputs import functional_from_vasp, hubbard_u_from_vasp, potcar_element, species_blocks

log = logging.getLogger(__name__)

ENERGY_FIELD = "e_fr_energy"
CalculationKind = Literal["vasprun", "outcar"]
# OUTCAR prints TOTEN with 6 (VASP 5) or 8 (VASP 6) decimals; vasprun with 8
MAGMOM_ENERGY_MATCH_EV = 1e-4
_VASPRUN_OPTIONS: dict[str, Any] = {
    "parse_dos": False,
    "parse_eigen": False,
    "parse_projected_eigen": False,
    "parse_potcar_file": False,
}
_XML_DAMAGE: tuple[type[BaseException], ...] = (SyntaxError, EOFError, OSError, zlib.error)
# what pymatgen raises on a well-formed XML it cannot read, or on one cut off inside its header
_PARSE_FAILURES: tuple[type[BaseException], ...] = (KeyError, IndexError, AttributeError, TypeError, ValueError)
_SALVAGE_FAILURES: tuple[type[BaseException], ...] = (*_XML_DAMAGE, *_PARSE_FAILURES)


def _natural_key(path: Path) -> list[Any]:
    """Sort key that puts relax2 before relax10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _head(path: Path, size: int = 1024) -> bytes:
    """The first ``size`` bytes of ``path``, decompressed when gzipped."""
    with open_binary(path) as fh:
        try:
            return fh.read(size)
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(f"cannot read the start of the file ({exc})", file=str(path)) from exc


def _open_text(path: Path) -> IO[str]:
    """``path`` as text, decompressed when its bytes are gzip whatever its name (ASE goes by the suffix)."""
    return io.TextIOWrapper(open_binary(path), encoding="latin-1")


def calculation_kind(path: Path) -> CalculationKind:
    """'vasprun' or 'outcar', from the file name, else from the first bytes; InputError if neither."""
    name = path.name.lower()
    if "vasprun" in name:
        return "vasprun"
    if "outcar" in name:
        return "outcar"
    head = _head(path).lstrip()
    if head.startswith(b"<?xml") or b"<modeling>" in head:
        return "vasprun"
    if head.startswith(b"vasp."):
        return "outcar"
    raise InputError(
        "not a VASP output: the name contains neither 'vasprun' nor 'OUTCAR' and the content is neither "
        "vasprun XML nor an OUTCAR header",
        file=str(path),
    )


def companion_file(path: Path, word: str) -> Path | None:
    """The file of the same calculation beside ``path`` named with ``word`` ('OUTCAR', 'INCAR'), or None.

    ``x__vasprun.xml.gz`` -> ``x__OUTCAR`` or ``x__OUTCAR.gz``; ``vasprun.xml.relax1.gz`` ->
    ``OUTCAR.relax1(.gz)``; ``OUTCAR.gz`` -> ``INCAR(.gz)``.
    """
    lower = path.name.lower()
    for own in ("vasprun", "outcar"):
        start = lower.find(own)
        if start >= 0:
            break
    else:
        return None
    rest = re.sub(r"\.xml", "", path.name[start + len(own) :], count=1, flags=re.IGNORECASE)
    base = path.name[:start] + word + rest
    base = base.removesuffix(".gz")
    for candidate in (base, base + ".gz"):
        found = path.with_name(candidate)
        if found.is_file() and found != path:
            return found
    return None


def calculation_files(directory: Path) -> list[Path]:
    """One file per calculation in ``directory`` and its subfolders: vasprun files, and OUTCARs no vasprun claims.

    Files of a folder come before its subfolders; both in natural name order. Symlinked folders are not
    followed (they can loop).
    """
    entries = sorted(directory.iterdir(), key=_natural_key)
    files = [p for p in entries if p.is_file()]
    vaspruns = [p for p in files if "vasprun" in p.name.lower() and ".xml" in p.name.lower()]
    claimed = {companion_file(v, "OUTCAR") for v in vaspruns}
    found = [p for p in files if p in vaspruns or ("OUTCAR" in p.name and p not in claimed)]
    for sub in entries:
        if sub.is_dir() and not sub.is_symlink() and not sub.name.startswith("."):
            found.extend(calculation_files(sub))
    return found


@dataclass(frozen=True)
class _CalcInputs:
    """What one calculation's inputs say, or why they cannot be used (then every step is rejected)."""

    functional: str | None
    hubbard_u: dict[str, float] | None
    problem: RecordRejected | None = None


def _calc_inputs(
    incar: Mapping[str, Any] | None,
    parameters: Mapping[str, Any] | None,
    titles: Sequence[str],
    first_species: Sequence[str],
    options: ImportOptions,
) -> _CalcInputs:
    try:
        functional = functional_from_vasp(incar, parameters, titles)
    except RecordRejected as exc:
        if options.functional is None:
            hint = RecordRejected(f"{exc.reason}; pass --functional if you know it", field=exc.field)
            return _CalcInputs(None, None, hint)
        functional = options.functional
    elements = [potcar_element(t) for t in titles] if titles else species_blocks(first_species)
    merged = {**(parameters or {}), **(incar or {})}
    try:
        return _CalcInputs(functional, hubbard_u_from_vasp(merged, elements))
    except RecordRejected as exc:
        return _CalcInputs(functional, None, exc)


def _refuse_machine_learned(settings: Mapping[str, Any], source_file: str) -> None:
    """A VASP MLFF run's energies and forces are predictions of its force field, not DFT labels."""
    value = {str(k).upper(): v for k, v in settings.items()}.get("ML_LMLFF")
    if value is True or (isinstance(value, str) and value.strip(".").upper().startswith("T")):
        raise InputError(
            "machine-learned force field run (ML_LMLFF = True): its steps are not DFT labels",
            file=source_file,
            field="ML_LMLFF",
        )


def _final_magmoms_from_outcar(outcar: Path | None, *, nsites: int, final_energy_ev: float | None) -> np.ndarray | None:
    """Per-site total magnetization (Bohr magnetons) of the OUTCAR's last step, if that OUTCAR is this run's.

    The OUTCAR counts as this run's when its last free energy matches ``final_energy_ev`` within
    MAGMOM_ENERGY_MATCH_EV and it has ``nsites`` collinear moments; otherwise None (logged).
    """
    if outcar is None or final_energy_ev is None:
        return None
    import ase.io

    try:
        with _open_text(outcar) as fh:
            results = ase.io.read(fh, index=-1, format="vasp-out").calc.results
    except (ValueError, IndexError, KeyError, AttributeError, EOFError, OSError) as exc:
        log.warning("%s: magnetic moments not read (%s: %s)", outcar, type(exc).__name__, exc)
        return None
    magmoms = results.get("magmoms")
    energy = results.get("free_energy")
    if magmoms is None or np.shape(magmoms) != (nsites,):
        return None
    if energy is None or abs(float(energy) - final_energy_ev) > MAGMOM_ENERGY_MATCH_EV:
        log.warning(
            "%s: final free energy %s eV differs from the vasprun's %s eV; moments not used",
            outcar,
            energy,
            final_energy_ev,
        )
        return None
    return np.asarray(magmoms, dtype=np.float64)


def _copy_decodable(path: Path, destination: Path) -> None:
    """Copy the (decompressed) bytes of ``path`` to ``destination``, up to the first damage in the gzip stream."""
    with open(path, "rb") as src, open(destination, "wb") as dst:
        if src.read(2) != GZIP_MAGIC:
            src.seek(0)
            shutil.copyfileobj(src, dst)
            return
        src.seek(0)
        inflater = zlib.decompressobj(wbits=31)
        for block in iter(lambda: src.read(1 << 20), b""):
            while block:
                try:
                    dst.write(inflater.decompress(block))
                except zlib.error:
                    return  # damaged member: everything decodable before it is written
                # a gzip file may hold several members; start a new inflater on the next one
                block = inflater.unused_data if inflater.eof else b""
                if inflater.eof:
                    inflater = zlib.decompressobj(wbits=31)


def _parse_vasprun(path: Path, source_file: str) -> tuple[Any, InputError | None]:
    """The Vasprun, and the damage found (None for an intact file).

    A damaged file (truncated XML or gzip) is re-read from a copy of its decodable bytes with pymatgen's
    partial mode, so that the complete ``<calculation>`` blocks before the damage still count.
    """
    from pymatgen.io.vasp import Vasprun

    try:
        return Vasprun(path, **_VASPRUN_OPTIONS), None
    except _XML_DAMAGE as exc:
        damage = InputError(f"damaged vasprun XML ({type(exc).__name__}: {exc})", file=source_file)
    except _PARSE_FAILURES as exc:
        raise InputError(f"pymatgen cannot read this vasprun ({type(exc).__name__}: {exc})", file=source_file) from exc
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "vasprun.xml"
        _copy_decodable(path, copy)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="XML is malformed")
                return Vasprun(copy, exception_on_bad_xml=False, **_VASPRUN_OPTIONS), damage
        except _SALVAGE_FAILURES as exc:
            raise InputError(f"{damage.reason}; nothing before the damage is usable", file=source_file) from exc


def _vasprun_steps(
    path: Path, *, source_file: str, label: str, calc_index: int, options: ImportOptions
) -> Iterator[Configuration | Rejected]:
    run, damage = _parse_vasprun(path, source_file)
    _refuse_machine_learned(run.incar, source_file)
    steps = run.ionic_steps
    if not steps and damage is None:
        raise InputError("vasprun holds no ionic step", file=source_file)
    first_species = [s.specie.symbol for s in steps[0]["structure"]] if steps else []
    inputs = _calc_inputs(run.incar, run.parameters, list(run.potcar_symbols), first_species, options)
    final_magmoms = None
    if steps:
        final = steps[-1]
        final_magmoms = _final_magmoms_from_outcar(
            companion_file(path, "OUTCAR"), nsites=len(final["structure"]), final_energy_ev=final.get(ENERGY_FIELD)
        )
    for index, step in enumerate(steps):
        record = f"{label} step {index}"
        if inputs.problem is not None:
            yield Rejected(record, inputs.problem.field, inputs.problem.reason)
            continue
        structure = step["structure"]
        energy = step.get(ENERGY_FIELD)
        try:
            stress = optional_array(step.get("stress"), "stress")
            yield Configuration(
                species=[site.specie.symbol for site in structure],
                lattice=np.array(structure.lattice.matrix, dtype=np.float64),
                positions=np.array(structure.cart_coords, dtype=np.float64),
                energy=None if energy is None else float(energy),
                energy_field=None if energy is None else ENERGY_FIELD,
                forces=optional_array(step.get("forces"), "forces"),
                stress=None if stress is None else stress_gpa_from_vasp_kbar(stress),
                magmoms=final_magmoms if index == len(steps) - 1 else None,
                functional=inputs.functional,
                hubbard_u=inputs.hubbard_u,
                source="vasp",
                source_file=source_file,
                source_record=record,
                calc_index=calc_index,
                ionic_step=index,
            )
        except RecordRejected as exc:
            yield Rejected(record, exc.field, exc.reason)
    if damage is not None:
        raise InputError(damage.reason, file=source_file, record=f"{label} step {len(steps)}")


# ---- OUTCAR ---------------------------------------------------------------------------------------------

_TAG_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*(\S+)")
_LDAU_LINE = re.compile(r"for each species (LDAU[LUJ])\s*=\s*(.+)$")
# tags of the parameter echo that emmet's run-type rules (and the +U and MLFF checks) read
_ECHO_TAGS = frozenset(
    {
        "GGA",
        "METAGGA",
        "LHFCALC",
        "AEXX",
        "AGGAX",
        "AGGAC",
        "ALDAC",
        "HFSCREEN",
        "LUSE_VDW",
        "BPARAM",
        "PARAM1",
        "PARAM2",
        "ZAB_VDW",
        "LASPH",
        "ML_LMLFF",
    }
)
# VASP echoes METAGGA cut to 5 characters ('R2SCA'); these are the names emmet can classify
_METAGGA_NAMES = ("R2SCAN", "RSCAN", "SCAN", "RTPSS", "TPSS", "M06L", "MBJL", "MS0", "MS1", "MS2")
_FINISHED_MARKER = "general timing and accounting"


@dataclass
class OutcarHeader:
    """What an OUTCAR says about its inputs.

    Attributes:
        parameters: the parameter echo (GGA, METAGGA, LHFCALC, LDAU, LDAUU, ...), typed.
        incar_echo: the INCAR VASP >= 6.4 copies to the top of the OUTCAR (empty for older versions).
        potcar_titles: one TITEL per POTCAR, in POSCAR species order.
        finished: whether the closing timing section is present (False: the run or the file was cut off).
    """

    parameters: dict[str, Any] = field(default_factory=dict)
    incar_echo: dict[str, Any] = field(default_factory=dict)
    potcar_titles: list[str] = field(default_factory=list)
    finished: bool = False


def _echo_value(text: str) -> Any:
    upper = text.strip(".").upper()
    if upper in ("T", "TRUE"):
        return True
    if upper in ("F", "FALSE"):
        return False
    try:
        return float(text)
    except ValueError:
        return text


def metagga_name(echoed: str) -> str:
    """Full METAGGA name from VASP's echo, which cuts it to 5 characters; RecordRejected when unknown."""
    value = echoed.strip().upper()
    if value in _METAGGA_NAMES:
        return value
    matches = [name for name in _METAGGA_NAMES if name.startswith(value)]
    if len(matches) != 1:
        raise RecordRejected(f"OUTCAR echoes METAGGA = {echoed!r}, not a meta-GGA curate can name", field="METAGGA")
    return matches[0]


def read_outcar_header(path: Path) -> OutcarHeader:
    """Parse the input echo of an OUTCAR (everything before the first electronic iteration) in one pass.

    The rest of the file is only scanned for the closing timing section; a damaged gzip stream ends the
    scan there (``finished`` stays False).
    """
    from pymatgen.io.vasp import Incar

    header = OutcarHeader()
    incar_lines: list[str] = []
    potcar_lines: list[str] = []
    in_header, in_incar = True, False
    with open_binary(path) as fh:
        for line in _decoded_lines(fh):
            if not in_header:
                if _FINISHED_MARKER in line.lower():
                    header.finished = True
                continue
            if "Iteration" in line and line.lstrip().startswith("---"):
                in_header = False
                continue
            stripped = line.strip()
            if stripped == "INCAR:":
                in_incar = True
                continue
            tag = _TAG_LINE.match(line)
            if in_incar:
                if tag:
                    incar_lines.append(stripped)
                    continue
                in_incar = False
            if stripped.startswith("TITEL"):
                header.potcar_titles.append(stripped.split("=", 1)[1].strip())
            elif stripped.startswith("POTCAR:"):
                potcar_lines.append(stripped.split(":", 1)[1].strip())
            elif "LDA+U is selected" in line:
                header.parameters["LDAU"] = True
            elif ldau := _LDAU_LINE.search(line):
                header.parameters[ldau.group(1)] = [float(v) for v in ldau.group(2).split()]
            elif tag and tag.group(1).upper() in _ECHO_TAGS:
                name, value = tag.group(1).upper(), _echo_value(tag.group(2))
                # 'METAGGA= F  non-selfconsistent MetaGGA calc.' is a flag, not the METAGGA tag
                if not (name == "METAGGA" and isinstance(value, bool)):
                    header.parameters.setdefault(name, value)
    if not header.potcar_titles:
        # old VASP prints no TITEL lines but lists the POTCARs twice
        half = len(potcar_lines) // 2
        twice = len(potcar_lines) % 2 == 0 and potcar_lines[:half] == potcar_lines[half:]
        header.potcar_titles = potcar_lines[:half] if twice else potcar_lines
    if incar_lines:
        header.incar_echo = dict(Incar.from_str("\n".join(incar_lines)))
    return header


def _decoded_lines(fh: IO[bytes]) -> Iterator[str]:
    """Lines of a binary stream as text; stops quietly at gzip damage (the caller sees the missing end)."""
    while True:
        try:
            line = fh.readline()
        except (EOFError, OSError, zlib.error):
            return
        if not line:
            return
        yield line.decode("latin-1")


def _outcar_inputs(
    header: OutcarHeader, incar: Mapping[str, Any], species: Sequence[str], options: ImportOptions
) -> _CalcInputs:
    """Functional and U of an OUTCAR's run.

    The parameter echo is what VASP ran, so it wins; the INCAR (beside the OUTCAR, or the copy VASP >= 6.4
    prints into it) fills the tags the echo lacks. An INCAR that on its own names another functional
    belongs to another run (custodian rewrites INCARs between runs): every step is then rejected.
    """
    echo, incar = dict(header.parameters), dict(incar)
    try:
        for settings in (echo, incar):
            value = settings.get("METAGGA")
            if isinstance(value, str) and value.upper() not in ("--", "NONE"):
                settings["METAGGA"] = metagga_name(value)
    except RecordRejected as exc:
        return _CalcInputs(None, None, exc)
    # functional_from_vasp lets its first argument override its second
    inputs = _calc_inputs(echo, incar, header.potcar_titles, species, options)
    if not incar or inputs.problem is not None:
        return inputs
    try:
        incar_alone = functional_from_vasp(incar, None, header.potcar_titles)
    except RecordRejected:
        return inputs
    if incar_alone != inputs.functional:
        return _CalcInputs(
            None,
            None,
            RecordRejected(
                f"the INCAR says {incar_alone} but the OUTCAR's own parameter echo says {inputs.functional}: "
                "is the INCAR from another run?",
                field="incar",
            ),
        )
    return inputs


def _outcar_frames(path: Path, *, source_file: str, label: str) -> Iterator[tuple[int, Any]]:
    """(step index, ASE Atoms) of an OUTCAR; InputError naming the step where ASE fails."""
    import ase.io

    index = -1
    with _open_text(path) as fh:
        frames = ase.io.iread(fh, index=":", format="vasp-out")
        while True:
            try:
                atoms = next(frames)
            except StopIteration:
                return
            except (ValueError, IndexError, KeyError, EOFError, OSError, zlib.error) as exc:
                raise InputError(
                    f"cannot read the OUTCAR after step {index} ({type(exc).__name__}: {exc})",
                    file=source_file,
                    record=f"{label} step {index + 1}",
                ) from exc
            index += 1
            yield index, atoms


def _outcar_step(
    atoms: Any, inputs: _CalcInputs, *, source_file: str, record: str, calc_index: int, index: int
) -> tuple[Configuration | Rejected, np.ndarray | None]:
    """One OUTCAR step, and the per-site moments ASE found for it (used only for the last step)."""
    from ase.units import GPa

    if inputs.problem is not None:
        return Rejected(record, inputs.problem.field, inputs.problem.reason), None
    species = atoms.get_chemical_symbols()
    results = atoms.calc.results if atoms.calc is not None else {}
    energy, forces, stress = results.get("free_energy"), results.get("forces"), results.get("stress")
    magmoms = results.get("magmoms")
    cfg = Configuration(
        species=species,
        lattice=np.array(atoms.cell.array, dtype=np.float64),
        positions=np.array(atoms.positions, dtype=np.float64),
        energy=None if energy is None else float(energy),
        energy_field=None if energy is None else ENERGY_FIELD,
        forces=None if forces is None else np.array(forces, dtype=np.float64),
        stress=None if stress is None else voigt6_to_matrix(np.asarray(stress) / GPa),  # eV/A^3 -> GPa
        functional=inputs.functional,
        hubbard_u=inputs.hubbard_u,
        source="vasp",
        source_file=source_file,
        source_record=record,
        calc_index=calc_index,
        ionic_step=index,
    )
    collinear = np.shape(magmoms) == (len(species),)
    return cfg, np.asarray(magmoms, dtype=np.float64) if collinear else None


def _outcar_steps(
    path: Path, *, source_file: str, label: str, calc_index: int, options: ImportOptions
) -> Iterator[Configuration | Rejected]:
    from pymatgen.io.vasp import Incar

    try:
        header = read_outcar_header(path)
    except ValueError as exc:
        raise InputError(f"cannot read the OUTCAR's input echo ({exc})", file=source_file) from exc
    incar_file = companion_file(path, "INCAR")
    try:
        incar = dict(Incar.from_file(incar_file)) if incar_file else header.incar_echo
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot read the INCAR beside the OUTCAR ({exc})", file=str(incar_file)) from exc
    _refuse_machine_learned({**header.parameters, **incar}, source_file)

    inputs: _CalcInputs | None = None
    count = 0
    # one step of lookahead: the run's final moments go to the last step, known only at the end
    last: tuple[Configuration | Rejected, np.ndarray | None] | None = None
    try:
        for index, atoms in _outcar_frames(path, source_file=source_file, label=label):
            if last is not None:
                yield last[0]
            inputs = inputs or _outcar_inputs(header, incar, atoms.get_chemical_symbols(), options)
            last = _outcar_step(
                atoms,
                inputs,
                source_file=source_file,
                record=f"{label} step {index}",
                calc_index=calc_index,
                index=index,
            )
            count = index + 1
    except InputError:
        if last is not None:
            yield last[0]
        raise
    if last is not None:
        item, magmoms = last
        if isinstance(item, Configuration):
            item.magmoms = magmoms
        yield item
    if count == 0:
        raise InputError("OUTCAR holds no complete ionic step", file=source_file)
    if not header.finished:
        raise InputError(
            f"OUTCAR ends before VASP's closing timing section (the run or the file was cut off); "
            f"the {count} complete step(s) before that were read",
            file=source_file,
            record=f"{label} step {count}",
        )


def read_calculation(
    path: Path, *, source_file: str, label: str, calc_index: int, options: ImportOptions
) -> Iterator[Configuration | Rejected]:
    """Every ionic step of one vasprun or OUTCAR file, in time order.

    Args:
        path: the vasprun.xml(.gz) or OUTCAR(.gz) file.
        source_file: the name rows and errors give for the file.
        label: file name used in ``source_record`` ('<label> step <i>').
        calc_index: position of this calculation in a directory walk (0 for a single file).
        options: ``options.functional`` is used only when the inputs cannot tell the functional.

    Raises:
        InputError: the file is damaged or cut off (after yielding every complete step before it).
    """
    reader = _vasprun_steps if calculation_kind(path) == "vasprun" else _outcar_steps
    yield from reader(path, source_file=source_file, label=label, calc_index=calc_index, options=options)


class VaspImporter:
    """vasprun.xml / OUTCAR files (gzipped or not) or calculation directories: every ionic step."""

    name: ClassVar[str] = "vasp"
    summary: ClassVar[str] = "vasprun.xml / OUTCAR files or calculation directories (every ionic step)"

    def read(self, path: Path, *, display_name: str, options: ImportOptions) -> Iterator[Configuration | Rejected]:
        """Yield every ionic step of ``path`` (a file, or every calculation below a directory).

        In a directory a damaged calculation does not stop the walk: the others are read, then an
        InputError names the first damaged file (and lists the others).
        """
        if not path.is_dir():
            yield from read_calculation(path, source_file=display_name, label=path.name, calc_index=0, options=options)
            return
        files = calculation_files(path)
        if not files:
            raise InputError("no vasprun.xml or OUTCAR file in this directory or below it", file=display_name)
        damaged: list[InputError] = []
        for calc_index, file in enumerate(files):
            relative = file.relative_to(path).as_posix()
            source_file = f"{display_name.rstrip('/')}/{relative}"
            try:
                yield from read_calculation(
                    file, source_file=source_file, label=relative, calc_index=calc_index, options=options
                )
            except InputError as exc:
                damaged.append(exc)
        if damaged:
            first = damaged[0]
            others = [str(e.file) for e in damaged[1:]]
            more = f"; also damaged: {', '.join(others[:5])}{' ...' if len(others) > 5 else ''}" if others else ""
            raise InputError(first.reason + more, file=first.file, record=first.record, field=first.field)
