"""Raw table columns as a model's numbers: the encoder inside every tabular model, and a patient's values as a matrix.

No family code here: blocks/tabular.py builds candidates around ``ColumnEncoder``; the services use ``FeatureMatrix``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

BOOLEAN_TOKENS = {
    "true": 1.0,
    "false": 0.0,
    "yes": 1.0,
    "no": 0.0,
    "y": 1.0,
    "n": 0.0,
    "t": 1.0,
    "f": 0.0,
    "1": 1.0,
    "0": 0.0,
}


def looks_boolean(values: pd.Series) -> bool:
    present = values.dropna()
    return len(present) > 0 and (
        present.dtype == bool or {str(v).strip().lower() for v in present.unique()} <= set(BOOLEAN_TOKENS)
    )


def as_boolean(frame: pd.DataFrame) -> pd.DataFrame:
    """TRUE/FALSE, yes/no, 1/0 (any case) as 1.0/0.0; anything else missing (the gate has refused it before
    training)."""

    def column(values: pd.Series) -> pd.Series:
        return values.map(
            lambda v: BOOLEAN_TOKENS.get(str(v).strip().lower(), np.nan) if pd.notna(v) else np.nan
        ).astype(float)

    return pd.DataFrame({c: column(frame[c]) for c in frame.columns}, index=frame.index)


class ColumnEncoder(TransformerMixin, BaseEstimator):
    """The raw columns as the model's numbers: median-imputed numbers (scaled if asked), booleans as 0/1,
    one-hot categories (declared or learned in fit); a missing-value indicator for each column that had gaps.

    Inside the registered model, so `predict`, the service and the Bento all take the user's raw values.
    """

    def __init__(
        self,
        scale: bool = False,
        numeric: tuple[str, ...] = (),
        categorical: tuple[str, ...] = (),
        boolean: tuple[str, ...] = (),
        categories: dict[str, list[Any]] | None = None,
    ):
        self.scale = scale
        self.numeric = numeric
        self.categorical = categorical
        self.boolean = boolean
        self.categories = categories

    def _parts(self) -> list[tuple[str, Any, list[str]]]:
        parts = []
        if self.numeric:
            steps = [("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True))]
            parts.append(
                ("numeric", Pipeline(steps + ([("scale", StandardScaler())] if self.scale else [])), list(self.numeric))
            )
        if self.boolean:
            steps = [
                ("as_number", FunctionTransformer(as_boolean, feature_names_out="one-to-one")),
                ("impute", SimpleImputer(strategy="most_frequent", add_indicator=True, keep_empty_features=True)),
            ]
            parts.append(("boolean", Pipeline(steps), list(self.boolean)))
        declared = self.categories or {}
        for column in self.categorical:  # one encoder each, so a declared column keeps exactly its declared values
            steps = [
                ("impute", SimpleImputer(strategy="most_frequent", missing_values=None, keep_empty_features=True)),
                (
                    "one_hot",
                    OneHotEncoder(
                        categories=[declared[column]] if column in declared else "auto",
                        handle_unknown="ignore",
                        sparse_output=False,
                    ),
                ),
            ]
            parts.append((f"categorical:{column}", Pipeline(steps), [column]))
        return parts

    def _prepared(self, X: pd.DataFrame) -> pd.DataFrame:
        frame = X.copy()
        for c in self.categorical:  # one representation of "missing" for text and coded columns alike
            frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
        return frame

    def fit(self, X: pd.DataFrame, y: Any = None) -> ColumnEncoder:
        self.transformer_ = ColumnTransformer(self._parts()).fit(self._prepared(X), y)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.categories_ = {}
        for column in self.categorical:
            (values,) = (
                self.transformer_.named_transformers_[f"categorical:{column}"].named_steps["one_hot"].categories_
            )
            self.categories_[column] = [v.item() if hasattr(v, "item") else v for v in values]
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.transformer_.transform(self._prepared(X)))


class FeatureMatrix:
    """A patient's raw values as numbers and back: a category as its index in the allowed values, a boolean as 0/1.

    For what needs a numeric matrix over the raw columns: the explainer (contributions per raw feature, not per
    one-hot column) and the batched array endpoint.
    """

    def __init__(self, serving: dict[str, Any]) -> None:
        self.columns: list[str] = serving["feature_names"]
        self.kinds: dict[str, str] = serving.get("kinds", {})
        self.categories: dict[str, list[Any]] = serving.get("categories", {})

    def to_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(self.columns)))
        for i, column in enumerate(self.columns):
            values = frame[column]
            if self.kinds.get(column) == "categorical":
                lookup = {v: code for code, v in enumerate(self.categories[column])}
                out[:, i] = [lookup.get(v, np.nan) for v in values]
            else:
                out[:, i] = (
                    as_boolean(frame[[column]])[column] if self.kinds.get(column) == "boolean" else values.astype(float)
                )
        return out

    def to_frame(self, matrix: np.ndarray) -> pd.DataFrame:
        """One float frame from the matrix, then the categorical and boolean columns replaced: a Series per column
        costed 2 ms a call on 30 numeric features, most of a single-row prediction."""
        frame = pd.DataFrame(np.asarray(matrix, dtype=float), columns=self.columns)
        for column, kind in self.kinds.items():
            if kind == "categorical":
                allowed = self.categories[column]
                frame[column] = pd.Series(
                    [allowed[int(v)] if np.isfinite(v) and 0 <= v < len(allowed) else None for v in frame[column]],
                    dtype=object,
                )
            elif kind == "boolean":
                frame[column] = frame[column].to_numpy() >= 0.5
        return frame
