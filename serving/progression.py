"""Online disease progression: both progression champions behind one typed HTTP API.

    bentoml serve serving.progression:ProgressionService      (or: medmaas serve progression)

- ``predict``: baseline measurements of one or more patients -> predicted progression (tabular model);
- ``predict_next``: a visit history (visits in time order, every marker) -> the marker a chosen number
  of days after the last visit (visit-history model).

The service starts when at least one of the two has a champion; the other endpoint answers 503 and
says how to train it. Requests carry measurements only, never a patient identifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import bentoml
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, create_model

from blocks.fhir import prepare
from families.progression.family import Progression
from families.progression_visits.family import ProgressionVisits
from medmaas.champions import Champion, FamilyT, NoChampion
from serving import tracing
from serving.base import Answer, answered_by, champion_service
from serving.bodies import strict_api
from serving.cds_auth import ROOT as CDS_ROOT
from serving.cds_hooks import CdsApp, Scored, card_evaluations, cards_for
from serving.champion import PredictionRecorder, resolve_champion
from serving.explain import ExplainedValue, Explainer

TABULAR, VISITS = "progression", "progression_visits"


def _champion_or_reason(family_name: str, kind: type[FamilyT]) -> Champion[FamilyT] | str:
    try:
        return resolve_champion(family_name, kind)
    except NoChampion as missing:
        return str(missing)


TABULAR_CHAMPION = _champion_or_reason(TABULAR, Progression)
VISITS_CHAMPION = _champion_or_reason(VISITS, ProgressionVisits)
CHAMPIONS: dict[str, Champion[Any] | str] = {TABULAR: TABULAR_CHAMPION, VISITS: VISITS_CHAMPION}
SERVED: list[Champion[Any]] = [c for c in CHAMPIONS.values() if isinstance(c, Champion)]
if not SERVED:
    raise NoChampion("no progression champion to serve:\n" + "\n".join(map(str, CHAMPIONS.values())))

if TYPE_CHECKING:
    Patient = BaseModel  # for the type checker; at run time the champions' own request models
    VisitHistory = BaseModel
else:
    Patient = (
        TABULAR_CHAMPION.family.patient_model(TABULAR_CHAMPION.serving)
        if isinstance(TABULAR_CHAMPION, Champion)
        else create_model("Patient", __config__=ConfigDict(extra="allow"))  # answered 503 before it is read
    )
    VisitHistory = (
        VISITS_CHAMPION.family.history_model()
        if isinstance(VISITS_CHAMPION, Champion)
        else create_model("VisitHistory", __config__=ConfigDict(extra="allow"))
    )
# the tabular model's log, and its CDS Hooks (a visit history is not a FHIR prefetch's latest values)
TABULAR_RECORD = PredictionRecorder(TABULAR_CHAMPION) if isinstance(TABULAR_CHAMPION, Champion) else None
CARDS = (
    cards_for(
        "progression", TABULAR_CHAMPION.family.settings.serving.cds_hooks, Patient, TABULAR_CHAMPION, TABULAR_RECORD
    )
    if isinstance(TABULAR_CHAMPION, Champion) and TABULAR_RECORD is not None
    else None
)
# one guard for both: keys if either block asks for them, then the smaller body limit
LIMITS = min(
    (c.family.settings.serving for c in SERVED), key=lambda serving: (serving.auth == "none", serving.max_body_bytes)
).model_copy(update={"cds_hooks": CARDS.settings if CARDS is not None else None})
MAX_PATIENTS = (
    TABULAR_CHAMPION.family.settings.serving.max_items_per_request if isinstance(TABULAR_CHAMPION, Champion) else 1000
)


@dataclass(frozen=True)
class Tabular:
    """What the tabular endpoints need, made once the service starts."""

    champion: Champion[Progression]
    model: Any
    explainer: Explainer
    record: PredictionRecorder  # visit histories are not logged: they have no reference to drift from


@dataclass(frozen=True)
class Visits:
    champion: Champion[ProgressionVisits]
    model: Any


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
    "progression", LIMITS, SERVED[0], {"/predict_next": c for c in [VISITS_CHAMPION] if isinstance(c, Champion)}
)
@bentoml.asgi_app(CdsApp(CARDS), path=CDS_ROOT)
class ProgressionService:
    def __init__(self) -> None:
        self.tabular, self.visits = None, None
        if isinstance(TABULAR_CHAMPION, Champion):
            with tracing.step("progression", "load model", **tracing.naming(TABULAR, TABULAR_CHAMPION.version)):
                model = TABULAR_CHAMPION.load()
            explainer = Explainer(TABULAR_CHAMPION, {"progression": model.predict})
            assert TABULAR_RECORD is not None  # made with the champion
            self.tabular = Tabular(TABULAR_CHAMPION, model, explainer, TABULAR_RECORD)
        if isinstance(VISITS_CHAMPION, Champion):
            with tracing.step("progression", "load model", **tracing.naming(VISITS, VISITS_CHAMPION.version)):
                self.visits = Visits(VISITS_CHAMPION, VISITS_CHAMPION.load())
        if CARDS is not None:
            prepare(CARDS.settings.features)

    def _tabular(self) -> Tabular:
        """The tabular model, or a 503 that says how to train it."""
        if self.tabular is None:
            raise bentoml.exceptions.ServiceUnavailable(str(TABULAR_CHAMPION))
        return self.tabular

    def _visits(self) -> Visits:
        if self.visits is None:
            raise bentoml.exceptions.ServiceUnavailable(str(VISITS_CHAMPION))
        return self.visits

    @strict_api()
    def predict(
        self, patients: Annotated[list[Patient], Field(min_length=1, max_length=MAX_PATIENTS)]
    ) -> list[ProgressionPrediction]:
        """Predicted progression for one patient (a list of one) or many, from baseline measurements."""
        tabular = self._tabular()
        rows = [p.model_dump() for p in patients]
        frame = pd.DataFrame(rows, columns=tabular.champion.serving["feature_names"])
        with tracing.step("progression", "forward pass", items=len(frame)):
            predicted = tabular.model.predict(frame).tolist()
        tabular.record("predict", rows, [{"predicted_progression": v} for v in predicted])
        return [
            ProgressionPrediction(predicted_progression=float(v), **answered_by(tabular.champion)) for v in predicted
        ]

    @strict_api()
    def explain(self, patient: Patient) -> ExplainedValue:
        """Why: each baseline measurement's SHAP contribution to the predicted progression (``value``)."""
        tabular = self._tabular()
        row = pd.DataFrame([patient.model_dump()], columns=tabular.champion.serving["feature_names"])
        why = tabular.explainer.explain("progression", row)
        return ExplainedValue(**why.model_dump(), **answered_by(tabular.champion))

    def card_score(self, patient: Patient) -> Scored:
        """A CDS card's number (serving/cds_hooks.py): the predicted progression, and why."""
        tabular = self._tabular()
        features = tabular.champion.serving["feature_names"]
        row = pd.DataFrame([patient.model_dump()], columns=features)
        predicted = float(tabular.model.predict(row)[0])
        why = tabular.explainer.explain("progression", row, max_evals=card_evaluations(len(features)))
        outcome = tabular.champion.family.settings.data.target_column
        return Scored(
            score=predicted,
            headline=f"{predicted:.4g} predicted",
            meaning=f"the model's predicted `{outcome}`, in the units of its training outcome",
            explained=f"the predicted {outcome}",
            contributions=why.contributions,
            logged={"predicted_progression": predicted},
        )

    @strict_api()
    def predict_next(self, history: VisitHistory) -> NextValue:
        """The target marker `days_ahead` days after the last visit, from the visits so far."""
        visits = self._visits()
        champion, family = visits.champion, visits.champion.family
        days_ahead = float(getattr(history, "days_ahead"))
        with tracing.step("progression", "forward pass", items=1):
            scaled = float(visits.model.predict_next([family.history_frame(history)], np.array([days_ahead]))[0])
        return NextValue(
            marker=family.settings.data.target_marker,
            predicted=float(family.encoding.to_units(np.array(scaled))),
            predicted_model_scale=scaled,
            days_ahead=days_ahead,
            beyond_training_gaps=family.longest_gap(history) > champion.serving["longest_gap_days"],
            **answered_by(champion),
        )

    @strict_api()
    def model_info(self) -> dict[str, Any]:
        """Which models answer (version, data hash, held-out metrics, model card), or why one is missing."""
        return {name: c.info if isinstance(c, Champion) else {"unavailable": c} for name, c in CHAMPIONS.items()}
