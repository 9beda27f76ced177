"""Survival prognosis (GBSG2): gate, quality floor over repeated splits, the AFT model, the service, a user's CSV."""

import os

import numpy as np
import pandas as pd
import pytest
from fhir_records import BREAST_CANCER_AS_VALUES, LOINC, PATIENT_ID, breast_cancer_record, hook_request
from mlflow.tracking import MlflowClient
from service_contract import assert_keys_required, assert_one_audit_line_per_request, fuzz
from support import Replace, Server, otlp_collector, spans_received, wait_for

from blocks.tabular import TABLE
from families import load_params
from families.prognosis.aft import ParametricAFT, _event_time
from families.prognosis.family import Prognosis
from families.prognosis.metrics import SurvivalReference, _structured, calibration_slope
from families.prognosis.settings import LUNG_DATA
from flows.train import run_family
from medmaas.environment import PROJECT_ROOT
from tasks.gate import run_gate

FAMILY = ("prognosis",)
MODEL = "prognosis_serving"


@pytest.fixture(scope="module")
def params(write_params):
    return load_params(write_params(keep_families=FAMILY))


@pytest.fixture(scope="module")
def family(params) -> Prognosis:
    return Prognosis(params.families["prognosis"], params.project.seed)


@pytest.fixture(scope="module")
def frame(family) -> pd.DataFrame:
    return family.load()[TABLE]


def failures(family, frame) -> set:
    report = run_gate("prognosis", {TABLE: frame}, family.expectations({TABLE: frame}), family.identifier_columns())
    return {(f.expectation, f.column) for f in report.failures}


def test_gate_passes_the_bundled_data(family, frame):
    assert failures(family, frame) == set()


@pytest.mark.parametrize(
    ("column", "value", "expectation"),
    [
        ("days", -5.0, "expect_column_values_to_be_between"),
        ("days", 0.0, "expect_column_values_to_be_between"),
        ("event", 2, "expect_column_values_to_be_in_set"),
    ],
    ids=["negative duration", "zero duration", "event outside 0/1"],
)
def test_gate_stops_bad_durations_and_events(family, frame, column, value, expectation):
    bad = frame.copy()
    bad.loc[bad.index[3], column] = value
    assert (expectation, column) in failures(family, bad)


def test_gate_stops_a_data_set_with_too_few_events(family, frame):
    few = frame.copy()
    few["event"] = 0
    few.loc[few.index[:10], "event"] = 1  # 10 events, 50 required
    assert ("expect_column_sum_to_be_between", "event") in failures(family, few)


@pytest.mark.slow
def test_best_candidate_meets_the_c_index_floor_and_beats_kaplan_meier_over_repeated_splits(params, frame):
    # one split's C-index swings by several points, so the floor is the mean over 5 stratified patient splits
    settings = params.families["prognosis"].model_copy(update={"bootstrap_resamples": 50})
    scores = {"cox_ph": [], "gradient_boosting": []}
    skill = {name: [] for name in scores}
    for seed in range(5):
        family = Prognosis(settings, seed)
        split = family.split({TABLE: frame})
        for candidate in scores:
            metrics = family.evaluate(family.fit(candidate, split.train).model, split.test).metrics
            scores[candidate].append(metrics["c_index"].value)
            skill[candidate].append(metrics["brier_skill"].value)
    best = max(scores, key=lambda c: np.mean(scores[c]))
    assert np.mean(scores[best]) >= 0.66, scores
    assert np.mean(skill[best]) > 0, skill  # integrated Brier score below Kaplan-Meier's


def test_parametric_aft_recovers_a_known_weibull_model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 2))
    beta, scale = np.array([0.8, -0.5]), 0.6
    log_t = 2.0 + X @ beta + scale * np.log(rng.exponential(size=3000))  # log of a Weibull time: Gumbel (min) noise
    censor = np.log(rng.uniform(1, 60, size=3000))
    event = log_t <= censor
    y = _structured(event, np.exp(np.minimum(log_t, censor)))
    model = ParametricAFT("weibull", alpha=0.0).fit(X, y)
    np.testing.assert_allclose(model.coef_, beta, atol=0.05)
    assert model.scale_ == pytest.approx(scale, abs=0.03)
    curves = model.survival_at(X[:20], np.array([1.0, 5.0, 20.0, 80.0]))
    assert (np.diff(curves, axis=1) <= 0).all() and ((curves >= 0) & (curves <= 1)).all()


