"""Diagnosis: classify a patient from clinical and lab features (seeds 000, 004).

Bundled data: the Wisconsin diagnostic breast cancer set shipped in scikit-learn (569 patients,
30 nuclear features). Any CSV with one row per patient, an id, a label and numeric features
trains through the same path (binary or multiclass): point ``diagnosis.data`` at it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, PositiveFloat, PositiveInt, model_validator
from sklearn import metrics as skm
from sklearn.calibration import CalibratedClassifierCV, CalibrationDisplay
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.class_weight import compute_sample_weight

from families.base import Evaluation, MetricSpec, Split, Tables
from families.tabular import TABLE, BoostingGrid, CandidateGrids, Grid, SplitSettings, TabularData, TabularFamily, final_estimator_params, png, scaled, snake_case, unscaled
from medmaas.settings import FamilySettings
from medmaas.stats import bootstrap_estimates

BUNDLED_DATA = Path("data/raw/wdbc.csv")


class ClassificationData(TabularData):
    path: Path = BUNDLED_DATA
    label_column: str = "diagnosis"
    labels: list[str] = Field(default_factory=lambda: ["malignant", "benign"], min_length=2)
    positive_label: str | None = "malignant"

    @property
    def outcome_column(self) -> str:
        return self.label_column

    @model_validator(mode="after")
    def _positive_label_is_a_label(self) -> ClassificationData:
        if self.positive_label is not None and self.positive_label not in self.labels:
            raise ValueError(f"positive_label {self.positive_label!r} is not one of labels {self.labels}")
        if len(self.labels) == 2 and self.positive_label is None:
            raise ValueError("a binary task needs positive_label (the class sensitivity is measured on)")
        return self


class LogisticRegressionGrid(Grid):
    C: list[PositiveFloat] = [0.01, 0.1, 1.0, 10.0]

    def pipeline(self, seed: int) -> Pipeline:
        return scaled(LogisticRegression(class_weight="balanced", max_iter=5000, random_state=seed))


class LinearSvmGrid(Grid):
    param_prefix = "model__estimator__"  # SVC inside CalibratedClassifierCV, for probabilities
    C: list[PositiveFloat] = [0.01, 0.1, 1.0]

    def pipeline(self, seed: int) -> Pipeline:
        return scaled(CalibratedClassifierCV(SVC(kernel="linear", class_weight="balanced", random_state=seed), ensemble=False))


class RbfSvmGrid(Grid):
    param_prefix = "model__estimator__"
    C: list[PositiveFloat] = [0.1, 1.0, 10.0]
    gamma: list[PositiveFloat | Literal["scale"]] = ["scale", 0.01]

    def pipeline(self, seed: int) -> Pipeline:
        return scaled(CalibratedClassifierCV(SVC(kernel="rbf", class_weight="balanced", random_state=seed), ensemble=False))


class DecisionTreeGrid(Grid):
    max_depth: list[PositiveInt | None] = [3, 5, None]
    min_samples_leaf: list[PositiveInt] = [1, 5]

    def pipeline(self, seed: int) -> Pipeline:
        return unscaled(DecisionTreeClassifier(class_weight="balanced", random_state=seed))


class RandomForestGrid(Grid):
    n_estimators: list[PositiveInt] = [300]
    max_depth: list[PositiveInt | None] = [None, 8]
    max_features: list[PositiveFloat | Literal["sqrt", "log2"]] = ["sqrt"]

    def pipeline(self, seed: int) -> Pipeline:
        return unscaled(RandomForestClassifier(class_weight="balanced", n_jobs=1, random_state=seed))


class GradientBoostingGrid(BoostingGrid):
    """Balanced through sample weights (the model has no class_weight)."""

    def pipeline(self, seed: int) -> Pipeline:
        return unscaled(GradientBoostingClassifier(random_state=seed))


class ClassifierGrids(CandidateGrids):
    logistic_regression: LogisticRegressionGrid | None = None
    linear_svm: LinearSvmGrid | None = None
    rbf_svm: RbfSvmGrid | None = None
    decision_tree: DecisionTreeGrid | None = None
    random_forest: RandomForestGrid | None = None
    gradient_boosting: GradientBoostingGrid | None = None


class DiagnosisSettings(FamilySettings):
    data: ClassificationData = ClassificationData()
    split: SplitSettings = SplitSettings()
    candidates: ClassifierGrids
    decision_threshold: float = Field(0.5, gt=0.0, lt=1.0, description="on the positive class probability (binary only)")


# Metrics from confusion counts in numpy: the bootstrap calls them thousands of times, and
# sklearn's input validation costs ~1 ms a call. tests/test_diagnosis_metrics.py holds them to sklearn.
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


class Diagnosis(TabularFamily):
    name = "diagnosis"
    Settings = DiagnosisSettings
    primary_metric = "roc_auc"
    metrics = (
        MetricSpec("roc_auc", "max", "area under the ROC curve (one-vs-rest macro when multiclass)"),
        MetricSpec("accuracy", "max", "share of patients classified correctly"),
        MetricSpec("balanced_accuracy", "max", "mean recall over classes"),
        MetricSpec("sensitivity", "max", "recall of the positive class (macro recall when multiclass)"),
        MetricSpec("specificity", "max", "recall of the negative class (macro when multiclass)"),
        MetricSpec("f1", "max", "F1 of the positive class (macro when multiclass)"),
        MetricSpec("brier", "min", "mean squared error of the predicted probabilities"),
    )
    intended_use = (
        "Decision support: a second reader that estimates the probability of each diagnosis from "
        "the declared clinical or laboratory features, for review by a clinician."
    )
    out_of_scope = (
        "Autonomous diagnosis; populations, devices or feature definitions other than those of the "
        "training data; patients with features outside the validated ranges."
    )
    settings: DiagnosisSettings

    # --- data ------------------------------------------------------------------------------
    bundled_data = BUNDLED_DATA

    @staticmethod
    def export_bundled(path: Path) -> Path:
        """Write scikit-learn's WDBC (569 x 30) as a CSV with a pseudonymous patient id."""
        from sklearn.datasets import load_breast_cancer

        bunch = load_breast_cancer(as_frame=True)
        frame = bunch.data.rename(columns=snake_case)
        frame.insert(0, "patient_id", [f"P{i:05d}" for i in range(1, len(frame) + 1)])
        frame["diagnosis"] = bunch.target.map(dict(enumerate(bunch.target_names)))
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        return path

    def outcome_dtype(self) -> dict[str, Any]:
        return {self.settings.data.label_column: str}

    def outcome_expectations(self) -> list:
        import great_expectations.expectations as gxe

        data = self.settings.data
        return [gxe.ExpectColumnValuesToBeInSet(column=data.label_column, value_set=data.labels)]

    def data_summary(self, tables: Tables) -> dict[str, Any]:
        frame = tables[TABLE]
        features = self.feature_columns(frame)
        return {
            "patients": len(frame),
            "features": len(features),
            "class_counts": frame[self.settings.data.label_column].value_counts().to_dict(),
            "missing_fraction": round(float(frame[features].isna().mean().mean()), 4),
        }

    # --- split and candidates ---------------------------------------------------------------
    def split(self, tables: Tables) -> Split:
        frame = tables[TABLE]
        data = self.settings.data
        train, test = train_test_split(
            frame, test_size=self.settings.split.test_fraction, stratify=frame[data.label_column], random_state=self.seed
        )
        description = (
            f"One row per patient (unique {data.id_column!r}, enforced by the gate), so a patient is in exactly one "
            f"side. Stratified by {data.label_column!r}, {1 - self.settings.split.test_fraction:.0%}/"
            f"{self.settings.split.test_fraction:.0%}, seed {self.seed}. Hyperparameters tuned by "
            f"{self.settings.split.cv_folds}-fold stratified CV inside the training side only."
        )
        return Split(self.features_and_outcome(train), self.features_and_outcome(test), description, {"train": len(train), "test": len(test)})

    def tuning_folds(self, outcome: pd.Series):
        return StratifiedKFold(self.settings.split.cv_folds, shuffle=True, random_state=self.seed)

    def tuning_scoring(self, outcome: pd.Series) -> str:
        return "roc_auc_ovr" if outcome.nunique() > 2 else "roc_auc"  # symmetric, so no positive class needed

    def fit_params(self, pipeline: Pipeline, outcome: pd.Series) -> dict[str, Any]:
        """Models without class_weight get the same balancing as sample weights."""
        if "class_weight" in final_estimator_params(pipeline):
            return {}
        return {"model__sample_weight": compute_sample_weight("balanced", outcome)}

    # --- evaluation -------------------------------------------------------------------------
    def evaluate(self, model: Any, test: Any) -> Evaluation:
        features, labels = test
        classes = list(model.classes_)
        proba = model.predict_proba(features)
        truth = np.array([classes.index(v) for v in labels])
        if len(classes) == 2:
            metric_fns, arrays = self._binary_metrics(classes, truth, proba)
        else:
            metric_fns, arrays = self._multiclass_metrics(classes, truth, proba)
        estimates = bootstrap_estimates(metric_fns, arrays, self.settings.bootstrap_resamples, self.seed, strata=truth)
        predicted = self.predict_labels(model, proba)
        return Evaluation(metrics=estimates, figures=self._figures(classes, labels, proba, predicted))

    def predict_labels(self, model: Any, proba: np.ndarray) -> np.ndarray:
        classes = np.asarray(model.classes_)
        if len(classes) == 2:
            positive = list(classes).index(self.settings.data.positive_label)
            return np.where(proba[:, positive] >= self.settings.decision_threshold, classes[positive], classes[1 - positive])
        return classes[proba.argmax(axis=1)]

    def _binary_metrics(self, classes, truth, proba):
        positive = classes.index(self.settings.data.positive_label)
        return binary_metric_fns(self.settings.decision_threshold), (truth == positive, proba[:, positive])

    @staticmethod
    def _multiclass_metrics(classes, truth, proba):
        return multiclass_metric_fns(len(classes)), (truth, proba)

    def _figures(self, classes, labels, proba, predicted) -> dict[str, bytes]:
        import matplotlib.pyplot as plt

        def one_curve_per_class(draw, title: str) -> bytes:
            fig, ax = plt.subplots(figsize=(5, 5))
            for i, cls in enumerate(classes):
                if len(classes) == 2 and cls != self.settings.data.positive_label:
                    continue
                draw(labels == cls, proba[:, i], name=str(cls), ax=ax)
            ax.set_title(title)
            return png(fig)

        def calibration(truth, score, name, ax):
            CalibrationDisplay.from_predictions(truth, score, n_bins=8, strategy="quantile", name=name, ax=ax)

        fig, ax = plt.subplots(figsize=(5, 4))
        skm.ConfusionMatrixDisplay.from_predictions(labels, predicted, labels=classes, ax=ax, colorbar=False)
        ax.set_title("Confusion matrix (held-out)")
        return {
            "roc.png": one_curve_per_class(skm.RocCurveDisplay.from_predictions, "ROC on held-out patients"),
            "calibration.png": one_curve_per_class(calibration, "Calibration on held-out patients"),
            "confusion_matrix.png": png(fig),
        }

    def limitations(self) -> list[str]:
        extra = []
        if self.settings.data.path == BUNDLED_DATA:
            extra.append(
                "WDBC: 569 fine-needle aspirates from one centre (Wisconsin, early 1990s); features are computed "
                "from digitised images with that centre's protocol, so other image pipelines shift them."
            )
        return [*super().limitations(), *extra]

    def predict_frame(self, model: Any, frame: pd.DataFrame) -> pd.DataFrame:
        expected = list(model.feature_names_in_)
        missing = [c for c in expected if c not in frame.columns]
        if missing:
            raise ValueError(f"input lacks feature columns the model needs: {', '.join(missing)}")
        proba = model.predict_proba(frame[expected])
        out = pd.DataFrame(proba, columns=[f"probability_{c}" for c in model.classes_], index=frame.index)
        out["predicted"] = self.predict_labels(model, proba)
        return out

FAMILY = Diagnosis
