"""The data gate names each failed expectation, column and sample of bad values."""

import numpy as np
import pytest
from support import corrupt

from blocks.tabular import TABLE
from families import load_params
from families.diagnosis.family import Diagnosis
from tasks.gate import run_gate


@pytest.fixture(scope="module")
def family(write_params):
    params = load_params(write_params())
    return Diagnosis(params.families["diagnosis"], params.project.seed)


def gate(family, frame):
    tables = {TABLE: frame}
    return run_gate("diagnosis", tables, family.expectations(tables), family.identifier_columns())


def failed(report) -> set[tuple[str, str]]:
    return {(f.expectation, f.column) for f in report.failures}


def test_bundled_data_passes(family):
    report = gate(family, family.load()[TABLE])
    assert report.passed, report.to_markdown()
    assert report.checked > 100


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("missing column", ("expect_column_to_exist", "mean_area")),
        ("nans beyond the allowed rate", ("expect_column_values_to_not_be_null", "mean_texture")),
        ("out of range", ("expect_column_values_to_be_between", "mean_radius")),
        ("wrong type", ("expect_column_values_to_be_in_type_list", "worst_area")),
        ("unknown label", ("expect_column_values_to_be_in_set", "diagnosis")),
        ("duplicated id", ("expect_column_values_to_be_unique", "patient_id")),
    ],
)
def test_gate_names_each_corruption(family, kind, expected):
    report = gate(family, corrupt(family.load()[TABLE], kind))
    assert not report.passed
    assert expected in failed(report)
    assert expected[0] in report.to_markdown() and expected[1] in report.to_markdown()


def test_gate_report_shows_bad_values_but_never_identifiers(family):
    frame = corrupt(corrupt(family.load()[TABLE], "unknown label"), "duplicated id")
    report = gate(family, frame)
    by_column = {f.column: f for f in report.failures}
    assert by_column["diagnosis"].sample == ["maybe"]
    duplicated = frame.loc[frame.index[8], "patient_id"]
    assert duplicated not in report.to_markdown() and duplicated not in report.to_json()
    assert "redacted" in str(by_column["patient_id"].sample)


def test_allowed_missing_rate_passes(family):
    frame = family.load()[TABLE].copy()
    frame.loc[frame.index[:10], "mean_texture"] = np.nan  # 1.8% <= 5% allowed; candidates impute
    assert gate(family, frame).passed