class TrainingSideCurve:
    """A model without covariates that predicts, for everyone, the Kaplan-Meier curve of the training side."""

    def __init__(self, training):
        from sksurv.nonparametric import kaplan_meier_estimator

        self.grid, self.curve = kaplan_meier_estimator(*_event_time(training))

    def predict(self, features):
        return np.zeros(len(features))

    def predict_survival_function(self, features):
        return [lambda t: np.interp(t, self.grid, self.curve)] * len(features)


@pytest.fixture(scope="module")
def quick(params):
    return params.families["prognosis"].model_copy(update={"bootstrap_resamples": 20})


def test_the_kaplan_meier_reference_is_the_training_sides_so_predicting_it_has_no_skill(quick, frame):
    # the reference of the Brier skill is what a model learns with no covariates: the training side's curve.
    # Fitted on the held-out patients instead, it knows their outcomes and no honest model can match it
    family = Prognosis(quick, 0)
    split = family.split({TABLE: frame})
    metrics = family.held_out(TrainingSideCurve(split.train[1]), split.test, figures=False).metrics
    assert metrics["brier_skill"].value == pytest.approx(0.0, abs=1e-9)
    assert metrics["ibs"].value == pytest.approx(metrics["ibs_kaplan_meier"].value, abs=1e-9)


def test_unos_c_weights_by_the_training_sides_censoring_and_harrells_does_not(quick, frame):
    family = Prognosis(quick, 0)
    split = family.split({TABLE: frame})
    model = Prognosis(quick, 0).fit("cox_ph", split.train).model
    as_split = family.held_out(model, split.test, figures=False).metrics
    event, time = _event_time(split.train[1])
    family.training_side = _structured(
        event & (time < np.quantile(time, 0.5)), time
    )  # same times, heavier early censoring
    reweighted = family.held_out(model, split.test, figures=False).metrics
    assert reweighted["c_index"].value == as_split["c_index"].value
    assert abs(reweighted["uno_c_index"].value - as_split["uno_c_index"].value) > 1e-4


@pytest.mark.parametrize(
    ("spread", "slope"), [(1.0, 1.0), (2.0, 0.5), (0.5, 2.0)], ids=["right", "too extreme", "too timid"]
)
def test_the_calibration_slope_at_the_horizon_reads_how_far_predicted_risks_spread(spread, slope):
    # exponential times with hazard exp(x): S(t) = exp(-t e^x); a model predicting exp(-t e^(spread x)) is off by
    # 1/spread
    rng = np.random.default_rng(0)
    x = rng.normal(size=4000)
    onset, follow_up = rng.exponential(np.exp(-x)), rng.uniform(0, 3, size=4000)
    time, event = np.minimum(onset, follow_up), onset <= follow_up
    predicted = np.exp(-np.exp(spread * x))  # at t = 1
    reference = SurvivalReference(_structured(event, time), np.array([0.5, 1.0]), calibration_at=1.0)
    assert calibration_slope(time, event.astype(int), None, None, predicted, reference) == pytest.approx(slope, rel=0.1)


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_a_users_csv_with_duration_and_event_columns_trains_end_to_end(write_params, gbsg2_csv):
    # NCCTG lung, exported beside GBSG2: other covariates, 20% missing meal calories, R's 1/2 status recoded to 0/1
    path = write_params(
        {
            "prognosis": {
                "registered_model": "lung_prognosis",
                "data": Replace(
                    {
                        "path": str(gbsg2_csv.with_name(LUNG_DATA.name)),
                        "id_column": "patient_id",
                        "duration_column": "days",
                        "event_column": "event",
                        "feature_columns": "all",
                        "ranges": {"age": {"min": 18, "max": 100}},
                        "max_missing_fraction": 0.25,
                        "min_events": 50,
                    }
                ),
                "candidates": Replace({"cox_ph": {"alpha": [1.0]}}),
                "acceptance": Replace({"minimums": {"uno_c_index": 0.5}}),
            }
        },
        keep_families=FAMILY,
    )
    decision = run_family("prognosis", path)
    version = MlflowClient().get_model_version("lung_prognosis", decision.challenger_version)
    assert decision.promoted and version.tags["candidate"] == "cox_ph"
    metrics = MlflowClient().get_run(version.run_id).data.metrics
    assert 0.5 < metrics["test_c_index"] < 1 and metrics["test_ibs"] > 0


