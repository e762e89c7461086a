"""mlearn / maml JSON: a list of records ``{structure, outputs, group, description, num_atoms, tag}``.

This is the layout of the mlearn benchmark (Zuo et al., J. Phys. Chem. A 124, 731 (2020)) and of maml's
``pool_from``/``convert_docs`` inputs. Per record:

- ``structure``: a pymatgen Structure dict (angstrom);
- ``outputs.energy``: total energy of the cell, eV (stored as is);
- ``outputs.forces``: shape (num_atoms, 3), eV/angstrom (stored as is);
- ``outputs.virial_stress``: 6 components in kBar with VASP's sign (positive = compressive), in VASP's OUTCAR
  order **xx, yy, zz, xy, yz, zx** (not ASE's Voigt order xx, yy, zz, yz, xz, xy). Stored as the 3x3 tensor in
  GPa with the ASE sign: sigma_ASE[GPa] = -0.1 x sigma_VASP[kBar];
- ``group`` (Elastic, AIMD-NVT, Vacancy, Surface, ...), ``description`` and ``tag`` (train/test): kept in
  ``source_record`` as ``"#<index> [<tag>] <group>: <description>"``, so every row names its place in the file.

The records do not say which functional produced them. The mlearn benchmark was computed with PBE (VASP), so
``PBE`` is recorded unless ``--functional`` says otherwise (the layout is also used for other data). mlearn's PBE
settings are not the Materials Project's: its total energies sit on another scale, so ``energy_field`` is
``outputs.energy`` and no MP compatibility correction is applied or implied.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from curate.dataset.configuration import Configuration, Rejected, stress_gpa_from_vasp_kbar, voigt6_to_matrix
from curate.errors import InputError, RecordRejected
from curate.sources.base import ImportOptions, optional_array, structure_arrays
from curate.sources.jsonstream import decode, iter_top_level, peek_kind

MLEARN_FUNCTIONAL = "PBE"
ENERGY_FIELD = "outputs.energy"
# positions of ASE's Voigt components (xx, yy, zz, yz, xz, xy) in mlearn's order (xx, yy, zz, xy, yz, zx)
_ASE_VOIGT_FROM_MLEARN = (0, 1, 2, 4, 5, 3)


def virial_stress_gpa(virial_stress_kbar: Any) -> np.ndarray:
    """mlearn's ``virial_stress`` as the 3x3 stress tensor in GPa with the ASE sign (positive = tensile).

    Args:
        virial_stress_kbar: 6 components in kBar, VASP sign, order xx, yy, zz, xy, yz, zx.

    Returns:
        Symmetric (3, 3) array: -0.1 x the symmetric tensor built from the six components.

    Raises:
        RecordRejected: not six finite-or-not numbers (field ``outputs.virial_stress``).
    """
    voigt = optional_array(virial_stress_kbar, "outputs.virial_stress")
    if voigt is None or voigt.shape != (6,):
        found = "nothing" if voigt is None else f"shape {voigt.shape}"
        raise RecordRejected(
            f"expected 6 components (xx, yy, zz, xy, yz, zx) in kBar, found {found}", field="outputs.virial_stress"
        )
    return stress_gpa_from_vasp_kbar(voigt6_to_matrix(voigt[list(_ASE_VOIGT_FROM_MLEARN)]))


def _energy(outputs: Mapping[str, Any]) -> float:
    value = outputs.get("energy")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordRejected(f"expected the total energy in eV (a number), found {value!r}", field=ENERGY_FIELD)
    return float(value)


def _record_label(index: int, doc: Mapping[str, Any]) -> str:
    """``#<index> [<tag>] <group>: <description>``, leaving out what the record does not have."""
    parts = [f"#{index}"]
    if doc.get("tag"):
        parts.append(f"[{doc['tag']}]")
    group, description = doc.get("group"), doc.get("description")
    if group and description:
        parts.append(f"{group}: {description}")
    elif group or description:
        parts.append(str(group or description))
    return " ".join(parts)


def mlearn_configuration(
    doc: Mapping[str, Any], *, index: int, display_name: str, functional: str | None = None
) -> Configuration:
    """One mlearn record as a configuration in schema units.

    Args:
        doc: the decoded record.
        index: position of the record in the file's top-level list (0-based).
        display_name: the file as given on the command line.
        functional: overrides :data:`MLEARN_FUNCTIONAL` (for data in this layout from another functional).

    Raises:
        RecordRejected: a field is missing or malformed; ``field`` names it as the file spells it.
    """
    if not isinstance(doc, Mapping):
        raise RecordRejected(f"expected a JSON object, found {type(doc).__name__}")
    if "structure" not in doc:
        raise RecordRejected("record has no structure", field="structure")
    species, lattice, positions = structure_arrays(doc["structure"])
    declared_atoms = doc.get("num_atoms")
    if declared_atoms is not None and declared_atoms != len(species):
        raise RecordRejected(
            f"num_atoms says {declared_atoms} but the structure has {len(species)} sites", field="num_atoms"
        )
    outputs = doc.get("outputs")
    if not isinstance(outputs, Mapping):
        raise RecordRejected(f"expected an object of energy, forces, virial_stress, found {outputs!r}", field="outputs")
    forces = optional_array(outputs.get("forces"), "outputs.forces")
    if forces is None or forces.shape != (len(species), 3):
        found = "nothing" if forces is None else f"shape {forces.shape}"
        raise RecordRejected(f"expected shape ({len(species)}, 3) in eV/A, found {found}", field="outputs.forces")
    return Configuration(
        species=species,
        lattice=lattice,
        positions=positions,
        energy=_energy(outputs),
        energy_field=ENERGY_FIELD,
        forces=forces,
        stress=virial_stress_gpa(outputs.get("virial_stress")),
        functional=functional or MLEARN_FUNCTIONAL,
        source="mlearn",
        source_file=display_name,
        source_record=_record_label(index, doc),
    )


class MlearnImporter:
    """mlearn / maml JSON lists of {structure, outputs: {energy, forces, virial_stress}, group, ...}."""

    name: ClassVar[str] = "mlearn"
    summary: ClassVar[str] = "mlearn/maml JSON list: structure, outputs {energy, forces, virial_stress (kBar)}, group"

    def read(self, path: Path, *, display_name: str, options: ImportOptions) -> Iterator[Configuration | Rejected]:
        """Every record of ``path`` in file order; InputError after the last good record on damage."""
        if peek_kind(path) != "[":
            raise InputError("expected a JSON list of mlearn records, found a JSON object", file=display_name)
        for index, raw in iter_top_level(path):
            record = f"#{index}"
            try:
                doc = decode(raw)
                yield mlearn_configuration(doc, index=index, display_name=display_name, functional=options.functional)
            except RecordRejected as exc:
                yield Rejected(record, exc.field, exc.reason)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
                yield Rejected(record, None, f"malformed record ({type(exc).__name__}: {exc})")
