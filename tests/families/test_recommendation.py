"""Treatment recommendation: gate, metrics, quality on synthetic low-rank data, the candidates' guarantees,
the drug-review data end to end, and the service."""

import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from service_contract import assert_keys_required, assert_one_audit_line_per_request, fuzz
from sklearn.metrics import ndcg_score
from support import Replace, Server

from families import load_params
from families.recommendation.candidates import CANDIDATES
from families.recommendation.family import Recommendation, latest_per_patient, ranking_metrics
from families.recommendation.settings import INTERACTIONS
from families.recommendation.synthetic import synthetic_low_rank_outcomes
from flows.train import run_family
from medmaas.environment import PROJECT_ROOT
from medmaas.settings import ConfigError
from tasks.gate import run_gate

FAMILY = ("recommendation",)
SYNTHETIC = {  # a user's CSV: patient_id, treatment_id, outcome on 1-5
    "data": Replace(
        {
            "id_column": "patient_id",
            "treatment_column": "treatment_id",
            "outcome_column": "outcome",
            "scale": {"min": 1, "max": 5},
            "min_interactions_per_patient": 3,
            "min_rows": 100,
        }
    ),
    "ranking": {"k": 10, "relevant_at_least": 4},
    "bootstrap_resamples": 200,
    "acceptance": Replace({"minimums": {}, "max_regression": 0.01}),
}


def synthetic_csv(folder: Path, name: str, **shape) -> Path:
    path = folder / name
    synthetic_low_rank_outcomes(**shape).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def synthetic_params(write_params, session_dir):
    path = synthetic_csv(
        session_dir, "synthetic_outcomes.csv", n_patients=2000, n_treatments=200, per_patient=20, seed=1
    )
    return load_params(
        write_params(
            {"recommendation": {**SYNTHETIC, "data": Replace({**SYNTHETIC["data"].value, "path": str(path)})}},
            keep_families=FAMILY,
        )
    )


@pytest.fixture(scope="module")
def synthetic(synthetic_params) -> Recommendation:
    return Recommendation(synthetic_params.families["recommendation"], synthetic_params.project.seed)


@pytest.fixture(scope="module")
def drug_reviews(write_params) -> Recommendation:
    params = load_params(write_params(keep_families=FAMILY))
    return Recommendation(params.families["recommendation"], params.project.seed)


def gate_failures(family: Recommendation, frame: pd.DataFrame) -> set:
    tables = family.load() if frame is None else _derived(family, frame)
    report = run_gate("recommendation", tables, family.expectations(tables), family.identifier_columns())
    return {(f.table, f.expectation, f.column) for f in report.failures}


def _derived(family: Recommendation, frame: pd.DataFrame) -> dict:
    path = Path(family.settings.data.resolved_path()).with_name(f"gate-{os.getpid()}-{id(frame)}.csv")
    frame.to_csv(path, index=False)
    settings = family.settings.model_copy(update={"data": family.settings.data.model_copy(update={"path": path})})
    return Recommendation(settings, family.seed).load()


def test_gate_passes_the_bundled_drug_reviews(drug_reviews):
    assert gate_failures(drug_reviews, None) == set()


@pytest.mark.parametrize(
    ("change", "failure"),
    [
        (
            lambda f: f.assign(outcome=f["outcome"].where(f.index != 5, 4.0)),
            (INTERACTIONS, "expect_column_values_to_be_between", "outcome"),
        ),
        (lambda f: pd.concat([f, f.iloc[[7]]]), (INTERACTIONS, "expect_compound_columns_to_be_unique", None)),
        (
            lambda f: f.assign(condition=f["condition"].where(f.index != 2, None)),
            (INTERACTIONS, "expect_column_values_to_not_be_null", "condition"),
        ),
        (
            lambda f: f.assign(first_review=f["first_review"].where(f.index != 9, "not a date")),
            ("timestamps", "expect_column_values_to_not_be_null", "parsed"),
        ),
        (
            lambda f: pd.concat(
                [
                    f,
                    pd.DataFrame(
                        {"condition": ["Rare"], "drug": ["X"], "outcome": [3.0], "first_review": ["2015-01-01"]}
                    ),
                ]
            ),
            ("interactions_per_patient", "expect_column_values_to_be_between", "interactions"),
        ),
    ],
    ids=[
        "outcome outside the scale",
        "duplicate pair at the same time",
        "missing patient id",
        "unreadable timestamp",
        "too few outcomes for a patient",
    ],
)
def test_gate_stops_bad_interactions(drug_reviews, change, failure):
    frame = drug_reviews.load()[INTERACTIONS].reset_index(drop=True)
    assert failure in gate_failures(drug_reviews, change(frame))


