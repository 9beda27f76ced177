"""Why a tabular model answered what it did: permutation SHAP over the patient's raw features.

Every tabular service (diagnosis, progression, prognosis) explains one number per patient (a class
probability, a predicted value, a risk score) the same way: contributions per raw feature (a category
is one feature, not its one-hot columns) against the background the champion was stored with
(k-means centroids, no patient's row). Permutation SHAP is exactly additive:
base_value + sum(contributions) = the explained number.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from blocks.encoding import FeatureMatrix
from medmaas.champions import Champion
from serving.base import Answer


class Contribution(BaseModel):
    feature: str
    value: float | bool | str = Field(description="the patient's value of the feature")
    contribution: float = Field(description="SHAP value: change in the explained number due to this feature")


class Attribution(BaseModel):
    base_value: float = Field(
        description="the explained number averaged over the background; base_value + sum(contributions) = value"
    )
    value: float = Field(description="the explained number for this patient")
    contributions: list[Contribution] = Field(description="largest effect first")


class ExplainedValue(Attribution, Answer):
    """An endpoint's answer: the attribution of the service's one number (a prediction, a risk score) and who
    answered."""


class Explainer:
    """One permutation explainer per explained output (no state shared between concurrent requests)."""

    def __init__(self, champion: Champion, outputs: dict[str, Callable[[pd.DataFrame], np.ndarray]]):
        import shap

        self.matrix = FeatureMatrix(champion.serving)
        background = self.matrix.to_matrix(pd.DataFrame(champion.serving["background"], columns=self.matrix.columns))
        masker = shap.maskers.Independent(background, max_samples=len(background))
        self.explainers = {
            name: shap.PermutationExplainer(
                lambda rows, output=output: output(self.matrix.to_frame(rows)), masker, seed=0
            )
            for name, output in outputs.items()
        }
        next(iter(self.explainers.values()))(
            background[:1], silent=True
        )  # the first call is slow (~9 s): not on a patient's request

    def explain(self, output: str, row: pd.DataFrame, max_evals: int | None = None) -> Attribution:
        """``row``: one patient's raw features (a one-row frame in the model's column order). ``max_evals``: fewer
        model evaluations than shap's default (500), a quicker estimate (a CDS card's; /explain keeps the default)."""
        options = {} if max_evals is None else {"max_evals": max_evals}
        result = self.explainers[output](self.matrix.to_matrix(row), silent=True, **options)
        contributions = sorted(
            (
                Contribution(feature=f, value=v.item() if hasattr(v, "item") else v, contribution=float(c))
                for f, v, c in zip(self.matrix.columns, row.iloc[0], result.values[0])
            ),
            key=lambda c: abs(c.contribution),
            reverse=True,
        )
        base = float(result.base_values[0])
        return Attribution(base_value=base, value=base + float(result.values[0].sum()), contributions=contributions)
