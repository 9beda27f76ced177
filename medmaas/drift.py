"""Drift statistics, written once: a training reference without patient rows, and a batch compared with it.

A reference keeps, per column, 99 percentiles (never the minimum or maximum: those are one
patient's values) or the counts per category. A batch is compared column by column:

- numeric: Kolmogorov-Smirnov distance between the batch's empirical CDF and the reference CDF
  (interpolated from its percentiles); the p-value is the two-sample one (``scipy.stats.kstwo``
  at the effective size n*m/(n+m), as ``ks_2samp`` computes it), since the reference is a sample too;
- categorical (and numeric columns with few distinct values, where KS is invalid): chi-square
  test of homogeneity on the two count vectors (``scipy.stats.chi2_contingency``); a numeric
  column with repeated values (zeros, counts) gets the same test on its decile bins;
- every column: the population stability index (PSI) over the reference deciles or categories,
  as the effect size: with thousands of rows a trivial shift is "significant", so a column is
  flagged only when its Benjamini-Hochberg adjusted p-value is below ``alpha`` *and* its PSI
  reaches ``min_psi``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

PERCENTILES = np.arange(1, 100) / 100.0
FEW_VALUES = 12  # a numeric column with at most this many distinct values is compared as categories
PSI_FLOOR = 1e-4  # an empty bin on one side: PSI's logarithm needs a positive share
OTHER = "(not in the reference)"


def _label(value: Any) -> str:
    """A category value as text, a whole number without its decimal point: a code read as 2.0 (a column with blanks) is
    "2"."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value)


def _as_labels(values: pd.Series) -> pd.Series:
    return values.map(_label)


def _bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin; a value equal to an edge goes to the bin above it, in the reference and in a batch alike."""
    return np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)


def column_profile(values: pd.Series, kind: str) -> dict[str, Any]:
    """One column's reference: its percentiles and counts per decile bin, or its counts per category (missing counted
    apart).

    A numeric column where one value holds a whole percentile step or more (zeros, small counts, probabilities of
    exactly 0 or 1) is marked ``ties``: KS assumes a continuous distribution, so it is compared by its bins instead."""
    present = values.dropna()
    profile: dict[str, Any] = {
        "n": int(len(present)),
        "missing_fraction": float(values.isna().mean()) if len(values) else 0.0,
    }
    numeric = kind == "numeric" and pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    if numeric and present.nunique() > FEW_VALUES:
        numbers = present.to_numpy(dtype=float)
        percentiles = np.quantile(numbers, PERCENTILES).round(8)
        edges = np.unique(percentiles[9::10])
        return {
            **profile,
            "kind": "numeric",
            "percentiles": percentiles.tolist(),
            "ties": bool(len(np.unique(percentiles)) < len(percentiles)),
            "bin_edges": edges.tolist(),
            "bin_counts": _bins(numbers, edges).tolist(),
        }
    counts = _as_labels(present).value_counts()
    return {**profile, "kind": "categorical", "counts": {str(k): int(v) for k, v in counts.items()}}


def profile(frame: pd.DataFrame, kinds: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The reference of every column of ``frame`` (``kinds``: numeric, categorical or boolean; missing means
    numeric)."""
    return {column: column_profile(frame[column], kinds.get(column, "numeric")) for column in frame.columns}


@dataclass(frozen=True)
class Thresholds:
    alpha: float = 0.05
    min_psi: float = 0.1


@dataclass
class ColumnDrift:
    column: str
    test: str  # "ks" or "chi2"
    n_batch: int
    statistic: float
    p_value: float
    psi: float
    p_adjusted: float = float("nan")
    drifted: bool = False
    note: str = ""


@dataclass
class DriftResult:
    columns: list[ColumnDrift] = field(default_factory=list)
    thresholds: Thresholds = Thresholds()

    @property
    def drifted(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(c) for c in self.columns])


