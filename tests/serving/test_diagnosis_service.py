"""The diagnosis service: in-process and over real HTTP on loopback, a restart after promotion, the Bento."""

import json
import math
import os
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from service_contract import assert_keys_required, assert_one_audit_line_per_request, fuzz, scraped
from support import Replace, Server, chromium, free_port, run_to_end, wait_for, wait_until_ready

from flows.train import run_family
from medmaas.access import KeyStore, keys_path
from medmaas.environment import PROJECT_ROOT, group_alive

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving"), pytest.mark.usefixtures("prefect_harness")]
MODEL = "diagnosis_serving"
MAX_ITEMS = 5


@pytest.fixture(scope="module")
def serving_params(write_params):
    path = write_params(
        {
            "diagnosis": {
                "registered_model": MODEL,
                "candidates": Replace({"logistic_regression": {"C": [0.1]}}),
                "serving": {"max_items_per_request": MAX_ITEMS},
                "acceptance": {"max_regression": 1.0},  # later candidates in this module may replace the champion
            }
        }
    )
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


def test_the_model_load_the_preparation_and_the_forward_pass_are_spans_with_no_input(service, patients, first_champion):
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import serving.diagnosis
    from serving import tracing

    exporter = InMemorySpanExporter()
    tracing.provider("diagnosis").add_span_processor(SimpleSpanProcessor(exporter))
    fresh = serving.diagnosis.DiagnosisService()  # a worker starting: it loads its model
    with tracing.step("diagnosis", "POST /predict") as request:
        fresh.predict([serving.diagnosis.Patient(**row) for row in patients.iloc[:3].to_dict("records")])
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["load model"].attributes["medmaas.version"] == str(first_champion.challenger_version)
    for step in ("prepare features", "forward pass"):
        assert spans[step].parent.span_id == request.get_span_context().span_id
        assert spans[step].attributes["items"] == 3
    values = {str(v) for v in patients.iloc[:3].to_numpy().ravel()}
    assert not values & {str(v) for s in spans.values() for v in (s.attributes or {}).values()}


def test_explanation_reproduces_the_model_output(service, patients):
    import serving.diagnosis as sd

    patient = sd.Patient(**patients.iloc[2].to_dict())
    explanation = service.explain(patient)
    predicted = service.predict([patient])[0].probabilities[explanation.explained_class]
    assert explanation.explained_class == "malignant"
    assert explanation.probability == pytest.approx(predicted, abs=1e-9)
    assert explanation.base_value + sum(c.contribution for c in explanation.contributions) == pytest.approx(
        predicted, abs=1e-6
    )
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
    assert explanation["base_value"] + sum(c["contribution"] for c in explanation["contributions"]) == pytest.approx(
        explanation["probability"], abs=1e-6
    )
    info = server.post("model_info", {}).json()
    version = MlflowClient().get_model_version(MODEL, info["version"])
    assert info["data_md5"] == version.tags["data_md5"] and info["model_card"].endswith("promotion/model_card.md")
    assert info["metrics"]["roc_auc"] >= 0.99
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert "/predict" in server.get("docs.json").text


def test_what_is_scored_is_logged_for_monitoring_with_no_identifier(server, patients, first_champion):
    from medmaas.prediction_log import log_path, read_log

    before = read_log(MODEL).last_row
    body = patients.iloc[:3].to_dict("records")
    assert server.post("predict", {"patients": body}).status_code == 200
    assert server.post("predict_array", {"features": patients.iloc[3:5].to_numpy().tolist()}).status_code == 200
    assert (
        server.post("explain", {"patient": body[0]}).status_code == 200
    )  # an explanation is not a prediction to monitor
    logged = read_log(MODEL, after_row=before)
    assert logged.last_row == before + 5 and logged.versions == (str(first_champion.challenger_version),)
    pd.testing.assert_frame_equal(
        logged.features[list(patients.columns)], patients.iloc[:5].reset_index(drop=True), check_dtype=False
    )
    import sqlite3

    with sqlite3.connect(log_path(MODEL)) as connection:
        stored = connection.execute("SELECT endpoint, prediction FROM predictions WHERE id > ?", (before,)).fetchall()
    assert [e for e, _ in stored] == ["predict"] * 3 + ["predict_array"] * 2
    assert (
        all("patient_id" not in p and not re.search(r"P\d{5}", p) for _, p in stored) and '"predicted"' in stored[0][1]
    )


