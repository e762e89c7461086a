"""Property-level validation: elastic moduli, equation-of-state bulk modulus and phonons of a model, by matcalc.

Softening shows in properties: a potential energy surface that is too flat gives too small elastic moduli
and phonon frequencies. For each structure and each model variant (a model spec, optionally with the
``linear`` correction of scale s applied), matcalc computes

* ``elasticity``: the elastic tensor from stress-strain fits (``ElasticityCalc``: normal and shear strains,
  ions clamped, as matcalc's own elasticity benchmark does), reported as Voigt-Reuss-Hill bulk and shear
  moduli K_VRH, G_VRH (GPa);
* ``eos``: the Birch-Murnaghan bulk modulus B0 (GPa) of an energy-volume scan (``EOSCalc``: isotropic volume
  strains, atoms relaxed at each volume, the cell shape held);
* ``phonon``: phonopy frequencies on a mesh (``PhononCalc``, finite displacements in a supercell), summarised
  as the largest, the smallest and the mean signed square omega|omega| (THz, THz^2).

Every variant is evaluated on one structure relaxed once by the first (base) variant (``relax_with="base"``),
or each on its own relaxation (``"own"``). The linear correction multiplies the interaction energy U by s,
so forces and stress scale by s, the minimum does not move, and on a shared structure every elastic
constant and every force constant scales by s exactly: K, G, B0 and omega^2 by s. (The EOS relaxes atoms at
each volume with the variant's own forces; positions fixed by symmetry do not move, others converge to the
same minimum within the force tolerance.)

matcalc is imported by :func:`matcalc_module` only when a property is computed: importing it as is imports
matgl, which lists models on the Hugging Face Hub (network retries for ~25 s when offline).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal, get_args

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from curate.diagnostics.property_inputs import PropertyInput
from curate.errors import ConfigurationError

PropertyName = Literal["elasticity", "eos", "phonon"]
PROPERTY_NAMES: tuple[str, ...] = get_args(PropertyName)
RelaxWith = Literal["base", "own"]
RELAX_WITH: tuple[str, ...] = get_args(RelaxWith)

_import_lock = threading.Lock()


def matcalc_module() -> ModuleType:
    """matcalc, imported without the Hugging Face Hub query its import runs.

    ``matcalc.utils`` imports matgl at import time and calls ``matgl.get_available_pretrained_models()``, an
    ``HfApi().list_models`` request (retried for ~25 s without network, an error under ``HF_HUB_OFFLINE=1``),
    only to list matgl models for ``PESCalculator.load_universal``, which curate never calls. While matcalc is
    imported, ``import matgl`` is made to fail (matcalc then records no matgl models); an already imported
    matgl is put back afterwards.
    """
    if "matcalc" in sys.modules:
        return sys.modules["matcalc"]
    with _import_lock:
        had_matgl = "matgl" in sys.modules
        previous = sys.modules.get("matgl")
        sys.modules["matgl"] = None  # type: ignore[assignment]
        try:
            import matcalc
        finally:
            if had_matgl:
                sys.modules["matgl"] = previous  # type: ignore[assignment]
            else:
                del sys.modules["matgl"]
    return matcalc


class ScaledCalculator(Calculator):
    """An ASE calculator returning ``scale`` x another's energy, forces and stress.

    Forces and stress are exactly those of curate's ``linear`` correction of scale s. Its energy is s E rather
    than R + s U (R: the model's elemental reference energies, a function of composition only); no property
    here sees the difference, since all are derivatives at fixed composition.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]  # noqa: RUF012 (ASE's protocol)

    def __init__(self, base: Calculator, scale: float, **kwargs: Any):
        super().__init__(**kwargs)
        self.base = base
        self.scale = float(scale)

    def calculate(self, atoms: Atoms | None = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        """s x the base calculator's energy (eV), forces (eV/A) and stress (eV/A^3, Voigt)."""
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        copy = self.atoms.copy()
        copy.calc = self.base
        energy = self.scale * float(copy.get_potential_energy())
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": self.scale * np.asarray(copy.get_forces()),
            "stress": self.scale * np.asarray(copy.get_stress()),
        }


