"""What a user declares for the diagnosis family (its params.yaml block); the candidates are in candidates.py."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import Field, model_validator

from blocks.tabular import Scalar, SplitSettings, TabularData, TabularSettings
from families.diagnosis.candidates import (
    ClassifierGrids,
    RbfSvm,  # noqa: F401  (models pickled before candidates.py find it here)
)

BUNDLED_DATA = Path("data/raw/wdbc.csv")


class ClassificationData(TabularData):
    """A label column of any coding: ``labels`` as the file holds them, or ``label_mapping`` from codes to named
    classes."""

    path: Path
    label_column: str
    labels: list[Scalar] | None = Field(
        None, min_length=2, description="the classes, as read from the file (numbers, booleans or text)"
    )
    label_mapping: dict[str, list[Scalar]] | None = Field(
        None, description="class name -> the codes that mean it, e.g. {absent: [0], present: [1, 2]}"
    )
    positive_label: Scalar | None = Field(
        None, description="binary only (required there): the class sensitivity is measured on"
    )

    @property
    def outcome_column(self) -> str:
        return self.label_column

    @property
    def classes(self) -> list:
        return list(self.label_mapping) if self.label_mapping else list(self.labels or [])

    @property
    def codes(self) -> list:
        """The values the label column may hold."""
        return (
            [c for codes in self.label_mapping.values() for c in codes]
            if self.label_mapping
            else list(self.labels or [])
        )

    def label_of(self, values: pd.Series) -> pd.Series:
        """The class of each row (codes through ``label_mapping``; declared labels as declared, so 1.0 reads as 1)."""
        lookup = (
            {code: label for label, codes in self.label_mapping.items() for code in codes}
            if self.label_mapping
            else {v: v for v in self.labels or []}
        )
        return (
            values.map(lambda v: lookup.get(v, v)).astype(object).infer_objects()
        )  # ints stay ints, so sklearn sees classes

    @model_validator(mode="after")
    def _classes_are_declared_once(self) -> ClassificationData:
        if (self.labels is None) == (self.label_mapping is None):
            raise ValueError(
                "declare the classes once: labels (as the file holds them) or label_mapping (class -> codes)"
            )
        if self.label_mapping is not None:
            if len(self.label_mapping) < 2:
                raise ValueError("label_mapping needs at least two classes")
            if len(self.codes) != len(set(map(repr, self.codes))):
                raise ValueError("label_mapping gives one code to two classes")
        if len(self.classes) == 2:
            if self.positive_label is None:
                raise ValueError(
                    f"a binary task needs positive_label (the class sensitivity is measured on), one of {self.classes}"
                )
            if self.positive_label not in self.classes:
                raise ValueError(f"positive_label {self.positive_label!r} is not one of the classes {self.classes}")
        elif self.positive_label is not None:
            raise ValueError(
                f"positive_label is for a binary task; this one has {len(self.classes)} classes (metrics are macro "
                "averages)"
            )
        return self


class DiagnosisSettings(TabularSettings):
    data: ClassificationData
    split: SplitSettings = SplitSettings()
    candidates: ClassifierGrids = Field(
        default_factory=ClassifierGrids.every_default,
        description="left out: every classifier with its default grid (the representation candidates only when named)",
    )
    decision_threshold: float = Field(
        0.5, gt=0.0, lt=1.0, description="on the positive class probability (binary only)"
    )


# Metrics from confusion counts in numpy: the bootstrap calls them thousands of times, and