def _mutate(patients: pd.DataFrame, change) -> str:
    records = patients.iloc[:1].to_dict("records")
    change(records[0])
    return json.dumps({"patients": records}, allow_nan=True)


BAD_PREDICT_BODIES = {
    "missing field": (lambda r: r.pop("mean_area"), "mean_area"),
    "extra field": (lambda r: r.update(patient_id="P00001"), "an unknown field at patients[0]"),
    "true for a number": (lambda r: r.update(mean_radius=True), "mean_radius"),
    "numeric text": (lambda r: r.update(mean_radius="15.2"), "mean_radius"),
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
        ('{"patients": [], "P00001 Jane Roe": 1}', "an unknown field at the top level"),
    ],
)
def test_bad_request_shapes_get_4xx(server, patients, content, named):
    if content is None:
        content = json.dumps({"patients": pd.concat([patients] * 2).iloc[: MAX_ITEMS + 1].to_dict("records")})
    response = server.post("predict", content=content)
    assert 400 <= response.status_code < 500 and named in response.text, response.text
    assert "P00001" not in response.text and "Jane" not in server.log_text()
    assert server.post("predict", {"patients": patients.iloc[:1].to_dict("records")}).status_code == 200


ROW = "[" + ", ".join(["1.0"] * 30) + "]"


@pytest.mark.parametrize(
    ("features", "named"),
    [
        ("[[NaN" + ", 1.0" * 29 + "]]", "not a finite number"),
        ("[[1.0, 2.0]]", "features[0] must be a list of 30 numbers"),
        ("[" + ", ".join([ROW] * (MAX_ITEMS + 1)) + "]", "at most"),
        ("[]", "non-empty"),
        (f"[[{ROW}]]", "features[0] must be a list of 30"),
        ("[[true" + ", 1.0" * 29 + "]]", "numbers only"),
        ('[["5"' + ", 1.0" * 29 + "]]", "numbers only"),
        (ROW, "features[0] must be a list"),
    ],
    ids=["NaN", "short row", "too many rows", "empty", "3-D", "boolean", "numeric text", "1-D"],
)
def test_bad_arrays_get_4xx(server, features, named):
    response = server.post("predict_array", content=f'{{"features": {features}}}')
    assert response.status_code == 400 and named in response.text, response.text


# --- what every service promises --------------------------------------------------------------
def test_every_route_needs_a_valid_unrevoked_key(server):
    assert_keys_required(server)


