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

A folder written by ``curate label --vasp-inputs`` holds a ``curate.json`` naming the row it was written for;
every step found there gets ``parent_id`` = that row's id and the row's generator provenance.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from curate.dataset.configuration import Configuration, Rejected, stress_gpa_from_vasp_kbar
from curate.errors import InputError, RecordRejected
from curate.labelling.provenance import apply_sidecar, read_sidecar
from curate.sources.base import ImportOptions, optional_array
from curate.sources.jsonstream import GZIP_MAGIC, open_binary
from curate.sources.mp_tasks import scf_converged
from curate.sources.vasp_inputs import ENERGY_FIELD, calc_inputs, companion_file, refuse_machine_learned
from curate.sources.vasp_outcar import final_magmoms_from_outcar, outcar_steps
from curate.sources.vasprun_salvage import unreadable_calculations, without_calculations

log = logging.getLogger(__name__)

CalculationKind = Literal["vasprun", "outcar"]
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


def _parse_vasprun(path: Path, source_file: str) -> tuple[Any, InputError | None, dict[int, RecordRejected]]:
    """The Vasprun, the damage found (None for an intact file), and the steps set aside for unreadable values.

    A damaged file (truncated XML or gzip) is re-read from a copy of its decodable bytes with pymatgen's
    partial mode, so that the complete ``<calculation>`` blocks before the damage still count. A well-formed
    file with a value pymatgen cannot read is re-read without the ``<calculation>`` blocks that hold one
    (:mod:`curate.sources.vasprun_salvage`).
    """
    from pymatgen.io.vasp import Vasprun

    try:
        return Vasprun(path, **_VASPRUN_OPTIONS), None, {}
    except _XML_DAMAGE as exc:
        damage = InputError(f"damaged vasprun XML ({type(exc).__name__}: {exc})", file=source_file)
    except _PARSE_FAILURES as exc:
        run, skipped = _without_unreadable_steps(path, source_file, exc)
        return run, None, skipped
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "vasprun.xml"
        _copy_decodable(path, copy)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="XML is malformed")
                return Vasprun(copy, exception_on_bad_xml=False, **_VASPRUN_OPTIONS), damage, {}
        except _SALVAGE_FAILURES as exc:
            raise InputError(f"{damage.reason}; nothing before the damage is usable", file=source_file) from exc


def _without_unreadable_steps(
    path: Path, source_file: str, failure: BaseException
) -> tuple[Any, dict[int, RecordRejected]]:
    """Re-read a vasprun pymatgen refused without its unreadable ``<calculation>`` blocks; InputError if none is."""
    from pymatgen.io.vasp import Vasprun

    cannot = InputError(f"pymatgen cannot read this vasprun ({type(failure).__name__}: {failure})", file=source_file)
    with open_binary(path) as fh:
        xml = fh.read()
    skipped = unreadable_calculations(xml)
    if not skipped:
        raise cannot from failure
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "vasprun.xml"
        copy.write_bytes(without_calculations(xml, set(skipped)))
        try:
            return Vasprun(copy, **_VASPRUN_OPTIONS), skipped
        except _SALVAGE_FAILURES as exc:
            raise cannot from exc


def _vasprun_steps(
    path: Path, *, source_file: str, label: str, calc_index: int, options: ImportOptions
) -> Iterator[Configuration | Rejected]:
    run, damage, skipped = _parse_vasprun(path, source_file)
    refuse_machine_learned(run.incar, source_file)
    steps = run.ionic_steps
    if not steps and damage is None and not skipped:
        raise InputError("vasprun holds no ionic step", file=source_file)
    first_species = [s.specie.symbol for s in steps[0]["structure"]] if steps else []
    inputs = calc_inputs(run.incar, run.parameters, list(run.potcar_symbols), first_species, options)
    nelm = int({**(run.parameters or {}), **(run.incar or {})}.get("NELM", 60))
    final_magmoms = None
    if steps:
        final = steps[-1]
        final_magmoms = final_magmoms_from_outcar(
            companion_file(path, "OUTCAR"), nsites=len(final["structure"]), final_energy_ev=final.get(ENERGY_FIELD)
        )
    read = iter(enumerate(steps))  # the steps read, in the file's order; ``skipped`` holds the others by index
    for index in range(len(steps) + len(skipped)):
        if index in skipped:
            yield Rejected(f"{label} step {index}", skipped[index].field, skipped[index].reason)
            continue
        local, step = next(read)
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
                scf_converged=scf_converged(step, nelm),
                forces=optional_array(step.get("forces"), "forces"),
                stress=None if stress is None else stress_gpa_from_vasp_kbar(stress),
                magmoms=final_magmoms if local == len(steps) - 1 else None,
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
    reader = _vasprun_steps if calculation_kind(path) == "vasprun" else outcar_steps
    # a folder written by `curate label --vasp-inputs` names the candidate its result belongs to
    sidecar = read_sidecar(path.parent)
    for item in reader(path, source_file=source_file, label=label, calc_index=calc_index, options=options):
        if sidecar is not None and isinstance(item, Configuration):
            apply_sidecar(item, sidecar)
        yield item


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
