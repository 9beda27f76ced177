"""What a user declares for the tabular progression family (its params.yaml block); the candidates are in
candidates.py."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from blocks.tabular import SplitSettings, TabularData, TabularSettings
from families.progression.candidates import RegressorGrids
from medmaas.settings import ColumnRange

BUNDLED_DATA = Path("data/raw/diabetes.csv")
# scikit-learn's s1..s6, named by what they measure (its documentation)
SERUM_NAMES = {
    "s1": "total_cholesterol",
    "s2": "ldl",
    "s3": "hdl",
    "s4": "cholesterol_hdl_ratio",
    "s5": "log_triglycerides",
    "s6": "glucose",
}


class RegressionData(TabularData):
    path: Path = BUNDLED_DATA
    target_column: str = "progression"
    target_range: ColumnRange = ColumnRange()

    @property
    def outcome_column(self) -> str:
        return self.target_column


class ProgressionSettings(TabularSettings):
    cds_assesses = "value"
    data: RegressionData = RegressionData()
    split: SplitSettings = SplitSettings(test_fraction=0.2)
    candidates: RegressorGrids = Field(
        default_factory=RegressorGrids.every_default, description="left out: every regressor with its default grid"
    )
