"""Bring your own table: column kinds, the encoder inside the model, reading options, label codings, the gate."""

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from blocks.encoding import ColumnEncoder, as_boolean
from blocks.tabular import TABLE
from families import load_params
from families.diagnosis.examples import birthwt, pbc_stage
from families.diagnosis.family import Diagnosis
from families.diagnosis.settings import DiagnosisSettings
from medmaas.settings import ConfigError
from tasks.gate import run_gate


def settings(**data) -> DiagnosisSettings:
    return DiagnosisSettings.model_validate({"data": {"path": "x.csv", "label_column": "y", **data}})


def family_on(path, **data) -> Diagnosis:
    return Diagnosis(settings(path=str(path), **data), seed=0)


def gate(family: Diagnosis):
    tables = family.load()
    report = run_gate("t", tables, family.expectations(tables), family.identifier_columns())
    report.notes = family.gate_notes(tables)
    return report


# --- what a user declares -------------------------------------------------------------------------
@pytest.mark.parametrize("labels", [[0, 1, 2, 3, 4], [False, True], ["absent", "present"], [1.5, 2.5]])
def test_labels_of_any_scalar_type_are_accepted_as_the_file_holds_them(labels):
    positive = {"positive_label": labels[1]} if len(labels) == 2 else {}
    assert settings(labels=labels, **positive).data.classes == labels


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"labels": [0, 1]}, "positive_label"),  # binary: required, no default
        ({"labels": [1, 2, 3], "positive_label": 2}, "positive_label is for a binary task"),
        ({"labels": [0, 1], "positive_label": 7}, "not one of the classes"),
        ({}, "declare the classes once"),
        ({"labels": [0, 1], "label_mapping": {"a": [0], "b": [1]}, "positive_label": "a"}, "declare the classes once"),
        ({"label_mapping": {"a": [0, 1], "b": [1]}, "positive_label": "a"}, "one code to two classes"),
        ({"labels": [0, 1, 2], "categories": {"sex": ["f", "m"]}}, "list them in categorical"),
        ({"labels": [0, 1, 2], "categorical": ["sex"], "boolean": ["sex"]}, "both categorical and boolean"),
    ],
)
def test_a_bad_declaration_is_an_error_naming_the_problem(data, named):
    with pytest.raises(ValidationError, match=named):
        settings(**data)


def test_a_bad_key_in_a_params_file_names_it(tmp_path):
    block = {
        "data": {
            "path": "x.csv",
            "label_column": "y",
            "labels": [0, 1],
            "positive_label": 1,
            "read": {"delimiter": ";;"},
        }
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"diagnosis": block}))
    with pytest.raises(ConfigError, match=r"diagnosis\.data\.read\.delimiter"):
        load_params(path)


def test_left_out_candidates_and_id_mean_every_default_candidate_and_row_numbers():
    chosen = settings(labels=[0, 1], positive_label=1, id_column=None)
    assert set(chosen.candidates.enabled()) == {
        "logistic_regression",
        "linear_svm",
        "rbf_svm",
        "decision_tree",
        "random_forest",
        "gradient_boosting",
    }
    assert Diagnosis(chosen, 0).identifier_columns() == set()


def test_label_mapping_derives_the_outcome_from_codes():
    data = settings(label_mapping={"absent": [0], "present": [1, 2, 3, 4]}, positive_label="present").data
    assert data.label_of(pd.Series([0, 3, 1, 0])).tolist() == ["absent", "present", "present", "absent"]
    assert sorted(data.codes) == [0, 1, 2, 3, 4]


# --- reading -------------------------------------------------------------------------------------
def test_csv_options_and_parquet_are_read_as_declared(tmp_path):
    text = "id;weight;smoker;y\nA;1.234,5;yes;0\nB;?;no;1\nC;70,25;yes;1\n"
    (tmp_path / "eu.csv").write_text(text)
    read = {"delimiter": ";", "decimal": ",", "thousands": ".", "na_values": ["?"]}
    frame = family_on(tmp_path / "eu.csv", id_column="id", labels=[0, 1], positive_label=1, read=read).load()[TABLE]
    assert frame["weight"].tolist()[0] == 1234.5 and np.isnan(frame["weight"][1]) and frame["weight"][2] == 70.25
    frame.to_parquet(tmp_path / "same.parquet")
    again = family_on(tmp_path / "same.parquet", id_column="id", labels=[0, 1], positive_label=1).load()[TABLE]
    pd.testing.assert_frame_equal(again, frame)


def test_an_unreadable_file_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(ValueError, match=r"cannot read bad\.parquet"):
        family_on(tmp_path / "bad.parquet", labels=[0, 1], positive_label=1).load()


# --- kinds and the gate --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def birthwt_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("own") / "birthwt.csv"
    birthwt().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def pbc_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("own") / "pbc.csv"
    pbc_stage().to_csv(path, index=False)
    return path


def births(path, **extra) -> Diagnosis:
    return family_on(path, id_column=None, label_column="low_birth_weight", labels=[0, 1], positive_label=1, **extra)


