"""Which total energy an export writes as the training target: corrected (MP2020) or raw DFT, never a mix.

CHGNet (and every model pretrained on MPtrj) learned Materials Project 2020-corrected energies: the raw
PBE/PBE+U total energy plus composition-based anion and GGA/GGA+U mixing corrections,

    E_corrected = E_DFT + sum_k n_k c_k          (eV; n_k atoms of anion/U-element k, c_k eV/atom from MP2020)

which pymatgen's ``MaterialsProject2020Compatibility`` computes. An export asks for one of:

* ``corrected``: the row's stored ``energy_corrected`` (MPtrj frames carry it), else E_corrected computed
  here for a PBE or PBE+U row (the user vouches that the row used Materials Project input settings);
  rows MP2020 refuses (a U value that is not MP's, an Fe oxide run without U) and rows of other
  functionals are skipped and counted with the reason. r2SCAN, PBEsol, SCAN... rows never get MP2020.
* ``uncorrected``: the raw DFT total energy of every row (``energy``).
* ``auto``: ``corrected`` when every labelled row is *correctable* (a stored ``energy_corrected``, or a PBE/PBE+U
  row from Materials Project task documents, source ``mp-tasks``, which used MP's input sets), ``uncorrected``
  when none is (an r2SCAN or MatPES file). When only some are, the export is refused: writing corrected and
  raw energies into one file would put one training target on two scales, and computing MP2020 for rows of
  unknown settings (your own VASP runs, MatPES PBE) would change physics silently.

POTCARs are not stored in curate rows, so pymatgen's POTCAR check is off; run type, Hubbard U values and the
structure (oxide/peroxide and sulfide classification) are checked as MP does.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from curate.dataset.configuration import Configuration
from curate.errors import ConfigurationError

EnergyChoice = Literal["auto", "corrected", "uncorrected"]
ENERGY_CHOICES: tuple[str, ...] = get_args(EnergyChoice)
# curate functional -> the run type MaterialsProject2020Compatibility accepts
MP2020_RUN_TYPES: dict[str, str] = {"PBE": "GGA", "PBE+U": "GGA+U"}
# sources whose PBE/PBE+U rows were computed with Materials Project input sets (what MP2020 was fitted for)
MP_SETTINGS_SOURCES: frozenset[str] = frozenset({"mp-tasks"})

KIND_STORED = "corrected (the row's stored energy_corrected)"
KIND_MP2020 = "corrected (MP2020, computed with pymatgen MaterialsProject2020Compatibility)"
KIND_RAW = "uncorrected (raw DFT total energy)"


@dataclass(frozen=True)
class EnergyPolicy:
    """The energy an export writes, resolved from an :data:`EnergyChoice` for one file.

    Attributes:
        requested: the choice asked for (``auto``, ``corrected``, ``uncorrected``).
        corrected: True: write corrected energies (rows without one are skipped); False: raw DFT energies.
        mp2020_sources: sources whose PBE/PBE+U rows get a computed MP2020 correction; None: every source.
    """

    requested: str
    corrected: bool
    mp2020_sources: frozenset[str] | None = None

    def describe(self) -> str:
        """``"auto -> corrected"`` style text for reports."""
        resolved = "corrected" if self.corrected else "uncorrected"
        return resolved if self.requested == resolved else f"{self.requested} -> {resolved}"


@dataclass(frozen=True)
class EnergyLabel:
    """The energy of one row as written.

    Attributes:
        target_ev: total energy the trainer learns (eV): corrected or raw per the policy.
        corrected_ev: the corrected total energy known for the row (stored or computed, eV), else None.
        kind: one of KIND_STORED, KIND_MP2020, KIND_RAW.
    """

    target_ev: float
    corrected_ev: float | None
    kind: str


class NoEnergy(Exception):
    """The row has no energy of the kind the policy asks for; ``reason`` is the counted skip reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def auto_correctable(*, functional: str | None, source: str | None, has_stored: bool) -> bool:
    """True when ``auto`` can give this row a corrected energy (stored, or MP2020 for MP-settings PBE/PBE+U)."""
    return has_stored or (functional in MP2020_RUN_TYPES and source in MP_SETTINGS_SOURCES)


