"""The progression service: both champions trained by the generic flow, served over HTTP and from their Bento."""

import os

import pandas as pd
import pytest
from fhir_records import DIABETES_AS_VALUES, diabetes_record, hook_request
from mlflow.tracking import MlflowClient
from service_contract import assert_keys_required, assert_one_audit_line_per_request, fuzz, scraped
from support import Replace, Server, run_to_end

from flows.train import run_family
from medmaas.environment import PROJECT_ROOT
from medmaas.flavors import stored_flavor

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("serving_progression"),
    pytest.mark.usefixtures("prefect_harness"),
]
TABULAR, VISITS = "progression_serving", "visits_serving"
MARKERS = ["bili", "albumin", "alk_phos", "ast", "platelet", "protime", "edema", "ascites", "hepato", "spiders"]


@pytest.fixture(scope="module")
def serving_params(write_params):
    path = write_params(
        {
            "progression": {"registered_model": TABULAR, "candidates": Replace({"ridge": {"alpha": [10.0]}})},
            "progression_visits": {
                "registered_model": VISITS,
                "acceptance": Replace({"maximums": {"rmse": 1.0}}),
                "candidates": Replace({"recurrent": {"hidden_size": [16], "max_epochs": 30, "patience": 5}}),
            },
        },
        keep_families=("progression", "progression_visits"),
    )
    os.environ["MEDMAAS_PARAMS"] = str(path)  # what the service reads, in-process and in its server
    yield path
    os.environ.pop("MEDMAAS_PARAMS", None)  # other modules' Bento builds import services with their own params


@pytest.fixture(scope="module")
def champions(serving_params):
    """The visits family first, so the tabular family's promotion builds the Bento with both champions."""
    visits = run_family("progression_visits", serving_params)
    tabular = run_family("progression", serving_params)
    assert visits.promoted and tabular.promoted
    return {"visits": visits, "tabular": tabular}


@pytest.fixture(scope="module")
def server(champions):
    running = Server("serving.progression:ProgressionService", PROJECT_ROOT)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def baseline(diabetes_csv) -> list[dict]:
    return pd.read_csv(diabetes_csv).drop(columns=["patient_id", "progression"]).iloc[:3].to_dict("records")


@pytest.fixture(scope="module")
def history(pbcseq_csv) -> dict:
    visits = pd.read_csv(pbcseq_csv)
    patient = visits[visits["patient_id"] == visits["patient_id"].iloc[0]]
    return {
        "age": float(patient["age"].iloc[0]),
        "female": int(patient["female"].iloc[0]),
        "days_ahead": 365,
        "visits": patient[["day", *MARKERS]].iloc[:2].to_dict("records"),
    }


def test_the_recurrent_champion_is_stored_with_mlflow_pytorch_and_its_epochs_are_on_record(champions):
    client = MlflowClient()
    version = client.get_model_version(VISITS, champions["visits"].challenger_version)
    assert version.tags["candidate"] == "recurrent"
    assert stored_flavor(f"models:/{VISITS}/{version.version}") == "pytorch"
    metrics = client.get_run(version.run_id).data.metrics
    assert metrics["train_epochs"] >= 1 and metrics["seconds_per_epoch"] > 0


def test_tabular_input_gets_a_predicted_progression(server, baseline, champions):
    response = server.post("predict", {"patients": baseline})
    assert response.status_code == 200, response.text
    answers = response.json()
    assert len(answers) == 3 and all(0 < a["predicted_progression"] < 400 for a in answers)
    assert {a["version"] for a in answers} == {str(champions["tabular"].challenger_version)}


def test_visit_history_gets_the_next_value_in_clinical_units(server, history, champions):
    response = server.post("predict_next", {"history": history})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["marker"] == "bili" and answer["version"] == str(champions["visits"].challenger_version)
    assert answer["predicted"] == pytest.approx(2.718281828 ** answer["predicted_model_scale"], rel=1e-6)
    assert 0.05 < answer["predicted"] < 80 and answer["beyond_training_gaps"] is False
    far = server.post("predict_next", {"history": {**history, "days_ahead": 3000}}).json()
    assert far["beyond_training_gaps"] is True


def without(visit: dict, key: str) -> dict:
    return {k: v for k, v in visit.items() if k != key}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda h: {**h, "visits": []}, "at least 1 item"),
        (lambda h: {**h, "visits": h["visits"][::-1]}, "visits must be in time order"),
        (lambda h: {**h, "visits": [without(h["visits"][0], "albumin")]}, "albumin"),
        (lambda h: {**h, "visits": [{**h["visits"][0], "bili": 400.0}]}, "bili"),
        (lambda h: {**h, "days_ahead": -30}, "days_ahead"),
        (lambda h: {**h, "patient_id": "PBC0001"}, "an unknown field at history"),
        (lambda h: {**h, "days_ahead": "365"}, "days_ahead"),
        (lambda h: {**h, "female": 0.5}, "female"),
        (lambda h: {**h, "female": True}, "female"),
        (lambda h: {**h, "visits": [{**h["visits"][0], "day": 1e9}]}, "day"),
        (lambda h: {**h, "visits": [{**h["visits"][0], "ascites": 0.5}]}, "ascites"),
    ],
    ids=[
        "empty history",
        "unordered visits",
        "missing marker",
        "marker out of range",
        "negative horizon",
        "identifier sent",
        "horizon as text",
        "binary covariate 0.5",
        "binary covariate true",
        "visit a billion days in",
        "binary marker 0.5",
    ],
)
def test_bad_histories_get_4xx_naming_the_problem(server, history, change, named):
    response = server.post("predict_next", {"history": change(history)})
    assert 400 <= response.status_code < 500 and named in response.text, response.text
    assert "PBC0001" not in response.text and "1000000000" not in response.text


