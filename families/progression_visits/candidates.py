"""The baselines: each answers predict_next(histories, days_ahead)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from families.progression_visits.encoding import VisitEncoding
from families.progression_visits.settings import DAYS_PER_YEAR


class NextVisitPredictor:
    """The one-table form of ``predict_next`` (MLflow's pyfunc and `bentoml.mlflow` need a ``predict``).

    ``frame``: one row per visit, earliest first, with a ``history`` column when it holds several
    histories; ``days_ahead`` is read from each history's last row.
    """

    mlflow_flavor = "sklearn"  # the baselines are plain Python objects; MLflow's sklearn flavor pickles them

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        groups = [g for _, g in frame.groupby("history", sort=False)] if "history" in frame.columns else [frame]
        return self.predict_next(groups, np.array([float(g["days_ahead"].iloc[-1]) for g in groups]))

    def predict_next(self, histories: list[pd.DataFrame], days_ahead: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class LastObservation(NextVisitPredictor):
    """The honest baseline: the marker stays where it was last measured."""

    def __init__(self, encoding: VisitEncoding) -> None:
        self.encoding = encoding

    def predict_next(self, histories: list[pd.DataFrame], days_ahead: np.ndarray) -> np.ndarray:
        return np.array([self.encoding.encode(h)[1][-1, self.encoding.target_index] for h in histories])


def last_visit_summary(encoding: VisitEncoding, history: pd.DataFrame, days_ahead: float) -> np.ndarray:
    """Last visit, its change since the one before, the gaps and the history's length, as one row."""
    days, features = encoding.encode(history)
    last = features[-1]
    change = last - features[-2] if len(features) > 1 else np.full_like(last, np.nan)
    since_previous = days[-1] - days[-2] if len(days) > 1 else np.nan
    return np.concatenate(
        [
            last,
            change,
            [since_previous / DAYS_PER_YEAR, days_ahead / DAYS_PER_YEAR, len(days), days[-1] / DAYS_PER_YEAR],
        ]
    )


class NextVisitBoosting(NextVisitPredictor):
    """Gradient boosting on the last visit plus deltas; it predicts the change from the last value."""

    def __init__(self, encoding: VisitEncoding, model) -> None:
        self.encoding = encoding
        self.model = model

    def rows(self, histories: list[pd.DataFrame], days_ahead: np.ndarray) -> np.ndarray:
        return np.vstack([last_visit_summary(self.encoding, h, d) for h, d in zip(histories, days_ahead)])

    def predict_next(self, histories: list[pd.DataFrame], days_ahead: np.ndarray) -> np.ndarray:
        rows = self.rows(histories, days_ahead)
        return rows[:, self.encoding.target_index] + self.model.predict(rows)