def test_a_repeated_pair_at_different_times_passes_and_its_latest_outcome_counts(drug_reviews):
    frame = drug_reviews.load()[INTERACTIONS].reset_index(drop=True)
    again = frame.iloc[[0]].assign(first_review="2017-12-31", outcome=1.0)
    assert gate_failures(drug_reviews, pd.concat([frame, again])) == set()
    model = CANDIDATES["popularity"]((1, 3)).fit(drug_reviews.interactions(pd.concat([again, frame])))
    row, column = model.row_of(frame.loc[0, "condition"]), model.treatment_column(np.array([frame.loc[0, "drug"]]))[0]
    assert model.outcomes[row, column] == 1.0


def test_a_scale_that_does_not_hold_the_relevance_threshold_is_a_config_error_naming_the_key(write_params):
    with pytest.raises(ConfigError, match=r"recommendation\.ranking\.relevant_at_least"):
        load_params(write_params({"recommendation": {"ranking": {"relevant_at_least": 7}}}, keep_families=FAMILY))


def test_ranking_metrics_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    n_items, k = 30, 10
    top = np.array([rng.permutation(n_items)[:k] for _ in range(20)])
    relevant = [set(rng.choice(n_items, size=rng.integers(1, 8), replace=False).tolist()) for _ in range(20)]
    metrics = ranking_metrics(top, relevant)
    for i, (row, wanted) in enumerate(zip(top, relevant)):
        scores = np.zeros(n_items)
        scores[row] = np.arange(k, 0, -1)  # the list's order; unlisted items below it
        truth = np.isin(np.arange(n_items), list(wanted)).astype(float)
        assert metrics["ndcg_at_k"][i] == pytest.approx(ndcg_score(truth[None], scores[None], k=k))
        hits = len(set(row.tolist()) & wanted)
        assert metrics["precision_at_k"][i] == hits / k and metrics["recall_at_k"][i] == hits / len(wanted)


def test_time_holdout_keeps_each_patients_latest_outcomes():
    patients = np.array(["a"] * 5 + ["b"] * 3 + ["c"])
    order = np.array([5, 1, 4, 2, 3, 9, 7, 8, 1])
    held = latest_per_patient(patients, order, 0.4)
    assert held.tolist() == [
        True,
        False,
        True,
        False,
        False,
        True,
        False,
        False,
        False,
    ]  # a: 2 latest; b: 1; c: a single row stays


@pytest.fixture(scope="module")
def synthetic_results(synthetic, synthetic_params):
    tables = synthetic.load()
    split = synthetic.split(tables)
    results = {}
    for name in synthetic.candidate_names():
        fitted = synthetic.fit(name, split.train)
        results[name] = (fitted, synthetic.evaluate(fitted.model, split.test).metrics)
    svd_baseline = synthetic.build("svd", k=10, centre="baseline", shrinkage=5).fit(split.train)
    results["svd_baseline"] = (None, synthetic.evaluate(svd_baseline, split.test).metrics)
    return split, results


@pytest.mark.parametrize("candidate", ["user_knn", "item_knn", "svd"])
def test_collaborative_candidates_beat_popularity_on_ndcg_on_low_rank_data(synthetic_results, candidate):
    _, results = synthetic_results
    popularity = results["popularity"][1]["ndcg_at_k"]
    ndcg = results[candidate][1]["ndcg_at_k"]
    assert ndcg.value > 1.4 * popularity.value and ndcg.low > popularity.high, (ndcg, popularity)


def test_svd_recovers_held_out_outcomes_below_the_declared_bound(synthetic_results):
    """Outcome noise is N(0, 0.5²) plus rounding to whole points, so no model gets below ~0.55; the treatment
    mean (popularity) gets ~0.92 on this data. Declared bound: 0.87, and below popularity's CI."""
    _, results = synthetic_results
    rmse, popularity = results["svd_baseline"][1]["rmse"], results["popularity"][1]["rmse"]
    assert rmse.value < 0.87 and rmse.high < popularity.value, (rmse, popularity)


