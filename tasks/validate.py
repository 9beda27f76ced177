"""The gate as a Prefect task: a failure stops the run before training (tasks/gate.py runs the suite)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from medmaas.family import Family, Tables
from tasks import artifact_key
from tasks.gate import GateReport, run_gate
from tasks.reports import write_gate_report


@task(name="validate-data", cache_policy=NO_CACHE)
def validate_data(family: Family, tables: Tables) -> GateReport:
    report = run_gate(family.registered_model, tables, family.expectations(tables), family.identifier_columns())
    report.notes = family.gate_notes(tables)
    write_gate_report(family.registered_model, report)
    create_markdown_artifact(
        report.to_markdown(),
        key=artifact_key(family.registered_model, "data-gate"),
        description="Great Expectations gate",
    )
    logger = get_run_logger()
    logger.info("data gate: %d expectations, %d failed", report.checked, len(report.failures))
    return report
