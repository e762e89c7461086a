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
from curate.models.base import DescribedStructure, Description, Device, ModelInfo, Prediction, atom_batches


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
        return [d.prediction for d in self._run_batches(structures, max_atoms_per_batch, with_features=False)]

    def describe(self, structures: Sequence[Configuration], *, max_atoms_per_batch: int) -> Description:
        """Predictions (the same numbers as :meth:`predict`) plus the model's own features and references, one pass.

        Features are the mean over a structure's atoms of the node features the energy readout reads: the
        last graph block's node features (M3GNet ``node_feat``, matgl's CHGNet ``atom_feat``; TensorNet's
        per-atom ``readout`` features), as the model's ``feature_dict`` holds them after the forward pass.
        Shape (N, units), e.g. 64 for M3GNet-MP-2021.2.8-PES. Reference energies are the Potential's
        ``element_refs`` (its AtomRef) summed over the structure's atoms (eV), the composition term matgl
        adds to the network's energy; 0 for a Potential without element references.

        Raises:
            ConfigurationError: an architecture whose readout curate does not know (MEGNet, SO3Net, QET ...),
                a readout of edge features, or element references per state.
        """
        return Description.of(self._run_batches(structures, max_atoms_per_batch, with_features=True))

    def _run_batches(
        self, structures: Sequence[Configuration], max_atoms_per_batch: int, *, with_features: bool
    ) -> list[DescribedStructure]:
        """One Potential forward pass per batch of at most ``max_atoms_per_batch`` atoms (a larger one alone)."""
        import torch
        from torch_geometric.data import Batch

        out: list[DescribedStructure] = []
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
            n = len(batch_range)
            features = self._mean_node_features(graph, n) if with_features else None
            references = self._reference_energies(graph, n) if with_features else np.zeros(n)
            start = 0
            for k, i in enumerate(batch_range):
                prediction = Prediction(
                    energy=float(energy_np[k]), forces=forces_np[start : start + nsites[i]], stress=stress_np[k]
                )
                out.append(
                    DescribedStructure(prediction, None if features is None else features[k], float(references[k]))
                )
                start += nsites[i]
        return out

    def _mean_node_features(self, graph: Any, n_structures: int) -> np.ndarray:
        """Mean over each structure's atoms of the readout's node features from the last forward pass, (n, d)."""
        import torch

        nodes = readout_node_features(self.potential.model, where=self.info.spec).detach().to(torch.float64)
        sums = torch.zeros(n_structures, nodes.shape[1], dtype=torch.float64, device=nodes.device)
        sums.index_add_(0, graph.batch, nodes)
        counts = torch.bincount(graph.batch, minlength=n_structures).to(torch.float64)
        return (sums / counts[:, None]).cpu().numpy()

    def _reference_energies(self, graph: Any, n_structures: int) -> np.ndarray:
        """The Potential's element-reference energy of each structure in ``graph`` (eV), zeros without one."""
        refs = self.potential.element_refs
        if refs is None:
            return np.zeros(n_structures)
        if refs.property_offset.ndim != 1:
            raise ConfigurationError(f"{self.info.spec}: element references per state are not supported")
        return refs(graph).detach().cpu().numpy().astype(np.float64).reshape(n_structures)


def readout_node_features(model: Any, *, where: str) -> Any:
    """Per-atom features (n_atoms, d) the energy readout of a matgl model read in its last forward pass.

    Raises:
        ConfigurationError: the model is not an M3GNet, CHGNet or TensorNet reading node features.
    """
    name = type(model).__name__
    features = getattr(model, "feature_dict", None) or {}
    if name == "M3GNet" and getattr(model, "field", "node_feat") == "node_feat":
        return features[f"gc_{model.n_blocks}"]["node_feat"]
    if name == "CHGNet" and getattr(model, "readout_field", "atom_feat") == "atom_feat":
        return features[f"gc_{model.n_blocks}"]["atom_feat"]
    if name == "TensorNet":
        return features["readout"]
    raise ConfigurationError(
        f"{where}: curate knows the node features the readout reads for M3GNet, CHGNet and TensorNet on node "
        f"features only; this is a {name}"
    )
