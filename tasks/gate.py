"""The data gate: a family's Great Expectations suite run over its tables, and the report it gives.

No Prefect here: the report types are shared by the validate task, the run reports and the registry.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from medmaas.family import Tables


@dataclass(frozen=True)
class FailedExpectation:
    table: str
    expectation: str
    column: str | None
    problem: str
    sample: list[Any] = field(default_factory=list)


@dataclass
class GateReport:
    family: str
    checked: int
    failures: list[FailedExpectation]
    notes: list[str] = field(default_factory=list)  # what the family inferred about the data (e.g. column kinds)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_markdown(self) -> str:
        verdict = "passed" if self.passed else f"FAILED ({len(self.failures)} of {self.checked} expectations)"
        lines = (
            [f"# Data gate for {self.family}: {verdict}", ""]
            + [f"- {note}" for note in self.notes]
            + ([""] if self.notes else [])
        )
        if self.failures:
            lines += ["| table | expectation | column | problem | sample of bad values |", "|---|---|---|---|---|"]
            lines += [
                f"| {f.table} | {f.expectation} | {f.column or ''} | {f.problem} | {f.sample} |" for f in self.failures
            ]
        return "\n".join(lines) + "\n"

    def to_json(self) -> str:
        return json.dumps(
            {
                "family": self.family,
                "checked": self.checked,
                "passed": self.passed,
                "notes": self.notes,
                "failures": [asdict(f) for f in self.failures],
            },
            indent=2,
            default=str,
        )


class DataGateFailed(RuntimeError):
    def __init__(self, report: GateReport):
        self.report = report
        super().__init__(report.to_markdown())


def _describe(result: dict[str, Any]) -> str:
    detail = result.get("result") or {}
    exception = (result.get("exception_info") or {}).get("exception_message")
    if exception:
        return exception.splitlines()[0][:200]
    if "unexpected_count" in detail:
        return f"{detail['unexpected_count']} rows ({detail.get('unexpected_percent', 0):.1f}%) break it"
    if "observed_value" in detail:
        return f"observed {detail['observed_value']!r}"
    return "not met"


def run_gate(family_name: str, tables: Tables, suites: dict[str, list], identifiers: set[str]) -> GateReport:
    """Validate every table against its suite; values of identifier columns never enter the report."""
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(name=family_name)
    failures: list[FailedExpectation] = []
    checked = 0
    for table, expectations in suites.items():
        frame: pd.DataFrame = tables[table]
        batch = (
            source.add_dataframe_asset(name=table)
            .add_batch_definition_whole_dataframe("all")
            .get_batch(batch_parameters={"dataframe": frame})
        )
        suite = ExpectationSuite(name=f"{family_name}.{table}", expectations=expectations)
        outcome = batch.validate(suite, result_format="SUMMARY")
        checked += len(outcome.results)
        for result in outcome.results:
            if result.success:
                continue
            payload: dict[str, Any] = result.to_json_dict()
            config = result.expectation_config  # always set on a suite's result
            column = config.kwargs.get("column") if config else None
            sample: list[Any] = list((payload.get("result") or {}).get("partial_unexpected_list") or [])
            if column in identifiers:
                sample = [f"<{len(sample)} identifier values redacted>"] if sample else []
            problem = _describe(payload)
            if config and config.description:
                problem = f"{config.description} ({problem})"
            kind = config.type if config else "unknown"
            failures.append(FailedExpectation(table, kind, column, problem, sample[:5]))
    failures.sort(key=lambda f: (f.table, f.column or "", f.expectation))
    return GateReport(family=family_name, checked=checked, failures=failures)
