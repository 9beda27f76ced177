"""The prognosis candidates: each one's hyperparameter grid (its params.yaml entry) and the pipeline it builds."""

from __future__ import annotations

from typing import Literal

from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt
from sklearn.pipeline import Pipeline

from blocks.tabular import BoostingGrid, Grid, scaled, unscaled
from families.prognosis.aft import ParametricAFT
from medmaas.settings import CandidateGrids


class CoxGrid(Grid):
    """Cox proportional hazards with a ridge penalty on the coefficients."""

    alpha: list[NonNegativeFloat] = [0.1, 1.0, 10.0]

    def pipeline(self, seed: int) -> Pipeline:
        from sksurv.linear_model import CoxPHSurvivalAnalysis

        return scaled(CoxPHSurvivalAnalysis(ties="efron"))


class AftGrid(Grid):
    distribution: list[Literal["weibull", "lognormal", "loglogistic"]] = ["weibull", "lognormal", "loglogistic"]
    alpha: list[NonNegativeFloat] = [0.01, 1.0]

    def pipeline(self, seed: int) -> Pipeline:
        return scaled(ParametricAFT())


class RandomSurvivalForestGrid(Grid):
    n_estimators: list[PositiveInt] = [200]
    min_samples_leaf: list[PositiveInt] = [10, 20]
    max_features: list[PositiveFloat | Literal["sqrt", "log2"]] = ["sqrt"]

    def pipeline(self, seed: int) -> Pipeline:
        from sksurv.ensemble import RandomSurvivalForest

        return unscaled(RandomSurvivalForest(n_jobs=1, random_state=seed, low_memory=False))


class SurvivalBoostingGrid(BoostingGrid):
    def pipeline(self, seed: int) -> Pipeline:
        from sksurv.ensemble import GradientBoostingSurvivalAnalysis

        return unscaled(GradientBoostingSurvivalAnalysis(random_state=seed))


class SurvivalGrids(CandidateGrids):
    cox_ph: CoxGrid | None = None
    parametric_aft: AftGrid | None = None
    random_survival_forest: RandomSurvivalForestGrid | None = None
    gradient_boosting: SurvivalBoostingGrid | None = None