@pytest.mark.parametrize("candidate", list(CANDIDATES))
def test_recommendations_exclude_taken_treatments_and_are_deterministic(synthetic_results, synthetic, candidate):
    split, _ = synthetic_results
    hyperparameters = {"neighbours": 20, "shrinkage": 5.0, "k": 10}
    first = synthetic.build(candidate, **hyperparameters).fit(split.train)
    second = synthetic.build(candidate, **hyperparameters).fit(split.train)
    rows = first.training_rows()
    top, scores, predicted = first.recommend(rows, 10)
    assert np.array_equal(top, second.recommend(second.training_rows(), 10)[0])
    listed = np.repeat(np.arange(len(top)), 10)
    assert first.taken[listed, top.ravel()].sum() == 0 and (top >= 0).all()
    assert np.all(np.diff(scores, axis=1) <= 1e-12)  # best first
    assert ((predicted >= 1) & (predicted <= 5)).all()
    # the same patient folded in from their outcomes gets the same list (the service's two paths agree)
    patients = np.unique(split.train.patients)[:50]
    folded = first.rows_from(split.train, patients)
    assert np.array_equal(first.recommend(folded, 10)[0], top[[first.row_of(p) for p in patients]])


@pytest.mark.parametrize("candidate", list(CANDIDATES))
def test_on_the_drug_reviews_every_top_k_is_the_start_of_the_top_50_and_every_reason_names_its_driver(
    drug_reviews, candidate
):
    """Conditions with few reviews tie on most scores; the list must not depend on k, and a reason never lists
    nothing."""
    model = drug_reviews.build(candidate, neighbours=20, shrinkage=5.0, k=10).fit(
        drug_reviews.split(drug_reviews.load()).train
    )
    rows = model.training_rows()
    longest, scores, _ = model.recommend(rows, 50)
    for k in (1, 2, 3, 5, 10, 20, 49):
        assert np.array_equal(model.recommend(rows, k)[0], longest[:, :k]), k
    for row_scores in scores:
        listed_scores = row_scores[np.isfinite(row_scores)]
        assert np.all(np.diff(listed_scores) <= 1e-12)  # best first
    for row in range(model.n_patients):
        listed = longest[row][longest[row] >= 0]
        for reason in model.reasons(model.training_rows(np.array([row])), listed):
            assert (
                reason.get("treatments")
                or reason["based_on"] == "similar_patients"
                and reason["similar_patients"] > 0
                or reason["summary"].startswith("popular among all patients")
            ), reason
            assert "none of your treatments" not in reason["summary"]


def test_a_new_patient_is_folded_in_and_never_offered_what_they_reported(synthetic_results, synthetic):
    split, _ = synthetic_results
    model = synthetic.build("item_knn", neighbours=20, shrinkage=5.0).fit(split.train)
    reported = {str(t): 5.0 for t in model.treatments[:3]}
    top, _, _ = model.recommend(model.new_patient(reported), 10)
    assert not set(top[0].tolist()) & {0, 1, 2}
    reason = model.reasons(model.new_patient(reported), top[0, :1])[0]
    assert reason["based_on"] == "similar_treatments" and {d["treatment"] for d in reason["treatments"]} <= set(
        reported
    )
    cold, _, _ = model.recommend(model.new_patient({}), 10)
    assert cold[0].tolist() == list(np.argsort(-model.popularity, kind="stable")[:10])


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_the_drug_reviews_train_evaluate_and_register_end_to_end(write_params):
    path = write_params(
        {"recommendation": {"registered_model": "drug_recommendation", "bootstrap_resamples": 100}},
        keep_families=FAMILY,
    )
    decision = run_family("recommendation", path)
    client = MlflowClient()
    version = client.get_model_version("drug_recommendation", decision.challenger_version)
    assert version.tags["candidate"] in CANDIDATES
    parent = client.get_run(version.run_id).data.tags["mlflow.parentRunId"]
    children = client.search_runs([client.get_run(parent).info.experiment_id], f"tags.mlflow.parentRunId = '{parent}'")
    assert {r.data.tags["candidate"] for r in children} == set(CANDIDATES)
    for run in children:
        metrics = run.data.metrics
        assert (
            0 <= metrics["test_ndcg_at_k"] <= 1 and 0 < metrics["test_coverage"] <= 1 and 0 < metrics["test_rmse"] < 2
        )
    # and on the bundled reviews the best candidate beats the popularity baseline on both counts, and is promoted
    by_candidate = {r.data.tags["candidate"]: r.data.metrics for r in children}
    best, baseline = by_candidate[decision.challenger_candidate], by_candidate["popularity"]
    assert decision.challenger_candidate != "popularity"
    # (floors from the fixed-seed run: champion NDCG@10 0.102 against popularity's 0.028; RMSE 0.923 against 0.993)
    assert (
        best["test_ndcg_at_k"] >= max(0.08, 2 * baseline["test_ndcg_at_k"])
        and best["test_rmse"] < baseline["test_rmse"]
    )
    assert decision.promoted and best["test_rmse"] <= 1.0  # the declared acceptance ceiling
    assert client.get_model_version_by_alias("drug_recommendation", "champion").version == decision.challenger_version


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_no_patient_id_reaches_the_registered_model_or_its_card(write_params, session_dir):
    path = synthetic_csv(session_dir, "synthetic_small.csv", n_patients=300, n_treatments=40, per_patient=8, seed=3)
    params = write_params(
        {
            "recommendation": {
                **SYNTHETIC,
                "registered_model": "private_recommendation",
                "data": Replace({**SYNTHETIC["data"].value, "path": str(path)}),
                "candidates": Replace({"user_knn": {"neighbours": [20], "shrinkage": [5]}}),
            }
        },
        keep_families=FAMILY,
    )
    decision = run_family("recommendation", params)
    client = MlflowClient()
    run_id = client.get_model_version("private_recommendation", decision.challenger_version).run_id
    parent_id = client.get_run(run_id).data.tags["mlflow.parentRunId"]
    folders = [Path(client.download_artifacts(run, "")) for run in (run_id, parent_id)]
    folders.append(
        Path(mlflow.artifacts.download_artifacts(f"models:/private_recommendation/{decision.challenger_version}"))
    )
    files = [p for folder in folders for p in folder.rglob("*") if p.is_file()]
    assert "model.pkl" in {p.name for p in files} and "data_gate.md" in {p.name for p in files}
    stored = b"".join(p.read_bytes() for p in files)

    def present(text: str) -> bool:  # as UTF-8 (Python strings) or UCS-4 (numpy string arrays)
        return text.encode() in stored or text.encode("utf-32-le") in stored

    assert not present("SYN")  # every synthetic patient id starts with SYN
    assert present("T01")  # while the treatments are there