def test_text_becomes_categorical_and_true_false_boolean_and_the_report_says_so(birthwt_csv):
    family = births(birthwt_csv)
    kinds = family.feature_kinds(family.load()[TABLE])
    assert (
        kinds["race"] == "categorical"
        and kinds["smoker"] == kinds["hypertension"] == "boolean"
        and kinds["age"] == "numeric"
    )
    report = gate(family)
    assert report.passed, report.to_markdown()
    assert (
        "inferred as categorical: race" in report.to_markdown()
        and "duplicated patients could not be checked" in report.to_markdown()
    )


def test_a_listed_text_column_not_declared_categorical_stops_at_the_gate(birthwt_csv):
    report = gate(births(birthwt_csv, feature_columns=["age", "race"]))
    assert {(f.expectation, f.column) for f in report.failures} == {("expect_column_values_to_be_in_type_list", "race")}


def test_a_value_outside_the_declared_categories_stops_at_the_gate_naming_the_column(birthwt_csv):
    report = gate(births(birthwt_csv, categorical=["race"], categories={"race": ["white", "black"]}))
    failed = [f for f in report.failures if f.column == "race"]
    assert (
        len(failed) == 1
        and failed[0].expectation == "expect_column_values_to_be_in_set"
        and "other" in failed[0].sample
    )


def test_missing_values_are_allowed_per_column(pbc_csv):
    def pbc(fraction):
        return family_on(pbc_csv, label_column="stage", labels=[1, 2, 3, 4], max_missing_fraction=fraction)

    too_strict = {f.column for f in gate(pbc({"*": 0.35, "cholesterol": 0.1})).failures}
    assert too_strict == {"cholesterol"}  # 32% missing
    assert gate(pbc({"*": 0.35})).passed


def test_a_class_too_small_to_cross_validate_stops_at_the_gate_naming_it(pbc_csv, tmp_path):
    frame = pd.read_csv(pbc_csv)
    rare = pd.concat([frame[frame["stage"] != 1], frame[frame["stage"] == 1].head(4)])
    rare.to_csv(tmp_path / "rare.csv", index=False)
    report = gate(
        family_on(tmp_path / "rare.csv", label_column="stage", labels=[1, 2, 3, 4], max_missing_fraction=0.35)
    )
    [failure] = report.failures
    assert (
        failure.table == "class_counts"
        and failure.sample == ["1"]
        and "at least 8 rows for 5-fold CV" in failure.problem
    )


# --- the encoder inside the model -----------------------------------------------------------------
def test_the_encoder_takes_raw_values_and_learns_or_keeps_the_categories():
    frame = pd.DataFrame(
        {
            "age": [30.0, np.nan, 50.0, 41.0],
            "sex": ["f", "m", None, "f"],
            "edema": ["none", "some", "none", "none"],
            "smoker": ["TRUE", "FALSE", "yes", None],
        }
    )
    encoder = ColumnEncoder(
        numeric=("age",),
        categorical=("sex", "edema"),
        boolean=("smoker",),
        categories={"edema": ["none", "some", "severe"]},
    ).fit(frame)
    assert encoder.categories_ == {"sex": ["f", "m"], "edema": ["none", "some", "severe"]}
    encoded = encoder.transform(frame)
    # age + its missing indicator, smoker + indicator, sex one-hot (2), edema one-hot (3)
    assert encoded.shape == (4, 2 + 2 + 2 + 3) and np.isfinite(encoded).all()
    assert (
        encoder.transform(frame.assign(sex=["x", "f", "f", "f"])).shape == encoded.shape
    )  # unseen: all zeros, no crash
    assert as_boolean(frame[["smoker"]])["smoker"].tolist()[:3] == [1.0, 0.0, 1.0]


def test_a_text_column_with_too_many_values_to_be_a_category_stops_at_the_gate(birthwt_csv, tmp_path):
    # e.g. a name or a record number left in the file: its values must not become the model's enum
    frame = pd.read_csv(birthwt_csv).assign(mother=[f"name {i}" for i in range(189)])
    frame.to_csv(tmp_path / "named.csv", index=False)
    [failure] = gate(births(tmp_path / "named.csv")).failures
    assert failure.column == "mother" and failure.expectation == "expect_column_unique_value_count_to_be_between"
    assert "at most 50 values" in failure.problem and not failure.sample


def test_a_declared_class_with_no_rows_stops_at_the_gate(birthwt_csv):
    family = family_on(birthwt_csv, id_column=None, label_column="low_birth_weight", labels=[0, 1, 2])
    [failure] = gate(family).failures
    assert failure.table == "class_counts" and failure.sample == ["2"]


def test_bands_on_a_text_column_are_reported_not_raised(birthwt_csv):
    family = births(birthwt_csv, subgroups=["race"], bands={"race": [1, 2]})
    split = family.split(family.load())
    fitted = family.fit("logistic_regression", split.train)
    table = family.subgroup_table(fitted.model, split.test)
    assert len(table) == 1 and table["note"].iloc[0].startswith("cannot be grouped: ")  # and the card is still written
