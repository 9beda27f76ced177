"""Classification metrics as functions of (truth, scores), so the bootstrap can resample them."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from blocks.calibration import expected_calibration_error, top_label_ece


def logistic_recalibration(hit: np.ndarray, probability: np.ndarray, iterations: int = 25) -> tuple[float, float]:
    """Intercept and slope of logit P(hit) = a + b logit(p) (Cox 1958): 0 and 1 when calibrated; b < 1 means overfit.

    Newton's method on the two parameters: the bootstrap calls this thousands of times, where a scikit-learn fit costs
    milliseconds each (tests/families/test_diagnosis_metrics.py holds it to scikit-learn's unpenalised fit).
    """
    y = np.asarray(hit, dtype=float)
    if y.min() == y.max():
        return float("nan"), float("nan")
    clipped = np.clip(probability, 1e-3, 1 - 1e-3)  # a tree's 0 and 1 would make logit(p) infinite
    design = np.column_stack([np.ones_like(y), np.log(clipped / (1 - clipped))])
    beta = np.array([0.0, 1.0])
    for _ in range(iterations):
        fitted = 1 / (1 + np.exp(-np.clip(design @ beta, -30, 30)))
        weight = fitted * (1 - fitted) + 1e-9
        step = np.linalg.lstsq(design.T @ (design * weight[:, None]), design.T @ (y - fitted), rcond=None)[0]
        beta += step
        if np.abs(step).max() < 1e-8:
            return float(beta[0]), float(beta[1])
    return float("nan"), float("nan")  # no finite fit (the classes are separated): undefined, not huge


def binary_metric_fns(threshold: float) -> dict:
    def counts(y: np.ndarray, s: np.ndarray):
        called = s >= threshold
        return np.sum(called & y), np.sum(~called & ~y), np.sum(called & ~y), np.sum(~called & y)

    def sensitivity(y, s):
        tp, _, _, fn = counts(y, s)
        return tp / max(tp + fn, 1)

    def specificity(y, s):
        _, tn, fp, _ = counts(y, s)
        return tn / max(tn + fp, 1)

    def f1(y, s):
        tp, _, fp, fn = counts(y, s)
        return 2 * tp / max(2 * tp + fp + fn, 1)

    return {
        "roc_auc": lambda y, s: skm.roc_auc_score(y, s),
        "accuracy": lambda y, s: float(np.mean((s >= threshold) == y)),
        "balanced_accuracy": lambda y, s: (sensitivity(y, s) + specificity(y, s)) / 2,
        "sensitivity": sensitivity,
        "specificity": specificity,
        "f1": f1,
        "brier": lambda y, s: float(np.mean((s - y) ** 2)),
        "ece": lambda y, s: expected_calibration_error(y, s),
        "calibration_intercept": lambda y, s: logistic_recalibration(y, s)[0],
        "calibration_slope": lambda y, s: logistic_recalibration(y, s)[
            1
        ],  # a second fit: 2-parameter Newton costs ~0.1 ms
    }


def multiclass_metric_fns(n_classes: int) -> dict:
    labels = list(range(n_classes))

    def confusion(y: np.ndarray, p: np.ndarray) -> np.ndarray:
        return np.bincount(y * n_classes + p.argmax(axis=1), minlength=n_classes**2).reshape(n_classes, n_classes)

    def recalls(y, p):
        matrix = confusion(y, p)
        return np.diag(matrix) / np.maximum(matrix.sum(axis=1), 1)

    def specificity(y, p):
        matrix = confusion(y, p)
        false_positives = matrix.sum(axis=0) - np.diag(matrix)
        negatives = matrix.sum() - matrix.sum(axis=1)
        return float(np.mean((negatives - false_positives) / np.maximum(negatives, 1)))

    def f1(y, p):
        matrix = confusion(y, p)
        true_positives = np.diag(matrix)
        return float(np.mean(2 * true_positives / np.maximum(matrix.sum(axis=0) + matrix.sum(axis=1), 1)))

    def brier(y, p):
        return float(np.mean(np.sum((p - np.eye(n_classes)[y]) ** 2, axis=1)))

    return {
        "roc_auc": lambda y, p: skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=labels),
        "accuracy": lambda y, p: float(np.mean(p.argmax(axis=1) == y)),
        "balanced_accuracy": lambda y, p: float(np.mean(recalls(y, p))),
        "sensitivity": lambda y, p: float(np.mean(recalls(y, p))),
        "specificity": specificity,
        "f1": f1,
        "brier": brier,
        # top-label ECE; recalibration over every class's one-vs-rest probabilities pooled
        "ece": top_label_ece,
        "calibration_intercept": lambda y, p: logistic_recalibration(np.eye(n_classes)[y].ravel(), p.ravel())[0],
        "calibration_slope": lambda y, p: logistic_recalibration(np.eye(n_classes)[y].ravel(), p.ravel())[1],
    }