@pytest.mark.slow
@pytest.mark.xdist_group("serving_recommendation")
@pytest.mark.usefixtures("prefect_harness")
class TestService:
    @pytest.fixture(scope="class")
    def outcomes(self, session_dir) -> pd.DataFrame:
        return synthetic_low_rank_outcomes(n_patients=300, n_treatments=60, per_patient=10, seed=5)

    @pytest.fixture(scope="class")
    def champion(self, write_params, session_dir, outcomes):
        path = session_dir / "synthetic_service.csv"
        outcomes.to_csv(path, index=False)
        params = write_params(
            {
                "recommendation": {
                    **SYNTHETIC,
                    "registered_model": "recommendation_serving",
                    "data": Replace({**SYNTHETIC["data"].value, "path": str(path)}),
                    "recommend": {"default_k": 5, "max_k": 20},
                    "candidates": Replace({"item_knn": {"neighbours": [20], "shrinkage": [5]}}),
                }
            },
            keep_families=FAMILY,
        )
        os.environ["MEDMAAS_PARAMS"] = str(params)
        decision = run_family("recommendation", params)
        assert decision.promoted
        yield decision
        os.environ.pop("MEDMAAS_PARAMS", None)

    @pytest.fixture(scope="class")
    def server(self, champion):
        running = Server("serving.recommendation:RecommendationService", PROJECT_ROOT)
        yield running
        running.stop()

    def test_top_k_for_a_known_patient_excludes_what_they_had(self, server, outcomes, champion):
        patient = "SYN007"
        response = server.post("recommend", {"patient_id": patient, "k": 8})
        assert response.status_code == 200, response.text
        answer = response.json()
        had = set(outcomes.loc[outcomes["patient_id"] == patient, "treatment_id"])
        listed = [r["treatment"] for r in answer["recommendations"]]
        assert (
            len(listed) == 8
            and not set(listed) & had
            and [r["rank"] for r in answer["recommendations"]] == list(range(1, 9))
        )
        assert all(1 <= r["predicted_outcome"] <= 5 for r in answer["recommendations"])
        assert all(
            r["reason"]["based_on"] == "similar_treatments" and r["reason"]["treatments"]
            for r in answer["recommendations"]
        )
        assert all({d["treatment"] for d in r["reason"]["treatments"]} <= had for r in answer["recommendations"])
        assert answer["version"] == str(champion.challenger_version) and patient not in response.text
        assert len(server.post("recommend", {"patient_id": patient}).json()["recommendations"]) == 5  # default_k

    def test_fold_in_for_a_new_patient_and_popularity_with_no_outcomes(self, server):
        answer = server.post(
            "recommend_new",
            {"outcomes": [{"treatment": "T01", "outcome": 5}, {"treatment": "T02", "outcome": 1}], "k": 5},
        ).json()
        listed = [r["treatment"] for r in answer["recommendations"]]
        assert answer["patient"] == "new" and len(listed) == 5 and not {"T01", "T02"} & set(listed)
        cold = server.post("recommend_new", {"k": 5}).json()["recommendations"]
        assert len(cold) == 5 and all(r["reason"]["based_on"] == "popularity" for r in cold)
        assert [r["treatment"] for r in cold] != listed

    @pytest.mark.parametrize(
        ("route", "body", "status", "named"),
        [
            ("recommend", {"patient_id": "NOT-A-PATIENT"}, 404, "patient_id"),
            ("recommend", {"patient_id": "SYN007", "k": 0}, 400, "k"),
            ("recommend", {"patient_id": "SYN007", "k": 21}, 400, "k"),
            ("recommend_new", {"outcomes": [{"treatment": "T01", "outcome": 9}]}, 400, "outcome"),
            ("recommend_new", {"outcomes": [{"treatment": "NOPE", "outcome": 3}]}, 400, "outcomes[0].treatment"),
            (
                "recommend_new",
                {"outcomes": [{"treatment": "T01", "outcome": 3}, {"treatment": "T01", "outcome": 4}]},
                400,
                "outcomes[1].treatment",
            ),
            ("recommend", {"patient_id": "SYN007", "k": True}, 400, "k"),
            ("recommend", {"patient_id": "SYN007", "k": "5"}, 400, "k"),
            ("recommend", {"patient_id": "SYN007", "NOT-A-PATIENT": 1}, 400, "an unknown field at the top level"),
            ("recommend_new", {"outcomes": [{"treatment": "T01", "outcome": "3"}]}, 400, "outcome"),
            (
                "recommend_new",
                {"outcomes": [{"treatment": "NOT-A-PATIENT\u0000\u001b[31m", "outcome": 3}]},
                400,
                "outcomes[0].treatment",
            ),
            ("recommend", {"patient_id": "NOT-A-PATIENT" * 100_000}, 400, "patient_id"),
        ],
        ids=[
            "unknown patient",
            "k zero",
            "k above max",
            "outcome outside the scale",
            "unknown treatment",
            "treatment twice",
            "k true",
            "k as text",
            "extra top-level field",
            "outcome as text",
            "control characters",
            "a megabyte id",
        ],
    )
    def test_bad_input_gets_4xx_naming_the_problem(self, server, route, body, status, named):
        response = server.post(route, body)
        assert response.status_code == status and named in response.text, response.text
        assert "NOT-A-PATIENT" not in response.text and "NOT-A-PATIENT" not in server.log_text()
        assert "\x00" not in server.log_text() and "\x1b" not in server.log_text()

    def test_lists_are_prefix_consistent_and_every_reason_names_a_driver(self, server, outcomes):
        for patient in sorted(outcomes["patient_id"].unique())[:25]:
            lists = {
                k: server.post("recommend", {"patient_id": patient, "k": k}).json()["recommendations"]
                for k in (1, 3, 5, 20)
            }
            longest = [r["treatment"] for r in lists[20]]
            assert all([r["treatment"] for r in lists[k]] == longest[:k] for k in lists), patient
            scores = [r["score"] for r in lists[20]]
            assert scores == sorted(scores, reverse=True)
            for item in lists[20]:
                reason = item["reason"]
                assert (
                    reason["treatments"]
                    if reason["based_on"] == "similar_treatments"
                    else reason["summary"].startswith("popular among all patients")
                )

    def test_every_route_needs_a_valid_unrevoked_key(self, server):
        assert_keys_required(server)

    def test_each_request_gets_one_audit_line_without_values(self, server):
        assert_one_audit_line_per_request(
            server, "recommendation", "recommend", {"patient_id": "SYN007"}, ["NOT-A-PATIENT Jane Roe"]
        )

    def test_a_schema_driven_fuzz_gets_no_server_error_and_no_echo(self, server):
        counts = fuzz(server)
        print("fuzz recommendation:", dict(counts))
        assert {path for path, _ in counts} == {"/recommend", "/recommend_new", "/model_info"}


@pytest.mark.parametrize("candidate", list(CANDIDATES))
def test_a_patient_with_only_unknown_treatments_gets_the_popularity_list(synthetic_results, synthetic, candidate):
    split, _ = synthetic_results
    model = synthetic.build(candidate, neighbours=20, shrinkage=5.0, k=10).fit(split.train)
    history = type(split.train)(np.array(["SYN0001", "new"]), np.array(["T001", "never-seen"]), np.array([4.0, 2.0]))
    rows = model.rows_from(history, np.array(["SYN0001", "new"]))  # "new" is last, with an empty row
    top, _, predicted = model.recommend(rows, 10)
    assert top[1].tolist() == list(np.argsort(-model.popularity, kind="stable")[:10]) and np.isfinite(predicted).all()
