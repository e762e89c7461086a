"""CHGNet adapter: the three models shipped in the chgnet wheel, batched by atom count, graphs shareable.

``predict_graph`` of CHGNet returns energy per atom (eV/atom); this adapter multiplies by the number of sites
so that energies are totals in eV like the row schema. Forces are eV/angstrom; stress is GPa with the ASE
sign, as CHGNet computes it (sigma = (1/V) dE/d(strain)).
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from curate.dataset.configuration import Configuration
from curate.dataset.io import sha256_of_path
from curate.errors import ConfigurationError, InputError
from curate.models.base import DescribedStructure, Description, Device, ModelInfo, Prediction, atom_batches

CHGNET_VERSIONS = ("0.3.0", "0.2.0", "r2scan")
CHGNET_FUNCTIONALS = {"0.3.0": "PBE", "0.2.0": "PBE", "r2scan": "r2SCAN"}
# atoms per forward pass on the CPU: a pass's activations then stay in cache; measured on 2 cores, the
# committee over 2020 real atoms costs ~25 % less CPU time in 64-atom passes than in 1024-atom passes
CPU_BATCH_ATOMS = 64


def to_pymatgen(cfg: Configuration) -> Any:
    """A pymatgen Structure of a periodic configuration (lattice rows in angstrom, Cartesian positions)."""
    from pymatgen.core import Lattice, Structure

    if not all(cfg.pbc):
        raise InputError(
            f"CHGNet needs a periodic cell; found dimension_types {list(cfg.pbc)}", field="dimension_types"
        )
    return Structure(Lattice(cfg.lattice), cfg.species, cfg.positions, coords_are_cartesian=True)


@contextlib.contextmanager
def _weights_frozen(model: Any) -> Iterator[None]:
    """Turn off ``requires_grad`` on the weights for the block, then restore it.

    Forces and stress need gradients with respect to positions and strains only; weights that require
    grad make autograd record (and keep) more than that: ~6 % of a CHGNet forward+backward on the CPU.
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in trainable:
            p.requires_grad_(True)


