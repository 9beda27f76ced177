"""The diagnosis flow end to end on WDBC, against a temporary MLflow registry and Prefect API."""

import json
import logging
import re
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.metrics import accuracy_score, roc_auc_score
from support import Replace, corrupt, registry_snapshot, wait_for
from typer.testing import CliRunner

from cli import app
from families import load_params
from flows.train import run_family
from medmaas.environment import MLFLOW_DIR, REPORTS_DIR
from medmaas.settings import ConfigError
from tasks.gate import DataGateFailed

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("registry"), pytest.mark.usefixtures("prefect_harness")]
PATIENT_ID = re.compile(r"P\d{5}")


@contextmanager
def captured_logs():
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Collect()
    loggers = [logging.getLogger(), logging.getLogger("prefect")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


@pytest.fixture(scope="module")
def first_run(write_params):
    path = write_params()
    with captured_logs() as logs:
        decision = run_family("diagnosis", path)
    return path, decision, logs


@pytest.fixture(scope="module")
def second_run(first_run, write_params):
    """Acceptance criteria no candidate can meet: a challenger is registered, the champion stays."""
    only_logistic = Replace({"logistic_regression": {"C": [0.1, 1.0]}})
    return run_family(
        "diagnosis",
        write_params({"diagnosis": {"acceptance": {"minimums": {"roc_auc": 1.01}}, "candidates": only_logistic}}),
    )


def champion_version(name="diagnosis") -> str:
    return MlflowClient().get_model_version_by_alias(name, "champion").version


def test_first_run_registers_and_promotes(first_run):
    _, decision, _ = first_run
    assert decision.promoted
    client = MlflowClient()
    model = client.get_registered_model("diagnosis")
    # the first version promoted is also the reference every later challenger must not lose to
    assert model.aliases == {
        "champion": decision.challenger_version,
        "challenger": decision.challenger_version,
        "reference": decision.challenger_version,
    }
    assert client.get_model_version("diagnosis", decision.challenger_version).tags["promotion"] == "promoted"


def test_champion_meets_quality_floor_on_held_out_patients(first_run):
    # given the registered champion and the flow's own held-out split (same seed, same params)
    path, _, _ = first_run
    from families.diagnosis.family import Diagnosis

    params = load_params(path)
    family = Diagnosis(params.families["diagnosis"], params.project.seed)
    features, labels = family.split(family.load()).test
    model = mlflow.sklearn.load_model("models:/diagnosis@champion")
    # when scored independently of the flow's metric code
    proba = model.predict_proba(features)[:, list(model.classes_).index("malignant")]
    # then the floors hold
    assert roc_auc_score(labels == "malignant", proba) >= 0.99
    assert accuracy_score(labels, model.predict(features)) >= 0.95


def test_every_candidate_is_a_child_run_with_metrics_and_plots(first_run):
    _, decision, _ = first_run
    client = MlflowClient()
    version = client.get_model_version("diagnosis", decision.challenger_version)
    parent_id = client.get_run(version.run_id).data.tags["mlflow.parentRunId"]
    children = client.search_runs(
        [client.get_run(parent_id).info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    names = {run.data.tags["candidate"] for run in children}
    assert names == {
        "logistic_regression",
        "linear_svm",
        "rbf_svm",
        "decision_tree",
        "random_forest",
        "gradient_boosting",
    }
    for run in children:
        for metric in ("roc_auc", "accuracy", "balanced_accuracy", "sensitivity", "specificity", "f1", "brier"):
            m = run.data.metrics
            assert m[f"test_{metric}_ci_low"] <= m[f"test_{metric}"] <= m[f"test_{metric}_ci_high"]
        plots = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "plots")}
        assert plots == {"roc.png", "calibration.png", "confusion_matrix.png"}


def test_the_mlflow_ui_opens_the_runs_table_with_each_runs_datasets(first_run):
    # the experiment declares its kind (else the UI opens a GenAI view or a type chooser); every run lists the data it
    # used, by DVC digest and side of the split, with row counts and never a row
    import json

    _, decision, _ = first_run
    client = MlflowClient()
    version = client.get_model_version("diagnosis", decision.challenger_version)
    experiment = client.get_experiment(client.get_run(version.run_id).info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "classification"
    parent_id = client.get_run(version.run_id).data.tags["mlflow.parentRunId"]
    runs = [
        client.get_run(parent_id),
        *client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'"),
    ]
    for run in runs:
        inputs = {
            tag.value: entry.dataset
            for entry in run.inputs.dataset_inputs
            for tag in entry.tags
            if tag.key == "mlflow.data.context"
        }
        assert set(inputs) == {"training", "testing"}, run.info.run_name
        assert {d.digest for d in inputs.values()} == {version.tags["data_md5"]} and "wdbc" in inputs["training"].name
        rows = {context: json.loads(d.profile)["num_rows"] for context, d in inputs.items()}
        assert rows["training"] + rows["testing"] == 569 and rows["testing"] == 143
        columns = json.loads(inputs["testing"].schema)[
            "mlflow_colspec"
        ]  # what a request takes: names and types, no value
        assert len(columns) == 30 and {c["type"] for c in columns} == {"double"} and columns[0]["name"] == "mean_radius"
        assert set(columns[0]) == {"name", "type", "required"}


def test_the_registered_version_links_its_logged_model_whose_metrics_name_the_data_they_were_measured_on(first_run):
    _, decision, _ = first_run
    client = MlflowClient()
    version = client.get_model_version("diagnosis", decision.challenger_version)
    model_id = version.source.removeprefix("models:/")
    model = client.get_logged_model(model_id)
    assert model.source_run_id == version.run_id and {
        "name": "diagnosis",
        "version": int(version.version),
    } in json.loads(model.tags["mlflow.modelVersions"])
    run = client.get_run(version.run_id)
    testing = {m.key: m for m in model.metrics if m.dataset_name and m.dataset_name.endswith("(testing side)")}
    assert set(testing) >= {"test_roc_auc", "test_roc_auc_ci_low", "test_roc_auc_ci_high"}
    assert all(
        m.value == run.data.metrics[key] and m.dataset_digest == version.tags["data_md5"] for key, m in testing.items()
    )
    assert [m for m in model.metrics if not m.dataset_name] == []
    assert len(client.get_metric_history(run.info.run_id, "test_roc_auc")) == 1  # linked, not logged a second time


def test_the_runs_table_shows_each_candidate_with_its_primary_metric_and_ci_without_picking_a_column(first_run):
    _, decision, _ = first_run
    client = MlflowClient()
    parent_id = client.get_run(client.get_model_version("diagnosis", decision.challenger_version).run_id).data.tags[
        "mlflow.parentRunId"
    ]
    children = client.search_runs(
        [client.get_run(parent_id).info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    for run in children:
        m = run.data.metrics
        assert (
            run.info.run_name
            == f"{run.data.tags['candidate']} · test roc_auc {m['test_roc_auc']:.3f} [{m['test_roc_auc_ci_low']:.3f}, "
            f"{m['test_roc_auc_ci_high']:.3f}]"
        )


def test_in_a_browser_the_mlflow_ui_opens_the_training_view_with_datasets_and_compares_candidates(first_run, tmp_path):
    """Headless Chromium on `mlflow server` over the test registry: the link the CLI prints opens the runs table (not
    the GenAI view) best first, with the dataset and the primary metric; the compare view lists the primary metric."""
    from selenium.webdriver.common.by import By
    from support import chromium, mlflow_server

    from tasks.registry import training_view_url

    _, decision, _ = first_run
    client = MlflowClient()
    version = client.get_model_version("diagnosis", decision.challenger_version)
    experiment = client.get_run(version.run_id).info.experiment_id
    parent_id = client.get_run(version.run_id).data.tags["mlflow.parentRunId"]
    children = client.search_runs(
        [experiment], f"tags.mlflow.parentRunId = '{parent_id}'", order_by=["metrics.tuning_score DESC"]
    )
    browser = chromium()
    try:
        with mlflow_server(mlflow.get_tracking_uri(), tmp_path / "mlflow.log") as url:
            browser.get(training_view_url(url, experiment))
            parent_name = client.get_run(parent_id).info.run_name
            page = lambda: browser.find_element(By.TAG_NAME, "body").text  # noqa: E731
            wait_for(lambda: parent_name in page(), waiting_for="the runs table", timeout_s=60, every_s=1)
            table, opened = page(), browser.current_url
            runs = json.dumps([r.info.run_id for r in children])
            browser.get(f"{url}/#/compare-runs?runs={runs}&experiments={json.dumps([experiment])}")
            wait_for(
                lambda: "Comparing" in page(), waiting_for="the compare view", timeout_s=60, every_s=1, explain=page
            )
            compared = page()
    finally:
        browser.quit()
    assert (
        f"/experiments/{experiment}/runs?" in opened and "workflowType=machine_learning" in opened
    )  # not the GenAI overview
    names = [run.info.run_name for run in children]
    assert all(" · test roc_auc " in name for name in names)
    shown = [table.index(name) for name in names]
    assert shown == sorted(shown)  # in the training side's order, whatever the test set says
    assert f"diagnosis: wdbc.csv (training side) ({version.tags['data_md5']})" in table
    assert "test_roc_auc" in compared and all(name in compared for name in names)


def test_version_carries_provenance(first_run, wdbc_csv):
    from dvc_data.hashfile.hash import file_md5

    path, decision, _ = first_run
    tags = MlflowClient().get_model_version("diagnosis", decision.challenger_version).tags
    assert tags["data_md5"] == file_md5(str(wdbc_csv))  # DVC's own hash of the file
    assert tags["params_hash"] == load_params(path).fingerprint("diagnosis")
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?|unknown", tags["git_commit"])


def test_model_card_and_comparison_are_written_with_the_version(first_run):
    _, decision, _ = first_run
    client = MlflowClient()
    run_id = client.get_model_version("diagnosis", decision.challenger_version).run_id
    card = Path(client.download_artifacts(run_id, "promotion/model_card.md")).read_text()
    for section in (
        "## Intended use",
        "## Out of scope",
        "## Data",
        "95% CI",
        "## Calibration",
        "## Limitations",
        "MD5",
    ):
        assert section in card
    comparison = json.loads(Path(client.download_artifacts(run_id, "promotion/decision.json")).read_text())
    assert comparison["promoted"] is True and comparison["checks"]


def test_no_patient_identifier_in_artifacts_reports_or_logs(first_run):
    _, _, logs = first_run
    assert logs, "the flow's log records were not captured"
    assert not [line for line in logs if PATIENT_ID.search(line)]
    for root in (MLFLOW_DIR, REPORTS_DIR):
        for file in root.rglob("*"):
            if file.is_file() and file.suffix in {".md", ".json", ".yaml", ".txt", ""}:
                text = file.read_text(errors="ignore")
                assert not PATIENT_ID.search(text), f"patient id in {file}"
    example = mlflow.models.Model.load("models:/diagnosis@champion").load_input_example(
        mlflow.artifacts.download_artifacts("models:/diagnosis@champion")
    )
    assert "patient_id" not in example.columns


def test_unmeetable_acceptance_registers_a_challenger_and_keeps_the_champion(first_run, second_run):
    _, first, _ = first_run
    assert not second_run.promoted
    client = MlflowClient()
    assert client.get_registered_model("diagnosis").aliases == {
        "champion": first.challenger_version,
        "challenger": second_run.challenger_version,
        "reference": first.challenger_version,
    }
    assert client.get_model_version("diagnosis", second_run.challenger_version).tags["promotion"] == "rejected"
    assert any(not c.passed and "roc_auc" in c.detail for c in second_run.checks)
    assert second_run.champion_version == first.challenger_version  # compared against the champion on the same test set
    run_id = client.get_model_version("diagnosis", second_run.challenger_version).run_id
    written = json.loads(Path(client.download_artifacts(run_id, "promotion/decision.json")).read_text())
    assert written["promoted"] is False


@pytest.mark.parametrize("kind", ["unknown label", "duplicated id", "missing column"])
def test_bad_data_stops_at_the_gate_and_leaves_the_registry(first_run, write_params, session_dir, kind):
    bad = session_dir / f"bad-{kind.replace(' ', '-')}.csv"
    corrupt(pd.read_csv(first_run[0].parent / "data" / "wdbc.csv", dtype={"patient_id": str}), kind).to_csv(
        bad, index=False
    )
    before = registry_snapshot()
    with pytest.raises(DataGateFailed) as raised:
        run_family("diagnosis", write_params({"diagnosis": {"data": {"path": str(bad)}}}))
    assert registry_snapshot() == before
    assert (REPORTS_DIR / "diagnosis" / "data_gate.md").read_text() == raised.value.report.to_markdown()
    failed_runs = MlflowClient().search_runs(
        [MlflowClient().get_experiment_by_name("diagnosis").experiment_id],
        "tags.data_gate = 'failed'",
        order_by=["attributes.start_time DESC"],
    )
    assert failed_runs and failed_runs[0].info.status == "FAILED"
    assert "data_gate/data_gate.md" in {
        a.path for a in MlflowClient().list_artifacts(failed_runs[0].info.run_id, "data_gate")
    }


def test_missing_file_names_the_path_and_the_key(first_run, write_params, session_dir):
    before = registry_snapshot()
    with pytest.raises(FileNotFoundError, match=r"nowhere\.csv.*diagnosis\.data\.path"):
        run_family("diagnosis", write_params({"diagnosis": {"data": {"path": str(session_dir / "nowhere.csv")}}}))
    assert registry_snapshot() == before


def test_config_error_changes_nothing(first_run, write_params):
    before = registry_snapshot()
    with pytest.raises(ConfigError, match="diagnosis.split.cv_folds"):
        run_family("diagnosis", write_params({"diagnosis": {"split": {"cv_folds": 0}}}))
    assert registry_snapshot() == before


def test_cli_shows_the_champion_and_predicts_a_csv(first_run, wdbc_csv, tmp_path):
    path, decision, _ = first_run
    runner = CliRunner()
    shown = runner.invoke(app, ["champion", "diagnosis", "--params", str(path)])
    assert shown.exit_code == 0, shown.output
    assert f"version {champion_version()}" in shown.output and "roc_auc" in shown.output
    out = tmp_path / "scored.csv"
    result = runner.invoke(app, ["predict", "diagnosis", str(wdbc_csv), "--output", str(out), "--params", str(path)])
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out)
    assert len(scored) == 569
    assert (scored[["probability_benign", "probability_malignant"]].sum(axis=1) - 1).abs().max() < 1e-9
    truth = pd.read_csv(wdbc_csv)["diagnosis"]
    assert (scored["predicted"] == truth).mean() > 0.95


def test_a_retrain_on_a_grown_file_pairs_only_the_rows_the_champion_never_trained_on(
    write_params, wdbc_csv, session_dir
):
    from families.diagnosis.family import Diagnosis

    # given a champion trained on the first 300 patients of a file
    frame = pd.read_csv(wdbc_csv)
    first_file, grown_file = session_dir / "wdbc_first_300.csv", session_dir / "wdbc_grown.csv"
    frame.iloc[:300].to_csv(first_file, index=False)
    frame.to_csv(grown_file, index=False)  # the same 300 rows, then 269 appended: the seeded split is drawn anew
    block = {
        "registered_model": "diagnosis_grown",
        "candidates": Replace({"logistic_regression": {"C": [1.0]}}),
        "acceptance": {"max_regression": 0.05},
    }
    first_params = write_params({"diagnosis": {**block, "data": {"path": str(first_file)}}})
    grown_params = write_params({"diagnosis": {**block, "data": {"path": str(grown_file)}}})
    first = run_family("diagnosis", first_params)
    # when the same family is retrained on the grown file
    retrained = run_family("diagnosis", grown_params)

    # then the champion is paired with the challenger only on held-out rows it never trained on, and the count is named
    def split_rows(params_path):  # rows by their position in the file: the first 300 are the same rows in both files
        params = load_params(params_path)
        family = Diagnosis(params.families["diagnosis"], params.project.seed)
        split = family.split(family.load())
        return set(split.train[0].index), list(split.test[0].index)

    (trained_first, _), (_, held_out_now) = split_rows(first_params), split_rows(grown_params)
    seen = sum(row in trained_first for row in held_out_now)
    (comparison,) = retrained.comparisons
    assert (comparison.role, comparison.version) == ("champion", first.challenger_version) and seen > 0
    assert (comparison.rows_total, comparison.rows_compared) == (len(held_out_now), len(held_out_now) - seen)
    card = MlflowClient().download_artifacts(
        MlflowClient().get_model_version("diagnosis_grown", retrained.challenger_version).run_id,
        "promotion/model_card.md",
    )
    assert f"({seen} rows it trained on left out)" in Path(card).read_text()
    # and when too few unseen rows would remain, the comparison is refused with that reason and champion does not move
    champion_before = champion_version("diagnosis_grown")
    strict = run_family(
        "diagnosis",
        write_params(
            {"diagnosis": {**block, "data": {"path": str(grown_file)}, "acceptance": {"min_compared_units": 1000}}}
        ),
    )
    assert not strict.promoted and champion_version("diagnosis_grown") == champion_before
    assert "fewer than acceptance.min_compared_units (1000)" in strict.summary()
    # and a reference version that does not exist is a refused comparison naming the key, not a crash
    misnamed = run_family(
        "diagnosis",
        write_params(
            {"diagnosis": {**block, "data": {"path": str(grown_file)}, "acceptance": {"reference_version": 99}}}
        ),
    )
    assert (
        not misnamed.promoted
        and "acceptance.reference_version 99 is not a registered version of 'diagnosis_grown'" in misnamed.summary()
    )


def test_a_challenger_whose_bento_cannot_be_built_is_not_promoted(write_params, monkeypatch):
    import tasks.package

    def broken_build(*args, **kwargs):
        raise RuntimeError("bentoml build failed")

    monkeypatch.setattr(tasks.package, "build_bento", broken_build)
    model = "diagnosis_unbuildable"  # a model of its own: no champion yet, so this challenger would be promoted
    block = {"registered_model": model, "candidates": Replace({"logistic_regression": {"C": [1.0]}})}
    decision = run_family("diagnosis", write_params({"diagnosis": block}))
    assert not decision.promoted and [c.name for c in decision.checks if not c.passed] == ["bento"]
    client = MlflowClient()
    assert "champion" not in client.get_registered_model(model).aliases  # the alias never points at it
    version = client.get_model_version(model, decision.challenger_version)
    assert version.tags["bento"] == "failed" and version.tags["promotion"] == "rejected"
