"""The clinical text service over HTTP: a fine-tuned, int8 MiniLM champion; texts de-identified before they are
classified, explained or anything is logged; 400s that name the field and never repeat the text."""

import os
from pathlib import Path

import pandas as pd
import pytest
from service_contract import assert_keys_required, assert_one_audit_line_per_request, fuzz
from support import Replace, Server

from flows.train import run_family
from medmaas.environment import PROJECT_ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("serving_clinical_text"),
    pytest.mark.usefixtures("prefect_harness"),
]
MODEL = "clinical_text_serving"
CHAPTERS = ["C00-D49", "H00-H59", "O00-O9A", "S00-T88"]
MAX_ITEMS, MAX_CHARACTERS, MAX_WORDS = 4, 400, 30
NAME, MRN = "Jolene Abernathy", "4471823"
PHI_TEXT = f"Seen by Dr. {NAME} on 03/14/2021, MRN {MRN}: malignant neoplasm of upper lobe, right bronchus or lung"


@pytest.fixture(scope="module")
def serving_params(write_params, icd10cm_csv, tmp_path_factory):
    icd = pd.read_csv(icd10cm_csv, dtype=str)
    subset = icd[icd["chapter"].isin(CHAPTERS)].groupby("chapter").sample(300, random_state=0)
    path = tmp_path_factory.mktemp("texts") / "four_chapters.csv"
    subset.to_csv(path, index=False)
    params = write_params(
        {
            "clinical_text": {
                "registered_model": MODEL,
                "bootstrap_resamples": 50,
                "data": {
                    "path": str(path),
                    "min_rows": 500,
                    "min_texts_per_label": 50,
                    "max_characters": MAX_CHARACTERS,
                },
                "serving": {"max_items_per_request": MAX_ITEMS, "max_explained_words": MAX_WORDS},
                "candidates": Replace(
                    {"minilm_finetuned": {"learning_rate": 1e-4, "max_epochs": 1, "max_train_examples": 480}}
                ),
                "acceptance": Replace({"minimums": {"macro_f1": 0.5}, "max_regression": 0.01}),
            }
        },
        keep_families=("clinical_text",),
    )
    os.environ["MEDMAAS_PARAMS"] = str(params)
    yield params
    os.environ.pop("MEDMAAS_PARAMS", None)


@pytest.fixture(scope="module")
def champion(serving_params):
    decision = run_family("clinical_text", serving_params)
    assert decision.promoted, decision.summary()
    return decision


@pytest.fixture(scope="module")
def server(champion):
    running = Server("serving.clinical_text:ClinicalTextService", PROJECT_ROOT)
    yield running
    running.stop()


def test_classify_answers_the_top_labels_per_text_after_removing_identifiers(server, champion):
    texts = [PHI_TEXT, "Retinal detachment with single break, left eye"]
    response = server.post("classify", {"texts": texts})
    assert response.status_code == 200, response.text
    answers = response.json()
    assert [a["predicted"] for a in answers] == ["C00-D49", "H00-H59"]
    for answer in answers:
        probabilities = [t["probability"] for t in answer["top"]]
        assert (
            len(probabilities) == 3
            and probabilities == sorted(probabilities, reverse=True)
            and sum(probabilities) <= 1 + 1e-6
        )
        assert answer["top"][0]["label"] == answer["predicted"] and answer["version"] == str(
            champion.challenger_version
        )
    assert [a["identifiers_replaced"] for a in answers] == [3, 0]  # the name, the date, the record number
    assert len(server.post("classify", {"texts": texts[:1], "top_k": 2}).json()[0]["top"]) == 2
    info = server.post("model_info", {}).json()
    assert info["labels"] == CHAPTERS and info["candidate"] == "minilm_finetuned" and info["metrics"]["macro_f1"] >= 0.5


