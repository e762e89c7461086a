"""MatPES documents: a list of documents, or a dict keyed by anything (the element-reference files).

Each document is one static calculation: ``structure``, ``energy`` (eV), ``forces`` (eV/A), ``stress``
(6 Voigt components xx, yy, zz, yz, xz, xy in kBar with VASP's sign), ``bader_magmoms``, ``functional``
(PBE or r2SCAN, recorded by MatPES from its inputs), ``matpes_id`` and ``provenance``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from curate.dataset.configuration import Configuration, Rejected, stress_gpa_from_vasp_kbar, voigt6_to_matrix
from curate.errors import RecordRejected
from curate.sources.base import ImportOptions, optional_array, structure_arrays
from curate.sources.jsonstream import decode, decode_member, iter_top_level, peek_kind
from curate.sources.validate import mapping, optional_float, record_id

_FUNCTIONALS = {"PBE": "PBE", "R2SCAN": "r2SCAN", "PBE+U": "PBE+U", "R2SCAN+U": "r2SCAN+U"}


def matpes_configuration(doc: Any, *, display_name: str, record: str) -> Configuration:
    """One MatPES document as a configuration; raises RecordRejected (field path named) on bad values."""
    doc = mapping(doc, "")
    species, lattice, positions = structure_arrays(doc.get("structure"))
    declared = doc.get("functional")
    functional = _FUNCTIONALS.get(declared.upper()) if isinstance(declared, str) else None
    if functional is None:
        raise RecordRejected(f"unknown or missing functional {declared!r}", field="functional")
    stress = optional_array(doc.get("stress"), "stress", (6,))
    provenance = mapping(doc.get("provenance") or {}, "provenance")
    energy = optional_float(doc.get("energy"), "energy", unit="eV")
    return Configuration(
        species=species,
        lattice=lattice,
        positions=positions,
        energy=energy,
        energy_field=None if energy is None else "energy",
        forces=optional_array(doc.get("forces"), "forces", (len(species), 3)),
        stress=None if stress is None else stress_gpa_from_vasp_kbar(voigt6_to_matrix(stress)),
        magmoms=optional_array(doc.get("bader_magmoms"), "bader_magmoms", (len(species),)),
        functional=functional,
        source="matpes",
        source_file=display_name,
        source_record=record,
        material_id=record_id(provenance.get("original_mp_id"), "provenance.original_mp_id"),
        task_id=record_id(doc.get("matpes_id"), "matpes_id"),
    )


class MatPESImporter:
    """MatPES JSON documents (list, or dict of documents)."""

    name: ClassVar[str] = "matpes"
    summary: ClassVar[str] = "MatPES documents: structure, energy, forces, stress (Voigt kBar), functional"

    def read(self, path: Path, *, display_name: str, options: ImportOptions) -> Iterator[Configuration | Rejected]:
        """Every configuration of ``path`` in file order; InputError after the last good record on damage."""
        keyed = peek_kind(path) == "{"
        for index, raw in iter_top_level(path):
            try:
                key, doc = decode_member(raw) if keyed else (str(index), decode(raw))
            except RecordRejected as exc:
                yield Rejected(f"#{index}", None, exc.reason)
                continue
            record = f"{key}" if keyed else f"#{index}"
            try:
                yield matpes_configuration(doc, display_name=display_name, record=record)
            except RecordRejected as exc:
                yield Rejected(record, exc.field, exc.reason)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                yield Rejected(record, None, f"malformed document ({type(exc).__name__}: {exc})")
