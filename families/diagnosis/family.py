"""The diagnosis family: its data contract, stratified split, classifiers and metrics (described in __init__.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import CalibrationDisplay
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_sample_weight

from blocks.plots import png
from blocks.tabular import TABLE, TabularFamily, final_estimator_params, snake_case
from families.diagnosis.metrics import binary_metric_fns, multiclass_metric_fns
from families.diagnosis.settings import BUNDLED_DATA, DiagnosisSettings
from medmaas.family import Evaluation, Split, Tables
from medmaas.stats import MetricSpec, bootstrap_estimates


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
