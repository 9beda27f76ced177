"""Online disease progression: both progression champions behind one typed HTTP API.

    bentoml serve serving.progression:ProgressionService      (or: medmaas serve progression)

- ``predict``: baseline measurements of one or more patients -> predicted progression (tabular model);
- ``predict_next``: a visit history (visits in time order, every marker) -> the marker a chosen number
  of days after the last visit (visit-history model).

The service starts when at least one of the two has a champion; the other endpoint answers 503 and
says how to train it. Requests carry measurements only, never a patient identifier.
"""

from __future__ import annotations

from typing import Annotated, Any

import bentoml
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, create_model

from medmaas.champions import Champion, NoChampion
from serving.base import Answer, answered_by, champion_service
from serving.bodies import strict_api
from serving.champion import PredictionRecorder, resolve_champion
from serving.explain import ExplainedValue, Explainer

TABULAR, VISITS = "progression", "progression_visits"


def _champion_or_reason(family_name: str) -> Champion | str:
    try:
        return resolve_champion(family_name)
    except NoChampion as missing:
        return str(missing)


CHAMPIONS: dict[str, Champion | str] = {name: _champion_or_reason(name) for name in (TABULAR, VISITS)}
if not any(isinstance(c, Champion) for c in CHAMPIONS.values()):
    raise NoChampion("no progression champion to serve:\n" + "\n".join(CHAMPIONS.values()))  # type: ignore[arg-type]


def _tabular_patient() -> type[BaseModel]:
    champion = CHAMPIONS[TABULAR]
    if isinstance(champion, Champion):
        return champion.family.patient_model(champion.serving)
    return create_model("Patient", __config__=ConfigDict(extra="allow"))  # the endpoint answers 503 before reading it


def _visit_history() -> type[BaseModel]:
    champion = CHAMPIONS[VISITS]
    if isinstance(champion, Champion):
        return champion.family.history_model()
    return create_model("VisitHistory", __config__=ConfigDict(extra="allow"))


Patient = _tabular_patient()
VisitHistory = _visit_history()
SERVED: list[Champion] = [c for c in CHAMPIONS.values() if isinstance(c, Champion)]
# one guard for both: keys if either block asks for them, then the smaller body limit
LIMITS = min(
    (c.family.settings.serving for c in SERVED), key=lambda serving: (serving.auth == "none", serving.max_body_bytes)
)
MAX_PATIENTS = (
    CHAMPIONS[TABULAR].family.settings.serving.max_items_per_request
    if isinstance(CHAMPIONS[TABULAR], Champion)
    else 1000
)


class ProgressionPrediction(Answer):
    predicted_progression: float = Field(description="in the training outcome's units")


class NextValue(Answer):
    marker: str
    predicted: float = Field(description="the marker's expected value, in its clinical units")
    predicted_model_scale: float = Field(description="the same on the scale the model works on (log for log markers)")
    days_ahead: float
    beyond_training_gaps: bool = Field(
        description="true when days_ahead, or a gap between the visits sent, is longer than any gap between visits "
        "in training: an extrapolation"
    )


@champion_service(
    "progression", LIMITS, SERVED[0], {"/predict_next": c for c in (CHAMPIONS[VISITS],) if isinstance(c, Champion)}
)
class ProgressionService:
    def __init__(self) -> None:
        self.models = {name: c.load() for name, c in CHAMPIONS.items() if isinstance(c, Champion)}
        self.explainer = (
            Explainer(CHAMPIONS[TABULAR], {"progression": self.models[TABULAR].predict})
            if TABULAR in self.models
            else None
        )
        self.record = (
            PredictionRecorder(CHAMPIONS[TABULAR]) if TABULAR in self.models else None
        )  # visit histories are not logged: no reference

    def _champion(self, family_name: str) -> Champion:
        champion = CHAMPIONS[family_name]
        if not isinstance(champion, Champion):
            raise bentoml.exceptions.ServiceUnavailable(champion)
        return champion

    @strict_api()
    def predict(
        self,
        patients: Annotated[list[Patient], Field(min_length=1, max_length=MAX_PATIENTS)],  # type: ignore[valid-type]
    ) -> list[ProgressionPrediction]:
        """Predicted progression for one patient (a list of one) or many, from baseline measurements."""
        champion = self._champion(TABULAR)
        rows = [p.model_dump() for p in patients]
        predicted = self.models[TABULAR].predict(pd.DataFrame(rows, columns=champion.serving["feature_names"])).tolist()
        self.record("predict", rows, [{"predicted_progression": v} for v in predicted])
        return [ProgressionPrediction(predicted_progression=float(v), **answered_by(champion)) for v in predicted]

    @strict_api()
    def explain(self, patient: Patient) -> ExplainedValue:  # type: ignore[valid-type]
        """Why: each baseline measurement's SHAP contribution to the predicted progression (``value``)."""
        champion = self._champion(TABULAR)
        why = self.explainer.explain(
            "progression", pd.DataFrame([patient.model_dump()], columns=champion.serving["feature_names"])
        )
        return ExplainedValue(**why.model_dump(), **answered_by(champion))

    @strict_api()
    def predict_next(self, history: VisitHistory) -> NextValue:  # type: ignore[valid-type]
        """The target marker `days_ahead` days after the last visit, from the visits so far."""
        champion = self._champion(VISITS)
        family = champion.family
        scaled = float(
            self.models[VISITS].predict_next([family.history_frame(history)], np.array([history.days_ahead]))[0]
        )
        return NextValue(
            marker=family.settings.data.target_marker,
            predicted=float(family.encoding.to_units(np.array(scaled))),
            predicted_model_scale=scaled,
            days_ahead=history.days_ahead,
            beyond_training_gaps=family.longest_gap(history) > champion.serving["longest_gap_days"],
            **answered_by(champion),
        )

    @strict_api()
    def model_info(self) -> dict[str, Any]:
        """Which models answer (version, data hash, held-out metrics, model card), or why one is missing."""
        return {name: c.info if isinstance(c, Champion) else {"unavailable": c} for name, c in CHAMPIONS.items()}
