"""The progression candidates: each one's hyperparameter grid (its params.yaml entry) and the pipeline it builds."""

from __future__ import annotations

from typing import Literal

from pydantic import PositiveFloat, PositiveInt
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Lasso, Ridge
from sklearn.pipeline import Pipeline
from sklearn.svm import SVR

from blocks.tabular import BoostingGrid, Grid, scaled, unscaled
from medmaas.settings import CandidateGrids


class RidgeGrid(Grid):
    alpha: list[PositiveFloat] = [0.1, 1.0, 10.0, 100.0]

    def pipeline(self, seed: int) -> Pipeline:
        return scaled(Ridge())


class LassoGrid(Grid):
    alpha: list[PositiveFloat] = [0.01, 0.1, 1.0, 5.0]

    def pipeline(self, seed: int) -> Pipeline:
        return scaled(Lasso(max_iter=20_000, random_state=seed))


class SvrGrid(Grid):
    C: list[PositiveFloat] = [10.0, 100.0]
    epsilon: list[PositiveFloat] = [5.0]
    gamma: list[PositiveFloat | Literal["scale", "auto"]] = ["scale"]

    def pipeline(self, seed: int) -> Pipeline:
        return scaled(SVR(kernel="rbf"))


class RandomForestGrid(Grid):
    n_estimators: list[PositiveInt] = [300]
    min_samples_leaf: list[PositiveInt] = [5, 10]
    max_features: list[PositiveFloat | Literal["sqrt", "log2"]] = [0.5]

    def pipeline(self, seed: int) -> Pipeline:
        return unscaled(RandomForestRegressor(n_jobs=1, random_state=seed))


class GradientBoostingGrid(BoostingGrid):
    def pipeline(self, seed: int) -> Pipeline:
        return unscaled(GradientBoostingRegressor(random_state=seed))


class RegressorGrids(CandidateGrids):
    ridge: RidgeGrid | None = None
    lasso: LassoGrid | None = None
    svr: SvrGrid | None = None
    random_forest: RandomForestGrid | None = None
    gradient_boosting: GradientBoostingGrid | None = None
