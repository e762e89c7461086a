"""CHGNet's MPtrj JSON: ``{mp_id: {frame_id: {structure, uncorrected_total_energy, force, stress, magmom, ...}}}``.

Stress in MPtrj is VASP's (kBar, positive = compressive) and is stored converted to GPa with the ASE sign.
MPtrj frames carry no INCAR, so the functional follows the Materials Project GGA/GGA+U rule of the input
set that produced them (pymatgen's MPRelaxSet: +U, with that set's U values, for the listed metals in
oxides and fluorides); pass --functional to state it instead.

Speed: a material is decoded with msgspec into typed structs, which skips the fields curate does not store
(``abc``, ``label``, ``properties``, ...) without building Python objects for them. A material that does not
fit the typed layout (a NaN literal, a missing ``xyz``) falls back to the general decoder, so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import numpy as np

from curate.dataset.configuration import Configuration, Rejected, stress_gpa_from_vasp_kbar
from curate.errors import RecordRejected
from curate.sources.base import ImportOptions, RawChunk, optional_array, structure_arrays
from curate.sources.jsonstream import decode, iter_object_chunks, split_members
from curate.sources.validate import element, mapping, optional_float, record_id

CHUNK_BYTES = 4 << 20

ENERGY_FIELD = "uncorrected_total_energy"


class _Species(msgspec.Struct):
    element: str
    occu: float = 1.0


class _Site(msgspec.Struct):
    species: list[_Species]
    xyz: list[float]


class _Lattice(msgspec.Struct):
    matrix: list[list[float]]


class _Structure(msgspec.Struct):
    lattice: _Lattice
    sites: list[_Site]


class _Frame(msgspec.Struct):
    structure: _Structure
    uncorrected_total_energy: float | None = None
    corrected_total_energy: float | None = None
    force: list[list[float]] | None = None
    stress: list[list[float]] | None = None
    magmom: list[float] | None = None
    mp_id: str | None = None


_MATERIAL_DECODER = msgspec.json.Decoder(dict[str, dict[str, _Frame]])


@lru_cache(maxsize=1)
def _mp_hubbard_rule() -> dict[str, dict[str, float]]:
    """LDAUU table of pymatgen's MPRelaxSet.yaml, read as data (importing pymatgen.io.vasp.sets costs ~2 s)."""
    import importlib.util

    import yaml

    spec = importlib.util.find_spec("pymatgen")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pymatgen is required for the Materials Project GGA+U rule")
    config_path = Path(next(iter(spec.submodule_search_locations))) / "io" / "vasp" / "MPRelaxSet.yaml"
    from pymatgen.core.periodic_table import Element

    config = yaml.safe_load(config_path.read_text())
    tables = config["INCAR"]["LDAUU"]
    # like pymatgen's DictSet: the most electronegative anion present picks the U table
    return {anion: dict(tables[anion]) for anion in sorted(tables, key=lambda a: -Element(a).X)}


@lru_cache(maxsize=4096)
def _mp_gga_for_elements(elements: frozenset[str]) -> tuple[str, tuple[tuple[str, float], ...]]:
    for anion, table in _mp_hubbard_rule().items():
        if anion in elements:
            hubbard = tuple((el, float(table[el])) for el in sorted(elements) if table.get(el))
            if hubbard:
                return "PBE+U", hubbard
    return "PBE", ()


def mp_gga_functional(species: list[str]) -> tuple[str, dict[str, float] | None]:
    """(functional, hubbard_u) that Materials Project's GGA/GGA+U input set assigns to this composition.

    The most electronegative anion present that has a U table in MPRelaxSet (F, then O) decides.
    """
    name, hubbard = _mp_gga_for_elements(frozenset(species))
    return name, dict(hubbard) or None


def _configuration(
    *,
    species: list[str],
    lattice: np.ndarray,
    positions: np.ndarray,
    energy: float | None,
    corrected: float | None,
    force: Any,
    stress: Any,
    magmom: Any,
    material_id: str,
    frame_id: str,
    display_name: str,
    functional: str | None,
) -> Configuration:
    if functional is None:
        functional_name, hubbard = mp_gga_functional(species)
    else:
        functional_name, hubbard = functional, None
    record_id(frame_id, "frame id")
    stress_array = optional_array(stress, "stress", (3, 3))
    energy = optional_float(energy, ENERGY_FIELD, unit="eV")
    return Configuration(
        species=species,
        lattice=lattice,
        positions=positions,
        energy=energy,
        energy_field=None if energy is None else ENERGY_FIELD,
        energy_corrected=optional_float(corrected, "corrected_total_energy", unit="eV"),
        forces=optional_array(force, "force", (len(species), 3)),
        stress=None if stress_array is None else stress_gpa_from_vasp_kbar(stress_array),
        magmoms=optional_array(magmom, "magmom", (len(species),)),
        functional=functional_name,
        hubbard_u=hubbard,
        source="mptrj",
        source_file=display_name,
        source_record=f"{material_id}/{frame_id}",
        material_id=record_id(material_id, "mp_id"),
        task_id=frame_id.rsplit("-", 2)[0] if frame_id.count("-") >= 3 else None,
    )