def test_a_gap_between_sent_visits_longer_than_any_in_training_is_flagged(server, history):
    spread = {**history, "days_ahead": 30, "visits": [history["visits"][0], {**history["visits"][1], "day": 9000}]}
    assert server.post("predict_next", {"history": spread}).json()["beyond_training_gaps"] is True


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (lambda b: {"patients": [{**b[0], "bmi": 500.0}]}, "bmi"),
        (lambda b: {"patients": [{**b[0], "sex": 1.5}]}, "sex"),
        (lambda b: {"patients": [{**b[0], "bmi": True}]}, "bmi"),
        (lambda b: {"patients": [{**b[0], "bmi": "32.1"}]}, "bmi"),
        (lambda b: {"patients": b[:1], "name": "Jane Roe"}, "an unknown field at the top level"),
    ],
    ids=["out of range", "integer-coded 1.5", "true for a number", "numeric text", "extra top-level field"],
)
def test_bad_tabular_input_gets_4xx_naming_the_field(server, baseline, body, named):
    response = server.post("predict", body(baseline))
    assert 400 <= response.status_code < 500 and named in response.text, response.text
    assert "Jane" not in response.text and "Jane" not in server.log_text()


def test_explanation_of_the_predicted_progression_adds_up(server, baseline):
    predicted = server.post("predict", {"patients": baseline[:1]}).json()[0]["predicted_progression"]
    explanation = server.post("explain", {"patient": baseline[0]}).json()
    assert explanation["value"] == pytest.approx(predicted, abs=1e-6)
    assert explanation["base_value"] + sum(c["contribution"] for c in explanation["contributions"]) == pytest.approx(
        predicted, abs=1e-6
    )
    assert {c["feature"] for c in explanation["contributions"]} == set(baseline[0])
    assert any(
        abs(c["contribution"]) > 1 for c in explanation["contributions"]
    )  # a ridge on real units moves it by points


def test_an_ehr_s_cds_hooks_call_gets_the_predicted_progression_with_its_band_or_names_what_is_missing(server):
    # the bundled block (params.yaml): lipids and glucose in mmol/L, triglycerides to their log, sex from gender
    before = scraped(server)
    answer = server.post("cds-services/diabetes-progression", hook_request(diabetes_record()))
    assert answer.status_code == 200, server.log_text()[-3000:]
    [card] = answer.json()["cards"]
    predicted = server.post("predict", {"patients": [DIABETES_AS_VALUES]}).json()[0]
    value = predicted["predicted_progression"]
    assert card["summary"] == f"Diabetes progression at one year: {value:.4g} predicted"
    assert card["indicator"] == ("info" if value < 100 else "warning" if value < 184 else "critical")
    labels = (("model", TABULAR), ("outcome", f"band {card['indicator']}"), ("version", predicted["version"]))
    band = ("medmaas_predictions_total", labels)
    assert scraped(server)[band] - before.get(band, 0.0) == 1  # each card is counted by its risk band
    assert "SHAP contributions to the predicted progression" in card["detail"]
    assert card["source"]["label"] == f"medmaas {TABULAR} v{predicted['version']}"
    [unknown] = server.post("cds-services/diabetes-progression", hook_request(diabetes_record("unknown"))).json()[
        "cards"
    ]
    assert "missing sex" in unknown["summary"] and "predicted" not in unknown["summary"]


def test_every_route_needs_a_valid_unrevoked_key(server):
    assert_keys_required(server)


def test_each_request_gets_one_audit_line_without_values(server, baseline):
    assert_one_audit_line_per_request(
        server, "progression", "predict", {"patients": baseline[:1]}, ["Jane Roe PBC0001"]
    )


def test_a_schema_driven_fuzz_gets_no_server_error_and_no_echo(server):
    counts = fuzz(server)
    print("fuzz progression:", dict(counts))
    assert {path for path, _ in counts} == {"/predict", "/predict_next", "/explain", "/model_info"}


def test_bento_carries_both_champions_and_serves_without_the_registry(champions, baseline, history, tmp_path):
    tag = MlflowClient().get_model_version(TABULAR, champions["tabular"].challenger_version).tags["bento"]
    bento = Server(
        tag, tmp_path, env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty.db'}", "MEDMAAS_PARAMS": ""}
    )
    try:
        assert bento.post("predict", {"patients": baseline[:1]}).json()[0]["version"] == str(
            champions["tabular"].challenger_version
        )
        assert bento.post("predict_next", {"history": history}).json()["version"] == str(
            champions["visits"].challenger_version
        )
    finally:
        bento.stop()


def test_service_module_starts_with_one_family_configured_and_names_the_missing_one(write_params, champions):
    # a params file with only the visit family: the tabular endpoint is unavailable, with the reason
    import sys

    only_visits = write_params(
        {"progression_visits": {"registered_model": VISITS}}, keep_families=("progression_visits",)
    )
    probe = (
        "import serving.progression as s; print(type(s.CHAMPIONS['progression_visits']).__name__); "
        "print(s.CHAMPIONS['progression'])"
    )
    result = run_to_end(
        [sys.executable, "-c", probe],
        waiting_for="importing the progression service with one family",
        timeout_s=180,
        cwd=PROJECT_ROOT,
        env={**os.environ, "MEDMAAS_PARAMS": str(only_visits)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Champion" in result.stdout and "has no 'progression' block" in result.stdout
