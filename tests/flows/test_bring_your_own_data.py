"""A user's own CSV (another real data set, multiclass) trains end to end through the same flow."""

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from prefect.task_runners import ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner
from sklearn.datasets import load_wine
from support import Replace
from typer.testing import CliRunner

from cli import app
from flows.runners import task_runner
from flows.train import run_family
from medmaas.settings import DaskClusterRunner, DaskLocalRunner, ThreadRunner

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("registry"), pytest.mark.usefixtures("prefect_harness")]


@pytest.fixture(scope="module")
def wine_csv(session_dir):
    bunch = load_wine(as_frame=True)
    frame = bunch.data.rename(columns=lambda c: c.replace("/", "_"))
    frame.insert(0, "sample_id", [f"W{i:04d}" for i in range(len(frame))])
    frame["cultivar"] = bunch.target.map(dict(enumerate(bunch.target_names)))
    path = session_dir / "my_wine.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def byo_params(write_params, wine_csv):
    return write_params(
        {
            "project": {"task_runner": Replace({"kind": "dask_local", "n_workers": 2, "threads_per_worker": 1})},
            "diagnosis": {
                "registered_model": "wine_cultivar",
                "data": Replace(
                    {
                        "path": str(wine_csv),
                        "id_column": "sample_id",
                        "label_column": "cultivar",
                        "labels": ["class_0", "class_1", "class_2"],
                        "positive_label": None,
                        "feature_columns": "all",
                        "ranges": {"*": {"min": 0}},
                        "min_rows": 50,
                    }
                ),
                "split": {"cv_folds": 3},
                "candidates": Replace(
                    {
                        "logistic_regression": {"C": [0.1, 1.0]},
                        "decision_tree": {"max_depth": [3], "min_samples_leaf": [1]},
                    }
                ),
                "acceptance": Replace({"minimums": {"roc_auc": 0.9, "accuracy": 0.85}}),
            },
        }
    )


def test_own_multiclass_csv_trains_registers_and_predicts(byo_params, wine_csv, tmp_path):
    # when the same flow runs on the user's CSV, on a Dask cluster chosen in params only
    decision = run_family("diagnosis", byo_params)
    # then it registers and promotes its own model, separate from the bundled one
    assert decision.registered_model == "wine_cultivar" and decision.promoted
    assert MlflowClient().get_registered_model("wine_cultivar").aliases["champion"] == decision.challenger_version
    assert decision.challenger_metrics["roc_auc"].value >= 0.95  # wine is easy; LR reaches ~1.0
    # and its champion scores the user's file with one probability per class
    out = tmp_path / "scored.csv"
    result = CliRunner().invoke(
        app, ["predict", "diagnosis", str(wine_csv), "-o", str(out), "--params", str(byo_params)]
    )
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out)
    assert list(scored.columns) == [
        "sample_id",
        "probability_class_0",
        "probability_class_1",
        "probability_class_2",
        "predicted",
    ]
    assert (scored.filter(like="probability_").sum(axis=1) - 1).abs().max() < 1e-9


def test_task_runner_is_configuration():
    assert isinstance(task_runner(ThreadRunner(max_workers=3)), ThreadPoolTaskRunner)
    local = task_runner(DaskLocalRunner(kind="dask_local", n_workers=2))
    assert isinstance(local, DaskTaskRunner) and local.cluster_kwargs["processes"] is False
    remote = task_runner(DaskClusterRunner(kind="dask_cluster", address="tcp://10.0.0.5:8786"))
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://10.0.0.5:8786"


def test_a_failing_candidate_is_on_the_leaderboard_and_the_others_go_on(byo_params, monkeypatch):
    from families.diagnosis.candidates import DecisionTreeGrid
    from medmaas.environment import REPORTS_DIR

    def broken(self, seed):
        raise RuntimeError("this candidate cannot be built\nsecond line")

    # given one of the two candidates broken
    monkeypatch.setattr(DecisionTreeGrid, "pipeline", broken)
    decision = run_family("diagnosis", byo_params)
    # then the other is registered, and the broken one is on the board with its one-line reason
    assert decision.challenger_candidate == "logistic_regression"
    board = (REPORTS_DIR / "wine_cultivar" / "leaderboard.md").read_text()
    assert (
        "decision_tree" in board
        and "train: RuntimeError: this candidate cannot be built" in board
        and "second line" not in board
    )


def test_every_candidate_failing_is_one_clear_error_and_leaves_the_registry(byo_params, monkeypatch):
    from support import registry_snapshot

    from families.diagnosis.candidates import DecisionTreeGrid, LogisticRegressionGrid

    def broken(self, seed):
        raise RuntimeError("cannot be built")

    monkeypatch.setattr(DecisionTreeGrid, "pipeline", broken)
    monkeypatch.setattr(LogisticRegressionGrid, "pipeline", broken)
    before = registry_snapshot()
    result = CliRunner().invoke(app, ["train", "diagnosis", "--params", str(byo_params)])
    assert result.exit_code == 2
    assert (
        "every candidate failed" in result.output
        and "logistic_regression (train): RuntimeError: cannot be built" in result.output
    )
    assert "Traceback" not in result.output
    assert registry_snapshot() == before
