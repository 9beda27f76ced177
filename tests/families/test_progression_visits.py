"""Disease progression from visit histories (pbcseq): floor against LOCF, patient split, gate, MLflow round trip."""

import mlflow
import numpy as np
import pandas as pd
import pytest

from families import load_params
from families.progression_visits.family import ProgressionVisits, visit_intervals
from families.progression_visits.settings import INTERVALS, VISITS, NextVisitBoostingSettings, VisitCandidates
from medmaas.flavors import load_model, log_model
from tasks.gate import run_gate

FAMILY = ("progression_visits",)
QUICK_RECURRENT = {"cell": "gru", "hidden_size": [8], "max_epochs": 3, "patience": 3}


@pytest.fixture(scope="module")
def params(write_params):
    return load_params(write_params(keep_families=FAMILY))


@pytest.fixture(scope="module")
def family(params) -> ProgressionVisits:
    return ProgressionVisits(params.families["progression_visits"], params.project.seed)


@pytest.fixture(scope="module")
def tables(family):
    return family.load()


@pytest.mark.slow
def test_recurrent_network_beats_last_observation_carried_forward_on_held_out_patients(params, tables):
    # one split's held-out set is 62 patients, so the comparison is the mean over 5 patient splits
    rmse = {"last_observation": [], "recurrent": []}
    for seed in range(5):
        family = ProgressionVisits(params.families["progression_visits"], seed)
        split = family.split(tables)
        for candidate in rmse:
            fitted = family.fit(candidate, split.train)
            rmse[candidate].append(family.evaluate(fitted.model, split.test).metrics["rmse"].value)
    assert np.mean(rmse["recurrent"]) < np.mean(rmse["last_observation"]), rmse


def test_split_puts_no_patient_on_both_sides_and_keeps_every_visit(family, tables):
    split = family.split(tables)
    train_ids, test_ids = set(split.train.visits["patient_id"]), set(split.test.visits["patient_id"])
    assert not train_ids & test_ids
    assert len(split.train.visits) + len(split.test.visits) == len(tables[VISITS])
    assert split.sizes["test_patients"] == len(test_ids) and split.sizes["test_targets"] == len(
        split.test.examples().observed
    )
    fitting, validation = family._validation_split(split.train)
    assert not set(fitting.visits["patient_id"]) & set(validation.visits["patient_id"])


def test_each_target_visit_is_left_out_of_its_own_history(family, tables):
    # the leak that matters: the visit being predicted must not be in the history it is predicted from
    test = family.split(tables).test
    examples = test.examples()
    row = 0
    for visits in test.patients():
        days = visits["day"].to_numpy()
        for target in range(1, len(visits)):
            history = examples.histories[row]
            assert len(history) == target and history["day"].iloc[-1] == days[target - 1] < days[target]
            assert history["day"].iloc[-1] + examples.days_ahead[row] == days[target]
            assert examples.observed[row] == pytest.approx(np.log(visits["bili"].iloc[target]))
            row += 1
    assert row == len(examples.observed) > 0


def gate_failures(family, visits: pd.DataFrame) -> set:
    data = family.settings.data
    tables = {VISITS: visits, INTERVALS: visit_intervals(visits, data)}
    report = run_gate("progression_visits", tables, family.expectations(tables), family.identifier_columns())
    return {(f.table, f.expectation, f.column) for f in report.failures}


def test_gate_passes_the_bundled_data(family, tables):
    assert gate_failures(family, tables[VISITS]) == set()


def test_gate_stops_visits_out_of_time_order(family, tables):
    visits = tables[VISITS].copy()
    rows = visits.index[visits["patient_id"] == visits["patient_id"].iloc[0]][:2]
    visits.loc[rows, "day"] = visits.loc[rows[::-1], "day"].to_numpy()  # the patient's first two visits swapped
    assert (INTERVALS, "expect_column_values_to_be_between", "days_since_previous_row") in gate_failures(family, visits)


def test_gate_stops_out_of_range_markers(family, tables):
    visits = tables[VISITS].copy()
    visits.loc[visits.index[7], "albumin"] = 35.0  # g/l sent where g/dl is declared
    assert (VISITS, "expect_column_values_to_be_between", "albumin") in gate_failures(family, visits)