def frame_configuration(
    frame: Mapping[str, Any], *, material_id: str, frame_id: str, display_name: str, functional: str | None
) -> Configuration:
    """One MPtrj frame (a plain dict) as a configuration; raises RecordRejected (field named) on bad values."""
    frame = mapping(frame, "")
    species, lattice, positions = structure_arrays(frame.get("structure"))
    mp_id = record_id(frame.get("mp_id"), "mp_id")
    return _configuration(
        species=species,
        lattice=lattice,
        positions=positions,
        energy=frame.get(ENERGY_FIELD),
        corrected=frame.get("corrected_total_energy"),
        force=frame.get("force"),
        stress=frame.get("stress"),
        magmom=frame.get("magmom"),
        material_id=mp_id or material_id,
        frame_id=frame_id,
        display_name=display_name,
        functional=functional,
    )


def _typed_frame_configuration(
    frame: _Frame, *, material_id: str, frame_id: str, display_name: str, functional: str | None
) -> Configuration:
    sites = frame.structure.sites
    species: list[str] = []
    for site in sites:
        if len(site.species) != 1 or abs(site.species[0].occu - 1.0) > 1e-8:
            raise RecordRejected(
                "disordered site (partial occupancy) cannot be a training configuration", field="structure"
            )
        species.append(element(site.species[0].element, f"structure.sites[{len(species)}].species[0].element"))
    try:
        lattice = np.array(frame.structure.lattice.matrix, dtype=np.float64)
        positions = np.array([site.xyz for site in sites], dtype=np.float64)
    except ValueError as exc:
        raise RecordRejected(f"ragged coordinates ({exc})", field="structure") from exc
    return _configuration(
        species=species,
        lattice=lattice,
        positions=positions,
        energy=frame.uncorrected_total_energy,
        corrected=frame.corrected_total_energy,
        force=frame.force,
        stress=frame.stress,
        magmom=frame.magmom,
        material_id=str(frame.mp_id or material_id),
        frame_id=frame_id,
        display_name=display_name,
        functional=functional,
    )


_FRAMES_DECODER = msgspec.json.Decoder(dict[str, _Frame])


def material_configurations(
    material_id: str, raw_frames: bytes, *, display_name: str, functional: str | None
) -> Iterator[Configuration | Rejected]:
    """Every frame of one material, from the raw bytes of its ``{frame_id: frame}`` object."""
    try:
        typed = _FRAMES_DECODER.decode(raw_frames)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        typed = None
    if typed is not None:
        for frame_id, frame in typed.items():
            try:
                yield _typed_frame_configuration(
                    frame,
                    material_id=material_id,
                    frame_id=frame_id,
                    display_name=display_name,
                    functional=functional,
                )
            except RecordRejected as exc:
                yield Rejected(f"{material_id}/{frame_id}", exc.field, exc.reason)
        return
    try:
        frames = decode(raw_frames)
    except RecordRejected as exc:
        yield from _frames_one_by_one(material_id, raw_frames, exc, display_name=display_name, functional=functional)
        return
    if not isinstance(frames, dict):
        yield Rejected(material_id, None, f"expected an object of frames, found {type(frames).__name__}")
        return
    for frame_id, frame in frames.items():
        try:
            yield frame_configuration(
                frame,
                material_id=material_id,
                frame_id=str(frame_id),
                display_name=display_name,
                functional=functional,
            )
        except RecordRejected as exc:
            yield Rejected(f"{material_id}/{frame_id}", exc.field, exc.reason)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            yield Rejected(f"{material_id}/{frame_id}", None, f"malformed frame ({type(exc).__name__}: {exc})")


def _frames_one_by_one(
    material_id: str, raw_frames: bytes, failure: RecordRejected, *, display_name: str, functional: str | None
) -> Iterator[Configuration | Rejected]:
    """A material whose object does not decode: its frames decoded one by one, so damage costs one frame."""
    inner = raw_frames.strip()
    if not (inner.startswith(b"{") and inner.endswith(b"}")):
        yield Rejected(material_id, "(the material)", failure.reason)
        return
    for frame_id, raw in split_members(RawChunk(sequence=0, members=inner[1:-1])):
        record = f"{material_id}/{frame_id}"
        try:
            frame = decode(raw)
            yield frame_configuration(
                frame, material_id=material_id, frame_id=frame_id, display_name=display_name, functional=functional
            )
        except RecordRejected as exc:
            yield Rejected(record, exc.field or "(the frame)", exc.reason)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            yield Rejected(record, "(the frame)", f"malformed frame ({type(exc).__name__}: {exc})")


class MPtrjImporter:
    """CHGNet MPtrj JSON (material -> frame -> labels)."""

    name: ClassVar[str] = "mptrj"
    summary: ClassVar[str] = (
        "CHGNet MPtrj JSON: {mp_id: {frame_id: {structure, uncorrected_total_energy, force, stress, magmom}}}"
    )

    def chunks(self, path: Path, *, target_bytes: int) -> Iterator[RawChunk]:
        """Runs of whole materials of about ``target_bytes``."""
        return iter_object_chunks(path, target_bytes=target_bytes)

    def parse_chunk(
        self, chunk: RawChunk, *, display_name: str, options: ImportOptions
    ) -> Iterator[Configuration | Rejected]:
        """Every frame of every material in ``chunk``."""
        for material_id, raw_frames in split_members(chunk):
            yield from material_configurations(
                material_id, raw_frames, display_name=display_name, functional=options.functional
            )

    def read(self, path: Path, *, display_name: str, options: ImportOptions) -> Iterator[Configuration | Rejected]:
        """Every configuration of ``path`` in file order; InputError after the last good record on damage."""
        for chunk in self.chunks(path, target_bytes=CHUNK_BYTES):
            yield from self.parse_chunk(chunk, display_name=display_name, options=options)
