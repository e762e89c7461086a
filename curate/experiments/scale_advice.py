"""Should a fitted linear correction be applied? Its uncertainty, how well the set determines it, and a check.

Once the DFT labels of a correction set are in, the scale s is fitted in closed form. Before trusting it:

* **uncertainty**: the standard error of the force slope through the origin over the set's components
  (:func:`curate.experiments.linear_scale.force_scale_uncertainty`); a relative error above
  ``ILL_CONDITIONED_RELATIVE_ERROR`` means the set barely determines s (near-equilibrium frames, tiny forces);
* **consistency**: each structure's own scale; a wide spread says the model's error is not one scale;
* **a held-out check**: with two or more structures, leave-one-out: each structure's force MAE under the scale
  fitted on the others, against its MAE untouched; with one structure, its own MAE before and after (in-sample,
  so optimistic). The correction is recommended only when that check lowers the force MAE by at least
  ``MIN_USEFUL_GAIN`` (3 %); otherwise the untouched model is the recommendation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from curate.experiments.linear_scale import PoolScaleStatistics, StructureLabels, force_scale_uncertainty
from curate.models.base import Model, max_atoms_for
from curate.training.data import TrainingSet
from curate.training.settings import TrainingSettings

MIN_USEFUL_GAIN = 0.03
ILL_CONDITIONED_RELATIVE_ERROR = 0.10


@dataclass(frozen=True)
class ScaleAdvice:
    """The verdict on one correction set.

    Attributes:
        scale: the fitted scale (the fine-tuning loss's closed-form minimiser).
        force_scale: the force-only slope through the origin, and ``standard_error`` its standard error.
        relative_error: standard_error / |force_scale|.
        ill_conditioned: the set barely determines the scale (relative error above the threshold).
        structure_scales: each structure's own fitted scale.
        check: ``leave-one-out`` or ``in-sample``.
        check_gain: fractional drop of the checked force MAE (positive = the correction helps).
        apply: True when the correction is recommended.
        reason: one sentence saying why.
    """

    scale: float
    force_scale: float
    standard_error: float
    relative_error: float
    ill_conditioned: bool
    structure_scales: tuple[float, ...]
    check: str
    check_gain: float
    apply: bool
    reason: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self) -> str:
        """One line: the scale with its standard error, how well the set determines it, and the verdict."""
        determined = "barely determined" if self.ill_conditioned else "determined"
        return (
            f"energy scale s = {self.scale:.4f} (force slope {self.force_scale:.4f} +- {self.standard_error:.2g}, "
            f"relative standard error {100 * self.relative_error:.2g} %: {determined} by the set); "
            + ("apply it: " if self.apply else "do not apply it: ")
            + self.reason
        )


def _mae(scale: float, item: StructureLabels) -> float:
    return float(np.mean(np.abs(scale * np.asarray(item.forces_pred) - np.asarray(item.forces_dft))))


def _check(stats: PoolScaleStatistics, items: Sequence[StructureLabels], scale: float) -> tuple[str, float]:
    untouched = sum(_mae(1.0, item) for item in items)
    if len(items) == 1:
        corrected = _mae(scale, items[0])
        kind = "in-sample"
    else:
        rows = np.arange(len(items))
        others = np.array([np.delete(rows, k) for k in rows])
        held_out_scales = stats.scales(others)
        corrected = sum(_mae(float(s), item) for s, item in zip(held_out_scales, items, strict=True))
        kind = "leave-one-out"
    return kind, (untouched - corrected) / untouched if untouched > 0 else 0.0


def advise(items: Sequence[StructureLabels], *, weights: Sequence[float]) -> ScaleAdvice:
    """Fit the scale on ``items`` (the labelled correction set) and say whether to apply it.

    Args:
        items: the set's predictions and DFT labels.
        weights: loss weights (energy, force, stress) of the fine-tuning loss.
    """
    if not items:
        raise ValueError("a correction set needs at least one labelled structure")
    stats = PoolScaleStatistics.from_structures([str(k) for k in range(len(items))], items, weights=weights)
    scale = float(stats.scales(np.arange(len(items))[None, :])[0])
    forces_pred = np.concatenate([np.asarray(i.forces_pred).reshape(-1) for i in items])
    forces_dft = np.concatenate([np.asarray(i.forces_dft).reshape(-1) for i in items])
    force_scale, error = force_scale_uncertainty(forces_pred, forces_dft)
    relative = error / abs(force_scale) if np.isfinite(force_scale) and force_scale != 0 else float("inf")
    ill = not relative < ILL_CONDITIONED_RELATIVE_ERROR
    kind, gain = _check(stats, items, scale)
    apply = gain >= MIN_USEFUL_GAIN and not ill and np.isfinite(scale)
    if ill:
        reason = (
            f"the set barely determines the scale (relative standard error {relative:.2g} > "
            f"{ILL_CONDITIONED_RELATIVE_ERROR:g}): label structures with larger forces; keep the untouched model"
        )
    elif not apply:
        reason = (
            f"a scale correction will not help: the {kind} force MAE changes by {-100 * gain:+.1f} % "
            f"(at least {-100 * MIN_USEFUL_GAIN:.0f} % needed); keep the untouched model"
        )
    else:
        reason = f"the {kind} force MAE drops by {100 * gain:.1f} % with scale {scale:.4g} +- {error:.2g}"
    return ScaleAdvice(
        scale=scale,
        force_scale=force_scale,
        standard_error=error,
        relative_error=relative,
        ill_conditioned=ill,
        structure_scales=tuple(float(s) for s in stats.structure_scales()),
        check=kind,
        check_gain=gain,
        apply=bool(apply),
        reason=reason,
    )


def advise_set(model: Model, data: TrainingSet, settings: TrainingSettings) -> ScaleAdvice:
    """:func:`advise` on a labelled correction set, with the predictions the linear fit of ``model`` uses.

    The model's elemental reference energies come from its fine-tuner's ``fit_inputs`` (CHGNet's AtomRef,
    MACE's E0s, matgl's element_refs), so ``scale`` equals what ``curate finetune --method linear`` fits with
    ``atomref=frozen``.
    """
    from curate.training.fine_tuner import TorchFineTuner
    from curate.training.registry import fine_tuner_for

    tuner = fine_tuner_for(model)
    if isinstance(tuner, TorchFineTuner):
        predictions, references = tuner.fit_inputs(model, tuner.native(model), data)
    else:
        predictions = model.predict(list(data.configurations), max_atoms_per_batch=max_atoms_for([model]))
        references = [0.0] * len(data)
    items = [
        StructureLabels.of(cfg, pred, reference)
        for cfg, pred, reference in zip(data.configurations, predictions, references, strict=True)
    ]
    return advise(items, weights=(settings.energy_weight, settings.force_weight, settings.stress_weight))
