"""What a user declares for the diagnosis family (its params.yaml block) and the candidates' grids."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, PositiveFloat, PositiveInt, model_validator
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier

from blocks.tabular import BoostingGrid, Grid, Scalar, SplitSettings, TabularData, scaled, unscaled
from medmaas.settings import CandidateGrids, FamilySettings

BUNDLED_DATA = Path("data/raw/wdbc.csv")


class ClassificationData(TabularData):
    """A label column of any coding: ``labels`` as the file holds them, or ``label_mapping`` from codes to named classes."""

    path: Path
    label_column: str
    labels: list[Scalar] | None = Field(None, min_length=2, description="the classes, as read from the file (numbers, booleans or text)")
    label_mapping: dict[str, list[Scalar]] | None = Field(None, description="class name -> the codes that mean it, e.g. {absent: [0], present: [1, 2]}")
    positive_label: Scalar | None = Field(None, description="binary only (required there): the class sensitivity is measured on")

    @property
    def outcome_column(self) -> str:
        return self.label_column

    @property
    def classes(self) -> list:
        return list(self.label_mapping) if self.label_mapping else list(self.labels or [])

    @property
    def codes(self) -> list:
        """The values the label column may hold."""
        return [c for codes in self.label_mapping.values() for c in codes] if self.label_mapping else list(self.labels or [])

    def label_of(self, values: pd.Series) -> pd.Series:
        """The class of each row (codes through ``label_mapping``; declared labels as declared, so 1.0 reads as 1)."""
        lookup = {code: label for label, codes in self.label_mapping.items() for code in codes} if self.label_mapping else {v: v for v in self.labels}
        return values.map(lambda v: lookup.get(v, v)).astype(object).infer_objects()  # ints stay ints, so sklearn sees classes

    @model_validator(mode="after")
    def _classes_are_declared_once(self) -> ClassificationData:
        if (self.labels is None) == (self.label_mapping is None):
            raise ValueError("declare the classes once: labels (as the file holds them) or label_mapping (class -> codes)")
        if self.label_mapping is not None:
            if len(self.label_mapping) < 2:
                raise ValueError("label_mapping needs at least two classes")
            if len(self.codes) != len(set(map(repr, self.codes))):
                raise ValueError("label_mapping gives one code to two classes")
        if len(self.classes) == 2:
            if self.positive_label is None:
                raise ValueError(f"a binary task needs positive_label (the class sensitivity is measured on), one of {self.classes}")
            if self.positive_label not in self.classes:
                raise ValueError(f"positive_label {self.positive_label!r} is not one of the classes {self.classes}")
        elif self.positive_label is not None:
            raise ValueError(f"positive_label is for a binary task; this one has {len(self.classes)} classes (metrics are macro averages)")
        return self


class LogisticRegressionGrid(Grid):
    C: list[PositiveFloat] = [0.01, 0.1, 1.0, 10.0]

    def pipeline(self, seed: int) -> Pipeline:
        return scaled(LogisticRegression(class_weight="balanced", max_iter=5000, random_state=seed))


class LinearSvmGrid(Grid):
    """liblinear's linear SVM (time linear in the rows; libsvm's linear kernel is quadratic), calibrated for probabilities."""

    param_prefix = "model__estimator__"  # the SVM inside CalibratedClassifierCV
    C: list[PositiveFloat] = [0.01, 0.1, 1.0]

    def pipeline(self, seed: int) -> Pipeline:
        return scaled(CalibratedClassifierCV(LinearSVC(class_weight="balanced", random_state=seed, max_iter=20_000), ensemble=False, cv=3))


class RbfSvm(ClassifierMixin, BaseEstimator):
    """An RBF-kernel SVM: exact (libsvm) up to ``max_exact_rows`` training rows; beyond, a linear SVM on a Nystroem
    approximation of the same kernel (500 components), since the exact fit grows with the square of the rows."""

    def __init__(self, C: float = 1.0, gamma: float | str = "scale", max_exact_rows: int = 10_000, class_weight=None, random_state=None):
        self.C, self.gamma, self.max_exact_rows, self.class_weight, self.random_state = C, gamma, max_exact_rows, class_weight, random_state

    def fit(self, X, y, sample_weight=None):
        X = np.asarray(X, dtype=float)
        if len(X) <= self.max_exact_rows:
            self.model_ = SVC(kernel="rbf", C=self.C, gamma=self.gamma, class_weight=self.class_weight, random_state=self.random_state)
        else:
            gamma = 1.0 / (X.shape[1] * X.var()) if self.gamma == "scale" else self.gamma
            self.model_ = make_pipeline(Nystroem(gamma=gamma, n_components=500, random_state=self.random_state),
                                        LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.random_state, max_iter=20_000))
        self.model_.fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def decision_function(self, X):
        return self.model_.decision_function(np.asarray(X, dtype=float))

    def predict(self, X):
        return self.model_.predict(np.asarray(X, dtype=float))


class RbfSvmGrid(Grid):
    param_prefix = "model__estimator__"
    C: list[PositiveFloat] = [0.1, 1.0, 10.0]
    gamma: list[PositiveFloat | Literal["scale"]] = ["scale", 0.01]

    def pipeline(self, seed: int) -> Pipeline:
        return scaled(CalibratedClassifierCV(RbfSvm(class_weight="balanced", random_state=seed), ensemble=False, cv=3))


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
    data: ClassificationData
    split: SplitSettings = SplitSettings()
    candidates: ClassifierGrids = Field(default_factory=ClassifierGrids.every_default, description="left out: every classifier with its default grid")
    decision_threshold: float = Field(0.5, gt=0.0, lt=1.0, description="on the positive class probability (binary only)")


# Metrics from confusion counts in numpy: the bootstrap calls them thousands of times, and