def _reference_cdf(percentiles: list[float]) -> Callable[[np.ndarray], np.ndarray]:
    levels = np.asarray(PERCENTILES)
    points = np.asarray(percentiles, dtype=float)

    def cdf(x: np.ndarray) -> np.ndarray:  # 0 below the first percentile, 1 above the last: off by at most 0.01 there
        return np.asarray(np.interp(x, points, levels, left=0.0, right=1.0))

    return cdf


def _psi(reference_share: np.ndarray, batch_share: np.ndarray) -> float:
    ref = np.clip(reference_share, PSI_FLOOR, None)
    new = np.clip(batch_share, PSI_FLOOR, None)
    return float(np.sum((new - ref) * np.log(new / ref)))


def _homogeneity(reference_counts: np.ndarray, batch_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square test that two count vectors come from one distribution (bins empty on both sides dropped)."""
    observed = np.vstack([reference_counts, batch_counts])
    observed = observed[:, observed.sum(axis=0) > 0]
    if observed.shape[1] < 2:  # one value on both sides: nothing can differ
        return 0.0, 1.0
    result = stats.chi2_contingency(observed, correction=False)
    return float(result.statistic), float(result.pvalue)


def _numeric_drift(column: str, reference: dict[str, Any], batch: np.ndarray) -> ColumnDrift:
    edges = np.asarray(reference["bin_edges"])
    reference_counts, batch_counts = np.asarray(reference["bin_counts"]), _bins(batch, edges)
    psi = _psi(reference_counts / reference_counts.sum(), batch_counts / len(batch))
    if reference["ties"]:
        statistic, p_value = _homogeneity(reference_counts, batch_counts)
        return ColumnDrift(
            column,
            "chi2 (deciles)",
            len(batch),
            statistic,
            p_value,
            psi,
            note="repeated values: compared by bins, not KS",
        )
    statistic = float(stats.kstest(batch, _reference_cdf(reference["percentiles"])).statistic)
    n, m = len(batch), reference["n"]
    p_value = float(stats.kstwo.sf(statistic, max(1, round(n * m / (n + m)))))
    return ColumnDrift(column, "ks", n, statistic, p_value, psi)


def _categorical_drift(column: str, reference: dict[str, Any], batch: pd.Series) -> ColumnDrift:
    known = list(reference["counts"])
    seen = _as_labels(batch).value_counts()
    categories = known + ([OTHER] if seen.index.difference(known).size else [])
    batch_counts = np.array(
        [seen.get(c, 0) for c in known]
        + ([int(seen[seen.index.difference(known)].sum())] if OTHER in categories else [])
    )
    reference_counts = np.array([reference["counts"][c] for c in known] + ([0] if OTHER in categories else []))
    note = "values not in the reference" if OTHER in categories else ""
    statistic, p_value = _homogeneity(reference_counts, batch_counts)
    psi = _psi(reference_counts / max(reference_counts.sum(), 1), batch_counts / max(batch_counts.sum(), 1))
    return ColumnDrift(column, "chi2", int(batch_counts.sum()), statistic, p_value, psi, note=note)


def compare(
    reference: dict[str, dict[str, Any]], batch: pd.DataFrame, thresholds: Thresholds = Thresholds()
) -> DriftResult:
    """Every reference column that ``batch`` has, tested, BH-adjusted across columns, and flagged."""
    results = []
    for column, ref in reference.items():
        if column not in batch.columns:
            continue
        values = batch[column].dropna()
        if values.empty:
            results.append(
                ColumnDrift(column, "none", 0, float("nan"), float("nan"), float("nan"), note="no values in the batch")
            )
        elif ref["kind"] == "numeric" and pd.api.types.is_numeric_dtype(values):
            results.append(_numeric_drift(column, ref, values.to_numpy(dtype=float)))
        else:
            results.append(_categorical_drift(column, ref, values))
    tested = [r for r in results if np.isfinite(r.p_value)]
    if tested:
        adjusted = stats.false_discovery_control([r.p_value for r in tested], method="bh")
        for result, p in zip(tested, adjusted):
            result.p_adjusted = float(p)
            result.drifted = bool(p < thresholds.alpha and result.psi >= thresholds.min_psi)
    return DriftResult(results, thresholds)