class CHGNetModel:
    """One CHGNet model (``chgnet@0.3.0``, ``chgnet@0.2.0`` or ``chgnet@r2scan``) on one device."""

    # measured ~1.6 MB per atom with forces and stress through _forward_efs (no double-backward graph)
    bytes_per_atom = 2_000_000

    def __init__(self, model: Any, *, info: ModelInfo, device: Device):
        """Wrap a loaded ``chgnet.model.CHGNet`` (moved to ``device``, put in eval mode)."""
        self.model = model.to(device)
        self.model.eval()
        self.device: Device = device
        self.info = info

    @classmethod
    def pretrained(cls, version: str, *, device: Device) -> CHGNetModel:
        """One of the models shipped in the chgnet wheel: ``0.3.0``, ``0.2.0`` or ``r2scan``."""
        if version not in CHGNET_VERSIONS:
            raise ConfigurationError(
                f"unknown CHGNet model {version!r}; the chgnet wheel ships "
                + ", ".join(f"chgnet@{v}" for v in CHGNET_VERSIONS)
            )
        import chgnet
        from chgnet.model import CHGNet

        # CHGNet.load prints to stdout; curate keeps stdout for data
        with contextlib.redirect_stdout(sys.stderr):
            model = CHGNet.load(model_name=version, use_device=device, verbose=False)
        checkpoint = cls._checkpoint_file(version)
        info = ModelInfo(
            spec=f"chgnet@{version}",
            name=f"chgnet@{version}",
            architecture="chgnet",
            version=version,
            functional=CHGNET_FUNCTIONALS[version],
            library=f"chgnet {chgnet.__version__}",
            file=str(checkpoint),
            file_sha256=sha256_of_path(checkpoint) if checkpoint.is_file() else "unknown",
        )
        return cls(model, info=info, device=device)

    @classmethod
    def from_file(cls, path: str | Path, *, device: Device, spec: str | None = None) -> CHGNetModel:
        """A CHGNet saved as ``{"model": CHGNet.as_dict()}`` (curate finetune, chgnet's Trainer).

        A folder is accepted when it holds exactly one ``*.pth.tar`` file (what ``curate finetune`` writes).
        """
        import chgnet
        from chgnet.model import CHGNet

        file = Path(path)
        if file.is_dir():
            found = sorted(file.glob("*.pth.tar"))
            if len(found) != 1:
                raise ConfigurationError(
                    f"{file}: expected one CHGNet *.pth.tar file in the folder, found {len(found)}"
                )
            file = found[0]
        if not file.is_file():
            raise ConfigurationError(
                f"CHGNet model file {file} not found; pass chgnet:FILE with a file written by curate finetune "
                "or chgnet's Trainer, or chgnet@0.3.0|0.2.0|r2scan for the shipped models"
            )
        try:
            with contextlib.redirect_stdout(sys.stderr):
                model = CHGNet.from_file(str(file))
        except (KeyError, RuntimeError, OSError, EOFError) as exc:
            raise ConfigurationError(f"{file}: not a CHGNet model file ({type(exc).__name__}: {exc})") from exc
        spec = spec or f"chgnet:{file}"
        info = ModelInfo.for_local_file(spec, file, architecture="chgnet", library=f"chgnet {chgnet.__version__}")
        return cls(model, info=info, device=device)

    @staticmethod
    def _checkpoint_file(version: str) -> Path:
        import chgnet

        folder = Path(chgnet.__file__).parent / "pretrained" / version
        found = sorted(folder.glob("*.pth.tar"))
        return found[0] if found else folder

    def graph_key(self) -> tuple[Any, ...]:
        """CHGNet graphs depend only on the converter's cutoffs and algorithm (0.2.0 uses 5 A, the others 6 A)."""
        converter = self.model.graph_converter
        return ("chgnet", converter.atom_graph_cutoff, converter.bond_graph_cutoff, converter.algorithm)

    def build_graphs(self, structures: Sequence[Configuration]) -> list[Any]:
        """CrystalGraphs of ``structures`` (on the CPU), one per structure."""
        converter = self.model.graph_converter
        graphs = []
        for k, cfg in enumerate(structures):
            try:
                graphs.append(converter(to_pymatgen(cfg), graph_id=str(k)))
            except InputError:
                raise
            except Exception as exc:  # chgnet raises bare ValueError/RuntimeError for isolated atoms etc.
                raise InputError(f"CHGNet cannot build a graph: {exc}", record=str(k)) from exc
        return graphs

    def predict_graphs(
        self, graphs: Sequence[Any], nsites: Sequence[int], *, max_atoms_per_batch: int
    ) -> list[Prediction]:
        """Energy (eV), forces (eV/A), stress (GPa, ASE sign) from prebuilt graphs, batched by atom count.

        On the CPU a forward pass holds at most :data:`CPU_BATCH_ATOMS` atoms (or ``max_atoms_per_batch``
        when smaller); a larger structure gets a pass of its own.
        """
        return [d.prediction for d in self._run_batches(graphs, nsites, max_atoms_per_batch, with_features=False)]

    def describe(self, structures: Sequence[Configuration], *, max_atoms_per_batch: int) -> Description:
        """Predictions plus the model's own structure features and reference energies, in one pass.

        Features are CHGNet's crystal features, shape (N, 64): the atom features its energy readout reads,
        pooled as the model pools them, which in the shipped models (``mlp_first``) is their *sum* over the
        structure's atoms (extensive; MACE and matgl give the mean). Atom features are each atom's features
        entering the last interaction block (what ``heads`` trains with its default of one block), shape
        (nsites, 64). Reference energies are its AtomRef
        (composition model) energies, eV per structure.
        """
        graphs = self.build_graphs(structures)
        nsites = [c.nsites for c in structures]
        described = self._run_batches(graphs, nsites, max_atoms_per_batch, with_features=True)
        return Description.of(described)

    def _run_batches(
        self, graphs: Sequence[Any], nsites: Sequence[int], max_atoms_per_batch: int, *, with_features: bool
    ) -> list[DescribedStructure]:
        if self.device == "cpu":
            max_atoms_per_batch = min(max_atoms_per_batch, CPU_BATCH_ATOMS)
        out: list[DescribedStructure | None] = [None] * len(graphs)
        # CHGNet runs its bond and angle layers only when the batch has angles at all; a structure without
        # angles (e.g. small Li cells: no two bonds under 3 A) then gets a different energy in a mixed batch
        # than alone (0.74 eV for a 3-atom Li cell with 0.2.0). Batching such structures among themselves
        # keeps every prediction equal to the structure's own, as CHGNet's ASE calculator gives it.
        with_angles = [i for i, g in enumerate(graphs) if g.bond_graph.numel() > 0]
        without = [i for i, g in enumerate(graphs) if g.bond_graph.numel() == 0]
        with _weights_frozen(self.model):
            for subset in (with_angles, without):
                for batch in atom_batches([nsites[i] for i in subset], max_atoms_per_batch):
                    indices = [subset[j] for j in batch]
                    results = self._forward_efs([graphs[i] for i in indices], with_features=with_features)
                    for i, described in zip(indices, results, strict=True):
                        out[i] = described
        return [d for d in out if d is not None]

    def _forward_efs(self, graphs: Sequence[Any], *, with_features: bool = False) -> list[DescribedStructure]:
        """One forward and one backward pass over a batch of graphs.

        The same computation as ``CHGNet.forward(task="efs")``: F = -dE/dx, sigma = (1/V) dE/d(strain) x
        160.21766208 GPa per eV/A^3; but the gradients are taken without ``create_graph=True``, which CHGNet
        keeps for training and which costs memory and time at inference (the caller freezes the weights
        with :func:`_weights_frozen` for the same reason). The conformance tests compare the result with
        CHGNet's own ASE calculator.
        """
        import torch

        model = self.model
        device = next(model.parameters()).device
        graphs = [g.to(device) for g in graphs]
        raw, total, grads, batched = interaction_energy_and_gradients(
            model, graphs, create_graph=False, return_features=with_features
        )
        atoms = raw["atoms_per_graph"]
        # a model without a composition model (AtomRef) predicts the interaction energy alone
        composition = None if model.composition_model is None else model.composition_model(graphs).detach()
        interaction = raw["e"].detach()
        energy_per_atom = None
        if model.is_intensive:
            energy_per_atom = interaction if composition is None else interaction + composition
        n = len(graphs)
        volumes = torch.as_tensor(batched.volumes).reshape(-1)
        out = []
        for k in range(n):
            n_atoms = int(atoms[k])
            if energy_per_atom is not None:
                energy = float(energy_per_atom[k]) * n_atoms
            else:
                energy = float(total[k] if composition is None else total[k] + composition[k])
            forces = (-grads[k]).detach().cpu().numpy().astype(np.float64).reshape(n_atoms, 3)
            stress = (grads[n + k] * (160.21766208 / volumes[k])).detach().cpu().numpy().astype(np.float64)
            prediction = Prediction(energy=energy, forces=forces, stress=stress.reshape(3, 3))
            reference = 0.0 if composition is None else float(composition[k]) * n_atoms
            features, atom_features = None, None
            if with_features:
                features = raw["crystal_fea"][k].detach().cpu().numpy().astype(np.float64)
                atom_features = raw["atom_fea"][k].detach().cpu().numpy().astype(np.float64)
            out.append(DescribedStructure(prediction, features, reference, atom_features))
        return out

    def predict(self, structures: Sequence[Configuration], *, max_atoms_per_batch: int) -> list[Prediction]:
        """Energy (eV), forces (nsites, 3; eV/A) and stress (3, 3; GPa, ASE sign) for each structure."""
        graphs = self.build_graphs(structures)
        return self.predict_graphs(graphs, [c.nsites for c in structures], max_atoms_per_batch=max_atoms_per_batch)


