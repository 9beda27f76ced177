"""Monitor one family's champion: batch -> gate -> drift (features, prediction) -> performance if labelled -> report ->
event.

    python -m flows.monitor diagnosis [batch.csv] [--params params.yaml]      (or: medmaas monitor)

Without a file, the batch is what the services logged since the last check. Drift beyond the
family's `monitoring` thresholds emits the event its retraining deployment is triggered by.
"""

from __future__ import annotations

import medmaas  # noqa: F401, I001  (embedded defaults before Prefect and MLflow load)

# isort: split
from prefect import flow

from families import family_class, load_params
from flows import quiet_tracebacks_of
from medmaas.champions import NoChampion, resolve_from_registry
from medmaas.settings import ConfigError, UnreadableData
from tasks.monitor import (
    MonitoringReport,
    NotMonitored,
    check_batch,
    load_reference,
    mark_checked,
    read_batch,
    record_report,
    signal_drift,
)

quiet_tracebacks_of(ConfigError, FileNotFoundError, NoChampion, NotMonitored, UnreadableData)


@flow(name="monitor-family", flow_run_name="monitor-{family_name}")
def monitor_family(
    family_name: str, batch_path: str | None = None, params_path: str | None = None, started_by: str = "manual"
) -> MonitoringReport:
    params = load_params(params_path)
    family = family_class(family_name)(params.families[family_name], params.project.seed)
    champion = resolve_from_registry(family)
    reference = load_reference(champion)
    batch = read_batch(family, batch_path)
    report = check_batch(family, champion, champion.load(), reference, batch)
    report.run_id = record_report(report, started_by)
    if report.drifted:
        report.event = signal_drift(family, report)
    if report.status in ("drift", "no drift", "gate failed"):  # an empty or too small batch waits for more rows
        mark_checked(family, batch)
    return report
