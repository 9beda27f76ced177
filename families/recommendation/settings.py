"""What a user declares for the recommendation family (its params.yaml block)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeFloat, PositiveInt, model_validator

from medmaas.settings import CandidateGrids, DataFile, FamilySettings, Frozen

BUNDLED_DATA = Path("data/raw/drug_reviews.csv")
REVIEW_OUTCOMES = {"negative": 1, "neutral": 2, "positive": 3}
MIN_DRUGS_PER_CONDITION = 3  # the export keeps conditions with at least this many reviewed drugs
INTERACTIONS, PER_PATIENT, TIMESTAMPS = "interactions", "interactions_per_patient", "timestamps"


class OutcomeScale(Frozen):
    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self):
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self


class InteractionData(DataFile):
    """One row per (patient, treatment) outcome; the scale is declared, not inferred."""

    path: Path = BUNDLED_DATA
    id_column: str = "patient_id"  # required: rows are grouped by patient
    treatment_column: str = "treatment_id"
    outcome_column: str = "outcome"
    timestamp_column: str | None = Field(None, description="when set, each patient's latest outcomes are held out")
    scale: OutcomeScale = OutcomeScale(min=1, max=5)
    min_interactions_per_patient: PositiveInt = Field(
        3, description="fewer and a patient cannot be both trained on and evaluated"
    )
    min_rows: PositiveInt = 50


class HoldoutSettings(Frozen):
    test_fraction: float = Field(0.2, gt=0.0, lt=0.5, description="of each patient's outcomes (at least one)")
    validation_fraction: float = Field(
        0.2, gt=0.0, lt=0.5, description="of each training patient's outcomes, for tuning"
    )


class RankingSettings(Frozen):
    k: int = Field(10, ge=1, le=100, description="length of the lists the ranking metrics score")
    relevant_at_least: float = Field(4, description="a held-out outcome at least this good counts as a hit")


class PopularityGrid(Frozen):
    shrinkage: list[NonNegativeFloat] = [0.0, 5.0]


class NeighbourGrid(Frozen):
    neighbours: list[PositiveInt] = [20, 50]
    shrinkage: list[NonNegativeFloat] = [0.0, 10.0]


class SvdGrid(Frozen):
    k: list[PositiveInt] = [10]
    centre: list[Literal["patient", "overall", "baseline"]] = ["patient", "overall", "baseline"]
    shrinkage: list[NonNegativeFloat] = [5.0]


class RecommenderCandidates(CandidateGrids):
    popularity: PopularityGrid | None = None
    user_knn: NeighbourGrid | None = None
    item_knn: NeighbourGrid | None = None
    svd: SvdGrid | None = None


class RecommendationServing(Frozen):
    default_k: PositiveInt = 10
    max_k: int = Field(50, ge=1, le=500)
    max_reported_outcomes: PositiveInt = 500


class RecommendationSettings(FamilySettings):
    data: InteractionData = InteractionData()
    split: HoldoutSettings = HoldoutSettings()
    ranking: RankingSettings = RankingSettings()
    recommend: RecommendationServing = RecommendationServing()
    candidates: RecommenderCandidates
