"""The diagnosis candidates: each one's hyperparameter grid (its params.yaml entry) and the pipeline it builds."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveFloat, PositiveInt
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.decomposition import PCA
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier

from blocks.autoencoder import DenoisingAutoencoder
from blocks.encoding import ColumnEncoder
from blocks.tabular import BoostingGrid, Grid, scaled, unscaled
from medmaas.settings import CandidateGrids


class LogisticRegressionGrid(Grid):
    C: list[PositiveFloat] = [0.01, 0.1, 1.0, 10.0]

    def pipeline(self, seed: int) -> Pipeline:
        return scaled(LogisticRegression(class_weight="balanced", max_iter=5000, random_state=seed))


class LinearSvmGrid(Grid):
    """liblinear's linear SVM (time linear in the rows; libsvm's linear kernel is quadratic), calibrated for
    probabilities."""

    param_prefix = "model__estimator__"  # the SVM inside CalibratedClassifierCV
    C: list[PositiveFloat] = [0.01, 0.1, 1.0]

    def pipeline(self, seed: int) -> Pipeline:
        return scaled(
            CalibratedClassifierCV(
                LinearSVC(class_weight="balanced", random_state=seed, max_iter=20_000), ensemble=False, cv=3
            )
        )


class RbfSvm(ClassifierMixin, BaseEstimator):
    """An RBF-kernel SVM: exact (libsvm) up to ``max_exact_rows`` training rows; beyond, a linear SVM on a Nystroem
    approximation of the same kernel (500 components), since the exact fit grows with the square of the rows."""

    def __init__(
        self,
        C: float = 1.0,
        gamma: float | str = "scale",
        max_exact_rows: int = 10_000,
        class_weight=None,
        random_state=None,
    ):
        self.C, self.gamma, self.max_exact_rows, self.class_weight, self.random_state = (
            C,
            gamma,
            max_exact_rows,
            class_weight,
            random_state,
        )

    def fit(self, X, y, sample_weight=None):
        X = np.asarray(X, dtype=float)
        if len(X) <= self.max_exact_rows:
            self.model_ = SVC(
                kernel="rbf", C=self.C, gamma=self.gamma, class_weight=self.class_weight, random_state=self.random_state
            )
        else:
            gamma = 1.0 / (X.shape[1] * X.var()) if self.gamma == "scale" else self.gamma
            self.model_ = make_pipeline(
                Nystroem(gamma=gamma, n_components=500, random_state=self.random_state),
                LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.random_state, max_iter=20_000),
            )
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


class RepresentationGrid(Grid):
    """A representation learnt from the features (``width`` numbers per patient), then logistic regression on it."""

    width: PositiveInt = 8
    C: list[PositiveFloat] = [0.1, 1.0]

    def representation(self, seed: int) -> Any:
        raise NotImplementedError

    def build(self, seed: int) -> tuple[Pipeline, dict[str, list[Any]]]:
        steps = [
            ("prepare", ColumnEncoder(scale=True)),
            ("represent", self.representation(seed)),
            ("model", LogisticRegression(class_weight="balanced", max_iter=5000, random_state=seed)),
        ]
        return Pipeline(steps), {"model__C": list(self.C)}


class PcaLogisticGrid(RepresentationGrid):
    def representation(self, seed: int) -> Any:
        return PCA(self.width, random_state=seed)


class AutoencoderLogisticGrid(RepresentationGrid):
    """A denoising autoencoder's code (blocks/autoencoder.py; Deep Patient's representation step)."""

    hidden: PositiveInt = 64

    def representation(self, seed: int) -> Any:
        return DenoisingAutoencoder(code=self.width, hidden=self.hidden, random_state=seed)


class ClassifierGrids(CandidateGrids):
    logistic_regression: LogisticRegressionGrid | None = None
    linear_svm: LinearSvmGrid | None = None
    rbf_svm: RbfSvmGrid | None = None
    decision_tree: DecisionTreeGrid | None = None
    random_forest: RandomForestGrid | None = None
    gradient_boosting: GradientBoostingGrid | None = None
    pca_logistic_regression: PcaLogisticGrid | None = Field(
        None, description="PCA to `width` components, then logistic regression (beside the autoencoder)"
    )
    dae_logistic_regression: AutoencoderLogisticGrid | None = Field(
        None, description="a denoising autoencoder's `width`-number code, then logistic regression"
    )

    opt_in = ("pca_logistic_regression", "dae_logistic_regression")  # benchmarks/label_efficiency.py measured no gain