def resolve_energy(choice: str, *, correctable: int, uncorrectable: Mapping[str, int]) -> EnergyPolicy:
    """The policy for one file from the choice and the first pass's counts of labelled rows.

    Args:
        choice: one of :data:`ENERGY_CHOICES`.
        correctable: labelled rows :func:`auto_correctable` accepts.
        uncorrectable: labelled rows it does not, counted by ``"<source> <functional>"``.

    Raises:
        ConfigurationError: an unknown choice, or ``auto`` on a file whose rows are partly correctable.
    """
    if choice not in ENERGY_CHOICES:
        raise ConfigurationError(f"energy must be one of {', '.join(ENERGY_CHOICES)}, got {choice!r}")
    if choice == "corrected":
        return EnergyPolicy(requested=choice, corrected=True, mp2020_sources=None)
    if choice == "uncorrected":
        return EnergyPolicy(requested=choice, corrected=False)
    missing = sum(uncorrectable.values())
    if correctable and missing:
        which = ", ".join(f"{key} ({n})" for key, n in sorted(uncorrectable.items()))
        raise ConfigurationError(
            f"energy auto: {correctable} labelled rows have a corrected energy (stored, or MP2020 for Materials "
            f"Project PBE/PBE+U rows) but {missing} have none: {which}; one file cannot mix corrected and raw "
            "energies: choose energy uncorrected, or energy corrected (computes MP2020 for every PBE/PBE+U row, "
            "asserting Materials Project input settings; others are skipped), or keep fewer rows (where source=...)"
        )
    return EnergyPolicy(
        requested=choice, corrected=missing == 0 and correctable > 0, mp2020_sources=MP_SETTINGS_SOURCES
    )


class MP2020Corrections:
    """MP2020 corrections (eV) of PBE/PBE+U rows, computed with pymatgen and cached by what they depend on.

    The correction depends on the composition (atom counts), run type, Hubbard U values, and, for O and S,
    the oxide/peroxide and sulfide classification of the structure; only the classification is computed
    per row.
    """

    def __init__(self) -> None:
        self._compat: Any = None
        self._cache: dict[tuple[Any, ...], float | str] = {}

    def correction_ev(self, cfg: Configuration) -> float:
        """E_corrected - E_DFT of the row (eV, total); raises NoEnergy with pymatgen's reason when refused."""
        from pymatgen.core import Lattice, Structure
        from pymatgen.core.structure_analyzer import oxide_type, sulfide_type

        run_type = MP2020_RUN_TYPES.get(cfg.functional or "")
        if run_type is None:
            raise NoEnergy(f"no corrected energy: MP2020 is defined for PBE/PBE+U only, not {cfg.functional}")
        hubbards = {el: float(u) for el, u in sorted((cfg.hubbard_u or {}).items()) if u}
        structure = Structure(Lattice(cfg.lattice), cfg.species, cfg.positions, coords_are_cartesian=True)
        data: dict[str, str] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # spglib's, once per call of sulfide_type
            if "O" in cfg.species:
                data["oxide_type"] = str(oxide_type(structure, 1.05))  # the cut-off MP2020 itself uses
            if "S" in cfg.species:
                data["sulfide_type"] = sulfide_type(structure)
        key = (tuple(sorted(Counter(cfg.species).items())), run_type, tuple(hubbards.items()), *sorted(data.items()))
        if key not in self._cache:
            self._cache[key] = self._compute(structure, cfg, run_type=run_type, hubbards=hubbards, data=data)
        value = self._cache[key]
        if isinstance(value, str):
            raise NoEnergy(value)
        return value

    def _compute(
        self, structure: Any, cfg: Configuration, *, run_type: str, hubbards: dict[str, float], data: dict[str, str]
    ) -> float | str:
        from pymatgen.entries.compatibility import CompatibilityError, MaterialsProject2020Compatibility
        from pymatgen.entries.computed_entries import ComputedStructureEntry

        if self._compat is None:
            self._compat = MaterialsProject2020Compatibility(check_potcar=False)
        # the parameters emmet's TaskDoc.get_entry gives MP2020 (POTCARs are not stored, see the module docstring)
        parameters = {"run_type": run_type, "hubbards": hubbards, "is_hubbard": bool(hubbards)}
        entry = ComputedStructureEntry(structure, float(cfg.energy or 0.0), parameters=parameters, data=dict(data))
        try:
            with warnings.catch_warnings():
                # "failed to guess oxidation states": MP2020 then corrects the most electronegative anion, as MP does
                warnings.simplefilter("ignore")
                adjustments = self._compat.get_adjustments(entry)
        except CompatibilityError as exc:
            return f"MP2020 does not apply: {str(exc).split(' for {')[0]}"
        return float(sum(adjustment.value for adjustment in adjustments))


def energy_label(cfg: Configuration, *, policy: EnergyPolicy, corrections: MP2020Corrections) -> EnergyLabel:
    """The energy written for a labelled row under ``policy``; raises NoEnergy (counted reason) to skip it."""
    if cfg.energy is None:
        raise NoEnergy("no energy")
    stored = cfg.energy_corrected
    if not policy.corrected:
        return EnergyLabel(target_ev=float(cfg.energy), corrected_ev=stored, kind=KIND_RAW)
    if stored is not None:
        return EnergyLabel(target_ev=float(stored), corrected_ev=float(stored), kind=KIND_STORED)
    if policy.mp2020_sources is not None and cfg.source not in policy.mp2020_sources:
        raise NoEnergy(f"no corrected energy: {cfg.source} rows are not known to use Materials Project settings")
    corrected = float(cfg.energy) + corrections.correction_ev(cfg)
    return EnergyLabel(target_ev=corrected, corrected_ev=corrected, kind=KIND_MP2020)
