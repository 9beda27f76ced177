"""The drift statistics: a reference without patient rows, and batches judged against it."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from medmaas.drift import Thresholds, compare, profile

KINDS = {"site": "categorical", "smoker": "boolean"}


def cohort(n: int, seed: int, shift: float = 0.0, smokers: float = 0.3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(60 + shift, 10, n),
            "creatinine": rng.lognormal(0, 0.3, n),
            "stage": rng.integers(1, 5, n),
            "site": rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2]),
            "smoker": (rng.random(n) < smokers).astype(float),
            **{f"lab_{i}": rng.normal(0, 1, n) for i in range(20)},
        }
    )


@pytest.fixture(scope="module")
def reference():
    return profile(cohort(800, seed=1), KINDS)


def test_the_reference_holds_percentiles_and_counts_never_a_row_or_an_extreme(reference):
    training = cohort(800, seed=1)
    assert reference["age"]["kind"] == "numeric" and len(reference["age"]["percentiles"]) == 99
    assert reference["stage"]["kind"] == "categorical"  # four codes: KS is invalid with so many ties
    assert reference["site"]["counts"] == training["site"].value_counts().to_dict()
    for column in ("age", "creatinine"):
        stored = set(reference[column]["percentiles"])
        assert not stored & {
            round(v, 8) for v in training[column]
        }  # interpolated between patients, not a patient's value
        assert training[column].min() < min(stored) and max(stored) < training[column].max()
    json.dumps(reference)  # stored with the model version as JSON


def test_a_batch_from_the_same_population_flags_nothing(reference):
    for seed in range(2, 7):
        assert compare(reference, cohort(300, seed=seed)).drifted == []


def test_a_shifted_numeric_feature_and_a_shifted_share_are_flagged_and_nothing_else(reference):
    result = compare(reference, cohort(300, seed=2, shift=6.0, smokers=0.6))
    assert sorted(result.drifted) == ["age", "smoker"]
    table = result.table().set_index("column")
    assert table.loc["age", "test"] == "ks" and table.loc["smoker", "test"] == "chi2"
    assert table.loc["age", "psi"] > 0.1 and table.loc["age", "p_adjusted"] < 0.05


def test_the_ks_p_value_matches_the_two_sample_test_on_the_raw_rows(reference):
    training, batch = cohort(800, seed=1), cohort(200, seed=9, shift=2.0)
    ours = compare(reference, batch).table().set_index("column").loc["age"]
    exact = stats.ks_2samp(training["age"], batch["age"])
    assert ours["statistic"] == pytest.approx(exact.statistic, abs=0.015)
    assert np.log10(ours["p_value"]) == pytest.approx(np.log10(exact.pvalue), abs=0.5)


def test_a_tiny_shift_in_a_huge_batch_is_significant_but_not_flagged_below_the_psi_floor():
    large = profile(cohort(20_000, seed=1), KINDS)  # the p-value is bounded by the smaller side, so both are large here
    result = compare(large, cohort(20_000, seed=3, shift=0.8))
    age = result.table().set_index("column").loc["age"]
    assert age["p_adjusted"] < 1e-6 and age["psi"] < 0.1 and not age["drifted"]
    assert compare(large, cohort(20_000, seed=3, shift=0.8), Thresholds(min_psi=0.0)).drifted == ["age"]


def test_many_null_columns_stay_quiet_after_benjamini_hochberg():
    rng = np.random.default_rng(0)
    noise = lambda n: pd.DataFrame(rng.normal(size=(n, 200)), columns=[f"x{i}" for i in range(200)])  # noqa: E731
    result = compare(profile(noise(1000), {}), noise(500), Thresholds(min_psi=0.0))
    assert (result.table()["p_value"] < 0.05).sum() > 0  # unadjusted, some would fire by chance
    assert result.drifted == []


def test_unseen_categories_and_empty_columns_are_named_not_crashed_on(reference):
    batch = cohort(200, seed=4)
    batch["site"] = "west"
    batch["creatinine"] = np.nan
    table = compare(reference, batch).table().set_index("column")
    assert table.loc["site", "drifted"] and "not in the reference" in table.loc["site", "note"]
    assert table.loc["creatinine", "note"] == "no values in the batch" and not table.loc["creatinine", "drifted"]


def test_codes_read_as_floats_match_codes_read_as_integers(reference):
    batch = cohort(300, seed=5)
    batch["stage"] = batch["stage"].astype(float)  # a file with a blank somewhere reads codes as 2.0
    assert "stage" not in compare(reference, batch).drifted
    assert compare(reference, batch).table().set_index("column").loc["stage", "note"] == ""


def test_a_column_of_mostly_zeros_from_the_same_population_is_not_flagged():
    rng = np.random.default_rng(3)

    def nodes(n):  # 30% zeros, then counts: repeated percentiles, where KS and edge binning go wrong
        return pd.DataFrame(
            {
                "nodes": np.where(rng.random(n) < 0.3, 0, rng.poisson(4, n) + 1),
                "p": np.clip(rng.normal(0.5, 0.4, n), 0, 1),
            }
        )

    reference = profile(nodes(700), {})
    assert reference["nodes"]["ties"] and reference["p"]["ties"]  # probabilities of exactly 0 and 1 too
    for _ in range(5):
        result = compare(reference, nodes(300)).table().set_index("column")
        assert (
            not result["drifted"].any()
            and (result["psi"] < 0.1).all()
            and result.loc["nodes", "test"] == "chi2 (deciles)"
        )
    shifted = nodes(300)
    shifted["nodes"] += 3
    assert compare(reference, shifted).drifted == ["nodes"]


def test_category_labels_do_not_depend_on_what_else_the_batch_holds():
    reference = profile(pd.DataFrame({"dose": [0.5, 1.0, 1.5, 2.0] * 40}), {})
    batch = pd.DataFrame({"dose": [1.0, 2.0, 0.5, 1.5] * 10})
    assert compare(reference, batch).table().loc[0, "note"] == "" and compare(reference, batch).drifted == []
