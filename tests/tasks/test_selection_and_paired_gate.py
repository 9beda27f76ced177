"""The test set measures and never chooses; promotion is a paired test on the same rows, not two point estimates side by
side."""

import numpy as np
import pytest

from families.diagnosis.family import Diagnosis
from families.diagnosis.metrics import binary_metric_fns
from medmaas.family import Evaluation, FittedCandidate
from medmaas.settings import AcceptanceSettings
from medmaas.stats import Estimate, HeldOutRows, bootstrap_estimates
from tasks.evaluate import VS_CHOSEN, CandidateResult, best_on_test, leaderboard, rank
from tasks.promotion import checks_for, compare

ROC_AUC = binary_metric_fns(0.5)["roc_auc"]


@pytest.fixture(scope="module")
def family(write_params) -> Diagnosis:
    from families import load_params

    params = load_params(write_params())
    return Diagnosis(params.families["diagnosis"], params.project.seed)


def with_acceptance(family: Diagnosis, **acceptance) -> Diagnosis:
    settings = family.settings.model_copy(
        update={"acceptance": AcceptanceSettings(**acceptance), "bootstrap_resamples": 300}
    )
    return Diagnosis(settings, family.seed)


def scored(truth: np.ndarray, probability: np.ndarray, keys: list[str] | None = None) -> HeldOutRows:
    keys = keys or [f"row{i}" for i in range(len(truth))]
    return HeldOutRows(ROC_AUC, (truth, probability), tuple((k,) for k in keys), strata=truth, unit="patient")


def candidate(name: str, truth: np.ndarray, probability: np.ndarray, tuning: float) -> CandidateResult:
    rows = scored(truth, probability)
    metrics = bootstrap_estimates(binary_metric_fns(0.5), rows.arrays, 100, 0, strata=truth)
    metrics["ece_if_calibrated"] = Estimate(0.05, 0.05, 0.05)  # a point figure the family computes beside the bootstrap
    return CandidateResult(FittedCandidate(name, None, {}, tuning, 1.0), Evaluation(metrics, rows=rows))


def noisy_scores(truth: np.ndarray, rng: np.random.Generator, skill: float = 1.0) -> np.ndarray:
    return 1 / (1 + np.exp(-(skill * (2 * truth - 1) + rng.normal(0, 1.5, len(truth)))))


def test_six_equal_candidates_the_training_side_chooses_and_the_best_test_figure_is_corrected_down(family):
    # given six candidates of the same true skill, scored on a small noisy test set, with their training-side scores
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 2, 60).astype(bool)
    results = [candidate(f"c{i}", truth, noisy_scores(truth, rng), tuning=0.80 + 0.01 * i) for i in range(6)]
    best_test = max(results, key=lambda r: r.evaluation.metrics["roc_auc"].value)
    assert (
        best_test.fitted.candidate != "c5"
    )  # the seed makes the held-out winner another one than the training-side winner
    # when they are ranked
    ranked, _ = rank(family, results)
    # then the training side chose, not the test set
    assert ranked[0].fitted.candidate == "c5"
    # and the best held-out figure, corrected for having been picked among six, is below its raw value
    on_test = best_on_test(family, ranked)
    assert on_test.candidate == best_test.fitted.candidate and on_test.candidates == 6
    assert on_test.corrected < on_test.raw - 0.01
    # and the leaderboard shows the score that ranked them, first
    board = leaderboard(family, ranked)
    assert board.columns[1] == "training side (chose)" and board.iloc[0, 1] == "0.850"
    # and, paired on the same rows, every other candidate is a tie with the chosen one (they are equally good)
    assert board[VS_CHOSEN].iloc[0] == "" and all(verdict.endswith(" tie") for verdict in board[VS_CHOSEN].iloc[1:])


def test_a_candidate_without_a_training_side_score_is_ranked_last(family):
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 40).astype(bool)
    unscored, scored_one = (
        candidate("no_score", truth, truth.astype(float), tuning=float("nan")),
        candidate("lr", truth, noisy_scores(truth, rng), 0.7),
    )
    ranked, _ = rank(family, [unscored, scored_one])
    assert [r.fitted.candidate for r in ranked] == ["lr", "no_score"]


