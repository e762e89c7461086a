"""Descriptor coverage: how far each atomic environment of a target dataset is from the reference dataset.

The pipeline streams both datasets batch by batch:

1. SOAP vectors (:mod:`curate.descriptors.soap`, unit norm) over the union of both datasets' elements;
2. a linear reduction fitted on the reference, PCA (streamed covariance) of a seeded sample of reference rows, keeping
   ``n_components`` axes plus one more coordinate, the norm of the part the axes leave out (the residual);
3. a KD-tree per central element over the reduced reference environments;
4. for every target environment, the distance to the nearest reference environment with the same central
   element (infinite when the reference has no environment of that element).

With ``z`` the PCA coordinates and ``rho`` the residual norm, the reduced distance
``sqrt(|z_a - z_b|^2 + (rho_a - rho_b)^2)`` never exceeds the distance of the full unit-norm SOAP vectors
(the residual term is the reverse triangle inequality), and equals it when both residuals vanish.
Memory: the reduced reference, (n_components + 1) float32 per environment (1e6 environments at 24 axes:
100 MB, plus the trees' float64 copy), and one record batch of descriptors at a time.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.dataset.store import Dataset
from curate.descriptors.soap import DESCRIPTOR_COLUMNS, SoapDescriptor, SoapParams
from curate.errors import ConfigurationError, DatasetError
from curate.execution.base import Executor
from curate.execution.descriptors import SoapTask, soap_environments

DEFAULT_RADII: tuple[float, ...] = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)


@dataclass(frozen=True)
class CoverageOptions:
    """Options of :func:`compute_coverage`.

    Attributes:
        soap: SOAP hyper-parameters.
        n_components: PCA axes kept (the reduced vector has one more entry, the residual norm).
        pca_sample_envs: about this many reference environments (whole rows, seeded sample) fit the PCA.
        self_sample_envs: reference environments whose distance to the nearest *other* reference environment
            gives the reference's own novelty distribution.
        radius: coverage radius reported per element and per source (dimensionless SOAP distance).
        radii: radii of the coverage curve.
        batch_rows: rows per record batch read from the datasets.
        n_jobs: processes dscribe uses per batch.
        seed: seed of the PCA and self-distance samples.
    """

    soap: SoapParams = field(default_factory=SoapParams)
    n_components: int = 24
    pca_sample_envs: int = 50_000
    self_sample_envs: int = 20_000
    radius: float = 0.05
    radii: tuple[float, ...] = DEFAULT_RADII
    batch_rows: int = 256
    n_jobs: int = 1
    seed: int = 0


@dataclass(frozen=True)
class DatasetScan:
    """Elements and sizes of a dataset (read from the ``elements`` and ``nsites`` columns only)."""

    elements: frozenset[str]
    num_rows: int
    num_environments: int


@dataclass
class CoverageResult:
    """Nearest-reference distances of every target environment, and what they were computed with.

    Attributes:
        distances: per target environment, reduced SOAP distance to the nearest reference environment of the
            same element, shape (n_target_env,), float64 (inf if the reference lacks the element).
        center_z: atomic number of each target environment, shape (n_target_env,).
        source: index into ``source_names`` of each target environment's row ``source``.
        source_names: distinct target sources.
        reference_self_distances: distance of sampled reference environments to their nearest other reference
            environment, shape (n_sample,).
        explained_variance: share of the reference SOAP variance the PCA axes keep.
        descriptor: descriptor parameters (see :meth:`SoapDescriptor.describe`).
        reference_scan, target_scan: sizes of both datasets.
        timings_s: wall seconds per stage.
    """

    distances: np.ndarray
    center_z: np.ndarray
    source: np.ndarray
    source_names: list[str]
    reference_self_distances: np.ndarray
    explained_variance: float
    descriptor: dict
    reference_scan: DatasetScan
    target_scan: DatasetScan
    timings_s: dict[str, float]


def scan_dataset(dataset: Dataset) -> DatasetScan:
    """Distinct elements, rows and atoms of ``dataset``, streamed over two small columns."""
    elements: set[str] = set()
    rows = environments = 0
    for batch in dataset.iter_batches(columns=["elements", "nsites"], batch_rows=65536):
        elements.update(pc.unique(batch.column("elements").flatten()).to_pylist())
        rows += batch.num_rows
        environments += int(pc.sum(batch.column("nsites")).as_py() or 0)
    return DatasetScan(elements=frozenset(elements), num_rows=rows, num_environments=environments)


class Reduction:
    """PCA axes fitted on the reference, plus the residual norm as a last coordinate.

    transform(x) = [(x - mean) C^T, |(x - mean) - (x - mean) C^T C|] for rows x, C the (k, n_features) axes.
    """

    def __init__(self, mean: np.ndarray, components: np.ndarray, explained_variance: float):
        self.mean = mean.astype(np.float64)
        self.components = components.astype(np.float64)
        self.explained_variance = explained_variance

    @property
    def n_dims(self) -> int:
        return self.components.shape[0] + 1

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Reduced coordinates, shape (n, n_components + 1), float32; computed in float64."""
        centred = features.astype(np.float64) - self.mean
        z = centred @ self.components.T
        residual = np.linalg.norm(centred - z @ self.components, axis=1)
        return np.hstack([z, residual[:, None]]).astype(np.float32)


