"""Monitoring steps: a batch (a file, or the prediction log since the last check) against the reference the champion
carries.

The statistics are in medmaas/drift.py; here the batch is read, gated, compared, recorded (an
MLflow run, a Prefect artifact) and, on drift, announced by a Prefect event that the family's
retraining deployment listens for (flows/schedule.py). A batch that fails the gate is reported
and stops there: it is never compared, and never starts a retraining.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from blocks.plots import png
from blocks.tabular import TABLE
from medmaas.champions import Champion
from medmaas.drift import DriftResult, Thresholds, compare
from medmaas.environment import STATE_DIR
from medmaas.prediction_log import read_log
from tasks import artifact_key
from tasks.gate import FailedExpectation, GateReport, run_gate
from tasks.registry import experiment_id, log_files

DRIFT_EVENT = "medmaas.drift.detected"
CHECKED_DIR = STATE_DIR / "monitor"


def model_resource(registered_model: str) -> str:
    """The Prefect resource a drift event is about (the retraining trigger matches on it)."""
    return f"medmaas.model.{registered_model}"


class NotMonitored(RuntimeError):
    """The champion carries no reference (its family is not monitored, or it predates monitoring)."""


@dataclass
class Batch:
    frame: pd.DataFrame
    source: str
    last_row: int | None = None  # from the prediction log: where the next check starts


@dataclass
class MonitoringReport:
    family: str
    registered_model: str
    version: str
    source: str
    rows: int
    thresholds: Thresholds
    status: str = "no drift"  # no drift | drift | gate failed | too small | empty
    gate: GateReport | None = None
    features: DriftResult | None = None
    prediction: DriftResult | None = None
    performance: pd.DataFrame | None = None
    performance_dropped: bool = False
    notes: list[str] = field(default_factory=list)
    event: str = ""
    run_id: str | None = None

    @property
    def drifted(self) -> bool:
        return self.status == "drift"

    def drifted_columns(self) -> list[str]:
        return [
            *(self.features.drifted if self.features else []),
            *(["prediction"] if self.prediction and self.prediction.drifted else []),
        ]

    def summary(self) -> str:
        head = f"{self.registered_model} v{self.version}, {self.rows} rows from {self.source}: {self.status.upper()}"
        if self.drifted:
            head += (
                " "
                f"({', '.join(self.drifted_columns()) or 'no column'}"
                f"{'; performance dropped' if self.performance_dropped else ''})"
            )
        return head

    def to_markdown(self) -> str:
        t = self.thresholds
        lines = [
            f"# Monitoring {self.summary()}",
            "",
            f"- rule: a column drifts when its Benjamini-Hochberg adjusted p-value < {t.alpha:g} and its PSI >= "
            f"{t.min_psi:g}",
            *(f"- {note}" for note in self.notes),
            *([f"- retraining: {self.event}"] if self.event else []),
            "",
        ]
        if self.gate is not None and not self.gate.passed:
            lines += ["## Data gate (the batch was not compared)", "", self.gate.to_markdown()]
        for title, result in (("Prediction", self.prediction), ("Features", self.features)):
            if result is not None:
                table = result.table().sort_values(["drifted", "p_adjusted"], ascending=[False, True])
                lines += [f"## {title}", "", table.to_markdown(index=False, floatfmt=".4g"), ""]
        if self.performance is not None:
            lines += ["## Performance (the batch has labels)", "", self.performance.to_markdown(index=False), ""]
        return "\n".join(lines)


# --- the steps -------------------------------------------------------------------------------------------
@task(name="load-drift-reference", cache_policy=NO_CACHE)
def load_reference(champion: Champion) -> dict[str, Any]:
    client = MlflowClient()
    run_id = client.get_model_version(champion.registered_model, champion.version).run_id or ""
    try:  # no run (a version registered from elsewhere) fails here too
        path = client.download_artifacts(run_id, "monitoring/reference.json")
    except Exception as error:  # MLflow raises its own or an OSError, depending on the store
        raise NotMonitored(
            f"{champion.registered_model} v{champion.version} carries no drift reference: its family is not "
            "monitored, or it was registered before monitoring existed (retrain: `medmaas train "
            f"{champion.family.name}`)"
        ) from error
    return json.loads(Path(path).read_text())


def _checked_file(registered_model: str) -> Path:
    return CHECKED_DIR / f"{registered_model}.json"


@task(name="read-batch", cache_policy=NO_CACHE)
def read_batch(family: Any, batch_path: str | None) -> Batch:
    """A user's file (read with the family block's read options), or what the services logged since the last check."""
    if batch_path is not None:
        path = Path(batch_path).resolve()
        return Batch(family.read_monitoring_batch(path), path.name)
    checked = _checked_file(family.registered_model)
    after = json.loads(checked.read_text())["last_row"] if checked.is_file() else 0
    logged = read_log(family.registered_model, after)
    if logged.features.empty:
        return Batch(logged.features, f"the prediction log (nothing new after row {after})", logged.last_row)
    source = (
        f"the prediction log, rows {after + 1}-{logged.last_row} ({logged.first_time} to {logged.last_time}; "
        f"versions {', '.join(logged.versions)})"
    )
    return Batch(logged.features, source, logged.last_row)


def mark_checked(family: Any, batch: Batch) -> None:
    if batch.last_row is not None:
        CHECKED_DIR.mkdir(parents=True, exist_ok=True)
        _checked_file(family.registered_model).write_text(json.dumps({"last_row": batch.last_row}))


@task(name="check-batch", cache_policy=NO_CACHE)
def check_batch(
    family: Any, champion: Champion, model: Any, reference: dict[str, Any], batch: Batch
) -> MonitoringReport:
    """Gate, then drift of every feature and of the prediction, then performance when the batch has labels."""
    settings = family.settings.monitoring
    frame = batch.frame.drop(columns=list(family.identifier_columns() & set(batch.frame.columns)))
    report = MonitoringReport(
        family.name,
        champion.registered_model,
        champion.version,
        batch.source,
        len(frame),
        Thresholds(settings.alpha, settings.min_psi),
    )
    if frame.empty:
        report.status = "empty"
        return report
    if len(frame) < settings.min_rows:
        report.status = "too small"
        report.notes.append(f"fewer than {family.name}.monitoring.min_rows = {settings.min_rows} rows: not judged")
        return report
    report.gate = run_gate(
        f"{champion.registered_model}-batch",
        {TABLE: frame},
        {TABLE: family.batch_expectations(frame)},
        family.identifier_columns(),
    )
    try:
        checked = family.checked_features(model, frame) if report.gate.passed else None
    except ValueError as error:  # a column the model needs is missing, or a category it never saw
        report.gate.failures.append(FailedExpectation(TABLE, "model features", None, str(error)))
        checked = None
    if checked is None:
        report.status = "gate failed"
        return report
    features, _ = family.monitored_features(model, checked)
    if len(features) < len(frame):
        report.notes.append(f"{len(features)} of the {len(frame)} rows compared: {family.name} counts near-copies once")
    report.features = compare(reference["features"], features, report.thresholds)
    predicted = family.monitored_prediction(model, checked)
    report.prediction = compare(
        {"prediction": reference["prediction"]}, predicted.to_frame("prediction"), report.thresholds
    )
    report.notes.append(f"prediction watched: {predicted.name} (reference: the champion's held-out predictions)")
    if family.is_labelled(frame):
        report.performance, report.performance_dropped = _performance(family, champion, model, checked, frame)
    report.status = "drift" if report.drifted_columns() or report.performance_dropped else "no drift"
    return report


def _performance(
    family: Any, champion: Champion, model: Any, checked: pd.DataFrame, frame: pd.DataFrame
) -> tuple[pd.DataFrame | None, bool]:
    """The family's metrics on the batch (bootstrap CIs) beside the held-out ones; dropped: the primary metric's CI lies
    wholly on the wrong side."""
    _, outcome = family.features_and_outcome(frame)
    try:
        metrics = family.held_out(model, (checked, outcome), figures=False).metrics
    except Exception as error:  # e.g. one class only in the batch: the metrics do not exist there
        return pd.DataFrame(
            [{"metric": "(all)", "note": f"not computable on this batch: {type(error).__name__}"}]
        ), False
    held_out = champion.info.get("metrics", {})
    rows, dropped = [], False
    for spec in family.metrics:
        if spec.name not in metrics:
            continue
        estimate, before = metrics[spec.name], held_out.get(spec.name, float("nan"))
        worse = bool(
            spec.direction == "max" and estimate.high < before or spec.direction == "min" and estimate.low > before
        )
        dropped |= worse and spec.name == family.primary_metric
        rows.append(
            {
                "metric": spec.name,
                "held-out": round(before, 4),
                "batch [95% CI]": str(estimate),
                "worse beyond CI": worse,
            }
        )
    return pd.DataFrame(rows), dropped


def _figures(features: DriftResult, min_psi: float) -> dict[str, bytes]:
    import matplotlib.pyplot as plt

    table = features.table().dropna(subset=["psi"]).sort_values("psi")
    fig, ax = plt.subplots(figsize=(6, max(2.5, 0.22 * len(table))))
    ax.barh(table["column"], table["psi"], color=np.where(table["drifted"], "tab:red", "tab:gray"))
    ax.axvline(min_psi, color="black", linestyle="--", linewidth=1)
    ax.set(xlabel="PSI (red: drifted)", title="Population stability per feature")
    return {"psi.png": png(fig)}


@task(name="record-drift-report", cache_policy=NO_CACHE)
def record_report(report: MonitoringReport, started_by: str) -> str:
    """The report as an MLflow run (tables, metrics, plot) in `<model>-monitoring`, and as a Prefect artifact."""
    client = MlflowClient()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    tags = {
        "family": report.family,
        "champion_version": report.version,
        "status": report.status,
        "started_by": started_by,
        "source": report.source[:250],
    }
    run_id = client.create_run(
        experiment_id(f"{report.registered_model}-monitoring"), run_name=f"monitor-{stamp}", tags=tags
    ).info.run_id
    now = int(datetime.now(timezone.utc).timestamp() * 1000)
    metrics = [Metric("rows", report.rows, now, 0), Metric("drifted_columns", len(report.drifted_columns()), now, 0)]
    files: dict[str, str | bytes] = {"report.md": report.to_markdown()}
    if report.gate is not None:
        files["data_gate.json"] = report.gate.to_json()
    for name, result in (("features", report.features), ("prediction", report.prediction)):
        if result is not None:
            files[f"{name}.csv"] = result.table().to_csv(index=False)
            metrics += [
                Metric(f"psi_{re.sub(r'[^0-9A-Za-z_.-]+', '_', c.column)}", c.psi, now, 0)
                for c in result.columns
                if np.isfinite(c.psi)
            ]
    if report.performance is not None:
        files["performance.csv"] = report.performance.to_csv(index=False)
    if report.features is not None and len(report.features.columns):
        files.update(_figures(report.features, report.thresholds.min_psi))
    client.log_batch(run_id, metrics=metrics)
    log_files(run_id, files, "monitoring")
    client.set_terminated(run_id, "FINISHED")
    create_markdown_artifact(
        report.to_markdown(), key=artifact_key(report.registered_model, "drift-report"), description=report.summary()
    )
    get_run_logger().info(report.summary())
    return run_id


@task(name="signal-drift", cache_policy=NO_CACHE)
def signal_drift(family: Any, report: MonitoringReport) -> str:
    """A Prefect event the family's retraining deployment is triggered by (one run per event); what became of it, in
    words."""
    if not family.settings.monitoring.retrain_on_drift:
        return f"not asked for ({family.name}.monitoring.retrain_on_drift is false)"
    api = os.environ.get("PREFECT_API_URL")
    if not api:  # the temporary API ends with this process: no deployment could hear the event
        return (
            f"not asked for: no Prefect server runs (`medmaas up`); retrain by hand with `medmaas train {family.name}`"
        )
    from prefect.events import emit_event
    from prefect.events.worker import EventsWorker

    event = emit_event(
        event=DRIFT_EVENT,
        resource={
            "prefect.resource.id": model_resource(report.registered_model),
            "prefect.resource.name": report.registered_model,
        },
        payload={
            "family": report.family,
            "version": report.version,
            "drifted": report.drifted_columns(),
            "performance_dropped": report.performance_dropped,
            "report_run": report.run_id,
        },
    )
    EventsWorker.drain_all(timeout=10)
    if event is None:
        return f"not asked for: Prefect at {api} did not take the event"
    sent = f"event {DRIFT_EVENT} {event.id} sent to {api}"
    if family.settings.schedule is None and family.settings.monitoring.schedule is None:
        return (
            f"not asked for: {sent}, but no retraining deployment listens: `medmaas schedule` serves one only for a "
            "family "
            f"with a `schedule:` or `monitoring.schedule:` block; retrain by hand with `medmaas train {family.name}`"
        )
    return (
        f"asked for: {sent}; it starts one run of deployment train-family/retrain-{family.name} while `medmaas "
        "schedule` serves it"
    )