def test_a_challenger_equal_to_the_champion_plus_noise_is_not_promoted_and_a_clearly_better_one_is(family):
    family = with_acceptance(family, max_regression=0.005)
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 120).astype(bool)
    champion = noisy_scores(truth, rng)
    same_plus_noise = np.clip(champion + rng.normal(0, 0.15, len(truth)), 0, 1)
    better = 1 / (1 + np.exp(-(3.0 * (2 * truth - 1) + rng.normal(0, 1.0, len(truth)))))
    # a point estimate may favour the noisy twin or not; the paired CI reaches well below -max_regression either way
    noisy = compare(family, "champion", "1", scored(truth, same_plus_noise), scored(truth, champion), None)
    assert noisy.difference.low < -0.005 < noisy.difference.high
    checks = checks_for(family, candidate("twin", truth, same_plus_noise, 0.8).evaluation.metrics, [noisy])
    assert not all(c.passed for c in checks)
    assert "paired over 120 held-out rows in 120 patients (whether it trained on some of them is unknown" in next(
        c.detail for c in checks if c.name == "vs champion"
    )
    clearly = compare(family, "champion", "1", scored(truth, better), scored(truth, champion), None)
    assert clearly.difference.low > 0
    assert all(
        c.passed for c in checks_for(family, candidate("better", truth, better, 0.9).evaluation.metrics, [clearly])
    )


def test_rows_the_champion_trained_on_are_left_out_of_the_comparison_or_it_is_refused(family):
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 2, 100).astype(bool)
    champion, challenger = noisy_scores(truth, rng), noisy_scores(truth, rng, skill=2.0)
    seen = np.zeros(100, dtype=bool)
    seen[:70] = True  # the champion trained on 70 of today's held-out rows
    compared = compare(
        with_acceptance(family, min_compared_units=20),
        "champion",
        "1",
        scored(truth, challenger),
        scored(truth, champion),
        seen,
    )
    assert (compared.rows_compared, compared.rows_total, compared.refused) == (30, 100, None)
    assert "(70 rows it trained on left out)" in compared.sentence("roc_auc")
    refused = compare(
        with_acceptance(family, min_compared_units=40),
        "champion",
        "1",
        scored(truth, challenger),
        scored(truth, champion),
        seen,
    )
    assert (
        refused.difference is None
        and (
            "it trained on 70 of the 100 held-out rows; 30 patients it never saw (and both models could score) remain, "
            "fewer than acceptance.min_compared_units (40)"
        )
        in refused.refused
    )
    assert not all(
        c.passed for c in checks_for(family, candidate("x", truth, challenger, 0.9).evaluation.metrics, [refused])
    )


def test_floors_are_checked_on_the_cautious_end_of_the_ci_unless_asked_for_points(family):
    rng = np.random.default_rng(11)
    truth = rng.integers(0, 2, 50).astype(bool)
    metrics = candidate("x", truth, noisy_scores(truth, rng, skill=1.5), 0.9).evaluation.metrics
    floor = (metrics["roc_auc"].low + metrics["roc_auc"].value) / 2  # between the CI's low end and the point
    assert not all(c.passed for c in checks_for(with_acceptance(family, minimums={"roc_auc": floor}), metrics, []))
    assert all(
        c.passed
        for c in checks_for(with_acceptance(family, minimums={"roc_auc": floor}, floors_on="point"), metrics, [])
    )
    ceiling = (metrics["brier"].high + metrics["brier"].value) / 2
    assert not all(c.passed for c in checks_for(with_acceptance(family, maximums={"brier": ceiling}), metrics, []))


def test_every_family_keeps_the_identity_of_its_training_rows():
    """Without it a retrain cannot leave out the rows the champion trained on (the comparison would say "unknown")."""
    from families import family_class, known_families
    from medmaas.family import Family

    for name in known_families():
        assert family_class(name).training_keys is not Family.training_keys, name


def test_digests_of_another_row_key_scheme_say_overlap_unknown_rather_than_none_seen(family):
    # a version whose family has since changed what a row's key is: its digests would match nothing and
    # every row would look unseen, so the registry says it cannot tell
    import json

    import mlflow

    from medmaas import identity
    from tasks.registry import IDENTITY_ARTIFACT, rows_seen_by

    rows = scored(np.array([True, False] * 10), np.linspace(0, 1, 20), keys=[f"k{i}" for i in range(20)])
    stored = {"key_id": identity.key_id(), "train": sorted(identity.digests(["k0", "k1"]))}
    with mlflow.start_run() as run:
        mlflow.log_text(json.dumps({**stored, "keys": family.row_key_scheme}), IDENTITY_ARTIFACT)
    assert rows_seen_by(family, run.info.run_id, rows).sum() == 2
    with mlflow.start_run() as older:
        mlflow.log_text(json.dumps({**stored, "keys": "0"}), IDENTITY_ARTIFACT)
    assert rows_seen_by(family, older.info.run_id, rows) is None
