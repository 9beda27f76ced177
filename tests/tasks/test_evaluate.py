"""One failing candidate is on the leaderboard with its reason; the others are ranked; all failing is one clear
error."""

import pytest

from families.diagnosis.family import Diagnosis
from medmaas.family import Evaluation, FittedCandidate
from medmaas.stats import Estimate
from tasks.evaluate import CandidateFailure, CandidateResult, NoCandidateTrained, leaderboard, rank


@pytest.fixture(scope="module")
def family(write_params) -> Diagnosis:
    from families import load_params

    params = load_params(write_params())
    return Diagnosis(params.families["diagnosis"], params.project.seed)


def result(family, name: str, auc: float, tuning: float | None = None) -> CandidateResult:
    """A candidate whose training-side score is ``tuning`` (default: the same as its held-out figure)."""
    metrics = {m.name: Estimate(auc, auc - 0.1, auc) for m in family.metrics}
    return CandidateResult(FittedCandidate(name, None, {}, auc if tuning is None else tuning, 1.0), Evaluation(metrics))


def test_failures_are_kept_apart_and_shown_with_their_reason(family):
    failure = CandidateFailure.of(
        "random_forest", "train", ValueError("The classes, [0, 1], are not in class_weight\nlong traceback text")
    )
    ranked, failed = rank(family, [result(family, "tree", 0.8), failure, result(family, "lr", 0.9)])
    assert [r.fitted.candidate for r in ranked] == ["lr", "tree"] and failed == [failure]
    board = leaderboard(family, ranked, failed)
    assert board["candidate"].tolist() == ["lr", "tree", "random_forest"]
    assert board.loc[2, "failed"] == "train: ValueError: The classes, [0, 1], are not in class_weight"  # one line


def test_a_variant_follows_its_candidate_and_a_point_figure_has_no_interval(family):
    # given a candidate scored in a second form (as the int8 network is beside its float32 one)
    served = result(family, "net", 0.9)
    served.evaluation.variants = {"float32, not served": {m.name: Estimate(0.91, 0.91, 0.91) for m in family.metrics}}
    board = leaderboard(family, [served, result(family, "lr", 0.8)])
    # then it has a row of its own right after, with no fit time and one number per metric
    assert board["candidate"].tolist() == ["net", "net (float32, not served)", "lr"]
    assert (
        board.loc[1, "roc_auc"] == "0.910"
        and board.loc[0, "roc_auc"] == "0.900 (0.800-0.900)"
        and board.loc[1, "fit_s"] == ""
    )


def test_every_candidate_failing_is_one_error_listing_each():
    failures = [CandidateFailure.of(name, "train", RuntimeError(f"{name} broke")) for name in ("a", "b")]
    with pytest.raises(
        NoCandidateTrained, match=r"every candidate failed(.|\n)*a \(train\): RuntimeError: a broke(.|\n)*b \(train\)"
    ):
        rank(None, failures)
