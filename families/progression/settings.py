"""What a user declares for the tabular progression family (its params.yaml block) and the candidates' grids."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Lasso, Ridge
from sklearn.pipeline import Pipeline
from sklearn.svm import SVR

from blocks.tabular import BoostingGrid, Grid, SplitSettings, TabularData, scaled, unscaled
from medmaas.settings import CandidateGrids, ColumnRange, FamilySettings

BUNDLED_DATA = Path("data/raw/diabetes.csv")
# scikit-learn's s1..s6, named by what they measure (its documentation)
SERUM_NAMES = {"s1": "total_cholesterol", "s2": "ldl", "s3": "hdl", "s4": "cholesterol_hdl_ratio", "s5": "log_triglycerides", "s6": "glucose"}


class RegressionData(TabularData):
    path: Path = BUNDLED_DATA
    target_column: str = "progression"
    target_range: ColumnRange = ColumnRange()

    @property
    def outcome_column(self) -> str:
        return self.target_column


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


class ProgressionSettings(FamilySettings):
    data: RegressionData = RegressionData()
    split: SplitSettings = SplitSettings(test_fraction=0.2)
    candidates: RegressorGrids = Field(default_factory=RegressorGrids.every_default, description="left out: every regressor with its default grid")
