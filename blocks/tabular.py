"""What every one-row-per-patient family shares: data contract, split, tuning, serving schema.

Not a family itself (no ``FAMILY``); diagnosis (classification) and progression (regression)
build on it, each adding its outcome, candidates and metrics.
"""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, create_model
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from medmaas.family import Family, FittedCandidate, Tables
from medmaas.settings import NUMERIC_TYPES, ColumnRange, DataFile, Frozen

TABLE = "patients"


class TabularData(DataFile):
    """Where the patients are and what their feature columns mean (the declared schema)."""

    feature_columns: list[str] | Literal["all"] = "all"
    ranges: dict[str, ColumnRange] = Field(default_factory=dict, description='per feature; "*" applies to every feature')
    max_missing_fraction: float = Field(0.05, ge=0.0, le=1.0)
    min_rows: PositiveInt = 50

    @property
    def outcome_column(self) -> str:
        raise NotImplementedError

    def range_of(self, column: str) -> ColumnRange | None:
        return self.ranges.get(column) or self.ranges.get("*")


class SplitSettings(Frozen):
    test_fraction: float = Field(0.25, gt=0.05, lt=0.5)
    cv_folds: int = Field(5, ge=2, le=20)


class Grid(Frozen):
    """A candidate: its fields are the estimator's hyperparameters, each a list of values to search."""

    param_prefix: ClassVar[str] = "model__"

    def pipeline(self, seed: int) -> Pipeline:
        raise NotImplementedError

    def build(self, seed: int) -> tuple[Pipeline, dict[str, list]]:
        return self.pipeline(seed), {f"{self.param_prefix}{name}": values for name, values in self}


class BoostingGrid(Grid):
    """Gradient boosting's search space, for the classifier and the regressor alike."""

    learning_rate: list[PositiveFloat] = [0.05, 0.1]
    n_estimators: list[PositiveInt] = [100]
    max_depth: list[PositiveInt] = [2, 3]
    subsample: list[PositiveFloat] = [0.8]


def scaled(model) -> Pipeline:
    return Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler()), ("model", model)])


def unscaled(model) -> Pipeline:
    return Pipeline([("impute", SimpleImputer(strategy="median")), ("model", model)])


def final_estimator_params(pipeline: Pipeline) -> set[str]:
    model = pipeline.named_steps["model"]
    return set(getattr(model, "estimator", model).get_params())


def snake_case(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


class TabularFamily(Family):
    """One row per patient: an id, an outcome, numeric features."""

    def load(self) -> Tables:
        return {TABLE: self.settings.data.read(self.name, self.outcome_dtype())}

    def outcome_dtype(self) -> dict[str, Any]:
        return {}

    def feature_columns(self, frame: pd.DataFrame) -> list[str]:
        data = self.settings.data
        if data.feature_columns == "all":
            return [c for c in frame.columns if c not in (data.id_column, data.outcome_column)]
        return list(data.feature_columns)

    def outcome_expectations(self) -> list:
        """The family's checks on its outcome column."""
        return []

    def expectations(self, tables: Tables) -> dict[str, list]:
        import great_expectations.expectations as gxe

        data = self.settings.data
        features = self.feature_columns(tables[TABLE])
        suite = [gxe.ExpectTableRowCountToBeBetween(min_value=data.min_rows)]
        suite += [gxe.ExpectColumnToExist(column=c) for c in (data.id_column, data.outcome_column, *features)]
        suite += [
            gxe.ExpectColumnValuesToNotBeNull(column=data.id_column),
            gxe.ExpectColumnValuesToBeUnique(column=data.id_column),
            gxe.ExpectColumnValuesToNotBeNull(column=data.outcome_column),
            *self.outcome_expectations(),
        ]
        for column in features:
            suite.append(gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=NUMERIC_TYPES))
            suite.append(gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=1.0 - data.max_missing_fraction))
            if (bounds := data.range_of(column)) is not None and (bounds.min is not None or bounds.max is not None):
                suite.append(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=bounds.min, max_value=bounds.max))
        return {TABLE: suite}

    def features_and_outcome(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        return frame[self.feature_columns(frame)], frame[self.settings.data.outcome_column]

    def candidate_names(self) -> list[str]:
        return list(self.settings.candidates.enabled())

    # hooks for fit: how to cross-validate and score the tuning, what to pass to fit
    def tuning_folds(self, outcome: pd.Series):
        raise NotImplementedError

    def tuning_scoring(self, outcome: pd.Series) -> str:
        raise NotImplementedError

    def fit_params(self, pipeline: Pipeline, outcome: pd.Series) -> dict[str, Any]:
        return {}

    def fit(self, candidate: str, train: Any) -> FittedCandidate:
        features, outcome = train
        pipeline, grid = self.settings.candidates.enabled()[candidate].build(self.seed)
        search = GridSearchCV(pipeline, grid, cv=self.tuning_folds(outcome), scoring=self.tuning_scoring(outcome), n_jobs=1, refit=True)
        started = time.perf_counter()
        search.fit(features, outcome, **self.fit_params(pipeline, outcome))
        return FittedCandidate(
            candidate=candidate,
            model=search.best_estimator_,
            hyperparameters={k.split("__")[-1]: v for k, v in search.best_params_.items()},
            tuning_score=float(search.best_score_),
            fit_seconds=time.perf_counter() - started,
        )

    def serving_artifacts(self, model: Any, train: Any) -> dict[str, Any]:
        """k-means centroids of the training features as the explainer's background: no patient's own row."""
        from sklearn.cluster import KMeans

        features, _ = train
        filled = features.fillna(features.median())
        k = min(20, len(filled))
        centroids = KMeans(n_clusters=k, n_init=4, random_state=self.seed).fit(filled).cluster_centers_
        return {"feature_names": list(features.columns), "background": centroids.round(6).tolist()}

    def patient_model(self, feature_names: list[str], example: list[float]) -> type[BaseModel]:
        """The typed request body for one patient: the model's features, finite, within declared ranges."""
        fields = {}
        for name, value in zip(feature_names, example, strict=True):
            bounds = self.settings.data.range_of(name) or ColumnRange()
            fields[name] = (float, Field(ge=bounds.min, le=bounds.max, allow_inf_nan=False, examples=[value]))
        return create_model("Patient", __config__=ConfigDict(extra="forbid"), **fields)

    def input_example(self, test: Any) -> pd.DataFrame:
        features, _ = test
        return features.head(3)
