"""Monitoring a champion: batches from a file and from the prediction log, judged against the reference its version
carries."""

import re
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from support import Replace
from typer.testing import CliRunner

from cli import app
from flows.monitor import monitor_family
from flows.train import run_family
from medmaas.prediction_log import PredictionLog

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("registry"), pytest.mark.usefixtures("prefect_harness")]
MODEL = "diagnosis_monitored"
PATIENT_ID = re.compile(r"P\d{5}")


@pytest.fixture(scope="module")
def params(write_params):
    path = write_params(
        {"diagnosis": {"registered_model": MODEL, "candidates": Replace({"logistic_regression": {"C": [0.1]}})}}
    )
    assert run_family("diagnosis", path).promoted
    return path


@pytest.fixture(scope="module")
def wdbc(wdbc_csv) -> pd.DataFrame:
    return pd.read_csv(wdbc_csv)


def batch_file(tmp_path: Path, frame: pd.DataFrame, name: str = "batch.csv") -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def monitoring_runs():
    client = MlflowClient()
    experiment = client.get_experiment_by_name(f"{MODEL}-monitoring")
    return client, client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])


def test_a_labelled_batch_from_the_same_population_flags_nothing_and_is_recorded_without_ids(params, wdbc, tmp_path):
    report = monitor_family("diagnosis", batch_file(tmp_path, wdbc.sample(200, random_state=7)), str(params))
    assert report.status == "no drift" and report.drifted_columns() == [] and report.rows == 200
    assert len(report.features.columns) == 30 and report.prediction.columns[0].test == "ks"
    auc = report.performance.set_index("metric").loc["roc_auc"]
    assert not auc["worse beyond CI"] and float(auc["batch [95% CI]"].split()[0]) > 0.95
    client, runs = monitoring_runs()
    latest = runs[0]
    assert latest.info.run_id == report.run_id and latest.data.tags["status"] == "no drift"
    assert latest.data.metrics["rows"] == 200 and "psi_mean_radius" in latest.data.metrics
    stored = {a.path for a in client.list_artifacts(latest.info.run_id, "monitoring")}
    assert {
        "monitoring/report.md",
        "monitoring/features.csv",
        "monitoring/performance.csv",
        "monitoring/psi.png",
    } <= stored
    for name in ("report.md", "features.csv", "prediction.csv"):
        text = Path(client.download_artifacts(latest.info.run_id, f"monitoring/{name}", str(tmp_path))).read_text()
        assert not PATIENT_ID.search(text)


def test_a_shifted_feature_is_flagged_and_the_cli_exits_1_without_a_server_to_retrain(params, wdbc, tmp_path):
    shifted = wdbc.drop(columns=["diagnosis"]).sample(150, random_state=3)
    shifted["mean_texture"] = shifted["mean_texture"] * 1.4
    result = CliRunner().invoke(app, ["monitor", "diagnosis", batch_file(tmp_path, shifted), "--params", str(params)])
    assert result.exit_code == 1, result.output
    assert "DRIFT (mean_texture" in result.output and "no Prefect server runs" in result.output
    assert "Performance" not in result.output  # no labels, no performance section


def test_a_batch_that_fails_the_gate_is_reported_and_never_compared(params, wdbc, tmp_path):
    bad = wdbc.sample(100, random_state=1)
    bad["mean_area"] = "large"
    report = monitor_family("diagnosis", batch_file(tmp_path, bad), str(params))
    assert report.status == "gate failed" and report.features is None and report.event == ""
    assert any(f.column == "mean_area" for f in report.gate.failures)
    missing = wdbc.drop(columns=["worst_area"]).sample(100, random_state=1)
    result = CliRunner().invoke(
        app, ["monitor", "diagnosis", batch_file(tmp_path, missing, "missing.csv"), "--params", str(params)]
    )
    assert result.exit_code == 2 and "GATE FAILED" in result.output and "worst_area" in result.output


def test_a_batch_too_small_is_not_judged(params, wdbc, tmp_path):
    report = monitor_family("diagnosis", batch_file(tmp_path, wdbc.head(10)), str(params))
    assert report.status == "too small" and report.features is None and "min_rows = 30" in report.to_markdown()


def test_the_prediction_log_is_read_from_where_the_last_check_stopped(params, wdbc):
    monitor_family("diagnosis", None, str(params))  # whatever was logged before: checked now
    log = PredictionLog(MODEL, retention_days=30)
    rows = wdbc.drop(columns=["patient_id", "diagnosis"]).sample(120, random_state=5).to_dict("records")
    log.append("1", "predict", rows, [{"predicted": "benign"}] * len(rows))
    report = monitor_family("diagnosis", None, str(params))
    assert report.rows == 120 and report.source.startswith("the prediction log, rows") and report.status == "no drift"
    again = monitor_family("diagnosis", None, str(params))
    assert again.status == "empty" and "nothing new" in again.source


def test_rows_too_few_to_judge_wait_for_the_next_check(params, wdbc):
    monitor_family("diagnosis", None, str(params))
    log = PredictionLog(MODEL, retention_days=30)
    rows = wdbc.drop(columns=["patient_id", "diagnosis"]).sample(50, random_state=8).to_dict("records")
    log.append("1", "predict", rows[:10], [{}] * 10)
    assert monitor_family("diagnosis", None, str(params)).status == "too small"
    log.append("1", "predict", rows[10:], [{}] * 40)
    assert monitor_family("diagnosis", None, str(params)).rows == 50
