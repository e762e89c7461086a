"""OUTCAR files: every ionic step through ASE's ``vasp-out`` reader, the inputs from VASP's parameter echo.

The functional and Hubbard U come from the parameter echo and TITEL lines inside the OUTCAR (what VASP
actually ran), with the INCAR beside it filling what the echo lacks; an INCAR that names another functional is
refused as another run's. Stress: ASE gives eV/A^3 with the ASE sign, stored divided by ``ase.units.GPa``.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from curate.dataset.configuration import Configuration, Rejected, voigt6_to_matrix
from curate.errors import InputError, RecordRejected
from curate.sources.base import ImportOptions
from curate.sources.jsonstream import open_binary
from curate.sources.vasp_inputs import (
    ENERGY_FIELD,
    CalcInputs,
    calc_inputs,
    companion_file,
    functional_from_vasp,
    open_text,
    refuse_machine_learned,
)

log = logging.getLogger(__name__)

# OUTCAR prints TOTEN with 6 (VASP 5) or 8 (VASP 6) decimals; vasprun with 8
MAGMOM_ENERGY_MATCH_EV = 1e-4


def final_magmoms_from_outcar(outcar: Path | None, *, nsites: int, final_energy_ev: float | None) -> np.ndarray | None:
    """Per-site total magnetization (Bohr magnetons) of the OUTCAR's last step, if that OUTCAR is this run's.

    The OUTCAR counts as this run's when its last free energy matches ``final_energy_ev`` within
    MAGMOM_ENERGY_MATCH_EV and it has ``nsites`` collinear moments; otherwise None (logged).
    """
    if outcar is None or final_energy_ev is None:
        return None
    import ase.io

    try:
        with open_text(outcar) as fh:
            last = ase.io.read(fh, index=-1, format="vasp-out")
        atoms = last[-1] if isinstance(last, list) else last
        results = atoms.calc.results
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
) -> CalcInputs:
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
        return CalcInputs(None, None, exc)
    # functional_from_vasp lets its first argument override its second
    inputs = calc_inputs(echo, incar, header.potcar_titles, species, options)
    if not incar or inputs.problem is not None:
        return inputs
    try:
        incar_alone = functional_from_vasp(incar, None, header.potcar_titles)
    except RecordRejected:
        return inputs
    if incar_alone != inputs.functional:
        return CalcInputs(
            None,
            None,
            RecordRejected(
                f"the INCAR says {incar_alone} but the OUTCAR's own parameter echo says {inputs.functional}: "
                "is the INCAR from another run?",
                field="incar",
            ),
        )
    return inputs


_STEP_FAILURES: tuple[type[Exception], ...] = (ValueError, IndexError, KeyError, TypeError, AttributeError)
_READ_FAILURES: tuple[type[Exception], ...] = (*_STEP_FAILURES, EOFError, OSError, zlib.error)
# section headers of one OUTCAR ionic step, and the field each one holds
_SECTION_FIELDS = (
    ("TOTAL-FORCE", "positions and forces"),
    ("free  energy   TOTEN", "energy"),
    ("energy  without entropy", "energy"),
    ("direct lattice vectors", "lattice"),
    ("in kB", "stress"),
    ("magnetization", "magmoms"),
    ("FORCE on cell", "stress"),
)


def _failed_field(lines: list[str], exc: BaseException) -> str:
    """The field of the section holding the value ASE could not read (from the token its error quotes)."""
    quoted = re.search(r"'([^']*)'", str(exc))
    token = quoted.group(1) if quoted else ""
    at = next((k for k, line in enumerate(lines) if token and token in line.split()), None)
    if at is None:
        return "ionic step"
    for k in range(at, -1, -1):
        for header, name in _SECTION_FIELDS:
            if header in lines[k]:
                if name == "positions and forces":
                    column = lines[at].split().index(token)
                    return "positions" if column < 3 else "forces"
                return name
    return "ionic step"


def _outcar_frames(path: Path, *, source_file: str, label: str) -> Iterator[tuple[int, Any]]:
    """(step index, ASE Atoms, or a RecordRejected for a step ASE cannot read) of an OUTCAR.

    Steps are cut by ASE's chunker and built one by one, so one unreadable value costs its own step only.
    Raises InputError naming the step where the file itself cannot be read on.
    """
    from ase.io import ParseError
    from ase.io.vasp_parsers.vasp_outcar_parsers import outcarchunks

    index = -1
    with open_text(path) as fh:
        chunks = outcarchunks(fh)  # type: ignore[arg-type]
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except (*_READ_FAILURES, ParseError) as exc:  # type: ignore[misc]
                raise InputError(
                    f"cannot read the OUTCAR after step {index} ({type(exc).__name__}: {exc})",
                    file=source_file,
                    record=f"{label} step {index + 1}",
                ) from exc
            index += 1
            try:
                atoms = chunk.build()
            except _STEP_FAILURES as exc:
                reason = f"ASE cannot read this step ({type(exc).__name__}: {exc})"
                yield index, RecordRejected(reason, field=_failed_field(list(chunk.lines), exc))
                continue
            yield index, atoms


def _outcar_step(
    atoms: Any, inputs: CalcInputs, *, source_file: str, record: str, calc_index: int, index: int
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
    collinear = magmoms is not None and np.shape(magmoms) == (len(species),)
    return cfg, np.asarray(magmoms, dtype=np.float64) if collinear else None


def outcar_steps(
    path: Path, *, source_file: str, label: str, calc_index: int, options: ImportOptions
) -> Iterator[Configuration | Rejected]:
    """Every ionic step of one OUTCAR (energies eV, forces eV/A, stress GPa ASE sign), in time order.

    Raises InputError naming the file for a damaged or unfinished OUTCAR, after its complete steps.
    """
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
    refuse_machine_learned({**header.parameters, **incar}, source_file)

    inputs: CalcInputs | None = None
    count = 0
    # one step of lookahead: the run's final moments go to the last step, known only at the end
    last: tuple[Configuration | Rejected, np.ndarray | None] | None = None
    try:
        for index, atoms in _outcar_frames(path, source_file=source_file, label=label):
            if last is not None:
                yield last[0]
            count = index + 1
            if isinstance(atoms, RecordRejected):
                last = Rejected(f"{label} step {index}", atoms.field, atoms.reason), None
                continue
            inputs = inputs or _outcar_inputs(header, incar, atoms.get_chemical_symbols(), options)
            last = _outcar_step(
                atoms,
                inputs,
                source_file=source_file,
                record=f"{label} step {index}",
                calc_index=calc_index,
                index=index,
            )
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
