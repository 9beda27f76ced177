"""The promotion rule (DESIGN.md): gate passed, acceptance criteria met, not worse than the champion."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from medmaas.family import Family
from medmaas.stats import Estimate


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


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


def decide(
    family: Family,
    challenger: dict[str, Estimate],
    champion: dict[str, Estimate] | None,
    champion_unscorable: str | None = None,
) -> list[Check]:
    """Every check the challenger must pass; it is promoted only if all pass."""
    acceptance = family.settings.acceptance
    checks = []
    for metric, floor in acceptance.minimums.items():
        value = challenger[metric].value
        checks.append(Check(f"min {metric}", value >= floor, f"{metric} {value:.4f} {'>=' if value >= floor else '<'} floor {floor}"))
    for metric, ceiling in acceptance.maximums.items():
        value = challenger[metric].value
        checks.append(Check(f"max {metric}", value <= ceiling, f"{metric} {value:.4f} {'<=' if value <= ceiling else '>'} ceiling {ceiling}"))
    primary = family.primary_metric
    if champion_unscorable:
        checks.append(Check("vs champion", False, champion_unscorable))
    elif champion is None:
        checks.append(Check("vs champion", True, "no champion yet"))
    else:
        new, old = challenger[primary].value, champion[primary].value
        sign = 1 if family.direction(primary) == "max" else -1
        loss = sign * (old - new)
        ok = loss <= acceptance.max_regression
        checks.append(Check("vs champion", ok, f"{primary} {new:.4f} vs champion {old:.4f} on the same test set (loss {loss:+.4f}, margin {acceptance.max_regression})"))
    return checks
