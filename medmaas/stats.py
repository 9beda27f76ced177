"""Bootstrap confidence intervals shared by the families' evaluations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class MetricSpec:
    name: str
    direction: Literal["max", "min", "target"]  # target: best at ``target`` (a calibration slope at 1); never a primary metric
    description: str
    target: float | None = None

    @property
    def reading(self) -> str:
        if self.direction == "target":
            return f"best at {self.target:g}"
        return "higher is better" if self.direction == "max" else "lower is better"


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap 95% confidence interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.4f} [{self.low:.4f}, {self.high:.4f}]"


MetricFn = Callable[..., float]


def bootstrap_estimates(
    metrics: dict[str, MetricFn],
    arrays: Sequence[np.ndarray],
    n_resamples: int,
    seed: int,
    strata: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
) -> dict[str, Estimate]:
    """Percentile 95% CIs from resampling rows (within strata, so every resample keeps every class).

    With ``clusters`` (e.g. the patient of each row) whole clusters are resampled: rows of one
    patient are correlated, and resampling them one by one would make the CIs too narrow.
    """
    rng = np.random.default_rng(seed)
    n = len(arrays[0])
    groups = [np.flatnonzero(strata == s) for s in np.unique(strata)] if strata is not None else [np.arange(n)]
    members = [np.flatnonzero(clusters == c) for c in np.unique(clusters)] if clusters is not None else None
    samples: dict[str, list[float]] = {name: [] for name in metrics}
    for _ in range(n_resamples):
        if members is not None:
            idx = np.concatenate([members[i] for i in rng.integers(0, len(members), size=len(members))])
        else:
            idx = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        picked = [a[idx] for a in arrays]
        for name, fn in metrics.items():
            samples[name].append(fn(*picked))
    estimates = {}
    for name, fn in metrics.items():
        values = np.asarray(samples[name], dtype=float)
        low, high = np.nanpercentile(values, [2.5, 97.5])
        estimates[name] = Estimate(value=float(fn(*arrays)), low=float(low), high=float(high))
    return estimates
