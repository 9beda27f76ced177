"""What a user declares for the visit-history family (its params.yaml block)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from blocks.subgroups import DeclaredSubgroups
from medmaas.settings import CandidateGrids, ColumnRange, DataFile, FamilySettings, Frozen

BUNDLED_DATA = Path("data/raw/pbcseq.csv")
VISITS, INTERVALS = "visits", "visit_intervals"
DAYS_PER_YEAR = 365.25
MAX_VISIT_DAY = 100 * 365.25  # a visit day past a century of follow-up is a unit or typing error, not a patient


class VisitData(DataFile, DeclaredSubgroups):
    """Where the visits are and what their columns mean (the declared schema)."""

    path: Path = BUNDLED_DATA
    id_column: str = "patient_id"  # required: rows are grouped by patient
    day_column: str = Field("day", description="days since the patient's first visit")
    target_marker: str = "bili"
    markers: list[str] = Field(
        ["bili", "albumin", "alk_phos", "ast", "platelet", "protime", "edema", "ascites", "hepato", "spiders"],
        min_length=1,
        description="measured at each visit; the model's per-visit inputs",
    )
    log_markers: list[str] = Field(
        ["bili", "alk_phos", "ast"], description="right-skewed markers, modelled on the log scale"
    )
    baseline_columns: list[str] = Field(["age", "female"], description="fixed per patient (numeric)")
    ranges: dict[str, ColumnRange] = Field(default_factory=dict)
    max_missing_fraction: float = Field(
        0.05, ge=0.0, le=1.0, description="per marker; the target marker may never be missing"
    )
    min_targets: PositiveInt = Field(
        100, description="visits with at least one earlier visit (the examples to learn from)"
    )

    @model_validator(mode="after")
    def _declared_columns_agree(self):
        if self.target_marker not in self.markers:
            raise ValueError(f"target_marker {self.target_marker!r} must be one of markers")
        if unknown := set(self.log_markers) - set(self.markers):
            raise ValueError(f"log_markers {sorted(unknown)} are not in markers")
        if unknown := set(self.subgroups) - set(self.baseline_columns):
            raise ValueError(
                f"subgroups {sorted(unknown)} are not in baseline_columns (a patient's group must not change between "
                "visits)"
            )
        return self

    @property
    def input_columns(self) -> list[str]:
        return [*self.markers, *self.baseline_columns]


class VisitSplitSettings(Frozen):
    test_fraction: float = Field(0.2, gt=0.05, lt=0.5, description="share of patients held out")
    validation_fraction: float = Field(
        0.2, gt=0.05, lt=0.5, description="share of training patients for early stopping and tuning"
    )
    cv_folds: int = Field(5, ge=2, le=20)


class LastObservationSettings(Frozen):
    """No hyperparameters: the last measured value is the prediction."""


class NextVisitBoostingSettings(Frozen):
    learning_rate: list[PositiveFloat] = [0.03, 0.1]
    max_leaf_nodes: list[PositiveInt] = [7, 15]
    max_iter: list[PositiveInt] = [200]
    l2_regularization: list[float] = [1.0]


class RecurrentSettings(Frozen):
    cell: Literal["gru", "lstm"] = "gru"
    hidden_size: list[PositiveInt] = Field([32], description="each is trained; the best validation RMSE is kept")
    learning_rate: PositiveFloat = 0.001
    weight_decay: float = Field(1e-4, ge=0)
    batch_size: PositiveInt = 32
    max_epochs: PositiveInt = 300
    patience: PositiveInt = Field(25, description="epochs without a better validation RMSE before stopping")


class VisitCandidates(CandidateGrids):
    last_observation: LastObservationSettings | None = None
    gradient_boosting: NextVisitBoostingSettings | None = None
    recurrent: RecurrentSettings | None = None


class VisitServingSettings(Frozen):
    max_visits: PositiveInt = 100
    max_days_ahead: PositiveFloat = Field(3650, description="the furthest horizon a request may ask for")
    predict_days_ahead: PositiveFloat = Field(365, description="`medmaas predict`: horizon after each visit")


class ProgressionVisitsSettings(FamilySettings):
    data: VisitData = VisitData()
    split: VisitSplitSettings = VisitSplitSettings()
    candidates: VisitCandidates
    horizon: VisitServingSettings = VisitServingSettings()
