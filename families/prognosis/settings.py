"""What a user declares for the prognosis family (its params.yaml block); the candidates are in candidates.py."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PositiveFloat, PositiveInt

from blocks.tabular import SplitSettings, TabularData, TabularSettings
from families.prognosis.candidates import SurvivalGrids
from medmaas.settings import Frozen

BUNDLED_DATA = Path("data/raw/gbsg2.csv")
LUNG_DATA = Path("data/raw/ncctg_lung.csv")
GBSG2_NAMES = {
    "age": "age",
    "meno": "postmenopausal",
    "size": "tumour_size_mm",
    "grade": "tumour_grade",
    "nodes": "positive_nodes",
    "pgr": "progesterone_receptor",
    "er": "oestrogen_receptor",
    "hormon": "hormone_therapy",
}
LUNG_NAMES = {
    "age": "age",
    "sex": "sex",
    "ph.ecog": "ecog_physician",
    "ph.karno": "karnofsky_physician",
    "pat.karno": "karnofsky_patient",
    "meal.cal": "meal_calories",
    "wt.loss": "weight_loss_lb",
}


class SurvivalData(TabularData):
    path: Path = BUNDLED_DATA
    duration_column: str = Field("days", description="time from entry to the event or to the end of follow-up")
    event_column: str = Field("event", description="1: the event happened at the duration; 0: censored then")
    min_events: PositiveInt = Field(50, description="fewer events than this and no survival model is worth training")

    @property
    def outcome_column(self) -> str:
        return self.duration_column

    @property
    def outcome_columns(self) -> tuple[str, ...]:
        return (self.duration_column, self.event_column)


class SurvivalEvaluationSettings(Frozen):
    horizon_days: PositiveFloat = Field(
        1825, description="metrics integrate over follow-up up to here (clipped to the data)"
    )
    calibration_days: PositiveFloat = Field(1095, description="calibration is plotted for survival at this time")
    risk_groups: int = Field(
        3, ge=2, le=10, description="groups by predicted risk for the calibration and Kaplan-Meier plots"
    )


class ServedTimes(Frozen):
    default_days: list[PositiveFloat] = Field(
        [365.25, 1095.75, 1826.25], description="survival reported at these times unless a request asks for others"
    )
    max_times_per_request: PositiveInt = 50


class PrognosisSettings(TabularSettings):
    cds_assesses = "survival"
    data: SurvivalData = SurvivalData()
    split: SplitSettings = SplitSettings(test_fraction=0.25)
    evaluation: SurvivalEvaluationSettings = SurvivalEvaluationSettings()
    times: ServedTimes = ServedTimes()
    candidates: SurvivalGrids = Field(
        default_factory=SurvivalGrids.every_default, description="left out: every survival model with its default grid"
    )
