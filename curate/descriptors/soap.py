"""Species-aware SOAP descriptors (dscribe) for every atomic environment of a record batch.

One :class:`SoapDescriptor` is built for a fixed, sorted species list and used for every dataset that is
compared, so that two environments from two datasets land in the same feature space. The species list is the
union of the elements of all compared datasets: an element absent from every structure would only add
all-zero feature blocks, which change neither norms nor distances, so distances computed with the union are
exactly the distances any larger list would give.

Each feature vector is divided by its Euclidean norm, so the distance of two environments is
``d = ||p_a - p_b|| = sqrt(2 - 2 k)`` with ``k`` the normalised SOAP kernel (cosine of the power spectra):
0 for identical environments, dimensionless, the same scale for every element count.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols

from curate.errors import ConfigurationError

CompressionMode = Literal["auto", "off", "mu1nu1", "crossover", "mu2"]
COMPRESSION_MODES: tuple[str, ...] = get_args(CompressionMode)
# Above this many uncompressed features "auto" switches to mu1nu1 (linear, not quadratic, in the species count).
MAX_UNCOMPRESSED_FEATURES = 2048
DESCRIPTOR_COLUMNS = ["species_at_sites", "lattice_vectors", "cartesian_site_positions", "dimension_types"]


@dataclass(frozen=True)
class SoapParams:
    """SOAP hyper-parameters.

    Attributes:
        r_cut_ang: cutoff radius, angstrom.
        n_max: number of radial basis functions.
        l_max: maximum degree of the spherical harmonics.
        sigma_ang: width of the Gaussian put on every atom, angstrom.
        compression: dscribe compression mode; ``auto`` = ``off`` while the uncompressed vector has at most
            MAX_UNCOMPRESSED_FEATURES entries, else ``mu1nu1`` (Darby et al. 2022), which keeps species
            information but grows linearly with the species count.
    """

    r_cut_ang: float = 5.0
    n_max: int = 4
    l_max: int = 3
    sigma_ang: float = 0.5
    compression: CompressionMode = "auto"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def uncompressed_feature_count(n_species: int, n_max: int, l_max: int) -> int:
    """Length of the full species-aware power spectrum: (S n)(S n + 1)/2 (l_max + 1)."""
    sn = n_species * n_max
    return sn * (sn + 1) // 2 * (l_max + 1)


def resolve_compression(params: SoapParams, n_species: int) -> str:
    """The dscribe compression mode ``params`` means for ``n_species`` species (resolves ``auto``)."""
    if params.compression not in COMPRESSION_MODES:
        raise ConfigurationError(f"SOAP compression {params.compression!r}: expected one of {COMPRESSION_MODES}")
    if params.compression != "auto":
        return params.compression
    full = uncompressed_feature_count(n_species, params.n_max, params.l_max)
    return "off" if full <= MAX_UNCOMPRESSED_FEATURES else "mu1nu1"


@dataclass(frozen=True)
class EnvironmentBatch:
    """Descriptors of the environments of one record batch.

    Attributes:
        features: shape (n_env, n_features), float32, each row of unit Euclidean norm.
        center_z: atomic number of each environment's central atom, shape (n_env,), int16.
        row_index: row of the record batch each environment belongs to, shape (n_env,), int32.
    """

    features: np.ndarray
    center_z: np.ndarray
    row_index: np.ndarray


def atoms_from_batch(batch: pa.RecordBatch | pa.Table) -> list[Atoms]:
    """ase.Atoms of every row of ``batch`` (columns DESCRIPTOR_COLUMNS; positions and cell in angstrom)."""
    numbers, counts = _numbers_and_counts(batch)
    positions = _flat_floats(batch.column("cartesian_site_positions"), levels=2).reshape(-1, 3)
    cells = _flat_floats(batch.column("lattice_vectors"), levels=2).reshape(-1, 3, 3)
    pbc = _flat_ints(batch.column("dimension_types")).reshape(-1, 3).astype(bool)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return [
        Atoms(numbers=numbers[a:b], positions=positions[a:b], cell=cells[k], pbc=pbc[k])
        for k, (a, b) in enumerate(itertools.pairwise(offsets))
    ]


class SoapDescriptor:
    """dscribe SOAP for a fixed species list; feature vectors normalised to unit length.

    Args:
        species: chemical symbols; every element of every structure described must be among them.
        params: SOAP hyper-parameters.
        n_jobs: processes dscribe uses per call (its own joblib parallelism).
    """

    def __init__(self, species: Sequence[str], params: SoapParams = SoapParams(), *, n_jobs: int = 1):
        from dscribe.descriptors import SOAP

        unknown = sorted(s for s in set(species) if s not in atomic_numbers)
        if unknown:
            raise ConfigurationError(f"SOAP species {unknown}: not chemical elements")
        if not species:
            raise ConfigurationError("SOAP needs at least one species")
        self.species = sorted(set(species), key=lambda s: atomic_numbers[s])
        self.params = params
        self.n_jobs = n_jobs
        self.compression = resolve_compression(params, len(self.species))
        settings = {
            "species": self.species,
            "r_cut": params.r_cut_ang,
            "n_max": params.n_max,
            "l_max": params.l_max,
            "sigma": params.sigma_ang,
            "sparse": False,
            "dtype": "float32",
            "compression": {"mode": self.compression},
        }
        # periodic=True follows each Atoms' own pbc flags but needs a cell; molecules go to the second one
        self.soap = SOAP(periodic=True, **settings)
        self._soap_molecules = SOAP(periodic=False, **settings)
        self._known_z = np.zeros(len(chemical_symbols), dtype=bool)
        self._known_z[[atomic_numbers[s] for s in self.species]] = True

    @property
    def n_features(self) -> int:
        return int(self.soap.get_number_of_features())

    def describe(self) -> dict[str, Any]:
        """Parameters as recorded in reports (species, resolved compression, feature count)."""
        return {
            **self.params.to_dict(),
            "compression_resolved": self.compression,
            "species": list(self.species),
            "n_features": self.n_features,
            "normalised": "unit L2 norm per environment",
            "dscribe_n_jobs": self.n_jobs,
        }

    def create(self, atoms: Sequence[Atoms]) -> np.ndarray:
        """Unit-norm SOAP vectors of every atom of every structure, in order; shape (sum n_i, n_features)."""
        if not atoms:
            return np.zeros((0, self.n_features), dtype=np.float32)
        periodic = [bool(a.pbc.any()) for a in atoms]
        if all(periodic):
            features = self._create(self.soap, list(atoms))
        else:
            parts = [np.zeros((len(a), self.n_features), dtype=np.float32) for a in atoms]
            for flag, soap in ((True, self.soap), (False, self._soap_molecules)):
                chosen = [k for k, p in enumerate(periodic) if p == flag]
                if not chosen:
                    continue
                block = self._create(soap, [atoms[k] for k in chosen])
                start = 0
                for k in chosen:
                    parts[k] = block[start : start + len(atoms[k])]
                    start += len(atoms[k])
            features = np.concatenate(parts, axis=0)
        features = np.ascontiguousarray(features, dtype=np.float32)
        norms = np.sqrt(np.einsum("ij,ij->i", features, features))[:, None]  # no (n, F) temporary
        np.maximum(norms, np.float32(1e-12), out=norms)  # an isolated atom has an all-zero spectrum
        features /= norms
        return features

    def _create(self, soap: Any, atoms: list[Atoms]) -> np.ndarray:
        """dscribe's output for ``atoms`` stacked into one (sum n_i, n_features) array."""
        raw = soap.create(atoms, n_jobs=self.n_jobs)
        if isinstance(raw, list):
            return np.concatenate(raw, axis=0)
        return raw.reshape(-1, raw.shape[-1])

    def from_batch(self, batch: pa.RecordBatch | pa.Table) -> EnvironmentBatch:
        """Descriptors of every environment of ``batch`` with their central atomic numbers and row indices."""
        numbers, counts = _numbers_and_counts(batch)
        missing = ~self._known_z[numbers]
        if missing.any():
            found = sorted({chemical_symbols[z] for z in numbers[missing]})
            raise ConfigurationError(f"elements {found} are not in the SOAP species list {self.species}")
        features = self.create(atoms_from_batch(batch))
        row_index = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
        return EnvironmentBatch(features=features, center_z=numbers.astype(np.int16), row_index=row_index)


def _numbers_and_counts(batch: pa.RecordBatch | pa.Table) -> tuple[np.ndarray, np.ndarray]:
    species = batch.column("species_at_sites")
    if isinstance(species, pa.ChunkedArray):
        species = species.combine_chunks()
    counts = np.diff(species.offsets.to_numpy()).astype(np.int64)
    encoded = pc.dictionary_encode(species.flatten())
    lookup = np.array([atomic_numbers[s] for s in encoded.dictionary.to_pylist()], dtype=np.int64)
    return lookup[encoded.indices.to_numpy()], counts


def _flat_floats(column: pa.Array | pa.ChunkedArray, *, levels: int) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    for _ in range(levels):
        column = column.flatten()
    return column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _flat_ints(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False)
