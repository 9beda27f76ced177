"""The diagnosis service: in-process and over real HTTP on loopback, a restart after promotion, the Bento."""

import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from support import Replace, Server

from flows.train import run_family
from medmaas.environment import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving"), pytest.mark.usefixtures("prefect_harness")]
MODEL = "diagnosis_serving"
MAX_ITEMS = 5


@pytest.fixture(scope="module")
def serving_params(write_params):
    path = write_params({"diagnosis": {
        "registered_model": MODEL,
        "candidates": Replace({"logistic_regression": {"C": [0.1]}}),
        "serving": {"max_items_per_request": MAX_ITEMS},
        "acceptance": {"max_regression": 1.0},  # later candidates in this module may replace the champion
    }})
    os.environ["MEDMAAS_PARAMS"] = str(path)  # what the service reads, in-process and in its server
    yield path
    os.environ.pop("MEDMAAS_PARAMS", None)  # other modules' Bento builds import services with their own params


@pytest.fixture(scope="module")
def first_champion(serving_params):
    decision = run_family("diagnosis", serving_params)
    assert decision.promoted
    return decision


@pytest.fixture(scope="module")
def patients(wdbc_csv) -> pd.DataFrame:
    return pd.read_csv(wdbc_csv).drop(columns=["patient_id", "diagnosis"]).iloc[:8]


@pytest.fixture(scope="module")
def server(first_champion):
    running = Server("serving.diagnosis:DiagnosisService", PROJECT_ROOT)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def service(first_champion):
    """The service class in this process, re-imported: a Bento build elsewhere may have imported it first."""
    import importlib

    import serving.diagnosis

    return importlib.reload(serving.diagnosis).DiagnosisService()


# --- in-process -------------------------------------------------------------------------------
def test_prediction_has_probabilities_summing_to_one_and_the_champion_version(service, patients, first_champion):
    import serving.diagnosis as sd

    answers = service.predict([sd.Patient(**row) for row in patients.to_dict("records")])
    assert len(answers) == len(patients)
    for answer in answers:
        assert math.isclose(sum(answer.probabilities.values()), 1.0, abs_tol=1e-9)
        assert answer.predicted in answer.probabilities
        assert (answer.model, answer.version) == (MODEL, str(first_champion.challenger_version))


def test_explanation_reproduces_the_model_output(service, patients):
    import serving.diagnosis as sd

    patient = sd.Patient(**patients.iloc[2].to_dict())
    explanation = service.explain(patient)
    predicted = service.predict([patient])[0].probabilities[explanation.explained_class]
    assert explanation.explained_class == "malignant"
    assert explanation.probability == pytest.approx(predicted, abs=1e-9)
    assert explanation.base_value + sum(c.contribution for c in explanation.contributions) == pytest.approx(predicted, abs=1e-6)
    sizes = [abs(c.contribution) for c in explanation.contributions]
    assert sizes == sorted(sizes, reverse=True) and len(sizes) == 30


# --- over HTTP ----------------------------------------------------------------------------------
def test_http_predict_explain_and_model_info(server, patients, first_champion):
    body = {"patients": patients.iloc[:3].to_dict("records")}
    answers = server.post("predict", body)
    assert answers.status_code == 200
    assert [a["version"] for a in answers.json()] == [str(first_champion.challenger_version)] * 3
    assert all(math.isclose(sum(a["probabilities"].values()), 1.0, abs_tol=1e-9) for a in answers.json())
    explanation = server.post("explain", {"patient": patients.iloc[0].to_dict()}).json()
    assert explanation["base_value"] + sum(c["contribution"] for c in explanation["contributions"]) == pytest.approx(explanation["probability"], abs=1e-6)
    info = server.post("model_info", {}).json()
    version = MlflowClient().get_model_version(MODEL, info["version"])
    assert info["data_md5"] == version.tags["data_md5"] and info["model_card"].endswith("promotion/model_card.md")
    assert info["metrics"]["roc_auc"] >= 0.99
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert "/predict" in httpx.get(f"{server.url}/docs.json").text


def _mutate(patients: pd.DataFrame, change) -> str:
    records = patients.iloc[:1].to_dict("records")
    change(records[0])
    return json.dumps({"patients": records}, allow_nan=True)


BAD_PREDICT_BODIES = {
    "missing field": (lambda r: r.pop("mean_area"), "mean_area"),
    "extra field": (lambda r: r.update(patient_id="P00001"), "patient_id"),
    "string": (lambda r: r.update(mean_radius="large"), "mean_radius"),
    "NaN": (lambda r: r.update(mean_texture=float("nan")), "mean_texture"),
    "infinity": (lambda r: r.update(worst_area=float("inf")), "worst_area"),
    "negative": (lambda r: r.update(mean_perimeter=-1.0), "mean_perimeter"),
}