@dataclass(frozen=True)
class ModelVariant:
    """A model whose properties to compute: a model spec, with the linear correction of ``energy_scale`` applied.

    Attributes:
        label: the name the report uses.
        spec: a model spec (``chgnet@0.3.0``, ``chgnet:FILE``, ``mace:FILE``, ``matgl:DIR``).
        energy_scale: s of the linear correction (forces and stress x s); 1.0 for the model as it is.
    """

    label: str
    spec: str
    energy_scale: float = 1.0


@dataclass(frozen=True)
class PropertySettings:
    """How properties are computed (speed against precision).

    Attributes:
        properties: which of ``elasticity``, ``eos``, ``phonon``.
        fmax_ev_per_ang: force tolerance of every relaxation (eV/angstrom).
        relax_steps: most optimizer (FIRE) steps per relaxation.
        relax_with: ``base``: every variant on the structure the first variant relaxed; ``own``: each its own.
        normal_strains, shear_strains: strains of the stress-strain fits (matcalc's defaults).
        eos_points: volumes of the energy-volume scan; eos_max_strain: its largest linear strain.
        phonon_min_length_ang: the phonon supercell is at least this long along each lattice vector (angstrom).
        phonon_displacement_ang: finite displacement (angstrom).
    """

    properties: tuple[PropertyName, ...] = ("elasticity", "eos")
    fmax_ev_per_ang: float = 0.1
    relax_steps: int = 500
    relax_with: RelaxWith = "base"
    normal_strains: tuple[float, ...] = (-0.01, -0.005, 0.005, 0.01)
    shear_strains: tuple[float, ...] = (-0.06, -0.03, 0.03, 0.06)
    eos_points: int = 7
    eos_max_strain: float = 0.05
    phonon_min_length_ang: float = 10.0
    phonon_displacement_ang: float = 0.015

    def __post_init__(self) -> None:
        unknown = [p for p in self.properties if p not in PROPERTY_NAMES]
        if unknown or not self.properties:
            raise ConfigurationError(f"properties must be some of {', '.join(PROPERTY_NAMES)}, got {self.properties}")
        if self.relax_with not in RELAX_WITH:
            raise ConfigurationError(f"relax_with must be one of {', '.join(RELAX_WITH)}, got {self.relax_with!r}")
        if self.eos_points < 5:
            raise ConfigurationError(f"the Birch-Murnaghan fit needs >= 5 volumes, got {self.eos_points}")


def _elasticity(calculator: Calculator, structure: Any, settings: PropertySettings) -> dict[str, float]:
    calc = matcalc_module().ElasticityCalc(
        calculator,
        norm_strains=settings.normal_strains,
        shear_strains=settings.shear_strains,
        fmax=settings.fmax_ev_per_ang,
        relax_structure=False,
        units_GPa=True,
    )
    result = calc.calc(structure)
    return {
        "bulk_modulus_vrh_gpa": float(result["bulk_modulus_vrh"]),
        "shear_modulus_vrh_gpa": float(result["shear_modulus_vrh"]),
    }


def _eos(calculator: Calculator, structure: Any, settings: PropertySettings) -> dict[str, float]:
    calc = matcalc_module().EOSCalc(
        calculator,
        n_points=settings.eos_points,
        max_abs_strain=settings.eos_max_strain,
        fmax=settings.fmax_ev_per_ang,
        max_steps=settings.relax_steps,
        allow_shape_change=False,
        relax_structure=False,
    )
    return {"bulk_modulus_eos_gpa": float(calc.calc(structure)["bulk_modulus_bm"])}


def _phonon(calculator: Calculator, structure: Any, settings: PropertySettings) -> dict[str, float]:
    calc = matcalc_module().PhononCalc(
        calculator,
        atom_disp=settings.phonon_displacement_ang,
        min_length=settings.phonon_min_length_ang,
        relax_structure=False,
        write_phonon=False,
    )
    frequencies = np.asarray(calc.calc(structure)["frequencies"], dtype=np.float64)
    return {
        "phonon_max_thz": float(frequencies.max()),
        "phonon_min_thz": float(frequencies.min()),
        "phonon_mean_signed_square_thz2": float(np.mean(frequencies * np.abs(frequencies))),
    }