def test_gate_stops_data_without_enough_visits_after_a_first(family, tables):
    first_visits = tables[VISITS].drop_duplicates("patient_id")
    assert (INTERVALS, "expect_table_row_count_to_be_between", None) in gate_failures(family, first_visits)


@pytest.mark.slow
def test_recurrent_model_is_logged_with_mlflow_pytorch_and_loads_back_identically(params, tables):
    settings = params.families["progression_visits"].model_copy(
        update={
            "candidates": params.families["progression_visits"].candidates.model_validate(
                {"recurrent": QUICK_RECURRENT}
            )
        }
    )
    family = ProgressionVisits(settings, 0)
    split = family.split(tables)
    fitted = family.fit("recurrent", split.train)
    assert family.flavor_of(fitted.model) == "pytorch" and fitted.training["seconds_per_epoch"] > 0
    examples = split.test.examples()
    with mlflow.start_run():
        info = log_model(family.flavor_of(fitted.model), fitted.model, name="model")
    assert "pytorch" in info.flavors
    loaded = load_model(info.model_uri)
    np.testing.assert_array_equal(
        loaded.predict_next(examples.histories, examples.days_ahead),
        fitted.model.predict_next(examples.histories, examples.days_ahead),
    )


def test_one_table_predict_reads_each_historys_horizon_from_the_table(family, tables):
    # gradient boosting uses the horizon (LOCF would not), so a lost days_ahead column shows
    quick = family.settings.model_copy(
        update={
            "candidates": VisitCandidates(
                gradient_boosting=NextVisitBoostingSettings(learning_rate=[0.1], max_leaf_nodes=[7], max_iter=[50])
            )
        }
    )
    boosting = ProgressionVisits(quick, family.seed)
    split = boosting.split(tables)
    model = boosting.fit("gradient_boosting", split.train).model
    first, second = (p.iloc[:3] for p in split.test.patients()[:2])
    frame = pd.concat([first.assign(days_ahead=30.0, history=0), second.assign(days_ahead=3000.0, history=1)])
    expected = model.predict_next([first, second], np.array([30.0, 3000.0]))
    np.testing.assert_array_equal(model.predict(frame), expected)
    assert model.predict(first.assign(days_ahead=3000.0))[0] != expected[0]  # the horizon changes the answer


def test_a_missing_visits_file_is_an_error_naming_the_file_and_the_key(params, tmp_path):
    settings = params.families["progression_visits"]
    moved = settings.model_copy(update={"data": settings.data.model_copy(update={"path": tmp_path / "nowhere.csv"})})
    with pytest.raises(FileNotFoundError, match=r"nowhere\.csv.*progression_visits\.data\.path"):
        ProgressionVisits(moved, 0).load()


def test_the_card_reports_next_visit_error_by_sex_counted_in_patients(family, tables):
    split = family.split(tables)
    table = family.subgroup_table(family.fit("last_observation", split.train).model, split.test)
    by_sex = table.set_index("value")
    visits = split.test.visits.groupby("patient_id")
    women = visits["female"].first()[visits.size() > 1]  # a patient with one visit has no next visit to predict
    assert set(by_sex.index) == {"0", "1"} and (table["subgroup"] == "female").all()
    assert by_sex.loc["1", "patients"] == (women == 1).sum() and by_sex.loc["0", "patients"] == (women == 0).sum()
    assert by_sex.loc["0", "note"] == ("patients < 30: read with care" if (women == 0).sum() < 30 else "")
    assert by_sex.loc["0", "rmse"] != by_sex.loc["1", "rmse"]


def test_a_subgroup_that_can_change_between_visits_is_refused_naming_the_key(params):
    from pydantic import ValidationError

    data = params.families["progression_visits"].data.model_dump(by_alias=True)
    with pytest.raises(ValidationError, match=r"subgroups \['bili'\] are not in baseline_columns"):
        type(params.families["progression_visits"].data).model_validate({**data, "subgroups": ["bili"]})
