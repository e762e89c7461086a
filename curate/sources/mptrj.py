"""CHGNet's MPtrj JSON: ``{mp_id: {frame_id: {structure, uncorrected_total_energy, force, stress, magmom, ...}}}``.

Stress in MPtrj is VASP's (kBar, positive = compressive) and is stored converted to GPa with the ASE sign.
MPtrj frames carry no INCAR, so the functional follows the Materials Project GGA/GGA+U rule of the input
set that produced them (pymatgen's MPRelaxSet: +U, with that set's U values, for the listed metals in
oxides and fluorides); pass --functional to state it instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from curate.configuration import Configuration, stress_gpa_from_vasp_kbar
from curate.errors import RecordRejected
from curate.sources.base import ImportOptions, Rejected, optional_array, structure_arrays
from curate.sources.jsonstream import decode_member, iter_top_level

ENERGY_FIELD = "uncorrected_total_energy"


@lru_cache(maxsize=1)
def _mp_hubbard_rule() -> dict[str, dict[str, float]]:
    from pymatgen.io.vasp.sets import MPRelaxSet

    return {anion: dict(values) for anion, values in MPRelaxSet.CONFIG["INCAR"]["LDAUU"].items()}


def mp_gga_functional(species: list[str]) -> tuple[str, dict[str, float] | None]:
    """(functional, hubbard_u) that Materials Project's GGA/GGA+U input set assigns to this composition.

    The most electronegative anion with a U table (O before F, as in MPRelaxSet) decides.
    """
    present = set(species)
    for anion, table in _mp_hubbard_rule().items():
        if anion in present:
            hubbard = {el: float(table[el]) for el in sorted(present) if table.get(el)}
            if hubbard:
                return "PBE+U", hubbard
    return "PBE", None


def frame_configuration(
    frame: Mapping[str, Any], *, material_id: str, frame_id: str, display_name: str, functional: str | None
) -> Configuration:
    """One MPtrj frame as a configuration; raises RecordRejected (field named) on bad values."""
    species, lattice, positions = structure_arrays(frame["structure"])
    if functional is None:
        functional_name, hubbard = mp_gga_functional(species)
    else:
        functional_name, hubbard = functional, None
    stress = optional_array(frame.get("stress"), "stress")
    magmom = frame.get("magmom")
    energy = frame.get(ENERGY_FIELD)
    corrected = frame.get("corrected_total_energy")
    return Configuration(
        species=species,
        lattice=lattice,
        positions=positions,
        energy=None if energy is None else float(energy),
        energy_field=None if energy is None else ENERGY_FIELD,
        energy_corrected=None if corrected is None else float(corrected),
        forces=optional_array(frame.get("force"), "force"),
        stress=None if stress is None else stress_gpa_from_vasp_kbar(stress),
        magmoms=optional_array(magmom, "magmom"),
        functional=functional_name,
        hubbard_u=hubbard,
        source="mptrj",
        source_file=display_name,
        source_record=f"{material_id}/{frame_id}",
        material_id=str(frame.get("mp_id") or material_id),
        task_id=frame_id.rsplit("-", 2)[0] if frame_id.count("-") >= 3 else None,
    )


class MPtrjImporter:
    """CHGNet MPtrj JSON (material -> frame -> labels)."""

    name: ClassVar[str] = "mptrj"
    summary: ClassVar[str] = (
        "CHGNet MPtrj JSON: {mp_id: {frame_id: {structure, uncorrected_total_energy, force, stress, magmom}}}"
    )

    def read(self, path: Path, *, display_name: str, options: ImportOptions) -> Iterator[Configuration | Rejected]:
        for index, raw in iter_top_level(path):
            try:
                material_id, frames = decode_member(raw)
            except RecordRejected as exc:
                yield Rejected(f"material #{index}", None, exc.reason)
                continue
            if not isinstance(frames, dict):
                yield Rejected(str(material_id), None, "expected an object of frames")
                continue
            for frame_id, frame in frames.items():
                try:
                    yield frame_configuration(
                        frame,
                        material_id=str(material_id),
                        frame_id=str(frame_id),
                        display_name=display_name,
                        functional=options.functional,
                    )
                except RecordRejected as exc:
                    yield Rejected(f"{material_id}/{frame_id}", exc.field, exc.reason)
                except (KeyError, TypeError, ValueError) as exc:
                    yield Rejected(f"{material_id}/{frame_id}", None, f"malformed frame ({type(exc).__name__}: {exc})")
