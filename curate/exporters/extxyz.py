"""Extended XYZ with explicit ``REF_`` labels, as MACE's trainer reads it.

One frame per row::

    18
    Lattice="a1x a1y a1z a2x ... a3z" Properties=species:S:1:pos:R:3:REF_forces:R:3:REF_magmoms:R:1 pbc="T T T"
        REF_energy=-108.40041372 REF_stress="sxx sxy sxz syx ... szz" curate_id="9f2c..." functional=PBE ...
    As 0.1 2.3 4.5 0.01 -0.02 0.0 0.0
    ...

Units: positions and lattice in angstrom, ``REF_energy`` and ``REF_energy_corrected`` in eV, ``REF_forces``
in eV/angstrom, ``REF_stress`` in eV/angstrom^3 with the ASE sign (the stored GPa x ``ase.units.GPa``), all
9 components row-major (MACE views a 9-vector as the 3x3 matrix row by row), ``REF_magmoms`` in Bohr
magnetons. These are MACE's default keys: ``mace_run_train --train_file FILE`` reads them as they are
(``--energy_key REF_energy --forces_key REF_forces --stress_key REF_stress`` spells them out). matgl reads
the file with ``MGLDatasetLoader.from_extxyz(FILE, energy_key="REF_energy", forces_key="REF_forces",
stress_key="REF_stress")`` (its default stress unit for extxyz, eV/A^3, converts back to curate's GPa).
``REF_energy`` is always the raw DFT total energy (MACE fits its own E0s), so one file holds one functional
(PBE with PBE+U excepted): mixed files are refused before writing (:mod:`curate.exporters.scan`).

The labels never use ASE's reserved names (``energy``, ``forces``, ``stress``, ``magmoms``), which
``ase.io.read`` would silently turn into a calculator. The text is written here rather than with
``ase.io.write`` because ASE formats per-atom columns as ``%16.8f``, which truncates positions and forces;
every float here is Python's shortest round-trip repr. Metadata columns follow the ``ase`` importer's key
names (see :func:`curate.exporters.ase_metadata`), and ``curate_id`` is the dataset row id, ``split`` the row's
split, so a frame in a trainer's file traces back to its row. On re-import with ``curate import ase`` every column
comes back except source and source_file (the extxyz file is recorded instead) and source_record (kept inside
the new one, ``frame N (original record)``); stress comes back within one float64 step of the stored GPa.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar, TextIO

import numpy as np
from ase.units import GPa

from curate.dataset.configuration import Configuration
from curate.errors import InputError
from curate.exporters.base import ExportCounts, ExportPlan, ExportRow, ase_metadata
from curate.exporters.energy import KIND_RAW

_BOOL_WORDS = {"T", "F", "true", "false", "True", "False", "TRUE", "FALSE"}


def _floats(values: np.ndarray) -> str:
    return " ".join(map(repr, np.asarray(values, dtype=np.float64).ravel().tolist()))


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parses_as_non_string(text: str) -> bool:
    """True when ASE's key=value parser would turn ``text`` into a number, bool or array (e.g. task_id "1234")."""
    tokens = re.findall(r"[^\s,]+", text)
    if not tokens or text.startswith("_JSON "):
        return True
    if all(t in _BOOL_WORDS for t in tokens):
        return True
    try:
        [float(t) for t in tokens]
    except ValueError:
        return False
    return True


def info_value(value: str | int | float) -> str:
    """One comment-line value: ints bare, floats as repr, strings quoted.

    A string ASE would read as a number or bool goes through ASE's ``_JSON`` escape so it reads back as the
    same string.
    """
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return repr(float(value))
    text = str(value)
    if _parses_as_non_string(text):
        return _quoted('_JSON "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return _quoted(text)


def frame_text(cfg: Configuration, *, row_id: str | None = None) -> str:
    """The extxyz frame (count line, comment line, one line per atom) of one configuration, newline-terminated.

    ``row_id`` (the dataset row id) is written as ``curate_id`` when given.

    Raises InputError (record and field named) for a string value holding a line break, which the
    line-based format cannot carry.
    """
    properties = ["species:S:1", "pos:R:3"]
    columns = [cfg.positions]
    if cfg.forces is not None:
        properties.append("REF_forces:R:3")
        columns.append(cfg.forces)
    if cfg.magmoms is not None:
        properties.append("REF_magmoms:R:1")
        columns.append(np.asarray(cfg.magmoms).reshape(-1, 1))
    comment = [
        f'Lattice="{_floats(cfg.lattice)}"',
        f"Properties={':'.join(properties)}",
        'pbc="' + " ".join("T" if p else "F" for p in cfg.pbc) + '"',
    ]
    if cfg.energy is not None:
        comment.append(f"REF_energy={float(cfg.energy)!r}")
    if cfg.stress is not None:
        comment.append(f'REF_stress="{_floats(np.asarray(cfg.stress) * GPa)}"')
    for key, value in ase_metadata(cfg, row_id=row_id).items():
        if isinstance(value, str) and ("\n" in value or "\r" in value):
            raise InputError(
                "a line break cannot be written into an extxyz comment line", record=cfg.source_record, field=key
            )
        comment.append(f"{key}={info_value(value)}")
    table = np.hstack(columns).tolist()
    atoms = [f"{symbol} {' '.join(map(repr, row))}" for symbol, row in zip(cfg.species, table, strict=True)]
    return f"{cfg.nsites}\n{' '.join(comment)}\n" + "\n".join(atoms) + "\n"


def write_frames(rows: Iterable[ExportRow], fh: TextIO) -> ExportCounts:
    """Write one frame per row to the open text file ``fh``."""
    counts = ExportCounts()
    for row_id, cfg in rows:
        fh.write(frame_text(cfg, row_id=row_id))
        counts.wrote(None if cfg.energy is None else KIND_RAW)
    return counts


class ExtxyzExporter:
    """Extended XYZ for MACE (and anything that reads extxyz through ASE), labels under REF_ keys."""

    name: ClassVar[str] = "extxyz"
    summary: ClassVar[str] = "extended XYZ, REF_energy (eV) / REF_forces (eV/A) / REF_stress (eV/A^3, ASE sign)"
    energy_choice: ClassVar[bool] = False
    keyed_by_material: ClassVar[bool] = False
    suffix: ClassVar[str | None] = None

    def write(self, rows: Iterable[ExportRow], path: Path, *, plan: ExportPlan) -> ExportCounts:
        """Write every row (unlabelled ones too: MACE gives them zero weight) to ``path``."""
        with open(path, "w", encoding="utf-8") as fh:
            return write_frames(rows, fh)
