"""Power-law fits of an error against training-set size: log10(MAE) = intercept + slope * log10(N)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curate.errors import ConfigurationError


@dataclass(frozen=True)
class PowerLawFit:
    """log10(MAE) = intercept_log10 + slope * log10(N), least squares (numpy.polyfit, degree 1).

    Attributes:
        slope: the scaling exponent (negative when the error falls with N).
        intercept_log10: log10 of the MAE extrapolated to N = 1 (MAE unit).
        points: (N, MAE) points fitted.
        n_min: smallest N fitted.
        n_max: largest N fitted.
        r_squared: coefficient of determination in log-log space.
    """

    slope: float
    intercept_log10: float
    points: int
    n_min: int
    n_max: int
    r_squared: float

    def predict(self, n_train: float | np.ndarray) -> float | np.ndarray:
        """Fitted MAE at ``n_train``: 10**intercept * N**slope."""
        return 10.0**self.intercept_log10 * np.asarray(n_train, dtype=float) ** self.slope

    def n_for(self, mae: float) -> float:
        """N at which the fitted line reaches ``mae``: (mae / 10**intercept) ** (1 / slope)."""
        return float((mae / 10.0**self.intercept_log10) ** (1.0 / self.slope)) if self.slope else float("inf")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the prefactor 10**intercept."""
        return {
            "slope": self.slope,
            "intercept_log10": self.intercept_log10,
            "prefactor": 10.0**self.intercept_log10,
            "points": self.points,
            "n_min": self.n_min,
            "n_max": self.n_max,
            "r_squared": self.r_squared,
        }


def fit_power_law(n_train: Sequence[float], mae: Sequence[float], *, min_n: int | None = None) -> PowerLawFit:
    """Fit MAE = 10**b * N**a by a straight line in log10-log10 space, over points with N >= ``min_n``.

    Args:
        n_train: training-set sizes N (one per point; repeats, e.g. seeds, allowed).
        mae: the MAE of each point (any unit; must be > 0).
        min_n: fit only points with N >= min_n (default: all).

    Raises:
        ConfigurationError: fewer than two distinct N left, or a non-positive or non-finite MAE among them.
    """
    n_arr, mae_arr = np.asarray(n_train, dtype=float), np.asarray(mae, dtype=float)
    keep = n_arr >= (min_n or 0)
    n_arr, mae_arr = n_arr[keep], mae_arr[keep]
    if len(np.unique(n_arr)) < 2:
        raise ConfigurationError(
            f"a power-law fit needs points at two or more sizes N >= {min_n or 1}, found {sorted(set(n_arr.tolist()))}"
        )
    if not np.all(np.isfinite(mae_arr)) or np.any(mae_arr <= 0):
        raise ConfigurationError(f"a power-law fit needs finite positive MAEs, found {mae_arr.tolist()}")
    x, y = np.log10(n_arr), np.log10(mae_arr)
    slope, intercept = np.polyfit(x, y, 1)
    residual = float(np.sum((y - (intercept + slope * x)) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    return PowerLawFit(
        slope=float(slope),
        intercept_log10=float(intercept),
        points=len(n_arr),
        n_min=int(n_arr.min()),
        n_max=int(n_arr.max()),
        r_squared=1.0 - residual / total if total > 0 else 1.0,
    )
