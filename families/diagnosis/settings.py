"""What a user declares for the diagnosis family (its params.yaml block) and the candidates' grids."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from blocks.tabular import BoostingGrid, Grid, SplitSettings, TabularData, scaled, unscaled
from medmaas.settings import CandidateGrids, FamilySettings

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