def interaction_energy_and_gradients(
    model: Any, graphs: Sequence[Any], *, create_graph: bool, return_features: bool = False
) -> tuple[dict[str, Any], Any, tuple[Any, ...], Any]:
    """CHGNet's network energy of a batch and its gradient with respect to every position and strain.

    One ``autograd.grad`` call gives dE/dx (eV/A) for each structure's atoms and dE/d(strain) (eV) for each
    cell (CHGNet's own forward makes two calls). ``create_graph=True`` keeps the graph of the gradients,
    so a training loss on forces and stress can back-propagate through them.

    Returns:
        (raw output of ``CHGNet._compute``, total network energy per structure (eV; the composition model's
        energy is not included: it does not depend on positions), gradients (positions of each structure,
        then strains of each structure), the BatchedGraph).
    """
    import torch
    from chgnet.model.model import BatchedGraph

    with warnings.catch_warnings():
        # chgnet builds tensors from lists of tensors (volumes of strained cells among them) in
        # BatchedGraph.from_graphs; harmless (the volumes are constants of the stress), noisy
        warnings.filterwarnings("ignore", message="To copy construct from a tensor", category=UserWarning)
        warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad", category=UserWarning)
        batched = BatchedGraph.from_graphs(
            list(graphs),
            bond_basis_expansion=model.bond_basis_expansion,
            angle_basis_expansion=model.angle_basis_expansion,
            compute_stress=True,
        )
    raw = model._compute(
        batched,
        compute_force=False,
        compute_stress=False,
        return_crystal_feas=return_features,
        return_atom_feas=return_features,
    )
    # _compute returns eV/atom for intensive models; dE/dx needs the total energy
    total = raw["e"] * raw["atoms_per_graph"] if model.is_intensive else raw["e"]
    grads = torch.autograd.grad(total.sum(), [*batched.atom_positions, *batched.strains], create_graph=create_graph)
    return raw, total, grads, batched