def fit_reduction(
    reference: Dataset, descriptor: SoapDescriptor, scan: DatasetScan, options: CoverageOptions
) -> Reduction:
    """PCA of a seeded sample of whole reference rows (about ``pca_sample_envs`` atoms), streamed.

    Accumulates n, sum x and sum x x^T in float64, then C = (sum x x^T - n mu mu^T) / (n - 1) and keeps the
    eigenvectors of the ``n_components`` largest eigenvalues: exact PCA of the sample with memory n_features^2.

    Raises:
        DatasetError: the sample holds fewer than two environments.
    """
    share = min(1.0, options.pca_sample_envs / max(scan.num_environments, 1))
    rng = np.random.default_rng(options.seed)
    n_features = descriptor.n_features
    total = np.zeros(n_features)
    scatter = np.zeros((n_features, n_features))
    seen = 0
    for batch in reference.iter_batches(columns=DESCRIPTOR_COLUMNS, batch_rows=options.batch_rows):
        keep = rng.random(batch.num_rows) < share
        if not keep.any():
            continue
        features = descriptor.from_batch(batch.filter(pa.array(keep))).features.astype(np.float64)
        total += features.sum(axis=0)
        scatter += features.T @ features
        seen += len(features)
    if seen < 2:
        raise DatasetError(f"{reference.path}: the PCA sample holds {seen} environment(s); raise pca_sample_envs")
    mean = total / seen
    covariance = (scatter - seen * np.outer(mean, mean)) / (seen - 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending
    k = min(options.n_components, n_features)
    kept = eigenvectors[:, ::-1][:, :k].T
    variance = np.clip(eigenvalues, 0.0, None)
    explained = float(variance[::-1][:k].sum() / variance.sum()) if variance.sum() > 0 else 1.0
    return Reduction(mean, kept, explained)


class ReferenceIndex:
    """KD-trees of reduced reference environments, one per central element."""

    def __init__(self, reduced: dict[int, np.ndarray]):
        from sklearn.neighbors import KDTree

        self.points = reduced
        self.trees = {z: KDTree(points) for z, points in reduced.items()}

    @property
    def num_environments(self) -> int:
        return sum(len(p) for p in self.points.values())

    def nearest(self, reduced: np.ndarray, center_z: np.ndarray) -> np.ndarray:
        """Distance of every row of ``reduced`` to the nearest reference point of its element (inf if none)."""
        out = np.full(len(reduced), np.inf)
        for z in np.unique(center_z):
            mask = center_z == z
            tree = self.trees.get(int(z))
            if tree is not None:
                out[mask] = tree.query(reduced[mask], k=1, return_distance=True)[0][:, 0]
        return out

    def self_distances(self, *, sample: int, seed: int) -> np.ndarray:
        """Distance of up to ``sample`` reference points (seeded, share per element) to their nearest other point."""
        total = self.num_environments
        rng = np.random.default_rng(seed)
        found = []
        for z, points in sorted(self.points.items()):
            if len(points) < 2:
                continue
            take = min(len(points), max(1, round(sample * len(points) / total)))
            picked = rng.choice(len(points), size=take, replace=False)
            found.append(self.trees[z].query(points[picked], k=2)[0][:, 1])
        return np.concatenate(found) if found else np.zeros(0)


@dataclass(frozen=True)
class ReducedTask:
    """One record batch to describe and reduce on a worker (the reduction's arrays travel with it)."""

    soap: SoapTask
    mean: np.ndarray
    components: np.ndarray


def reduced_environments_task(task: ReducedTask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reduced coordinates, central atomic numbers, row index per environment) of one batch.

    Only the reduced coordinates travel back: shipping full SOAP vectors costs as much as computing them.
    """
    environments = soap_environments(task.soap)
    reduced = Reduction(task.mean, task.components, 0.0).transform(environments.features)
    return reduced, environments.center_z, environments.row_index


def _reduced_environments(
    dataset: Dataset,
    descriptor: SoapDescriptor,
    reduction: Reduction,
    options: CoverageOptions,
    columns: list[str],
    executor: Executor | None = None,
) -> Iterator[tuple[pa.RecordBatch, np.ndarray, np.ndarray, np.ndarray]]:
    """(batch, reduced coordinates, central atomic numbers, row index per environment) per record batch."""
    batches = dataset.iter_batches(columns=columns, batch_rows=options.batch_rows)
    if executor is None:
        for batch in batches:
            environments = descriptor.from_batch(batch)
            yield batch, reduction.transform(environments.features), environments.center_z, environments.row_index
        return
    waiting: deque[pa.RecordBatch] = deque()

    def tasks() -> Iterator[ReducedTask]:
        for batch in batches:
            waiting.append(batch)
            soap = SoapTask(tuple(descriptor.species), descriptor.params, batch.select(DESCRIPTOR_COLUMNS))
            yield ReducedTask(soap, reduction.mean, reduction.components)

    for reduced, center_z, row_index in executor.map(reduced_environments_task, tasks()):
        yield waiting.popleft(), reduced, center_z, row_index


def compute_coverage(
    reference: Dataset,
    target: Dataset,
    options: CoverageOptions = CoverageOptions(),
    *,
    executor: Executor | None = None,
) -> CoverageResult:
    """Distance of every target environment to the reference, streaming both datasets.

    With an ``executor`` the descriptors of the reference and target batches are computed (and reduced) on its
    workers, results in dataset order, so the numbers are the same as in-process.

    Raises:
        DatasetError: a dataset has no rows.
        ConfigurationError: options that cannot work (bad SOAP parameters, radii).
    """
    if options.n_components < 1:
        raise ConfigurationError(f"n_components must be >= 1, got {options.n_components}")
    if any(r < 0 for r in options.radii) or options.radius < 0:
        raise ConfigurationError("coverage radii must be >= 0")
    timings: dict[str, float] = {}
    start = time.perf_counter()
    reference_scan, target_scan = scan_dataset(reference), scan_dataset(target)
    for dataset, scan in ((reference, reference_scan), (target, target_scan)):
        if scan.num_environments == 0:
            raise DatasetError(f"{dataset.path}: dataset has no structures")
    descriptor = SoapDescriptor(
        sorted(reference_scan.elements | target_scan.elements), options.soap, n_jobs=options.n_jobs
    )
    timings["scan"] = time.perf_counter() - start

    start = time.perf_counter()
    reduction = fit_reduction(reference, descriptor, reference_scan, options)
    timings["fit_reduction"] = time.perf_counter() - start

    start = time.perf_counter()
    per_element: dict[int, list[np.ndarray]] = {}
    for _, reduced, center_z, _ in _reduced_environments(
        reference, descriptor, reduction, options, DESCRIPTOR_COLUMNS, executor
    ):
        for z in np.unique(center_z):
            per_element.setdefault(int(z), []).append(reduced[center_z == z])
    timings["reference_descriptors"] = time.perf_counter() - start
    start = time.perf_counter()
    index = ReferenceIndex({z: np.concatenate(parts) for z, parts in per_element.items()})
    del per_element
    self_distances = index.self_distances(sample=options.self_sample_envs, seed=options.seed)
    timings["build_index"] = time.perf_counter() - start

    start = time.perf_counter()
    distances, center_zs, sources = [], [], []
    source_names: dict[str, int] = {}
    for batch, reduced, center_z, row_index in _reduced_environments(
        target, descriptor, reduction, options, [*DESCRIPTOR_COLUMNS, "source"], executor
    ):
        row_source = np.array(
            [source_names.setdefault(s, len(source_names)) for s in batch.column("source").to_pylist()],
            dtype=np.int32,
        )
        distances.append(index.nearest(reduced, center_z))
        center_zs.append(center_z)
        sources.append(row_source[row_index])
    timings["target_query"] = time.perf_counter() - start
    return CoverageResult(
        distances=np.concatenate(distances),
        center_z=np.concatenate(center_zs),
        source=np.concatenate(sources),
        source_names=list(source_names),
        reference_self_distances=self_distances,
        explained_variance=reduction.explained_variance,
        descriptor={**descriptor.describe(), "n_components": reduction.components.shape[0]},
        reference_scan=reference_scan,
        target_scan=target_scan,
        timings_s=timings,
    )
