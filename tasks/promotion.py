"""The promotion rule (DESIGN.md): gate passed, acceptance criteria met, not worse than the champion (and the
reference).

"Not worse" is a paired test, not two point estimates side by side: challenger and champion are scored on the same
held-out rows, the rows the champion trained on are left out, and the difference is bootstrapped in pairs over the
family's resampling unit. The challenger passes when the 95% CI's low end is at least ``-max_regression``. The same
comparison against a fixed reference version keeps small losses from chaining version after version.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial

import numpy as np

from medmaas.family import Family
from medmaas.stats import Estimate, HeldOutRows, paired_difference


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Comparison:
    """The challenger against one earlier version, on the held-out rows that version never trained on."""

    role: str  # "champion" or "reference"
    version: str
    difference: Estimate | None  # challenger minus the other, signed so that positive is better; None when refused
    rows_compared: int
    rows_total: int
    units_compared: int
    unit: str
    refused: str | None = None  # why no fair comparison could be made
    # False: the other version stored no row digests comparable with this run's: rows it trained on cannot be left out
    overlap_known: bool = True

    @property
    def rule(self) -> str:
        return "the paired 95% CI's low end >= -max_regression"

    def sentence(self, metric: str) -> str:
        d = self.difference
        if self.refused or d is None:
            return f"vs {self.role} v{self.version}: no comparison ({self.refused})"
        left_out = self.rows_total - self.rows_compared
        scope = f"{self.rows_compared} held-out rows in {self.units_compared} {self.unit}s" + (
            f" ({left_out} rows it trained on left out)" if left_out else ""
        )
        if not self.overlap_known:
            scope += (
                " (whether it trained on some of them is unknown: it stored no row digests under this state's key, "
                "or digests of other row keys than the family makes now)"
            )
        return (
            f"vs {self.role} v{self.version}: {metric} difference {d.value:+.4f} (95% CI {d.low:+.4f} to "
            f"{d.high:+.4f}), paired over {scope}"
        )


def compare(
    family: Family, role: str, version: str, challenger: HeldOutRows, other: HeldOutRows, seen: np.ndarray | None
) -> Comparison:
    """Pair the two on the rows ``other`` never saw (``seen``: per row, whether it trained on it; None: unknown, all
    kept)."""
    keep = (
        (np.ones(len(challenger), dtype=bool) if seen is None else ~seen) & challenger.scored & other.scored
    )  # rows both could be scored on
    mine, theirs = challenger.only(keep), other.only(keep)
    units = mine.n_units if keep.any() else 0
    minimum = family.settings.acceptance.min_compared_units
    made = partial(
        Comparison,
        role=role,
        version=version,
        rows_compared=int(keep.sum()),
        rows_total=len(challenger),
        units_compared=units,
        unit=challenger.unit,
        overlap_known=seen is not None,
    )
    if units < minimum:
        seen_count = 0 if seen is None else int(seen.sum())
        reason = (
            f"it trained on {seen_count} of the {len(challenger)} held-out rows; {units} {challenger.unit}s it never "
            "saw (and both "
            f"models could score) remain, fewer than acceptance.min_compared_units ({minimum})"
        )
        return made(difference=None, refused=reason)
    try:
        difference = paired_difference(mine, theirs, family.better(), family.settings.bootstrap_resamples, family.seed)
    except ValueError as error:
        return made(difference=None, refused=str(error))
    return made(difference=difference)


@dataclass
class Decision:
    registered_model: str
    challenger_version: str
    challenger_candidate: str
    promoted: bool
    checks: list[Check]
    challenger_metrics: dict[str, Estimate]
    champion_version: str | None = None
    champion_metrics: dict[str, Estimate] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def serving_version(self) -> str | None:
        return self.challenger_version if self.promoted else self.champion_version

    def summary(self) -> str:
        verb = "promoted to champion" if self.promoted else "kept as challenger"
        failed = [c.detail for c in self.checks if not c.passed]
        tail = "" if self.promoted else f"; champion stays {self.champion_version or 'unset'} ({'; '.join(failed)})"
        return f"{self.registered_model} v{self.challenger_version} ({self.challenger_candidate}) {verb}{tail}"

    def to_dict(self) -> dict:
        payload = asdict(self)
        payload["summary"] = self.summary()
        return payload


@dataclass(frozen=True)
class EarlierVersions:
    """The champion (and the reference) scored on this run's test set, each paired with the challenger."""

    champion_version: str | None
    champion_metrics: dict[str, Estimate] | None
    comparisons: list[Comparison]


def decide(
    family: Family,
    challenger_version: str,
    challenger_candidate: str,
    challenger: dict[str, Estimate],
    earlier: EarlierVersions,
) -> Decision:
    """The promotion decision, from figures alone (no registry, no I/O): promoted only if every check passes."""
    checks = checks_for(family, challenger, earlier.comparisons)
    return Decision(
        registered_model=family.registered_model,
        challenger_version=challenger_version,
        challenger_candidate=challenger_candidate,
        promoted=all(c.passed for c in checks),
        checks=checks,
        challenger_metrics=challenger,
        champion_version=earlier.champion_version,
        champion_metrics=earlier.champion_metrics or {},
        comparisons=earlier.comparisons,
    )


def checks_for(family: Family, challenger: dict[str, Estimate], comparisons: list[Comparison]) -> list[Check]:
    """Every check the challenger must pass; it is promoted only if all pass (a refused comparison fails its check)."""
    acceptance = family.settings.acceptance
    cautious = acceptance.floors_on == "lower_bound"
    checks = []
    for metric, floor in acceptance.minimums.items():
        value = challenger[metric].low if cautious else challenger[metric].value
        what = f"{metric} {'95% CI low end ' if cautious else ''}{value:.4f}"
        checks.append(Check(f"min {metric}", value >= floor, f"{what} {'>=' if value >= floor else '<'} floor {floor}"))
    for metric, ceiling in acceptance.maximums.items():
        value = challenger[metric].high if cautious else challenger[metric].value
        what = f"{metric} {'95% CI high end ' if cautious else ''}{value:.4f}"
        checks.append(
            Check(f"max {metric}", value <= ceiling, f"{what} {'<=' if value <= ceiling else '>'} ceiling {ceiling}")
        )
    primary = family.primary_metric
    if not any(c.role == "champion" for c in comparisons):
        checks.append(Check("vs champion", True, "no champion yet"))
    for comparison in comparisons:
        if comparison.refused or comparison.difference is None:
            checks.append(Check(f"vs {comparison.role}", False, comparison.sentence(primary)))
            continue
        ok = comparison.difference.low >= -acceptance.max_regression
        checks.append(
            Check(
                f"vs {comparison.role}",
                ok,
                f"{comparison.sentence(primary)}; rule: {comparison.rule} ({acceptance.max_regression})",
            )
        )
    return checks
