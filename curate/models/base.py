"""The model interface every uMLIP adapter implements, and the shapes of what it returns.

A model takes many structures at once and returns, per structure, the total energy (eV), the force on every
atom (eV/angstrom) and the stress tensor (GPa, ASE sign: positive = tensile) -- the units the row schema
stores, so predictions and DFT labels compare without conversion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from curate.dataset.configuration import Configuration
from curate.dataset.io import sha256_of_path

Device = Literal["cpu", "cuda"]
# CHGNet's own predict path (forces+stress with create_graph=True) needs ~14 MB per atom in a batch on CPU;
# adapters that know better declare bytes_per_atom (curate's CHGNet path: ~1.6 MB measured, 2 MB declared)
BYTES_PER_ATOM_DEFAULT = 14_000_000
MEMORY_FRACTION = 0.25
MAX_ATOMS_CAP = 1024


@dataclass(frozen=True)
class Prediction:
    """One structure's predicted labels, in schema units.

    Attributes:
        energy: total energy of the cell, eV.
        forces: shape (nsites, 3), eV/angstrom.
        stress: shape (3, 3), GPa, ASE sign (positive = tensile).
    """

    energy: float
    forces: np.ndarray
    stress: np.ndarray


@dataclass(frozen=True)
class Description:
    """What one pass of a model says about N structures beyond its labels.

    Attributes:
        predictions: one :class:`Prediction` per structure, input order.
        features: the model's own structure features (N, d): the atom features its energy readout reads,
            pooled over each structure's atoms as the adapter's ``describe`` says (mean for MACE and matgl;
            CHGNet's crystal features, a sum in its shipped models).
        reference_energies_ev: the composition-only part R of each predicted energy (elemental reference
            energies, eV per structure); the interaction energy is ``prediction.energy - R``.
        atom_features: per structure, the features of each atom that the part a ``heads`` fine-tune trains
            reads (its input), shape (nsites, d'); empty when the model does not return them.
    """

    predictions: list[Prediction]
    features: np.ndarray
    reference_energies_ev: np.ndarray
    atom_features: tuple[np.ndarray, ...] = ()

    @classmethod
    def of(cls, structures: Sequence[DescribedStructure]) -> Description:
        """The description of N structures from each one's (in input order; every one with features, and atom
        features for all or none)."""
        features = [s.features for s in structures]
        if any(f is None for f in features):
            raise ValueError("every structure of a Description needs its features")
        if len({s.atom_features is None for s in structures}) > 1:
            raise ValueError("atom features must be given for every structure of a Description or for none")
        return cls(
            predictions=[s.prediction for s in structures],
            features=np.array(features, dtype=np.float64).reshape(len(structures), -1),
            reference_energies_ev=np.array([s.reference_energy_ev for s in structures], dtype=np.float64),
            atom_features=tuple(
                np.asarray(s.atom_features, dtype=np.float64) for s in structures if s.atom_features is not None
            ),
        )

    def __len__(self) -> int:
        return len(self.predictions)

    def take(self, indices: Sequence[int] | np.ndarray) -> Description:
        """The description of the structures ``indices``, in that order."""
        rows = np.asarray(indices, dtype=np.int64)
        return Description(
            predictions=[self.predictions[i] for i in rows],
            features=self.features[rows],
            reference_energies_ev=self.reference_energies_ev[rows],
            atom_features=tuple(self.atom_features[i] for i in rows) if self.atom_features else (),
        )


@dataclass(frozen=True)
class DescribedStructure:
    """One structure as an adapter's prediction pass sees it.

    Attributes:
        prediction: its predicted labels.
        features: its structure features (d,), or None when the pass did not ask for them.
        reference_energy_ev: the composition-only part of its predicted energy, eV.
        atom_features: its atoms' features entering the part a ``heads`` fine-tune trains, (nsites, d'), or
            None when the adapter does not give them.
    """

    prediction: Prediction
    features: np.ndarray | None
    reference_energy_ev: float
    atom_features: np.ndarray | None = None


@dataclass(frozen=True)
class ModelInfo:
    """Provenance of a loaded model, written next to every prediction it makes.

    Attributes:
        spec: the model spec as the user typed it, e.g. ``chgnet@0.3.0`` or ``mace:/path/model.model``.
        name: short stable name used as the key of stored predictions (the spec, normalised).
        architecture: chgnet, mace or matgl.
        version: model version (CHGNet's version string, or the file's sha256 prefix for local files).
        functional: functional of the training labels (PBE, r2SCAN) or ``unknown`` for local files.
        library: Python package that runs the model, with its version, e.g. ``chgnet 0.4.2``.
        file: the weights file or directory the model was loaded from.
        file_sha256: sha256 of that file (of all files, in name order, for a directory).
    """

    spec: str
    name: str
    architecture: str
    version: str
    functional: str
    library: str
    file: str
    file_sha256: str

    @classmethod
    def for_local_file(cls, spec: str, path: Path, *, architecture: str, library: str) -> ModelInfo:
        """Provenance of a model loaded from a local file or folder: version = sha256 prefix, functional unknown."""
        digest = sha256_of_path(path)
        return cls(
            spec=spec,
            name=spec,
            architecture=architecture,
            version=digest[:12],
            functional="unknown",
            library=library,
            file=str(path.resolve()),
            file_sha256=digest,
        )

    def as_dict(self) -> dict[str, str]:
        """JSON-serialisable form for manifests and reports."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@runtime_checkable
