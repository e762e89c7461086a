"""The linear correction in closed form for any subset of a pool, and its effect on a held-out benchmark.

The correction multiplies a model's interaction energy by one scalar s (:mod:`curate.training.linear`), so
predicted forces and stress scale by s and energies move by (s - 1) U. With the paper's MSE loss,

    s(S) = sum_t w_t C_t(S) / N_t(S)  /  sum_t w_t Q_t(S) / N_t(S),

where for each loss term t (energy per atom, force components, stress components) C_t(S) is the sum over the
set S of prediction x (label - unscaled part), Q_t(S) the sum of squared predictions and N_t(S) the number of
components. Each is a sum of per-structure numbers, so the scale of *any* subset follows from one prediction
pass over the pool (:class:`PoolScaleStatistics`), and its benchmark errors from one pass over the benchmark
(:class:`BenchmarkErrors`): thousands of random subsets cost milliseconds. This equals what
:func:`curate.training.linear.fit_energy_scale` fits for the same set (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from curate.dataset.configuration import Configuration
from curate.models.base import Prediction
from curate.models.information import information_from_sums, information_of_predictions, squared_prediction_sums
from curate.training.data import label_energy

TERMS: tuple[str, str, str] = ("energy", "force", "stress")
_CHUNK_ELEMENTS = 4_000_000  # scales x components evaluated at once: bounds memory at ~32 MB per array


@dataclass(frozen=True)
class StructureLabels:
    """One structure's model prediction and DFT labels (schema units).

    Attributes:
        nsites: number of atoms.
        energy_pred_ev: predicted total energy (eV).
        reference_energy_ev: the model's elemental reference part of it, R (eV); s multiplies the rest.
        energy_dft_ev: DFT total energy (eV).
        forces_pred: predicted forces, shape (nsites, 3), eV/angstrom.
        forces_dft: DFT forces, shape (nsites, 3), eV/angstrom.
        stress_pred: predicted stress, shape (3, 3), GPa, or None.
        stress_dft: DFT stress, shape (3, 3), GPa, or None (the stress term then skips this structure).
    """

    nsites: int
    energy_pred_ev: float
    reference_energy_ev: float
    energy_dft_ev: float
    forces_pred: np.ndarray
    forces_dft: np.ndarray
    stress_pred: np.ndarray | None = None
    stress_dft: np.ndarray | None = None

    @classmethod
    def of(cls, cfg: Configuration, prediction: Prediction, reference_energy_ev: float) -> StructureLabels:
        """A labelled training structure with the model's prediction of it and its reference energy R (eV);
        the stress terms only when the structure has a stress label."""
        return cls(
            nsites=cfg.nsites,
            energy_pred_ev=float(prediction.energy),
            reference_energy_ev=float(reference_energy_ev),
            energy_dft_ev=label_energy(cfg),
            forces_pred=np.asarray(prediction.forces),
            forces_dft=np.asarray(cfg.forces),
            stress_pred=None if prediction.stress is None else np.asarray(prediction.stress),
            stress_dft=None if cfg.stress is None else np.asarray(cfg.stress),
        )


def predicted_information(items: Sequence[StructureLabels], weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Each structure's force information from the model's predictions alone, shape (n,): what ``curate sample``
    scores (:func:`curate.models.information.prediction_information`), so selection reads no label, not even
    which ones exist (:meth:`PoolScaleStatistics.information` counts stress only where it is labelled)."""
    return information_of_predictions(
        (((i.energy_pred_ev - i.reference_energy_ev) / i.nsites, i.forces_pred, i.stress_pred) for i in items),
        weights,
    )