@pytest.mark.parametrize("case", list(BAD_PREDICT_BODIES))
def test_bad_patient_gets_4xx_naming_the_field_and_service_keeps_answering(server, patients, case):
    change, field = BAD_PREDICT_BODIES[case]
    response = server.post("predict", content=_mutate(patients, change))
    assert 400 <= response.status_code < 500, response.text
    assert field in response.text
    assert server.post("predict", {"patients": patients.iloc[:1].to_dict("records")}).status_code == 200
    log = Path(server.log.name).read_text()
    assert field in log  # the rejection is logged with where it failed ...
    assert "P00001" not in log and "P00001" not in response.text  # ... but never with what was sent


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ('{"patients": []}', "patients"),
        (None, "patients"),  # over the declared maximum
        ('{"patients": [', "JSON"),
        ('{"patient": {}}', "patients"),
    ],
)
def test_bad_request_shapes_get_4xx(server, patients, content, named):
    if content is None:
        content = json.dumps({"patients": pd.concat([patients] * 2).iloc[: MAX_ITEMS + 1].to_dict("records")})
    response = server.post("predict", content=content)
    assert 400 <= response.status_code < 500 and named in response.text, response.text
    assert server.post("predict", {"patients": patients.iloc[:1].to_dict("records")}).status_code == 200


@pytest.mark.parametrize(
    ("features", "named"),
    [("[[NaN" + ", 1.0" * 29 + "]]", "not a finite number"), ("[[1.0, 2.0]]", "features"), ("[" + ", ".join(["[" + ", ".join(["1.0"] * 30) + "]"] * (MAX_ITEMS + 1)) + "]", "at most")],
)
def test_bad_arrays_get_4xx(server, features, named):
    response = server.post("predict_array", content=f'{{"features": {features}}}')
    assert response.status_code == 400 and named in response.text, response.text


def test_concurrent_array_requests_are_answered_correctly(server, service, patients):
    rows = patients.to_numpy(dtype=float)
    expected = service.predict_array(rows)

    def ask(i):
        return server.post("predict_array", {"features": rows[i : i + 1].tolist()})

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(ask, [i % len(rows) for i in range(48)]))
    failed = [(r.status_code, r.text[:200]) for r in responses if r.status_code != 200]
    assert not failed
    for i, response in enumerate(responses):
        assert np.allclose(response.json(), expected[i % len(rows) : i % len(rows) + 1])


# --- lifecycle ------------------------------------------------------------------------------
def test_new_champion_is_served_after_restart(server, serving_params, write_params, patients, first_champion):
    # given a running service on the first champion
    before = server.post("model_info", {}).json()["version"]
    assert before == str(first_champion.challenger_version)
    # when a different candidate is trained and promoted, and the service restarts
    tree = write_params({"diagnosis": {"registered_model": MODEL, "candidates": Replace({"decision_tree": {"max_depth": [3], "min_samples_leaf": [5]}}),
                                       "serving": {"max_items_per_request": MAX_ITEMS}, "acceptance": Replace({"max_regression": 1.0})}})
    second = run_family("diagnosis", tree)
    assert second.promoted
    server.stop()
    restarted = Server("serving.diagnosis:DiagnosisService", PROJECT_ROOT)
    try:
        # then it answers with the new version
        assert restarted.post("model_info", {}).json()["version"] == str(second.challenger_version) != before
        answer = restarted.post("predict", {"patients": patients.iloc[:1].to_dict("records")}).json()[0]
        assert answer["version"] == str(second.challenger_version)
    finally:
        restarted.stop()


def test_built_bento_serves_without_the_registry(first_champion, patients, tmp_path):
    # given the Bento the flow built after promotion
    tag = MlflowClient().get_model_version(MODEL, first_champion.challenger_version).tags["bento"]
    # when it is served from elsewhere, with MLflow pointed at an empty registry
    bento = Server(tag, tmp_path, env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty.db'}", "MEDMAAS_PARAMS": ""})
    try:
        answer = bento.post("predict", {"patients": patients.iloc[:1].to_dict("records")})
        # then it answers with the version it was built from
        assert answer.status_code == 200 and answer.json()[0]["version"] == str(first_champion.challenger_version)
    finally:
        bento.stop()


def test_service_refuses_to_start_without_a_champion(write_params):
    params = write_params({"diagnosis": {"registered_model": "never_trained"}})
    result = subprocess.run([sys.executable, "-c", "import serving.diagnosis"], cwd=PROJECT_ROOT, env={**os.environ, "MEDMAAS_PARAMS": str(params)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "no champion for 'never_trained'" in result.stderr and "medmaas train diagnosis" in result.stderr
