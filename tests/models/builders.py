"""Small randomly initialised MACE and matgl models, saved the way their training tools save them.

Random weights make nonsense energies but real physics still holds for them: forces are -dE/dx, energy is
invariant to translation, batched and single predictions agree. That is what the adapter tests check.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ELEMENTS = ("Si", "O", "Li", "Fe", "V", "As", "S")


def build_mace_file(path: Path, *, seed: int = 0) -> Path:
    """A tiny ScaleShiftMACE (8x0e+8x1o hidden, 2 interactions, r_max 4 A) saved with torch.save(model)."""
    from curate.models.mace import import_mace

    import_mace()
    import torch
    from ase.data import atomic_numbers
    from e3nn import o3
    from mace import modules

    torch.manual_seed(seed)
    zs = sorted(atomic_numbers[s] for s in ELEMENTS)
    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        model = modules.ScaleShiftMACE(
            r_max=4.0,
            num_bessel=4,
            num_polynomial_cutoff=5,
            max_ell=2,
            interaction_cls=block,
            interaction_cls_first=block,
            num_interactions=2,
            num_elements=len(zs),
            hidden_irreps=o3.Irreps("8x0e + 8x1o"),
            MLP_irreps=o3.Irreps("8x0e"),
            atomic_energies=np.linspace(-3.0, -1.0, len(zs)),
            avg_num_neighbors=10.0,
            atomic_numbers=zs,
            correlation=2,
            gate=torch.nn.functional.silu,
            atomic_inter_scale=1.0,
            atomic_inter_shift=0.0,
        )
    finally:
        torch.set_default_dtype(previous)
    torch.save(model, path)
    return path


def build_matgl_dir(path: Path, *, seed: int = 0, element_refs: list[float] | None = None) -> Path:
    """A tiny M3GNet potential (16 units, 1 block, cutoff 4 A) saved with Potential.save(path).

    ``element_refs``: the Potential's elemental reference energies (eV per atom, in ELEMENTS order), or none.
    """
    import torch
    from matgl.apps.pes import Potential
    from matgl.models import M3GNet

    torch.manual_seed(seed)
    model = M3GNet(element_types=ELEMENTS, units=16, nblocks=1, cutoff=4.0, threebody_cutoff=3.0, is_intensive=False)
    Potential(model=model, calc_stresses=True, element_refs=element_refs).save(path)
    return path