_CALCULATORS: dict[str, Callable[[Calculator, Any, PropertySettings], dict[str, float]]] = {
    "elasticity": _elasticity,
    "eos": _eos,
    "phonon": _phonon,
}


def relax(calculator: Calculator, structure: Any, settings: PropertySettings) -> Any:
    """``structure`` (pymatgen) relaxed, cell included, by FIRE to ``fmax_ev_per_ang``.

    Raises:
        RuntimeError: not converged within ``relax_steps``.
    """
    calc = matcalc_module().RelaxCalc(
        calculator, fmax=settings.fmax_ev_per_ang, max_steps=settings.relax_steps, relax_cell=True
    )
    result = calc.calc(structure)
    if not result.get("is_converged", True):
        raise RuntimeError(
            f"relaxation not converged: max |F| {result['max_force']:.3g} eV/A > {settings.fmax_ev_per_ang} "
            f"after {settings.relax_steps} steps"
        )
    return result["final_structure"]


@dataclass
class VariantProperties:
    """One variant's numbers for one structure: values by name (GPa, THz), what failed and why, seconds per property."""

    values: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def variant_properties(
    calculator: Calculator, structure: Any, settings: PropertySettings, *, relaxed: bool
) -> VariantProperties:
    """Every asked property of ``structure`` (pymatgen) with ``calculator``; relaxed first unless ``relaxed``.

    A property whose computation fails is recorded in ``errors`` with the reason (the others still run);
    matcalc's fit-quality warnings are kept in ``warnings``.
    """
    out = VariantProperties()
    with _recorded_warnings() as caught:
        if not relaxed:
            try:
                structure = relax(calculator, structure, settings)
            except Exception as exc:  # a failed relaxation fails every property of this variant, with its reason
                out.errors = {name: f"relaxation: {_reason(exc)}" for name in settings.properties}
                return out
        for name in settings.properties:
            started = time.perf_counter()
            try:
                out.values.update(_CALCULATORS[name](calculator, structure, settings))
            except Exception as exc:  # matcalc's fits raise several types; the reason is kept per property
                out.errors[name] = _reason(exc)
            out.seconds[name] = time.perf_counter() - started
    out.warnings = sorted({str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)})
    return out


@contextlib.contextmanager
def _recorded_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Warnings raised inside, kept (not printed): matcalc's fit-quality RuntimeWarnings go into the record,
    and CHGNet's per-call UserWarning would otherwise bury the progress bar."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        yield caught


def structure_properties(
    item: PropertyInput, calculators: dict[str, Calculator], settings: PropertySettings
) -> dict[str, Any]:
    """The properties of one structure by every variant (``calculators``: label -> calculator, base first).

    Returns a JSON-ready record: id, formula, nsites, DFT moduli (GPa or None), seconds, and per variant label
    its ``values``, ``errors``, ``warnings`` and ``seconds`` (see :class:`VariantProperties`).
    """
    from pymatgen.core import Structure

    started = time.perf_counter()
    structure = Structure.from_dict(item.structure)
    labels = list(calculators)
    record: dict[str, Any] = {
        "id": item.id,
        "formula": item.formula,
        "nsites": item.nsites,
        "bulk_modulus_dft_gpa": item.bulk_modulus_dft_gpa,
        "shear_modulus_dft_gpa": item.shear_modulus_dft_gpa,
        "variants": {},
    }
    relaxed = settings.relax_with == "base"
    if relaxed:
        try:
            with _recorded_warnings():
                structure = relax(calculators[labels[0]], structure, settings)
        except Exception as exc:  # recorded for every variant: nothing can be computed on an unrelaxed cell
            failed = {name: f"relaxation by {labels[0]}: {_reason(exc)}" for name in settings.properties}
            record["variants"] = {label: {"values": {}, "errors": failed, "warnings": []} for label in labels}
            record["seconds"] = time.perf_counter() - started
            return record
    for label in labels:
        result = variant_properties(calculators[label], structure, settings, relaxed=relaxed)
        record["variants"][label] = {
            "values": result.values,
            "errors": result.errors,
            "warnings": result.warnings,
            "seconds": result.seconds,
        }
    record["seconds"] = time.perf_counter() - started
    return record