def test_in_a_browser_the_page_takes_a_key_through_authorize_and_gets_a_prediction(server, patients, first_champion):
    """Headless Chromium on the service's own page: the Swagger UI loads without a key, "Authorize" takes one, and
    "Try it out" on /predict answers 200 with the champion's version; the page loads nothing from another site."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    browser = chromium()
    wait = WebDriverWait(browser, 60)
    predict = "[id$='__predict']"
    try:
        browser.get(f"{server.url}/")
        wait.until(shown.element_to_be_clickable((By.CSS_SELECTOR, "button.authorize"))).click()
        wait.until(shown.visibility_of_element_located((By.CSS_SELECTOR, ".auth-container input"))).send_keys(
            server.headers["Authorization"].split()[1]
        )
        browser.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper button.authorize").click()
        browser.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper button.btn-done").click()
        wait.until(shown.element_to_be_clickable((By.CSS_SELECTOR, f"{predict} .opblock-summary"))).click()
        wait.until(shown.element_to_be_clickable((By.CSS_SELECTOR, f"{predict} .try-out__btn"))).click()
        body = wait.until(
            shown.visibility_of_element_located((By.CSS_SELECTOR, f"{predict} textarea.body-param__text"))
        )
        body.send_keys(Keys.CONTROL, "a")
        body.send_keys(Keys.DELETE)
        body.send_keys(json.dumps({"patients": patients.iloc[:1].to_dict("records")}))
        browser.find_element(By.CSS_SELECTOR, f"{predict} .btn.execute").click()
        status = wait.until(
            shown.visibility_of_element_located(
                (By.CSS_SELECTOR, f"{predict} .live-responses-table tbody .response-col_status")
            )
        ).text
        answer = json.loads(
            browser.find_element(
                By.CSS_SELECTOR, f"{predict} .live-responses-table tbody .response-col_description pre"
            ).text
        )
        elsewhere = [
            entry["message"] for entry in browser.get_log("browser") if "Content Security Policy" in entry["message"]
        ]
    finally:
        browser.quit()
    assert status == "200" and answer[0]["version"] == str(first_champion.challenger_version)
    assert math.isclose(sum(answer[0]["probabilities"].values()), 1.0, abs_tol=1e-9)
    assert (
        elsewhere == []
    )  # nothing on the page reached for another site (the policy would have blocked it and said so)


def test_each_request_gets_one_audit_line_without_values(server, patients):
    assert_one_audit_line_per_request(
        server, "diagnosis", "predict", {"patients": patients.iloc[:1].to_dict("records")}, ["P00001 Jane Roe"]
    )


def test_metrics_count_by_route_template_and_class_never_by_a_client_s_path(server, patients, first_champion):
    made_up = ["patients/Jane-Doe-1961-03-02", "predict/../../etc/passwd", "explain%20Smith"]
    before = scraped(server)
    for path in made_up:
        assert httpx.get(f"{server.url}/{path}", headers=server.headers, timeout=30).status_code == 404
    assert server.post("predict", {"patients": patients.iloc[:4].to_dict("records")}).status_code == 200
    assert server.post("predict", {"patients": [{"radius_mean": "Jane"}]}).status_code == 400
    text = server.get("metrics").text
    after = scraped(server)
    assert not any(marker in text for marker in ("Jane", "Doe", "passwd", "Smith", "1961"))
    routes = {dict(labels).get("route") for _, labels in after} - {None}
    assert routes <= {
        "/predict",
        "/predict_array",
        "/explain",
        "/model_info",
        "/",
        "/docs.json",
        "/metrics",
        "(unknown route)",
        "(page asset)",
    }, routes

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    requests = {"service": "diagnosis", "method": "POST", "route": "/predict"}
    assert grew("medmaas_requests_total", **requests, status_class="2xx") == 1
    assert grew("medmaas_requests_total", **requests, status_class="4xx") == 1
    assert grew(
        "medmaas_requests_total", service="diagnosis", method="GET", route="(unknown route)", status_class="4xx"
    ) == len(made_up)
    latency = {"service": "diagnosis", "route": "/predict"}
    assert grew("medmaas_request_duration_seconds_bucket", **latency, le="30.0") == 2  # buckets reach the timeout
    assert grew("medmaas_request_duration_seconds_count", **latency) == 2
    version = str(first_champion.challenger_version)
    scored = {k: v for k, v in after.items() if k[0] == "medmaas_predictions_total"}
    assert sum(grew(name, **dict(labels)) for name, labels in scored) == 4  # one per patient, under its class
    assert {dict(labels)["outcome"] for name, labels in scored if grew(name, **dict(labels))} <= {"malignant", "benign"}
    info = {"service": "diagnosis", "model": MODEL, "version": version}
    assert after[("medmaas_model_info", tuple(sorted(info.items())))] == 1


def test_a_second_server_starting_resets_neither_server_s_counts(server, patients):
    # BentoML empties its metrics folder whenever a server starts from the same BentoML home
    labels = (("method", "POST"), ("route", "/predict"), ("service", "diagnosis"), ("status_class", "2xx"))

    def answered(running: Server) -> float:
        return scraped(running).get(("medmaas_requests_total", labels), 0.0)

    body = {"patients": patients.iloc[:1].to_dict("records")}
    before = answered(server)
    assert server.post("predict", body).status_code == 200
    second = Server("serving.diagnosis:DiagnosisService", PROJECT_ROOT)
    try:
        assert server.post("predict", body).status_code == 200 and second.post("predict", body).status_code == 200
        assert answered(server) == before + 2 and answered(second) == 1
    finally:
        second.stop()


def test_a_schema_driven_fuzz_gets_no_server_error_and_no_echo(server):
    counts = fuzz(server)
    print("fuzz diagnosis:", dict(counts))
    assert {path for path, _ in counts} == {"/predict", "/predict_array", "/explain", "/model_info"}
    assert (
        sum(n for (_, status), n in counts.items() if status == 400) > 0
    )  # the negative cases did reach the validation


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


def test_under_three_workers_each_row_and_request_is_logged_once_while_the_log_is_read(
    first_champion, write_params, patients, tmp_path
):
    # three processes append to one prediction log (SQLite, WAL) and one audit file that rotates every ~50 lines
    import sqlite3
    import threading

    from medmaas.prediction_log import read_log

    params = write_params(
        {
            "diagnosis": {
                "registered_model": MODEL,
                "serving": {"max_items_per_request": MAX_ITEMS, "audit_max_bytes": 10_000},
            }
        }
    )
    state = tmp_path / "state"  # its own audit and prediction logs; the registry and the keys are the session's
    workers = Server(
        "serving.diagnosis:DiagnosisService",
        PROJECT_ROOT,
        {
            "MEDMAAS_PARAMS": str(params),
            "MEDMAAS_STATE_DIR": str(state),
            "MEDMAAS_API_KEYS": str(keys_path()),
            "BENTOML_CONFIG_OPTIONS": "services.diagnosis.workers=3",
        },
    )
    rows = patients.to_dict("records")
    sizes = [1 + i % 3 for i in range(240)]
    reads: list[int] = []
    errors: list[str] = []
    done = threading.Event()

    def read_while_written():
        while not done.is_set():
            try:
                reads.append(read_log(MODEL, directory=state / "predictions").last_row)
            except Exception as error:  # noqa: BLE001 (the test asserts there is none)
                errors.append(repr(error))
            done.wait(0.2)

    reader = threading.Thread(target=read_while_written)
    reader.start()
    try:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda n: workers.post("predict", {"patients": rows[:n]}).status_code, sizes))
        wait_for(
            lambda: read_log(MODEL, directory=state / "predictions").last_row >= sum(sizes),
            waiting_for="every answered row in the prediction log",
            timeout_s=30,
            every_s=0.5,
        )
        counted = scraped(workers)  # whichever worker answers the scrape sums the three
    finally:
        done.set()
        reader.join()
        workers.stop()
    assert answers == [200] * len(sizes)
    with sqlite3.connect(state / "predictions" / f"{MODEL}.sqlite") as connection:
        assert connection.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == sum(sizes)
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    audit_files = sorted((state / "audit").glob("diagnosis.jsonl*"))
    lines = [json.loads(line) for f in audit_files for line in f.read_text().splitlines()]
    assert len(audit_files) > 2, "the audit file never rotated: the test would not test rotation"
    assert sum(line["endpoint"] == "/predict" and line["status"] == 200 for line in lines) == len(sizes)
    assert not errors and len(reads) > 3 and reads == sorted(reads)  # the reader saw the log grow, never failed
    labels = {"method": "POST", "route": "/predict", "service": "diagnosis", "status_class": "2xx"}
    assert counted[("medmaas_requests_total", tuple(sorted(labels.items())))] == len(sizes)
    assert sum(v for (name, _), v in counted.items() if name == "medmaas_predictions_total") == sum(sizes)


# --- lifecycle ------------------------------------------------------------------------------
def test_new_champion_is_served_after_restart(server, serving_params, write_params, patients, first_champion):
    # given a running service on the first champion
    before = server.post("model_info", {}).json()["version"]
    assert before == str(first_champion.challenger_version)
    # when a different candidate is trained and promoted, and the service restarts
    tree = write_params(
        {
            "diagnosis": {
                "registered_model": MODEL,
                "candidates": Replace({"decision_tree": {"max_depth": [3], "min_samples_leaf": [5]}}),
                "serving": {"max_items_per_request": MAX_ITEMS},
                "acceptance": Replace({"max_regression": 1.0}),
            }
        }
    )
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
    bento = Server(
        tag, tmp_path, env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty.db'}", "MEDMAAS_PARAMS": ""}
    )
    try:
        answer = bento.post("predict", {"patients": patients.iloc[:1].to_dict("records")})
        # then it answers with the version it was built from, with the keys of the machine it runs on: it carries none
        assert answer.status_code == 200 and answer.json()[0]["version"] == str(first_champion.challenger_version)
        assert bento.post("predict", {"patients": patients.iloc[:1].to_dict("records")}, headers={}).status_code == 401
        import bentoml

        hashes = [k.sha256 for k in KeyStore().read()]
        files = [f for f in Path(bentoml.get(tag).path).rglob("*") if f.is_file()]
        assert not [f for f in files if "api_keys" in f.name or any(h in f.read_text(errors="ignore") for h in hashes)]
    finally:
        bento.stop()


def test_service_refuses_to_start_without_a_champion(write_params):
    params = write_params({"diagnosis": {"registered_model": "never_trained"}})
    result = run_to_end(
        [sys.executable, "-c", "import serving.diagnosis"],
        waiting_for="importing the service with no champion",
        timeout_s=120,
        cwd=PROJECT_ROOT,
        env={**os.environ, "MEDMAAS_PARAMS": str(params)},
    )
    assert result.returncode != 0
    assert "no champion for 'never_trained'" in result.stderr and "medmaas train diagnosis" in result.stderr


def test_medmaas_serve_leaves_no_process_behind_after_sigterm(first_champion, serving_params, tmp_path):
    """The CLI becomes the server: the supervisor's SIGTERM reaches it, and every process of its group is gone."""
    port = free_port()
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "medmaas"),
            "serve",
            "diagnosis",
            "--params",
            str(serving_params),
            "--port",
            str(port),
        ],
        cwd=PROJECT_ROOT,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/readyz", process, log)
        os.kill(process.pid, signal.SIGTERM)  # the CLI's pid, as a supervisor would
        wait_for(
            lambda: process.poll() is not None,
            waiting_for="medmaas serve exiting on SIGTERM",
            timeout_s=60,
            every_s=0.2,
        )
        wait_for(
            lambda: not group_alive(process.pid),
            waiting_for="every process of medmaas serve's group gone",
            timeout_s=60,
            every_s=0.2,
        )
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
    finally:
        if group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)


def test_service_refuses_to_start_without_a_key_and_warns_loudly_without_auth(
    first_champion, serving_params, write_params, tmp_path
):
    no_keys = {**os.environ, "MEDMAAS_PARAMS": str(serving_params), "MEDMAAS_API_KEYS": str(tmp_path / "none.json")}
    refused = run_to_end(
        [sys.executable, "-c", "import serving.diagnosis"],
        waiting_for="importing the service with no key",
        timeout_s=120,
        cwd=PROJECT_ROOT,
        env=no_keys,
    )
    assert refused.returncode != 0 and "no active API key" in refused.stderr and "medmaas keys create" in refused.stderr
    open_params = write_params({"diagnosis": {"registered_model": MODEL, "serving": {"auth": "none"}}})
    warned = run_to_end(
        [sys.executable, "-c", "import serving.diagnosis"],
        waiting_for="importing the service with auth off",
        timeout_s=120,
        cwd=PROJECT_ROOT,
        env={**no_keys, "MEDMAAS_PARAMS": str(open_params)},
    )
    assert warned.returncode == 0 and "ANYONE WHO CAN REACH THIS PORT" in warned.stderr
