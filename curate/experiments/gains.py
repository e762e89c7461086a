"""Statistics of the correction-gain experiment: mean +- sample std over random sets, and the gain of a chosen set.

The gain of the chosen (correction) set over random data is, per random set k and error metric m,

    gain_k(m) = m(random_k) - m(correction),

reported as the mean +- sample standard deviation (ddof = 1) over the random sets; positive = the chosen set
is better. For the softening scale a the error is |1 - a| (a = 1 is no softening).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curate.training.evaluate import Metrics

# error metrics compared between sets (lower is better); softening_error = |1 - softening scale|
GAIN_METRICS: tuple[str, ...] = (
    "force_mae_ev_per_ang",
    "softening_error",
    "force_cmae_ev_per_ang",
    "energy_mae_ev_per_atom",
    "stress_mae_gpa",
)
MIN_REPEATS = 2  # a standard deviation needs two random sets


@dataclass(frozen=True)
class MeanStd:
    """Mean and sample standard deviation (ddof = 1) of a few numbers, with the numbers.

    Attributes:
        mean: arithmetic mean.
        std: sample standard deviation, sqrt(sum (v - mean)^2 / (n - 1)).
        values: the numbers, in input order.
    """

    mean: float
    std: float
    values: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: mean, std, values."""
        return {"mean": self.mean, "std": self.std, "values": list(self.values)}

    def text(self, digits: int = 4) -> str:
        """``mean ± std`` with ``digits`` decimals."""
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


def mean_std(values: Sequence[float]) -> MeanStd:
    """Mean and sample standard deviation (ddof = 1) of ``values``.

    Raises:
        ValueError: fewer than two values (the sample standard deviation is undefined) or a non-finite value.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.size < MIN_REPEATS:
        raise ValueError(f"mean +- std needs at least {MIN_REPEATS} values, got {array.size}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"mean +- std of non-finite values: {array.tolist()}")
    return MeanStd(float(array.mean()), float(array.std(ddof=1)), tuple(float(v) for v in array))


def softening_error(scale: float) -> float:
    """|1 - a|: how far a softening scale a is from no systematic force error (dimensionless)."""
    return abs(1.0 - scale)


def error_metrics(metrics: Metrics) -> dict[str, float | None]:
    """The :data:`GAIN_METRICS` of one evaluation (stress MAE is None when the benchmark has no stress)."""
    return {
        "force_mae_ev_per_ang": metrics.force_mae_ev_per_ang,
        "softening_error": softening_error(metrics.softening_scale),
        "force_cmae_ev_per_ang": metrics.force_cmae_ev_per_ang,
        "energy_mae_ev_per_atom": metrics.energy_mae_ev_per_atom,
        "stress_mae_gpa": metrics.stress_mae_gpa,
    }


def gains_over_random(correction: Metrics, random: Sequence[Metrics]) -> dict[str, MeanStd]:
    """Gain of the correction set over each random set, gain_k = error(random_k) - error(correction).

    Args:
        correction: benchmark metrics of the model fine-tuned on the correction set.
        random: benchmark metrics of the models fine-tuned on the random sets (at least two).

    Returns:
        Per metric of :data:`GAIN_METRICS` (stress only when present), the mean +- std of the gains over the
        random sets, in the metric's unit (eV/angstrom, eV/atom, GPa; dimensionless for softening_error).
        Positive = the correction set gives the lower error.
    """
    chosen = error_metrics(correction)
    per_set = [error_metrics(m) for m in random]
    gains: dict[str, MeanStd] = {}
    for name in GAIN_METRICS:
        reference = chosen[name]
        values = [s[name] for s in per_set]
        if reference is None or any(v is None for v in values):
            continue
        gains[name] = mean_std([float(v) - reference for v in values if v is not None])
    return gains


def spread_over_random(random: Sequence[Metrics]) -> dict[str, MeanStd]:
    """Mean +- std over the random sets of every metric (and of the softening scale itself)."""
    per_set = [{**error_metrics(m), "softening_scale": m.softening_scale} for m in random]
    return {
        name: mean_std([float(s[name]) for s in per_set])  # type: ignore[arg-type]
        for name in ("softening_scale", *GAIN_METRICS)
        if all(s[name] is not None for s in per_set)
    }
