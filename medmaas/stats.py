"""Bootstrap confidence intervals shared by the families' evaluations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class MetricSpec:
    name: str
    direction: Literal[
        "max", "min", "target"
    ]  # target: best at ``target`` (a calibration slope at 1); never a primary metric
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


def _resampler(
    n: int, strata: np.ndarray | None, clusters: np.ndarray | None
) -> Callable[[np.random.Generator], np.ndarray]:
    """Draws one bootstrap resample's row indices: whole clusters (rows of one patient are correlated), else rows within
    strata."""
    if clusters is not None:
        members = [np.flatnonzero(clusters == c) for c in np.unique(clusters)]
        return lambda rng: np.concatenate([members[i] for i in rng.integers(0, len(members), size=len(members))])
    groups = [np.flatnonzero(strata == s) for s in np.unique(strata)] if strata is not None else [np.arange(n)]
    return lambda rng: np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])


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
    draw = _resampler(len(arrays[0]), strata, clusters)
    samples: dict[str, list[float]] = {name: [] for name in metrics}
    for _ in range(n_resamples):
        idx = draw(rng)
        picked = [a[idx] for a in arrays]
        for name, fn in metrics.items():
            samples[name].append(fn(*picked))
    estimates = {}
    for name, fn in metrics.items():
        values = np.asarray(samples[name], dtype=float)
        low, high = np.nanpercentile(values, [2.5, 97.5])
        estimates[name] = Estimate(value=float(fn(*arrays)), low=float(low), high=float(high))
    return estimates


@dataclass(frozen=True)
class HeldOutRows:
    """One model's primary metric, row by row, on the held-out set.

    Generic code resamples the same rows for two models (the paired gate) or for every candidate (the
    selection-corrected estimate), so a family hands over what its metric needs instead of a number: ``arrays``
    aligned by row (truth first, then the model's output), the ``clusters`` a resample draws whole (patients,
    scaffolds, image groups, categories; ``unit`` names them), ``strata`` (classes) where rows are drawn alone,
    and ``keys``: each row's identity (a patient id, a canonical SMILES, a content hash), from which the registry
    keeps digests to tell which rows a model trained on. A row may have several keys (a patient's held-out
    treatments); it counts as seen when any of them was trained on.
    """

    metric: MetricFn
    arrays: tuple[np.ndarray, ...]
    keys: tuple[tuple[str, ...], ...]
    clusters: np.ndarray | None = None
    strata: np.ndarray | None = None
    unit: str = "row"
    scorable: np.ndarray | None = (
        None  # rows this model could be scored on (a recommender cannot rank an unseen treatment); None: all
    )

    def __len__(self) -> int:
        return len(self.arrays[0])

    def score(self, idx: np.ndarray | None = None) -> float:
        return float(self.metric(*(a if idx is None else a[idx] for a in self.arrays)))

    def only(self, keep: np.ndarray) -> HeldOutRows:
        """The rows where ``keep`` is true (e.g. those a champion never trained on)."""
        return HeldOutRows(
            self.metric,
            tuple(a[keep] for a in self.arrays),
            tuple(k for k, kept in zip(self.keys, keep) if kept),
            None if self.clusters is None else self.clusters[keep],
            None if self.strata is None else self.strata[keep],
            self.unit,
            None if self.scorable is None else self.scorable[keep],
        )

    @property
    def scored(self) -> np.ndarray:
        return np.ones(len(self), dtype=bool) if self.scorable is None else self.scorable

    @property
    def n_units(self) -> int:
        return len(np.unique(self.clusters)) if self.clusters is not None else len(self)


def paired_difference(
    challenger: HeldOutRows, champion: HeldOutRows, sign: int, n_resamples: int, seed: int
) -> Estimate:
    """``sign * (challenger - champion)`` on the same rows, with a 95% CI from resampling both together (positive: the
    challenger is better). Pairing removes the between-row variance the two models share, which two separate CIs
    keep."""
    if not np.array_equal(
        challenger.arrays[0], champion.arrays[0]
    ):  # the truth, row by row (unequal lengths are unequal too)
        raise ValueError("a paired comparison needs both models scored on the same rows with the same truth")
    rng = np.random.default_rng(seed)
    draw = _resampler(len(challenger), challenger.strata, challenger.clusters)
    differences = []
    for _ in range(n_resamples):
        idx = draw(rng)
        differences.append(sign * (challenger.score(idx) - champion.score(idx)))
    low, high = np.nanpercentile(np.asarray(differences, dtype=float), [2.5, 97.5])
    return Estimate(sign * (challenger.score() - champion.score()), float(low), float(high))


def selection_corrected(candidates: Sequence[HeldOutRows], sign: int, n_resamples: int, seed: int) -> float:
    """What "the best candidate on the held-out set" is worth once the choice itself is paid for: bootstrap
    bias-corrected estimation (BBC, Tsamardinos, Greasidou and Borboudakis 2018) on the held-out predictions. Each
    resample picks the candidate best on the drawn rows and scores it on the rows (clusters) not drawn; the mean of
    those scores."""
    first = candidates[0]
    units = first.clusters if first.clusters is not None else np.arange(len(first))
    rng = np.random.default_rng(seed)
    draw = _resampler(len(first), first.strata, first.clusters)
    scores = []
    for _ in range(n_resamples):
        idx = draw(rng)
        left_out = np.flatnonzero(~np.isin(units, units[idx]))
        if len(left_out) == 0:
            continue
        in_bag = np.array([sign * c.score(idx) for c in candidates], dtype=float)
        if np.all(np.isnan(in_bag)):
            continue
        scores.append(candidates[int(np.nanargmax(in_bag))].score(left_out))
    return float(np.nanmean(scores)) if scores else float("nan")
