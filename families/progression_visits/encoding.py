"""How a visit history becomes numbers; travels inside every model, so serving encodes the same way."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from families.progression_visits.settings import VisitData


@dataclass(frozen=True)
class VisitEncoding:
    day_column: str
    markers: tuple[str, ...]
    log_markers: tuple[str, ...]
    baseline_columns: tuple[str, ...]
    target_marker: str

    @classmethod
    def of(cls, data: VisitData) -> VisitEncoding:
        return cls(
            data.day_column,
            tuple(data.markers),
            tuple(data.log_markers),
            tuple(data.baseline_columns),
            data.target_marker,
        )

    @property
    def columns(self) -> list[str]:
        return [*self.markers, *self.baseline_columns]

    @property
    def target_index(self) -> int:
        return self.markers.index(self.target_marker)

    def encode(self, history: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Days and the feature matrix (log where declared; NaN where not measured)."""
        features = history[self.columns].to_numpy(dtype=float, copy=True)
        for name in self.log_markers:
            column = self.columns.index(name)
            features[:, column] = np.log(np.clip(features[:, column], 1e-6, None))
        return history[self.day_column].to_numpy(dtype=float), features

    def target(self, values: np.ndarray) -> np.ndarray:
        return np.log(values) if self.target_marker in self.log_markers else values

    def to_units(self, values: np.ndarray) -> np.ndarray:
        return np.exp(values) if self.target_marker in self.log_markers else values


@dataclass
class NextVisitExamples:
    """Every (history so far, gap, next value) of a set of patients, as the models consume them."""

    histories: list[pd.DataFrame]
    days_ahead: np.ndarray
    observed: np.ndarray  # the target marker at the next visit, on the model's scale
    patient: np.ndarray  # an integer per patient, for grouped CV and clustered bootstrap (never an id)


@dataclass
class VisitSet:
    visits: pd.DataFrame  # sorted by patient and day; the id column is kept only to group rows
    encoding: VisitEncoding
    id_column: str

    def patients(self) -> list[pd.DataFrame]:
        return [group.drop(columns=[self.id_column]) for _, group in self.visits.groupby(self.id_column, sort=False)]

    def examples(self) -> NextVisitExamples:
        histories, ahead, observed, patient = [], [], [], []
        for code, visits in enumerate(self.patients()):
            days = visits[self.encoding.day_column].to_numpy(dtype=float)
            values = self.encoding.target(visits[self.encoding.target_marker].to_numpy(dtype=float))
            for i in range(1, len(visits)):
                histories.append(visits.iloc[:i])
                ahead.append(days[i] - days[i - 1])
                observed.append(values[i])
                patient.append(code)
        return NextVisitExamples(histories, np.asarray(ahead), np.asarray(observed), np.asarray(patient))
