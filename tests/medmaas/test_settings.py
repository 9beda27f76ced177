"""A params file with a typo or a wrong type is an error that names the key."""

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from cli import app
from families import load_params
from medmaas.settings import ConfigError


@pytest.mark.parametrize(
    ("overrides", "named_key"),
    [
        ({"diagnosis": {"candidates": {"random_forst": {"n_estimators": [10]}}}}, "diagnosis.candidates.random_forst"),
        ({"diagnosis": {"split": {"cv_folds": "five"}}}, "diagnosis.split.cv_folds"),
        ({"diagnosis": {"split": {"test_fraction": 0.9}}}, "diagnosis.split.test_fraction"),
        ({"diagnosis": {"data": {"positive_label": "cancer"}}}, "diagnosis.data"),
        ({"diagnosis": {"acceptance": {"minimums": {"auc": 0.9}}}}, "diagnosis.acceptance.minimums.auc"),
        (
            {"diagnosis": {"candidates": {"logistic_regression": {"C": [-1.0]}}}},
            "diagnosis.candidates.logistic_regression.C.0",
        ),
        ({"project": {"task_runner": {"kind": "spark"}}}, "project.task_runner"),
        ({"project": {"seeed": 1}}, "project.seeed"),
        ({"diagnosys": {}}, "diagnosys"),
    ],
)
def test_config_errors_name_the_key(write_params, overrides, named_key):
    # given a params file with one mistake
    path = write_params(overrides)
    # when it is loaded, then the error names the key
    with pytest.raises(ConfigError) as raised:
        load_params(path)
    assert named_key in str(raised.value)


def test_repo_params_are_valid_and_frozen():
    params = load_params()
    assert "diagnosis" in params.families
    with pytest.raises(ValidationError, match="frozen"):
        params.families["diagnosis"].bootstrap_resamples = 1  # frozen: nothing mutates config mid-run
    assert params.families["diagnosis"].bootstrap_resamples == 500


def test_missing_params_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_cli_exits_non_zero_and_names_the_key(write_params):
    path = write_params({"diagnosis": {"split": {"cv_folds": "five"}}})
    result = CliRunner().invoke(app, ["train", "diagnosis", "--params", str(path)])
    assert result.exit_code == 2
    assert "diagnosis.split.cv_folds" in result.output


def test_ingest_writes_only_the_bundled_file(tmp_path, monkeypatch):
    # given a project whose params point the family at the user's own file
    import cli.data
    import medmaas.environment

    monkeypatch.setattr(medmaas.environment, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(cli.data, "PROJECT_ROOT", tmp_path)
    # when the DVC ingest command runs
    result = CliRunner().invoke(app, ["ingest", "diagnosis"])
    # then it writes the packaged data set to its fixed place, and nowhere else
    assert result.exit_code == 0, result.output
    written = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()]
    assert sorted(written) == [
        "data/raw/birthwt.csv",
        "data/raw/pbc_stage.csv",
        "data/raw/wdbc.csv",
    ]  # WDBC and the two example tables
    assert sum(1 for _ in open(tmp_path / "data/raw/wdbc.csv")) == 570  # header + 569 patients
