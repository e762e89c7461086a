"""What a VASP calculation's inputs say about its functional and Hubbard U: read, never guessed."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from curate.errors import InputError, RecordRejected
from curate.sources.base import ImportOptions
from curate.sources.jsonstream import open_binary

ENERGY_FIELD = "e_fr_energy"

# emmet's run types are named for the POTCAR family; in Materials Project data GGA means PBE
_RUN_TYPE_TO_FUNCTIONAL = {"GGA": "PBE", "GGA+U": "PBE+U"}
_GGA_RUN_TYPES = {"GGA", "PBE", "PBEsol", "LDA", "AM05", "revPBE", "optPBE", "optB88", "optB86b", "vdW-DF2"}


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().upper().lstrip(".").startswith("T")
    return bool(value)


def functional_from_vasp(
    incar: Mapping[str, Any] | None,
    parameters: Mapping[str, Any] | None = None,
    potcar_titles: Sequence[str] = (),
) -> str:
    """Functional name from INCAR (and vasprun parameters), with emmet's run-type rules.

    ``GGA`` absent from both means "take it from the POTCAR" (VASP's default): PBE when the POTCAR titles
    say PAW_PBE. Raises RecordRejected when nothing tells the functional.
    """
    from emmet.core.vasp.calc_types.utils import run_type

    merged: dict[str, Any] = {str(k).upper(): v for k, v in (parameters or {}).items()}
    merged.update({str(k).upper(): v for k, v in (incar or {}).items()})
    if "GGA" not in merged and not merged.get("METAGGA"):
        if potcar_titles and all("PBE" in t for t in potcar_titles):
            merged["GGA"] = "--"
        else:
            raise RecordRejected(
                "cannot tell the functional: no GGA or METAGGA tag in the inputs and no PBE POTCAR titles",
                field="incar",
            )
    gga = merged.get("GGA")
    if gga is not None and (not isinstance(gga, str) or gga.strip().upper() not in _known_gga_tags()):
        # emmet calls every GGA value it does not know LDA: refuse instead of mislabelling
        raise RecordRejected(f"GGA={gga!r} is not a functional curate can name", field="GGA")
    if "LDAU" in merged:
        merged["LDAU"] = _truthy(merged["LDAU"])
    name = run_type(merged).value
    metagga = str(merged.get("METAGGA") or "").strip().upper()
    if metagga not in ("", "--", "NONE", "F", "FALSE", ".FALSE.") and name.removesuffix("+U") in _GGA_RUN_TYPES:
        # emmet falls back to the GGA rules for a METAGGA value it does not know: refuse instead of mislabelling
        raise RecordRejected(f"METAGGA={merged['METAGGA']!r} is not a functional curate can name", field="METAGGA")
    return _RUN_TYPE_TO_FUNCTIONAL.get(name, name)


@lru_cache(maxsize=1)
def _known_gga_tags() -> frozenset[str]:
    """Every INCAR GGA value emmet's run-type table names (upper case), '--' (take it from the POTCAR) included."""
    from emmet.core.vasp.calc_types.utils import _RUN_TYPE_DATA

    tags = {str(p["GGA"]).strip().upper() for kind in _RUN_TYPE_DATA.values() for p in kind.values() if "GGA" in p}
    return frozenset(tags | {"--"})


@lru_cache(maxsize=1)
def functional_names() -> tuple[str, ...]:
    """Every name :func:`functional_from_vasp` can return (emmet's run types, GGA read as PBE), sorted.

    These are the ``functional`` column's names for DFT rows; the other importers write a subset of them.
    """
    from emmet.core.vasp.calc_types.enums import RunType

    return tuple(sorted({_RUN_TYPE_TO_FUNCTIONAL.get(r.value, r.value) for r in RunType}, key=str.lower))


def known_functional(value: Any, field: str = "functional") -> str:
    """``value`` as the ``functional`` column spells it (any case in); RecordRejected when it names none."""
    canonical = {name.lower(): name for name in functional_names()}
    if not isinstance(value, str) or value.strip().lower() not in canonical:
        raise RecordRejected(f"expected a functional name such as PBE or r2SCAN, found {value!r}", field=field)
    return canonical[value.strip().lower()]


def potcar_element(title_or_symbol: str) -> str:
    """Element of a POTCAR title ('PAW_PBE Fe_pv 06Sep2000') or symbol ('Fe_pv')."""
    token = title_or_symbol.split()[1] if " " in title_or_symbol.strip() else title_or_symbol.strip()
    return token.split("_")[0]


def hubbard_u_from_vasp(
    incar: Mapping[str, Any] | None, site_elements_in_order: Sequence[str]
) -> dict[str, float] | None:
    """Effective U (LDAUU - LDAUJ, eV) per element when LDAU is on; values follow the POSCAR species order.

    ``site_elements_in_order`` is one element per POSCAR species block (the POTCAR order). Only non-zero
    values are returned; None when +U is off.
    """
    if not incar:
        return None
    upper = {str(k).upper(): v for k, v in incar.items()}
    if not _truthy(upper.get("LDAU", False)):
        return None
    u_values = list(upper.get("LDAUU") or [])
    j_values = list(upper.get("LDAUJ") or [0.0] * len(u_values))
    if len(u_values) != len(site_elements_in_order):
        raise RecordRejected(
            f"LDAUU has {len(u_values)} values for {len(site_elements_in_order)} species "
            f"{list(site_elements_in_order)}",
            field="LDAUU",
        )
    result: dict[str, float] = {}
    for element, u, j in zip(site_elements_in_order, u_values, j_values, strict=False):
        u_eff = float(u) - float(j)
        if abs(u_eff) > 0:
            result[element] = u_eff
    return result or None


def species_blocks(species: Sequence[str]) -> list[str]:
    """Element of each consecutive block of identical species (POSCAR order)."""
    blocks: list[str] = []
    for s in species:
        if not blocks or blocks[-1] != s:
            blocks.append(s)
    return blocks


def open_text(path: Path) -> IO[str]:
    """``path`` as text, decompressed when its bytes are gzip whatever its name (ASE goes by the suffix)."""
    return io.TextIOWrapper(open_binary(path), encoding="latin-1")


@dataclass(frozen=True)
class CalcInputs:
    """What one calculation's inputs say, or why they cannot be used (then every step is rejected)."""

    functional: str | None
    hubbard_u: dict[str, float] | None
    problem: RecordRejected | None = None


def calc_inputs(
    incar: Mapping[str, Any] | None,
    parameters: Mapping[str, Any] | None,
    titles: Sequence[str],
    first_species: Sequence[str],
    options: ImportOptions,
) -> CalcInputs:
    """Functional and Hubbard U of one calculation from its INCAR, parameters and POTCAR titles.

    ``options.functional`` is used only when the inputs cannot tell; a problem is returned, not raised, so that
    every step of the calculation can be rejected with the same reason.
    """
    try:
        functional = functional_from_vasp(incar, parameters, titles)
    except RecordRejected as exc:
        if options.functional is None:
            hint = RecordRejected(f"{exc.reason}; give the functional import option if you know it", field=exc.field)
            return CalcInputs(None, None, hint)
        functional = options.functional
    elements = [potcar_element(t) for t in titles] if titles else species_blocks(first_species)
    merged = {**(parameters or {}), **(incar or {})}
    try:
        return CalcInputs(functional, hubbard_u_from_vasp(merged, elements))
    except RecordRejected as exc:
        return CalcInputs(functional, None, exc)


def refuse_machine_learned(settings: Mapping[str, Any], source_file: str) -> None:
    """A VASP MLFF run's energies and forces are predictions of its force field, not DFT labels."""
    value = {str(k).upper(): v for k, v in settings.items()}.get("ML_LMLFF")
    if value is True or (isinstance(value, str) and value.strip(".").upper().startswith("T")):
        raise InputError(
            "machine-learned force field run (ML_LMLFF = True): its steps are not DFT labels",
            file=source_file,
            field="ML_LMLFF",
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
