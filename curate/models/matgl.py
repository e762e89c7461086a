"""matgl adapter: a potential saved with ``Potential.save(DIR)`` (model.json, model.pt, state.pt), batched.

matgl's ``Potential`` returns total energy (eV), forces (eV/angstrom) and stress in GPa as (1/V) dE/d(strain),
which is the ASE sign; no conversion is needed. curate never reaches the Hugging Face Hub for a name: a
model must be a local directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from curate.dataset.configuration import Configuration
from curate.errors import ConfigurationError
from curate.models.base import Device, ModelInfo, Prediction, atom_batches


class MatGLModel:
    """A matgl potential loaded from a local directory; energies eV, forces eV/A, stress GPa (ASE sign)."""

    def __init__(self, location: str, *, device: Device, spec: str):
        path = Path(location).expanduser()
        if not (path / "model.json").is_file():
            raise ConfigurationError(
                f"no matgl model directory at {location!r} (expected model.json, model.pt, state.pt there); curate "
                'does not download weights: on a connected machine run `python -c "import matgl; '
                f"matgl.load_model('{location}').save('DIR')\"` and load the spec matgl:DIR"
            )
        import matgl

        try:
            potential = matgl.load_model(path)
        except (ValueError, RuntimeError) as exc:
            raise ConfigurationError(f"{path}: cannot load as a matgl model ({exc.__cause__ or exc})") from exc
        info = ModelInfo.for_local_file(spec, path, architecture="matgl", library=f"matgl {matgl.__version__}")
        self._wrap(potential, info=info, device=device, where=str(path))

    @classmethod
    def from_potential(cls, potential: Any, *, info: ModelInfo, device: Device) -> MatGLModel:
        """Wrap a matgl ``Potential`` already in memory (e.g. fresh from fine-tuning), moved to ``device``.

        Raises ConfigurationError when it is not a Potential computing forces and stresses.
        """
        adapter = cls.__new__(cls)
        adapter._wrap(potential, info=info, device=device, where=info.spec)
        return adapter

    def _wrap(self, potential: Any, *, info: ModelInfo, device: Device, where: str) -> None:
        if not hasattr(potential, "calc_forces"):
            raise ConfigurationError(f"{where}: holds a {type(potential).__name__}, not a matgl Potential")
        if not (potential.calc_forces and potential.calc_stresses):
            raise ConfigurationError(f"{where}: this matgl Potential does not compute forces and stresses")
        self.potential = potential.to(device).eval()
        self.device: Device = device
        self.element_types = tuple(potential.model.element_types)
        self.cutoff = float(potential.model.cutoff)
        self.info = info

    def _graph(self, cfg: Configuration) -> tuple[Any, Any, Any]:
        import ase
        from matgl.ext.ase import Atoms2Graph

        unknown = sorted(set(cfg.species) - set(self.element_types))
        if unknown:
            raise ConfigurationError(
                f"{self.info.spec}: model knows no {unknown} (trained on {len(self.element_types)} elements)"
            )
        pbc = [bool(p) for p in cfg.pbc]
        atoms = ase.Atoms(symbols=cfg.species, positions=cfg.positions, cell=cfg.lattice, pbc=pbc)
        return Atoms2Graph(self.element_types, self.cutoff).get_graph(atoms)

    def predict(self, structures: Sequence[Configuration], *, max_atoms_per_batch: int) -> list[Prediction]:
        """Energy (eV), forces (nsites, 3; eV/A) and stress (3, 3; GPa, ASE sign) for each structure."""
        import torch
        from torch_geometric.data import Batch

        out: list[Prediction] = []
        nsites = [c.nsites for c in structures]
        for batch_range in atom_batches(nsites, max_atoms_per_batch):
            parts = [self._graph(structures[i]) for i in batch_range]
            graph = Batch.from_data_list([p[0] for p in parts]).to(self.device)
            lattice = torch.cat([torch.as_tensor(p[1]).reshape(1, 3, 3) for p in parts]).to(self.device)
            state = torch.as_tensor(np.asarray(parts[0][2])).to(self.device)
            energy, forces, stress = self.potential(graph, lattice, state)[:3]
            energy_np = energy.detach().cpu().numpy().astype(np.float64).reshape(-1)
            forces_np = forces.detach().cpu().numpy().astype(np.float64)
            stress_np = stress.detach().cpu().numpy().astype(np.float64).reshape(-1, 3, 3)
            start = 0
            for k, i in enumerate(batch_range):
                out.append(
                    Prediction(
                        energy=float(energy_np[k]), forces=forces_np[start : start + nsites[i]], stress=stress_np[k]
                    )
                )
                start += nsites[i]
        return out
