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

from blocks.calibration import ECE_FLOOR, ece_if_calibrated
from blocks.plots import png
from blocks.tabular import TABLE, TabularFamily, final_estimator_params, snake_case
from families.diagnosis.examples import export_example_tables
from families.diagnosis.metrics import binary_metric_fns, multiclass_metric_fns
from families.diagnosis.settings import BUNDLED_DATA, DiagnosisSettings
from medmaas.family import Evaluation, Split, Suite, Tables
from medmaas.stats import Estimate, MetricSpec, bootstrap_estimates

CLASS_COUNTS = "class_counts"


class Diagnosis(TabularFamily):
    name = "diagnosis"
    Settings = DiagnosisSettings
    primary_metric = "roc_auc"
    experiment_kind = "classification"
    metrics = (
        MetricSpec("roc_auc", "max", "area under the ROC curve (one-vs-rest macro when multiclass)"),
        MetricSpec("accuracy", "max", "share of patients classified correctly"),
        MetricSpec("balanced_accuracy", "max", "mean recall over classes"),
        MetricSpec("sensitivity", "max", "recall of the positive class (macro recall when multiclass)"),
        MetricSpec("specificity", "max", "recall of the negative class (macro when multiclass)"),
        MetricSpec("f1", "max", "F1 of the positive class (macro when multiclass)"),
        MetricSpec("brier", "min", "mean squared error of the predicted probabilities"),
        MetricSpec(
            "ece",
            "min",
            "expected calibration error: mean gap between predicted and observed rates, 10 equal-count bins",
        ),
        MetricSpec("ece_if_calibrated", "min", ECE_FLOOR),
        MetricSpec(
            "calibration_intercept",
            "target",
            "intercept a of logit P = a + b logit(p); one-vs-rest pooled when multiclass",
            target=0.0,
        ),
        MetricSpec(
            "calibration_slope", "target", "slope b of logit P = a + b logit(p); below 1: too confident", target=1.0
        ),
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
        """Write scikit-learn's WDBC (569 x 30) with a pseudonymous patient id, and two mixed-type tables beside it."""
        from sklearn.datasets import load_breast_cancer

        bunch = load_breast_cancer(as_frame=True)
        frame = bunch.data.rename(columns=snake_case)
        frame.insert(0, "patient_id", [f"P{i:05d}" for i in range(1, len(frame) + 1)])
        frame["diagnosis"] = bunch.target.map(dict(enumerate(bunch.target_names)))
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        export_example_tables(path.parent)
        return path

    def load(self) -> Tables:
        """The patients as they are, and the rows per class (no ids): a class too small to cross-validate stops at the
        gate."""
        tables = super().load()
        data = self.settings.data
        if data.label_column in tables[TABLE].columns:
            counts = (
                data.label_of(tables[TABLE][data.label_column].dropna())
                .value_counts()
                .reindex(data.classes, fill_value=0)
            )
            tables[CLASS_COUNTS] = pd.DataFrame({"class": [str(c) for c in counts.index], "rows": counts.to_numpy()})
        return tables

    def rows_needed_per_class(self) -> int:
        """Enough for every training fold to hold the class after the held-out share is taken, and one held out."""
        split = self.settings.split
        return int(np.ceil(split.cv_folds / (1 - split.test_fraction))) + 1

    def outcome_expectations(self) -> Suite:
        import great_expectations.expectations as gxe

        data = self.settings.data
        return [
            gxe.ExpectColumnValuesToBeInSet(
                column=data.label_column,
                value_set=data.codes,
                description="every label must be one of the declared " + ("codes" if data.label_mapping else "labels"),
            )
        ]

    def expectations(self, tables: Tables) -> dict[str, Suite]:
        import great_expectations.expectations as gxe

        suites = super().expectations(tables)
        if CLASS_COUNTS in tables:
            needed = self.rows_needed_per_class()
            counts = tables[CLASS_COUNTS]
            enough = [c for c, n in zip(counts["class"], counts["rows"]) if n >= needed]
            suites[CLASS_COUNTS] = [
                gxe.ExpectColumnValuesToBeInSet(
                    column="class",
                    value_set=enough or ["-"],
                    description=f"each class needs at least {needed} rows for {self.settings.split.cv_folds}-fold CV "
                    "after the held-out "
                    f"share; merge the listed classes (label_mapping) or lower split.cv_folds",
                )
            ]
        return suites

    def features_and_outcome(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        features, outcome = super().features_and_outcome(frame)
        return features, self.settings.data.label_of(outcome)

    def data_summary(self, tables: Tables) -> dict[str, Any]:
        frame = tables[TABLE]
        features = self.feature_columns(frame)
        return {
            "patients": len(frame),
            "features": len(features),
            "class_counts": {
                str(k): int(v)
                for k, v in self.settings.data.label_of(frame[self.settings.data.label_column]).value_counts().items()
            },
            "missing_fraction": round(float(frame[features].isna().mean().mean()), 4),
        }

    # --- split and candidates ---------------------------------------------------------------
    def split(self, tables: Tables) -> Split:
        frame = tables[TABLE]
        data = self.settings.data
        train, test = train_test_split(
            frame,
            test_size=self.settings.split.test_fraction,
            stratify=data.label_of(frame[data.label_column]),
            random_state=self.seed,
        )
        description = (
            f"{self.one_row_per_patient()} Stratified by {data.label_column!r}, "
            f"{1 - self.settings.split.test_fraction:.0%}/"
            f"{self.settings.split.test_fraction:.0%}, seed {self.seed}. Hyperparameters tuned by "
            f"{self.settings.split.cv_folds}-fold stratified CV inside the training side only."
        )
        return Split(
            self.features_and_outcome(train),
            self.features_and_outcome(test),
            description,
            {"train": len(train), "test": len(test)},
        )

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
    def held_out(self, model: Any, test: Any, figures: bool = True) -> Evaluation:
        features, labels = test
        classes = list(model.classes_)
        proba = model.predict_proba(features)
        truth = np.array([classes.index(v) for v in labels])
        if len(classes) == 2:
            metric_fns, arrays = self._binary_metrics(classes, truth, proba)
        else:
            metric_fns, arrays = self._multiclass_metrics(classes, truth, proba)
        estimates = bootstrap_estimates(metric_fns, arrays, self.settings.bootstrap_resamples, self.seed, strata=truth)
        floor = ece_if_calibrated(arrays[1] if len(classes) == 2 else proba.max(axis=1), self.seed)
        estimates["ece_if_calibrated"] = Estimate(floor, floor, floor)
        drawn = self._figures(classes, labels, proba, self.predict_labels(model, proba)) if figures else {}
        return Evaluation(
            metrics=estimates, figures=drawn, rows=self.held_out_rows(metric_fns, arrays, test, strata=truth)
        )

    def informative_count(self, outcome: Any) -> tuple[int, str]:
        """A subgroup's ROC-AUC and sensitivity rest on its rarer class, not on its size."""
        counts = pd.Series(outcome).value_counts()
        return (int(counts.min()) if len(counts) > 1 else 0), "smaller class"

    def predict_labels(self, model: Any, proba: np.ndarray) -> np.ndarray:
        classes = np.asarray(model.classes_)
        if len(classes) == 2:
            positive = list(classes).index(self.settings.data.positive_label)
            return np.where(
                proba[:, positive] >= self.settings.decision_threshold, classes[positive], classes[1 - positive]
            )
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

    def monitored_prediction(self, model: Any, features: pd.DataFrame) -> pd.Series:
        """Binary: the probability of the positive class (a shift shows before labels flip); else the predicted
        class."""
        proba = model.predict_proba(features)
        classes = list(model.classes_)
        if len(classes) == 2:
            positive = self.settings.data.positive_label
            return pd.Series(proba[:, classes.index(positive)], index=features.index, name=f"probability of {positive}")
        return pd.Series(self.predict_labels(model, proba), index=features.index, name="predicted class")

    def predict_frame(self, model: Any, frame: pd.DataFrame) -> pd.DataFrame:
        proba = model.predict_proba(self.checked_features(model, frame))
        out = pd.DataFrame(proba, columns=[f"probability_{c}" for c in model.classes_], index=frame.index)
        out["predicted"] = self.predict_labels(model, proba)
        return out
