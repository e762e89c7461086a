"""MACE adapter: a model file saved with ``torch.save(model)`` (what ``mace_run_train`` writes), batched.

Importing ``mace`` writes ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` into the process environment (mace/__init__.py)
and e3nn 0.4.4 needs that (or ``slice`` among torch's safe globals) to import. :func:`import_mace` lets the
import see the variable, then restores the environment as it was, so no other ``torch.load`` in the process
silently loses its weights-only protection. MACE returns stress in eV/angstrom^3 with the ASE sign; it is
converted to GPa here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from curate.dataset.configuration import Configuration
from curate.errors import ConfigurationError
from curate.models.base import DescribedStructure, Description, Device, ModelInfo, Prediction, atom_batches

MACE_FOUNDATION_NAMES = ("small", "medium", "large", "medium-mpa-0", "medium-omat-0", "mh-1", "mp-0b3")
_ENV_KEY = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


def import_mace() -> ModuleType:
    """Import mace (and e3nn through it) without leaving its environment write behind; returns ``mace``."""
    previous = os.environ.get(_ENV_KEY)
    try:
        import mace
        import mace.data
        import mace.tools
        import mace.tools.torch_geometric
    finally:
        if previous is None:
            os.environ.pop(_ENV_KEY, None)
        else:
            os.environ[_ENV_KEY] = previous
    return mace


def heads_of(model: Any) -> tuple[list[str], str]:
    """The model's head names and the one curate predicts with: ``default`` if present, else the last."""
    heads = list(getattr(model, "heads", None) or ["Default"])
    return heads, next((h for h in heads if h.lower() == "default"), heads[-1])


