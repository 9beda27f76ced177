"""The bioactivity service over HTTP: SMILES in, probability, canonical SMILES and applicability domain out; strict
4xx."""

import os
from pathlib import Path

import pytest
from service_contract import assert_keys_required, assert_one_audit_line_per_request, fuzz
from support import Replace, Server

from families.bioactivity.chemistry import atom_symbols, canonical
from flows.train import run_family
from medmaas.environment import PROJECT_ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("serving_bioactivity"),
    pytest.mark.usefixtures("prefect_harness"),
]
MODEL = "bioactivity_serving"
NICOTINE, UNLIKE = "CN1CCC[C@H]1c1cccnc1", "[Fe+3].[Cl-].[Cl-].[Cl-]"
MAX_ITEMS = 4


@pytest.fixture(scope="module")
def serving_params(write_params):
    path = write_params(
        {
            "bioactivity": {
                "registered_model": MODEL,
                "bootstrap_resamples": 50,
                "split": {"grouped_folds": 2},  # the comparison refits are not what this module tests
                "serving": {"max_items_per_request": MAX_ITEMS},
                "candidates": Replace({"random_forest": {"n_estimators": [100]}, "logistic_regression": {"C": [0.1]}}),
            }
        },
        keep_families=("bioactivity",),
    )
    os.environ["MEDMAAS_PARAMS"] = str(path)
    yield path
    os.environ.pop("MEDMAAS_PARAMS", None)


@pytest.fixture(scope="module")
def champion(serving_params):
    decision = run_family("bioactivity", serving_params)
    assert decision.promoted, decision.summary()
    return decision


@pytest.fixture(scope="module")
def server(champion):
    running = Server("serving.bioactivity:BioactivityService", PROJECT_ROOT)
    yield running
    running.stop()


def test_molecules_get_a_probability_their_canonical_smiles_and_the_domain_flag_in_order(server, champion):
    sent = ["CN1CCC[C@H]1C1=CN=CC=C1", UNLIKE, "CCO"]  # nicotine written in Kekule form
    response = server.post("predict", {"molecules": sent})
    assert response.status_code == 200, response.text
    answers = response.json()
    assert [a["canonical_smiles"] for a in answers] == [canonical(s) for s in sent] and answers[0][
        "canonical_smiles"
    ] == canonical(NICOTINE)
    assert answers[0]["applicability"] == {
        "max_similarity": pytest.approx(1.0),
        "in_domain": True,
        "min_similarity": 0.3,
    }
    assert not answers[1]["applicability"]["in_domain"] and answers[1]["applicability"]["max_similarity"] < 0.3
    assert all(0 <= a["probability"] <= 1 and a["predicted"] in ("BBB+", "BBB-") for a in answers)
    assert {a["version"] for a in answers} == {str(champion.challenger_version)}
    info = server.post("model_info", {}).json()
    assert info["positive_label"] == "BBB+" and info["metrics"]["roc_auc"] > 0.75 and info["training_molecules"] > 5000


def test_an_explanation_weighs_every_atom_largest_first(server):
    novel = "CC(C)(C)c1ccc(cc1)C(=O)NCCN1CCOCC1"  # not in B3DB
    explanation = server.post("explain", {"molecule": novel}).json()
    probability = server.post("predict", {"molecules": [novel]}).json()[0]["probability"]
    assert explanation["probability"] == pytest.approx(probability, abs=1e-9)
    atoms = explanation["atoms"]
    assert sorted(a["atom"] for a in atoms) == list(range(len(atom_symbols(canonical(novel)))))
    sizes = [abs(a["contribution"]) for a in atoms]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > 0 and {a["symbol"] for a in atoms} == {"C", "N", "O"}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"molecules": ["CCO", "C1CC(secret-molecule"]}, '["molecules", 1]'),
        ({"molecules": ["CCO", ""]}, '["molecules", 1]'),
        ({"molecules": ["C" * 401]}, '["molecules", 0]'),
        ({"molecules": [42]}, '["molecules", 0]'),
        ({"molecules": ["CCO"] * (MAX_ITEMS + 1)}, "molecules"),
        ({"molecules": []}, "molecules"),
        ({"molecules": ["CCO"], "secret_field": 1}, "unknown field"),
    ],
)
def test_bad_molecules_get_a_400_naming_the_position_without_repeating_them(server, body, named):
    response = server.post("predict", body)
    assert response.status_code == 400, response.text
    assert named in response.text and "secret" not in response.text and "C" * 401 not in response.text
    assert server.post("predict", {"molecules": ["CCO"]}).status_code == 200  # and the service keeps answering


def test_every_route_needs_a_key_and_each_request_gets_one_audit_line(server):
    assert_keys_required(server)
    assert_one_audit_line_per_request(
        server, "bioactivity", "predict", {"molecules": ["CCO"]}, ["Private Compound XJ-1234"]
    )


def test_a_schema_driven_fuzz_gets_no_server_error_and_no_echo_of_bad_input(server):
    counts = fuzz(server, answers_repeat_valid_input=True)
    assert sum(n for (path, status), n in counts.items() if path == "/predict" and 400 <= status < 500) > 0


def test_no_molecule_of_the_data_is_stored_with_the_model(champion, b3db_csv, tmp_path):
    import mlflow
    import pandas as pd
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    version = client.get_model_version(MODEL, champion.challenger_version)
    run_files = Path(client.download_artifacts(version.run_id, "", str(tmp_path / "run")))
    model_files = Path(
        mlflow.artifacts.download_artifacts(f"models:/{MODEL}/{version.version}", dst_path=str(tmp_path / "model"))
    )
    texts = [
        p
        for folder in (run_files, model_files)
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in (".json", ".md", ".yaml", ".txt", "")
    ]
    stored = "\n".join(p.read_text(errors="replace") for p in texts)
    assert any(p.name == "input_example.json" for p in texts)
    molecules = {canonical(s) for s in pd.read_csv(b3db_csv)["smiles"]} - {canonical(NICOTINE)}
    assert NICOTINE in stored  # the documented example is public
    assert not [m for m in molecules if len(m) > 12 and m in stored]