def _term_sums(item: StructureLabels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cross, square, count) of one structure for the energy, force and stress terms.

    ``square`` and ``count`` are :func:`curate.models.information.squared_prediction_sums` of the predictions
    (the stress term only where the structure has stress labels).
    """
    u = (item.energy_pred_ev - item.reference_energy_ev) / item.nsites
    target = (item.energy_dft_ev - item.reference_energy_ev) / item.nsites
    labelled_stress = item.stress_pred is not None and item.stress_dft is not None
    square, count = squared_prediction_sums(u, item.forces_pred, item.stress_pred if labelled_stress else None)
    f_pred = np.asarray(item.forces_pred, dtype=np.float64).reshape(-1)
    f_dft = np.asarray(item.forces_dft, dtype=np.float64).reshape(-1)
    cross = [u * target, float(f_pred @ f_dft), 0.0]
    if labelled_stress:
        t_pred = np.asarray(item.stress_pred, dtype=np.float64).reshape(-1)
        cross[2] = float(t_pred @ np.asarray(item.stress_dft, dtype=np.float64).reshape(-1))
    return np.array(cross), square, count


@dataclass(frozen=True)
class PoolScaleStatistics:
    """Per-structure sums of a labelled pool from which any subset's scale follows.

    Attributes:
        ids: structure ids, length n.
        weights: loss weights of the energy, force and stress terms, shape (3,).
        cross: per structure and term, sum of prediction x (label - unscaled part), shape (n, 3).
        square: per structure and term, sum of squared predictions, shape (n, 3).
        count: per structure and term, number of components, shape (n, 3).
    """

    ids: tuple[str, ...]
    weights: np.ndarray
    cross: np.ndarray
    square: np.ndarray
    count: np.ndarray

    @classmethod
    def from_structures(
        cls, ids: Sequence[str], items: Sequence[StructureLabels], *, weights: Sequence[float]
    ) -> PoolScaleStatistics:
        """Sums of every structure of the pool; ``weights`` are (energy, force, stress) as in the loss."""
        if len(ids) != len(items):
            raise ValueError(f"{len(ids)} ids for {len(items)} structures")
        sums = [_term_sums(item) for item in items]
        return cls(
            ids=tuple(ids),
            weights=np.asarray(weights, dtype=np.float64),
            cross=np.array([s[0] for s in sums]).reshape(-1, 3),
            square=np.array([s[1] for s in sums]).reshape(-1, 3),
            count=np.array([s[2] for s in sums]).reshape(-1, 3),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def scales(self, subsets: np.ndarray) -> np.ndarray:
        """The fitted scale of each subset; ``subsets`` has shape (d, k) (row indices), result (d,).

        A term with no components in a subset (no stress labels) drops out of that subset's loss. A subset whose
        weighted predictions are all zero has an undefined scale: NaN.
        """
        subsets = np.atleast_2d(np.asarray(subsets, dtype=np.int64))
        cross = self.cross[subsets].sum(axis=1)
        square = self.square[subsets].sum(axis=1)
        count = self.count[subsets].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_term = np.where(count > 0, 1.0 / np.maximum(count, 1.0), 0.0) * self.weights
            numerator = (cross * per_term).sum(axis=1)
            denominator = (square * per_term).sum(axis=1)
            return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)

    def structure_scales(self) -> np.ndarray:
        """Each structure's own fitted scale, shape (n,): the spread says how consistent the pool's softening is."""
        return self.scales(np.arange(len(self))[:, None])

    def information(self) -> np.ndarray:
        """Curvature of each structure's own loss in s, sum_t w_t Q_t / N_t, shape (n,).

        The larger it is, the more sharply one structure pins the scale down (for the force term: the mean
        squared predicted force component, eV^2/angstrom^2, times its weight). The one definition is
        :func:`curate.models.information.information_from_sums` (``curate sample``'s force_information).
        """
        return information_from_sums(self.square, self.count, self.weights)


@dataclass(frozen=True)
class BenchmarkErrors:
    """A held-out benchmark's predictions and labels, flattened, to score any scale s in closed form.

    Attributes:
        forces_pred, forces_dft: every force component, shape (M,), eV/angstrom.
        energy_interaction_per_atom: U / nsites per structure (eV/atom), shape (B,).
        energy_target_per_atom: (E_dft - R) / nsites per structure (eV/atom), shape (B,).
        stress_pred, stress_dft: every stress component of structures with stress labels, shape (K,), GPa.
    """

    forces_pred: np.ndarray
    forces_dft: np.ndarray
    energy_interaction_per_atom: np.ndarray
    energy_target_per_atom: np.ndarray
    stress_pred: np.ndarray
    stress_dft: np.ndarray

    @classmethod
    def from_structures(cls, items: Sequence[StructureLabels]) -> BenchmarkErrors:
        """Flatten the benchmark's structures."""
        with_stress = [i for i in items if i.stress_pred is not None and i.stress_dft is not None]
        interaction = [(i.energy_pred_ev - i.reference_energy_ev) / i.nsites for i in items]
        return cls(
            forces_pred=np.concatenate([np.asarray(i.forces_pred, dtype=np.float64).reshape(-1) for i in items]),
            forces_dft=np.concatenate([np.asarray(i.forces_dft, dtype=np.float64).reshape(-1) for i in items]),
            energy_interaction_per_atom=np.array(interaction),
            energy_target_per_atom=np.array([(i.energy_dft_ev - i.reference_energy_ev) / i.nsites for i in items]),
            stress_pred=np.concatenate([np.asarray(i.stress_pred).reshape(-1) for i in with_stress] or [np.zeros(0)]),
            stress_dft=np.concatenate([np.asarray(i.stress_dft).reshape(-1) for i in with_stress] or [np.zeros(0)]),
        )

    @staticmethod
    def _mae(scales: np.ndarray, predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
        if predicted.size == 0:
            return np.full(scales.shape, np.nan)
        out = np.empty(scales.shape)
        step = max(1, _CHUNK_ELEMENTS // predicted.size)
        for start in range(0, scales.size, step):
            chunk = scales[start : start + step, None]
            out[start : start + step] = np.abs(chunk * predicted[None, :] - target[None, :]).mean(axis=1)
        return out

    def force_mae(self, scales: np.ndarray) -> np.ndarray:
        """Force MAE (eV/angstrom) after multiplying predicted forces by each scale; shape of ``scales``."""
        return self._mae(np.asarray(scales, dtype=np.float64), self.forces_pred, self.forces_dft)

    def energy_mae(self, scales: np.ndarray) -> np.ndarray:
        """Energy MAE (eV/atom) of R + s U against the DFT energy, per scale."""
        return self._mae(
            np.asarray(scales, dtype=np.float64), self.energy_interaction_per_atom, self.energy_target_per_atom
        )

    def stress_mae(self, scales: np.ndarray) -> np.ndarray:
        """Stress MAE (GPa) after scaling predicted stress, per scale (NaN without stress labels)."""
        return self._mae(np.asarray(scales, dtype=np.float64), self.stress_pred, self.stress_dft)

    def softening_scale(self, scales: np.ndarray | float = 1.0) -> np.ndarray:
        """Slope through the origin of (scaled) predicted vs DFT forces, sum(s f f*) / sum(f* f*), per scale."""
        slope = float(self.forces_pred @ self.forces_dft) / float(self.forces_dft @ self.forces_dft)
        return np.asarray(scales, dtype=np.float64) * slope

    def best_force_scale(self) -> float:
        """The scale minimising the benchmark's force MAE: the |f|-weighted median of f*/f over components.

        mean|s f - f*| = mean |f| |s - f*/f| is a weighted sum of distances to the ratios f*/f, minimised by
        their weighted median.
        """
        keep = self.forces_pred != 0
        ratios = self.forces_dft[keep] / self.forces_pred[keep]
        weights = np.abs(self.forces_pred[keep])
        order = np.argsort(ratios, kind="stable")
        cumulative = np.cumsum(weights[order])
        return float(ratios[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def random_subsets(n: int, size: int, draws: int, *, seed: int) -> np.ndarray:
    """``draws`` subsets of ``size`` distinct indices of ``range(n)``, uniform, from ``default_rng(seed)``.

    Shape (draws, size). Each row is the first ``size`` entries of an independent random permutation.
    """
    if not 0 < size <= n:
        raise ValueError(f"subset size must be between 1 and the pool size {n}, got {size}")
    rng = np.random.default_rng(seed)
    return np.argsort(rng.random((draws, n)), axis=1, kind="stable")[:, :size]


def force_scale_uncertainty(forces_pred: np.ndarray, forces_dft: np.ndarray) -> tuple[float, float]:
    """(scale, standard error) of the force slope through the origin, f* ~ s f, over the given components.

    se = sqrt(sum (f* - s f)^2 / (m - 1)) / sqrt(sum f^2): small when the set has a large force signal and
    its components agree on one scale; it ignores correlations between components of one structure, so it is
    a lower bound on the scale's real uncertainty.
    """
    f = np.asarray(forces_pred, dtype=np.float64).reshape(-1)
    y = np.asarray(forces_dft, dtype=np.float64).reshape(-1)
    signal = float(f @ f)
    if signal == 0.0 or f.size < 2:
        return float("nan"), float("inf")
    scale = float(f @ y) / signal
    residual = y - scale * f
    return scale, float(np.sqrt(residual @ residual / (f.size - 1) / signal))
