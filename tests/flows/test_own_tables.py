"""Two real mixed-type tables (examples/) go end to end as a user would: train with the default candidates through
the CLI, promote, serve from each model's own Bento with raw text and boolean values, refuse an unseen category."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from support import Server
from typer.testing import CliRunner

from cli import app
from medmaas.environment import PROJECT_ROOT, REPORTS_DIR

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("own_tables"), pytest.mark.usefixtures("prefect_harness")]

TABLES = {  # example -> (registered model, a category and a value it never had, the patient's raw values to send)
    "birthwt": ("low_birth_weight", "race", "martian"),
    "pbc_stage": ("pbc_stage", "edema", "mild"),
}


@pytest.fixture(scope="module", params=sorted(TABLES))
def trained(request, session_dir, wdbc_csv):
    name = request.param
    params = yaml.safe_load((PROJECT_ROOT / "examples" / f"{name}.yaml").read_text())
    params["diagnosis"]["data"]["path"] = str(wdbc_csv.parent / f"{name}.csv")  # the export wrote it beside WDBC
    params["diagnosis"]["bootstrap_resamples"] = 200
    path = session_dir / f"own-{name}.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    result = CliRunner().invoke(app, ["train", "diagnosis", "--params", str(path)])
    assert result.exit_code == 0, result.output
    return name, path, Path(params["diagnosis"]["data"]["path"])


def test_each_table_trains_with_default_candidates_and_is_promoted_as_its_own_model(trained):
    name, _, _ = trained
    model = TABLES[name][0]
    client = MlflowClient()
    champion = client.get_model_version_by_alias(model, "champion")
    decision = json.loads((REPORTS_DIR / model / "decision.json").read_text())
    assert decision["promoted"] and decision["challenger_version"] == champion.version
    assert champion.tags["bento"].startswith(f"{model}:")  # its own Bento
    board = (REPORTS_DIR / model / "leaderboard.md").read_text()
    assert all(c in board for c in ("logistic_regression", "random_forest", "gradient_boosting", "rbf_svm"))
    assert "ece" in board and "calibration_slope" in board
    gate = (REPORTS_DIR / model / "data_gate.md").read_text()
    assert "passed" in gate and "inferred as boolean" in gate
    card = (REPORTS_DIR / model / "model_card.md").read_text()
    assert (
        "## Held-out metrics by subgroup" in card and "smaller class < 30: read with care" in card
    )  # flagged by the rarer class, not the size


def test_the_cli_scores_the_raw_table_and_names_an_unseen_category(trained, tmp_path):
    name, params, table = trained
    _, column, unseen = TABLES[name]
    frame = pd.read_csv(table)
    out = tmp_path / "scored.csv"
    result = CliRunner().invoke(app, ["predict", "diagnosis", str(table), "-o", str(out), "--params", str(params)])
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out)
    assert len(scored) == len(frame) and (scored.filter(like="probability_").sum(axis=1) - 1).abs().max() < 1e-9
    frame.assign(**{column: unseen}).to_csv(tmp_path / "odd.csv", index=False)
    result = CliRunner().invoke(app, ["predict", "diagnosis", str(tmp_path / "odd.csv"), "--params", str(params)])
    assert (
        result.exit_code == 2
        and f"{column}:" in result.output
        and "allowed" in result.output
        and "Traceback" not in result.output
    )


@pytest.fixture(scope="module")
def bento(trained, tmp_path_factory):
    name, _, table = trained
    frame = pd.read_csv(table)
    tag = MlflowClient().get_model_version_by_alias(TABLES[name][0], "champion").tags["bento"]
    empty = tmp_path_factory.mktemp("no-registry")
    server = Server(tag, empty, env={"MLFLOW_TRACKING_URI": f"sqlite:///{empty / 'empty.db'}", "MEDMAAS_PARAMS": ""})
    yield name, server, frame
    server.stop()


def raw_patient(name: str, frame: pd.DataFrame, server: Server) -> dict:
    features = server.post("model_info", {}).json()["features"]
    row = frame[features].dropna().iloc[0]
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


def test_the_bento_serves_raw_values_with_no_registry_and_refuses_an_unseen_category(bento):
    name, server, frame = bento
    model, column, unseen = TABLES[name]
    info = server.post("model_info", {}).json()
    assert info["registered_model"] == model and info["kinds"][column] == "categorical"
    patient = raw_patient(name, frame, server)
    assert any(isinstance(v, bool) for v in patient.values()) and isinstance(
        patient[column], str
    )  # sent as the file has them
    answer = server.post("predict", {"patients": [patient]})
    assert answer.status_code == 200, answer.text
    [prediction] = answer.json()
    assert abs(sum(prediction["probabilities"].values()) - 1) < 1e-9 and prediction["model"] == model
    explained = server.post("explain", {"patient": patient}).json()
    assert (
        abs(
            explained["base_value"]
            + sum(c["contribution"] for c in explained["contributions"])
            - explained["probability"]
        )
        < 1e-6
    )
    schema = server.get("docs.json").text  # categories are enums, booleans booleans, in the OpenAPI schema
    assert all(f'"{v}"' in schema for v in info["categories"][column]) and '"enum"' in schema and '"boolean"' in schema
    refused = server.post("predict", {"patients": [{**patient, column: unseen}]})
    assert refused.status_code == 400
    detail = refused.json()["detail"][0]
    assert (
        detail["loc"][-1] == column
        and all(v in detail["msg"] for v in info["categories"][column])
        and unseen not in refused.text
    )