class Model(Protocol):
    """A uMLIP that predicts energy, forces and stress for many structures at once.

    ``predict`` must not mutate its inputs, must return one :class:`Prediction` per structure in input order,
    and must give the same numbers whether structures come one at a time or batched (to float tolerance).
    """

    info: ModelInfo
    device: Device

    def predict(self, structures: Sequence[Configuration], *, max_atoms_per_batch: int) -> list[Prediction]:
        """Predict energy (eV), forces (nsites, 3; eV/angstrom) and stress (3, 3; GPa, ASE sign) per structure.

        Args:
            structures: configurations (species, lattice, positions, pbc are read; labels are ignored).
            max_atoms_per_batch: upper bound on the atoms of all structures in one forward pass; a structure
                larger than the bound runs alone.
        """
        ...


@runtime_checkable
class SharesGraphs(Protocol):
    """A model whose neighbour graphs can be built once and reused by other models with the same ``graph_key``."""

    info: ModelInfo
    device: Device

    def graph_key(self) -> tuple[Any, ...]:
        """Models with equal keys accept each other's graphs (same converter, same cutoffs)."""
        ...

    def build_graphs(self, structures: Sequence[Configuration]) -> list[Any]:
        """Neighbour graphs of ``structures``, one per structure, in input order."""
        ...

    def predict_graphs(
        self, graphs: Sequence[Any], nsites: Sequence[int], *, max_atoms_per_batch: int
    ) -> list[Prediction]:
        """Predict from graphs built by any model with the same :meth:`graph_key`."""
        ...


@runtime_checkable
class DescribesStructures(Protocol):
    """A model that can also return its own structure features and reference energies in its prediction pass."""

    info: ModelInfo
    device: Device

    def describe(self, structures: Sequence[Configuration], *, max_atoms_per_batch: int) -> Description:
        """Predictions, features (N, d) and reference energies (N,), eV, for ``structures``."""
        ...


def select_device(requested: str | None = None) -> Device:
    """``cuda`` when requested or (with ``None``/``auto``) when a CUDA device is present, else ``cpu``."""
    import torch

    if requested in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        from curate.errors import ConfigurationError

        raise ConfigurationError("device 'cuda' was requested but torch sees no CUDA device")
    if requested not in ("cpu", "cuda"):
        from curate.errors import ConfigurationError

        raise ConfigurationError(f"unknown device {requested!r}; expected cpu, cuda or auto")
    return requested  # type: ignore[return-value]


def available_memory_bytes() -> int:
    """Memory the OS says is available now (MemAvailable), bytes; 4 GiB when it cannot be read."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


def default_max_atoms_per_batch(bytes_per_atom: int = BYTES_PER_ATOM_DEFAULT) -> int:
    """Atoms per forward pass that fit in a quarter of available memory, between 16 and MAX_ATOMS_CAP.

    n_atoms = MEMORY_FRACTION * MemAvailable / bytes_per_atom. Past ~1000 atoms a CPU pass gains nothing
    from a bigger batch, hence the cap.
    """
    return int(min(MAX_ATOMS_CAP, max(16, MEMORY_FRACTION * available_memory_bytes() // bytes_per_atom)))


def max_atoms_for(models: Sequence[object]) -> int:
    """Default atoms per forward pass for a committee: sized for its most memory-hungry model.

    A model may declare ``bytes_per_atom`` (memory per atom in a batch with forces and stress);
    BYTES_PER_ATOM_DEFAULT (14 MB) otherwise.
    """
    need = max(
        (int(getattr(m, "bytes_per_atom", BYTES_PER_ATOM_DEFAULT)) for m in models), default=BYTES_PER_ATOM_DEFAULT
    )
    return default_max_atoms_per_batch(need)


def atom_batches(nsites: Sequence[int], max_atoms: int) -> list[range]:
    """Split structures (in order) into contiguous batches of at most ``max_atoms`` atoms in total.

    A structure with more than ``max_atoms`` atoms forms a batch of its own. Returns index ranges.
    """
    if max_atoms < 1:
        raise ValueError(f"max_atoms must be >= 1, got {max_atoms}")
    batches: list[range] = []
    start, atoms = 0, 0
    for i, n in enumerate(nsites):
        if i > start and atoms + n > max_atoms:
            batches.append(range(start, i))
            start, atoms = i, 0
        atoms += n
    if start < len(nsites):
        batches.append(range(start, len(nsites)))
    return batches