class MACEModel:
    """A MACE model loaded from a local file; energies eV, forces eV/A, stress GPa (ASE sign)."""

    def __init__(self, location: str, *, device: Device, spec: str):
        path = Path(location).expanduser()
        if not path.is_file():
            hint = (
                f"{location!r} is a MACE foundation-model name, and curate does not download weights"
                if location in MACE_FOUNDATION_NAMES
                else f"no MACE model file at {location!r}"
            )
            raise ConfigurationError(
                f"{hint}: give a local file, e.g. the spec mace:/path/to/model.model (download it on a connected "
                "machine with `python -c \"from mace.calculators import mace_mp; mace_mp('medium')\"`, which "
                "caches it under ~/.cache/mace/, or take the .model file written by mace_run_train)"
            )
        mace = import_mace()
        import torch

        try:
            model = torch.load(path, map_location=device, weights_only=False)
        except Exception as exc:  # torch raises pickle/zip errors of many types for a bad file
            raise ConfigurationError(f"{path}: cannot load as a MACE model saved with torch.save ({exc})") from exc
        if not hasattr(model, "r_max") or not hasattr(model, "atomic_numbers"):
            raise ConfigurationError(f"{path}: the file holds a {type(model).__name__}, not a MACE model")
        info = ModelInfo.for_local_file(spec, path, architecture="mace", library=f"mace-torch {mace.__version__}")
        self._wrap(model, info=info, device=device)

    @classmethod
    def from_module(cls, model: Any, *, info: ModelInfo, device: Device) -> MACEModel:
        """Wrap a MACE ``torch.nn.Module`` already in memory (e.g. fresh from fine-tuning).

        The module is moved to ``device``, put in eval mode and its parameters stop requiring gradients;
        pass a copy if the caller keeps training it.
        """
        adapter = cls.__new__(cls)
        adapter._wrap(model, info=info, device=device)
        return adapter

    def _wrap(self, model: Any, *, info: ModelInfo, device: Device) -> None:
        mace = import_mace()
        self.model = model.to(device).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.device: Device = device
        self.dtype = next(self.model.parameters()).dtype
        self.r_max = float(self.model.r_max)
        self.z_table = mace.tools.AtomicNumberTable([int(z) for z in self.model.atomic_numbers])
        self.heads, self.head = heads_of(self.model)
        self._invariant_columns = invariant_columns(self.model)
        self.info = info

    def _graph(self, cfg: Configuration) -> Any:
        import ase
        import mace.data

        pbc = [bool(p) for p in cfg.pbc]
        atoms = ase.Atoms(symbols=cfg.species, positions=cfg.positions, cell=cfg.lattice, pbc=pbc)
        config = mace.data.config_from_atoms(atoms, head_name=self.head)
        return mace.data.AtomicData.from_config(config, z_table=self.z_table, cutoff=self.r_max, heads=self.heads)

    def predict(self, structures: Sequence[Configuration], *, max_atoms_per_batch: int) -> list[Prediction]:
        """Energy (eV), forces (nsites, 3; eV/A) and stress (3, 3; GPa, ASE sign) for each structure."""
        return [d.prediction for d in self._run_batches(structures, max_atoms_per_batch, with_features=False)]

    def describe(self, structures: Sequence[Configuration], *, max_atoms_per_batch: int) -> Description:
        """Predictions (the same numbers as :meth:`predict`) plus MACE's own structure features and E0s, one pass.

        Features are the mean over a structure's atoms of the invariant (0e) node features of *every*
        interaction layer, concatenated in layer order: what mace's own ``get_descriptors`` returns by
        default (``invariants_only=True``, all layers). All layers, not the last, because MACE's energy
        reads every layer: each layer has its own readout of that layer's invariants and the per-atom
        energy is their sum. Shape (N, sum over layers of the 0e channels), e.g. 128 + 128 = 256 for
        MACE-MP-0 medium. Reference energies are the model's E0s (``atomic_energies``) of the structure's
        atoms for the head curate predicts with, summed (eV): mace's own ``e0`` term of the total energy.
        """
        return Description.of(self._run_batches(structures, max_atoms_per_batch, with_features=True))

    def _run_batches(
        self, structures: Sequence[Configuration], max_atoms_per_batch: int, *, with_features: bool
    ) -> list[DescribedStructure]:
        """One MACE forward pass per batch of at most ``max_atoms_per_batch`` atoms (a larger structure alone)."""
        import torch
        from ase.units import GPa
        from mace.tools import torch_geometric, torch_tools

        out: list[DescribedStructure] = []
        nsites = [c.nsites for c in structures]
        for batch_range in atom_batches(nsites, max_atoms_per_batch):
            with torch_tools.default_dtype(self.dtype):
                graphs = [self._graph(structures[i]) for i in batch_range]
            data = torch_geometric.Batch.from_data_list(graphs).to(self.device).to_dict()
            result = self.model(data, compute_stress=True, training=False)
            energy = result["energy"].detach().cpu().numpy().astype(np.float64)
            forces = result["forces"].detach().cpu().numpy().astype(np.float64)
            stress = result["stress"].detach().cpu().numpy().astype(np.float64) / GPa
            per_structure = _per_structure_sums(
                torch.cat([self._e0_per_atom(data["node_attrs"])[:, None], result["node_feats"].detach()], dim=1),
                data["batch"],
                len(batch_range),
            )
            start = 0
            for k, i in enumerate(batch_range):
                prediction = Prediction(
                    energy=float(energy[k]), forces=forces[start : start + nsites[i]], stress=stress[k]
                )
                features = per_structure[k, 1:][self._invariant_columns] / nsites[i] if with_features else None
                out.append(DescribedStructure(prediction, features, float(per_structure[k, 0])))
                start += nsites[i]
        return out

    def _e0_per_atom(self, node_attrs: Any) -> Any:
        """Each atom's E0 (eV) for the predicting head, from the one-hot species the model reads."""
        return self.model.atomic_energies_fn(node_attrs)[:, self.heads.index(self.head)].detach()


def invariant_columns(model: Any) -> np.ndarray:
    """Columns of MACE's ``node_feats`` (every layer's product output, concatenated) that hold 0e scalars."""
    from e3nn import o3

    columns: list[int] = []
    offset = 0
    for product in model.products:
        irreps = o3.Irreps(str(product.linear.irreps_out))
        for (_, irrep), part in zip(irreps, irreps.slices(), strict=True):
            if irrep == o3.Irrep("0e"):
                columns.extend(range(offset + part.start, offset + part.stop))
        offset += irreps.dim
    return np.array(columns, dtype=np.int64)


def _per_structure_sums(values: Any, batch: Any, n_structures: int) -> np.ndarray:
    """Sum of per-atom rows ``values`` (n_atoms, d) over each structure's atoms, float64, (n_structures, d)."""
    import torch

    values = values.to(torch.float64)
    sums = torch.zeros(n_structures, values.shape[1], dtype=torch.float64, device=values.device)
    return sums.index_add_(0, batch, values).cpu().numpy()
