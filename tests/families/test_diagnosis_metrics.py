"""The fast numpy metrics used in the bootstrap agree with scikit-learn's definitions."""

import numpy as np
import pytest
from sklearn import metrics as skm

from families.diagnosis.metrics import (
    binary_metric_fns,
    expected_calibration_error,
    logistic_recalibration,
    multiclass_metric_fns,
)
from medmaas.stats import bootstrap_estimates


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(200) < 0.35
    s = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    called = s >= 0.5
    fns = binary_metric_fns(0.5)
    expected = {
        "roc_auc": skm.roc_auc_score(y, s),
        "accuracy": skm.accuracy_score(y, called),
        "balanced_accuracy": skm.balanced_accuracy_score(y, called),
        "sensitivity": skm.recall_score(y, called),
        "specificity": skm.recall_score(~y, ~called),
        "f1": skm.f1_score(y, called),
        "brier": skm.brier_score_loss(y, s),
    }
    for name, value in expected.items():
        assert fns[name](y, s) == pytest.approx(value), name


@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 300)
    p = rng.dirichlet(np.ones(3), 300) + np.eye(3)[y] * 0.5
    p /= p.sum(axis=1, keepdims=True)
    predicted = p.argmax(axis=1)
    matrix = skm.confusion_matrix(y, predicted)
    specificities = [
        (matrix.sum() - matrix[k].sum() - matrix[:, k].sum() + matrix[k, k]) / (matrix.sum() - matrix[k].sum())
        for k in range(3)
    ]
    fns = multiclass_metric_fns(3)
    expected = {
        "roc_auc": skm.roc_auc_score(y, p, multi_class="ovr"),
        "accuracy": skm.accuracy_score(y, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(y, predicted),
        "sensitivity": skm.recall_score(y, predicted, average="macro"),
        "specificity": np.mean(specificities),
        "f1": skm.f1_score(y, predicted, average="macro"),
        "brier": np.mean(np.sum((p - np.eye(3)[y]) ** 2, axis=1)),
    }
    for name, value in expected.items():
        assert fns[name](y, p) == pytest.approx(value), name


def test_bootstrap_interval_brackets_the_estimate_and_narrows_with_data():
    rng = np.random.default_rng(3)

    def width(n):
        y = rng.random(n) < 0.5
        s = np.clip(y * 0.4 + rng.random(n) * 0.6, 0, 1)
        est = bootstrap_estimates({"auc": skm.roc_auc_score}, (y, s), 300, seed=0, strata=y.astype(int))["auc"]
        assert est.low <= est.value <= est.high
        return est.high - est.low

    assert width(2000) < width(100) / 2


def test_calibration_of_calibrated_and_overconfident_probabilities():
    # given outcomes drawn from the predicted probabilities themselves
    rng = np.random.default_rng(0)
    truth_p = rng.uniform(0.02, 0.98, 20_000)
    hit = rng.random(truth_p.size) < truth_p
    # then a calibrated model has ECE near 0, intercept near 0, slope near 1
    assert expected_calibration_error(hit, truth_p) < 0.02
    intercept, slope = logistic_recalibration(hit, truth_p)
    assert abs(intercept) < 0.05 and abs(slope - 1) < 0.05
    # and one twice as confident on the logit scale has slope near 1/2 and a large ECE
    logit = np.log(truth_p / (1 - truth_p))
    overconfident = 1 / (1 + np.exp(-2 * logit))
    assert abs(logistic_recalibration(hit, overconfident)[1] - 0.5) < 0.03
    assert expected_calibration_error(hit, overconfident) > 0.05


def test_recalibration_agrees_with_scikit_learns_unpenalised_logistic_fit():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 0.95, 400)
    hit = rng.random(p.size) < p**1.5
    logit = np.log(p / (1 - p))
    reference = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(logit[:, None], hit)
    intercept, slope = logistic_recalibration(hit, p)
    assert intercept == pytest.approx(reference.intercept_[0], abs=1e-3) and slope == pytest.approx(
        reference.coef_[0, 0], abs=1e-3
    )
    assert np.isnan(
        logistic_recalibration(np.array([0, 0, 1, 1]), np.array([0.0, 0.0, 1.0, 1.0]))[1]
    )  # separated: undefined
