"""Classification metrics as functions of (truth, scores), so the bootstrap can resample them."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


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
    }
