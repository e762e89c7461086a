"""Which model a linear-correction experiment recommends: the corrected one, or the untouched one.

Two numbers decide it. Before the correction set is looked at, the benchmark says how much *any* scale can
gain: the paper's cMAE (force MAE after dividing the predictions by the softening scale) against the MAE; below
``MIN_USEFUL_GAIN`` (3 %) a scale correction will not help on this system. After the correction set's labels
are in, :func:`curate.experiments.scale_advice.advise` says whether the set determines its scale and whether a
held-out check on the set gains at least as much. The corrected model is recommended only when both say yes;
the recommended model's benchmark force MAE is what a user following the advice gets.
"""

from __future__ import annotations

from typing import Any

from curate.experiments.scale_advice import MIN_USEFUL_GAIN, ScaleAdvice, advise_set
from curate.models.base import Model
from curate.training.data import TrainingSet
from curate.training.evaluate import Metrics
from curate.training.settings import TrainingSettings


def recommendation(before: Metrics, corrected: Metrics, advice: ScaleAdvice) -> dict[str, Any]:
    """JSON-ready verdict of a linear correction: best possible gain, the set's advice, the recommended model.

    Args:
        before: benchmark metrics of the untouched model.
        corrected: benchmark metrics of the model corrected on the correction set.
        advice: the correction set's scale advice (labels of the set only, never the benchmark's).

    Returns:
        ``best_scale_gain`` (fraction of the untouched force MAE the paper's cMAE removes), ``scale_can_help``,
        ``correction_set`` (the advice), ``recommended`` (``corrected`` or ``untouched``),
        ``recommended_force_mae_ev_per_ang`` and ``message`` (one sentence).
    """
    untouched = before.force_mae_ev_per_ang
    best_gain = (untouched - before.force_cmae_ev_per_ang) / untouched if untouched > 0 else 0.0
    can_help = best_gain >= MIN_USEFUL_GAIN
    use_corrected = can_help and advice.apply
    if not can_help:
        message = (
            f"a scale correction will not help: the best scale lowers the benchmark force MAE by "
            f"{100 * best_gain:.1f} % (cMAE {before.force_cmae_ev_per_ang:.4f} against MAE {untouched:.4f} eV/A); "
            "keep the untouched model"
        )
    elif not advice.apply:
        message = f"the correction set does not support its scale: {advice.reason}"
    else:
        message = f"apply the correction: {advice.reason}"
    return {
        "best_scale_gain": best_gain,
        "scale_can_help": can_help,
        "correction_set": advice.as_dict(),
        "recommended": "corrected" if use_corrected else "untouched",
        "recommended_force_mae_ev_per_ang": corrected.force_mae_ev_per_ang if use_corrected else untouched,
        "message": message,
    }


def set_recommendation(
    base: Model, before: Metrics, corrected: Metrics, correction: TrainingSet, settings: TrainingSettings
) -> dict[str, Any]:
    """:func:`recommendation` with the advice of ``correction`` (``base``'s predictions of the set, its labels)."""
    return recommendation(before, corrected, advise_set(base, correction, settings))


def recommendation_markdown(verdict: dict[str, Any] | None) -> list[str]:
    """Markdown lines of a :func:`recommendation` (none without one)."""
    if not verdict:
        return []
    advice = verdict["correction_set"]
    return [
        "",
        f"Fitted scale on the correction set: {advice['scale']:.4f} (force slope {advice['force_scale']:.4f} ± "
        f"{advice['standard_error']:.2g}, relative standard error {100 * advice['relative_error']:.2g} %"
        + (", ill-conditioned" if advice["ill_conditioned"] else "")
        + f"); {advice['check']} check: {100 * advice['check_gain']:+.1f} % force MAE gain.",
        f"**Recommended model: {verdict['recommended']}** (benchmark force MAE "
        f"{verdict['recommended_force_mae_ev_per_ang']:.4f} eV/Å): {verdict['message']}.",
    ]
