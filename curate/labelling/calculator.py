"""Label candidates with a calculator instead of DFT: ASE's EMT, or any uMLIP by its model spec (a teacher).

Such labels are model outputs, not DFT: ``functional`` records the calculator (``EMT``,
``model:chgnet@0.3.0``) so they can never be mistaken for PBE or r2SCAN labels. Each labelled row keeps the
candidate's provenance and has ``parent_id`` = the candidate's id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np

from curate.configuration import Configuration
from curate.labelling.provenance import apply_sidecar, sidecar_for

ASE_CALCULATORS = ("emt",)


def _labelled(
    candidate_id: str, cfg: Configuration, *, energy: float, forces: np.ndarray, stress: np.ndarray, label: str
) -> Configuration:
    out = dataclasses.replace(
        cfg,
        energy=float(energy),
        energy_field="calculator",
        forces=np.asarray(forces, dtype=np.float64),
        stress=np.asarray(stress, dtype=np.float64),
        functional=label,
        hubbard_u=None,
        scf_converged=None,
        source="label",
        source_file=None,
        source_record=f"candidate {candidate_id} labelled by {label}",
    )
    return apply_sidecar(out, sidecar_for(candidate_id, cfg))


def label_with_calculator(
    rows: Sequence[tuple[str, Configuration]], spec: str, *, device: str | None = None
) -> Iterator[Configuration]:
    """Labelled copies of ``rows`` (energy eV, forces eV/A, stress GPa ASE sign), in input order.

    ``spec`` is ``emt`` (ASE's EMT, for the metals it covers) or a model spec (``chgnet@0.3.0``, ``mace:FILE``,
    ``matgl:DIR``).
    """
    if spec.lower() in ASE_CALCULATORS:
        from ase import Atoms
        from ase.calculators.emt import EMT
        from ase.units import GPa

        for candidate_id, cfg in rows:
            atoms = Atoms(cfg.species, positions=cfg.positions, cell=cfg.lattice, pbc=[bool(p) for p in cfg.pbc])
            atoms.calc = EMT()
            stress = atoms.get_stress(voigt=False) / GPa if any(cfg.pbc) else np.zeros((3, 3))
            yield _labelled(
                candidate_id,
                cfg,
                energy=atoms.get_potential_energy(),
                forces=atoms.get_forces(),
                stress=stress,
                label="EMT",
            )
        return
    from curate.models.base import default_max_atoms_per_batch
    from curate.models.registry import load_model

    model = load_model(spec, device=device)
    predictions = model.predict([cfg for _, cfg in rows], max_atoms_per_batch=default_max_atoms_per_batch())
    for (candidate_id, cfg), prediction in zip(rows, predictions, strict=True):
        yield _labelled(
            candidate_id,
            cfg,
            energy=prediction.energy,
            forces=prediction.forces,
            stress=prediction.stress,
            label=f"model:{model.info.spec}",
        )