def test_deidentify_and_explain_show_placeholders_never_the_identifiers(server):
    cleaned = server.post("deidentify", {"texts": [PHI_TEXT]}).json()[0]
    assert cleaned["text"].startswith("Seen by Dr. [NAME] on [DATE], MRN [MRN]: malignant neoplasm")
    assert cleaned["replaced"] == {"PERSON": 1, "DATE": 1, "MRN": 1}
    explanation = server.post("explain", {"text": PHI_TEXT}).json()
    assert explanation["predicted"] == "C00-D49" and "occlusion" in explanation["method"]
    assert [w["word"] for w in explanation["words"]] == cleaned["text"].split()
    top = max(explanation["words"], key=lambda w: w["weight"])["word"]
    assert top.strip(",:").lower() in {"malignant", "neoplasm", "lung", "bronchus", "lobe"}, explanation["words"]
    # and nothing identifying reached the server's log or the audit log
    from service_contract import audit_lines

    logged = server.log_text() + str(audit_lines("clinical_text"))
    assert NAME not in logged and MRN not in logged and "Abernathy" not in logged


@pytest.mark.parametrize(
    ("route", "body", "named"),
    [
        ("classify", {"texts": []}, "texts"),
        ("classify", {"texts": [""]}, '["texts", 0]'),
        ("classify", {"texts": ["ok", "   "]}, '["texts", 1]'),
        ("classify", {"texts": [5]}, '["texts", 0]'),
        ("classify", {"texts": [f"{NAME} " * 60]}, '["texts", 0]'),
        ("classify", {"texts": ["lung"] * (MAX_ITEMS + 1)}, "texts"),
        ("classify", {"texts": ["lung"], "top_k": 0}, "top_k"),
        ("classify", {"texts": ["lung"], "top_k": "3"}, "top_k"),
        ("classify", {"texts": ["lung"], "patient": NAME}, "unknown field"),  # the field's name is not repeated either
        ("classify", {"text": NAME}, "texts"),
        ("explain", {"text": " ".join([NAME] * 20)}, "text"),
        ("deidentify", {"texts": [None]}, '["texts", 0]'),
    ],
)
def test_bad_requests_get_a_400_naming_the_field_and_never_the_text(server, route, body, named):
    response = server.post(route, body)
    assert response.status_code == 400, response.text
    assert named in response.text and "Abernathy" not in response.text and "Jolene" not in response.text, response.text
    assert server.post("classify", {"texts": ["lung"]}).status_code == 200  # and the service keeps answering


def test_every_route_needs_a_key_and_each_request_gets_one_audit_line(server):
    assert_keys_required(server)
    assert_one_audit_line_per_request(
        server, "clinical_text", "classify", {"texts": ["Glaucoma, right eye"]}, ["Private Patient Jane Roe"]
    )


def test_a_schema_driven_fuzz_gets_no_server_error_and_no_echo_of_bad_input(server):
    counts = fuzz(server, examples=15, answers_repeat_valid_input=True)  # /deidentify answers with the text it was sent
    assert sum(n for (path, status), n in counts.items() if path == "/classify" and 400 <= status < 500) > 0


def test_no_training_text_is_stored_with_the_model_or_its_run(champion, serving_params, tmp_path):
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    version = client.get_model_version(MODEL, champion.challenger_version)
    model_files = Path(
        mlflow.artifacts.download_artifacts(f"models:/{MODEL}/{version.version}", dst_path=str(tmp_path / "model"))
    )
    run_files = Path(client.download_artifacts(version.run_id, "", str(tmp_path / "run")))
    stored = "\n".join(
        p.read_text(errors="replace")
        for folder in (model_files, run_files)
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in (".json", ".md", ".yaml", ".txt", "")
    )
    training = pd.read_csv(yaml_data_path(serving_params), dtype=str)
    assert not [t for t in training["description"] if len(t) > 30 and t in stored]
    card = (run_files / "promotion" / "model_card.md").read_text()
    assert (
        "minilm_finetuned (float32, not served)" in card
        and "Every candidate: the training-side score that ranked them, and the same held-out set" in card
    )


def yaml_data_path(params: Path) -> str:
    import yaml

    return yaml.safe_load(params.read_text())["clinical_text"]["data"]["path"]