@pytest.mark.slow
@pytest.mark.xdist_group("serving_prognosis")
@pytest.mark.usefixtures("prefect_harness")
class TestService:
    @pytest.fixture(scope="class")
    def collector(self):
        with otlp_collector() as (endpoint, received):
            yield endpoint, received

    @pytest.fixture(scope="class")
    def champion(self, write_params, collector):
        path = write_params(
            {
                "prognosis": {
                    "registered_model": MODEL,
                    "candidates": Replace({"cox_ph": {"alpha": [1.0]}}),
                    "serving": {"tracing": {"otlp_endpoint": collector[0]}},
                }
            },
            keep_families=FAMILY,
        )
        os.environ["MEDMAAS_PARAMS"] = str(path)  # what the service reads, in its server
        decision = run_family("prognosis", path)
        assert decision.promoted
        yield decision
        os.environ.pop("MEDMAAS_PARAMS", None)  # other modules' Bento builds import services with their own params

    @pytest.fixture(scope="class")
    def server(self, champion):
        running = Server("serving.prognosis:PrognosisService", PROJECT_ROOT)
        yield running
        running.stop()

    @pytest.fixture(scope="class")
    def patients(self, frame) -> list[dict]:
        return frame.drop(columns=["patient_id", "days", "event"]).iloc[:5].to_dict("records")

    def test_curves_are_non_increasing_probabilities_with_the_version(self, server, patients, champion):
        response = server.post("predict", {"patients": patients, "times": [3650, 30, 365, 1095, 1826]})
        assert response.status_code == 200, response.text
        for answer in response.json():
            days = [p["days"] for p in answer["survival"]]
            probabilities = [p["probability"] for p in answer["survival"]]
            assert days == sorted(days) and all(0 <= p <= 1 for p in probabilities)
            assert all(later <= earlier for earlier, later in zip(probabilities, probabilities[1:]))
            assert [p["extrapolation"] for p in answer["survival"]] == [d > 2659 for d in days]
            assert answer["version"] == str(champion.challenger_version)
        risks = [a["risk_score"] for a in response.json()]
        assert len(set(risks)) > 1  # covariates matter

    def test_default_times_and_the_median_is_where_the_curve_crosses_one_half(self, server, patients, frame):
        # given the patients above and the five with the most positive nodes (whose curves do cross 0.5)
        riskiest = (
            frame.sort_values("positive_nodes").drop(columns=["patient_id", "days", "event"]).tail(5).to_dict("records")
        )
        answers = server.post("predict", {"patients": patients + riskiest}).json()
        assert all([p["days"] for p in a["survival"]] == [365.25, 1095.75, 1826.25] for a in answers)
        medians = [a["median_survival_days"] for a in answers]
        assert sum(m is not None for m in medians) >= 5
        for patient, median in zip(patients + riskiest, medians):
            # then just before the median the curve is above 0.5 and at it no longer (the search grid is ~7 days apart)
            times = [2659] if median is None else [max(median - 7, 1), median]
            curve = [
                p["probability"]
                for p in server.post("predict", {"patients": [patient], "times": times}).json()[0]["survival"]
            ]
            assert (curve[0] > 0.5) if median is None else (curve[0] > 0.5 >= curve[1]), (median, curve)

    @pytest.mark.parametrize(
        ("change", "named"),
        [
            (lambda p: {"patients": [{**p, "age": 500}]}, "age"),
            (lambda p: {"patients": [{k: v for k, v in p.items() if k != "tumour_grade"}]}, "tumour_grade"),
            (lambda p: {"patients": [p], "times": [-1]}, "times"),
            (lambda p: {"patients": [{**p, "patient_id": "G0001"}]}, "an unknown field at patients[0]"),
            (lambda p: {"patients": [p], "times": []}, "times"),
            (lambda p: {"patients": [{**p, "postmenopausal": 0.5}]}, "postmenopausal"),
            (lambda p: {"patients": [{**p, "hormone_therapy": True}]}, "hormone_therapy"),
            (lambda p: {"patients": [{**p, "age": "55"}]}, "age"),
            (lambda p: {"patients": [p], "times": [365, True]}, "times"),
            (lambda p: {"patients": [p], "G0001": 1}, "an unknown field at the top level"),
        ],
        ids=[
            "out of range",
            "missing covariate",
            "negative time",
            "identifier sent",
            "empty times",
            "binary covariate 0.5",
            "binary covariate true",
            "numeric text",
            "true as a time",
            "extra top-level field",
        ],
    )
    def test_bad_input_gets_4xx_naming_the_field(self, server, patients, change, named):
        response = server.post("predict", change(patients[0]))
        assert 400 <= response.status_code < 500 and named in response.text, response.text
        assert "G0001" not in response.text

    def test_explanation_of_the_risk_score_adds_up(self, server, patients):
        risk = server.post("predict", {"patients": patients[:1]}).json()[0]["risk_score"]
        explanation = server.post("explain", {"patient": patients[0]}).json()
        assert explanation["value"] == pytest.approx(risk, abs=1e-6)
        assert explanation["base_value"] + sum(
            c["contribution"] for c in explanation["contributions"]
        ) == pytest.approx(risk, abs=1e-6)
        by_feature = {c["feature"]: c for c in explanation["contributions"]}
        assert (
            set(by_feature) == set(patients[0])
            and by_feature["positive_nodes"]["value"] == patients[0]["positive_nodes"]
        )

    def test_an_ehr_s_cds_hooks_call_gets_the_three_year_risk_predict_gives_and_why(self, server):
        # the bundled block (params.yaml): GBSG2's features from FHIR, the risk at the calibration time (1095 days)
        [service] = server.get("cds-services").json()["services"]
        assert service["id"] == "breast-cancer-recurrence" and f"{LOINC}|21893-3" in service["prefetch"]["observations"]
        answer = server.post("cds-services/breast-cancer-recurrence", hook_request(breast_cancer_record()))
        assert answer.status_code == 200, server.log_text()[-3000:]
        [card] = answer.json()["cards"]
        at_three_years = server.post("predict", {"patients": [BREAST_CANCER_AS_VALUES], "times": [1095]}).json()[0]
        risk = 1 - at_three_years["survival"][0]["probability"]
        assert card["summary"] == f"Recurrence or death: {risk:.0%} risk by 3 years"
        assert card["indicator"] == ("info" if risk < 0.25 else "warning" if risk < 0.5 else "critical")
        assert "SHAP contributions to the risk by 3 years" in card["detail"]
        assert [
            line.split(" = ")[0] in {f"- {f}" for f in BREAST_CANCER_AS_VALUES}
            for line in card["detail"].split("\n")
            if line.startswith("- ")
        ] == [True] * 3  # the top three features, by name
        assert "Calibration slope on held-out patients" in card["detail"]
        assert card["source"]["label"] == f"medmaas {MODEL} v{at_three_years['version']}"
        assert PATIENT_ID not in answer.text

    def test_the_service_s_spans_name_its_model_load_and_forward_passes(self, server, collector):
        assert server.post("predict", {"patients": [BREAST_CANCER_AS_VALUES]}).status_code == 200
        card = server.post("cds-services/breast-cancer-recurrence", hook_request(breast_cancer_record()))
        assert card.status_code == 200
        expected = {"load model", "forward pass", "forward pass and explanation", "POST /predict"}

        def names() -> set[str]:
            return {span.name for span in spans_received(collector[1])}

        wait_for(lambda: expected <= names(), waiting_for="the service's spans at the collector", timeout_s=60)
        [load] = [span for span in spans_received(collector[1]) if span.name == "load model"]
        assert {a.key: a.value.string_value for a in load.attributes}["medmaas.model"] == MODEL

    def test_every_route_needs_a_valid_unrevoked_key(self, server):
        assert_keys_required(server)

    def test_each_request_gets_one_audit_line_without_values(self, server, patients):
        assert_one_audit_line_per_request(
            server, "prognosis", "predict", {"patients": patients[:1]}, ["G0001 Jane Roe"]
        )

    def test_a_schema_driven_fuzz_gets_no_server_error_and_no_echo(self, server):
        counts = fuzz(server)
        print("fuzz prognosis:", dict(counts))
        assert {path for path, _ in counts} == {"/predict", "/explain", "/model_info"}
