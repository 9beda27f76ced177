"""Online survival prognosis: the prognosis champion behind a typed HTTP API.

    bentoml serve serving.prognosis:PrognosisService          (or: medmaas serve prognosis)

A patient's covariates in; the risk score, survival probabilities at the requested times (the
declared defaults otherwise), the median survival time where the curve reaches 0.5, and the
version that answered out. Times past the training follow-up are flagged as extrapolations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import bentoml
import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, Strict

from blocks.fhir import prepare
from families.prognosis.aft import survival_matrix
from families.prognosis.family import Prognosis as PrognosisFamily
from serving import tracing
from serving.base import Answer, answered_by, champion_service
from serving.bodies import strict_api
from serving.cds_auth import ROOT as CDS_ROOT
from serving.cds_hooks import CdsApp, Scored, card_evaluations, cards_for
from serving.champion import PredictionRecorder, resolve_champion
from serving.explain import ExplainedValue, Explainer

CHAMPION = resolve_champion("prognosis", PrognosisFamily)
FEATURES: list[str] = CHAMPION.serving["feature_names"]
TIMES = CHAMPION.family.settings.times
FOLLOW_UP = CHAMPION.serving["max_follow_up_days"]
LIMITS = CHAMPION.family.settings.serving
if TYPE_CHECKING:
    Patient = BaseModel  # for the type checker; at run time the champion's own request model, its fields typed
else:
    Patient = CHAMPION.family.patient_model(CHAMPION.serving)
RECORD = PredictionRecorder(CHAMPION)
Days = Annotated[
    float, Strict(), Field(ge=1, le=36525, allow_inf_nan=False)
]  # ge, not gt: OpenAPI 3.0 has no numeric exclusiveMinimum


class SurvivalPoint(BaseModel):
    days: float
    probability: float = Field(description="probability of being event-free at this time")
    extrapolation: bool = Field(description="past the longest follow-up in the training data")


class Prognosis(Answer):
    risk_score: float = Field(description="higher means an earlier expected event; compare patients, not across models")
    survival: list[SurvivalPoint] = Field(description="in time order; non-increasing")
    median_survival_days: float | None = Field(
        description="first time the curve reaches 0.5 within the follow-up; null when it stays above"
    )


CARDS = cards_for("prognosis", LIMITS.cds_hooks, Patient, CHAMPION, RECORD)
# a card's risk is of an event by the horizon: by default, when the model's calibration was measured
HORIZON = (CARDS and CARDS.settings.horizon_days) or CHAMPION.family.settings.evaluation.calibration_days


@champion_service("prognosis", LIMITS, CHAMPION)
@bentoml.asgi_app(CdsApp(CARDS), path=CDS_ROOT)
class PrognosisService:
    def __init__(self) -> None:
        with tracing.step("prognosis", "load model", **tracing.naming(CHAMPION.registered_model, CHAMPION.version)):
            self.model = CHAMPION.load()
        self.grid = np.linspace(1.0, FOLLOW_UP, 400)  # where the median is looked for
        self.explainer = Explainer(
            CHAMPION, {"risk_score": self.model.predict, "risk_by_horizon": self._risk_by_horizon}
        )
        if CARDS is not None:
            prepare(CARDS.settings.features)

    def _risk_by_horizon(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(1.0 - np.clip(survival_matrix(self.model, frame, np.array([HORIZON]))[:, 0], 0.0, 1.0))

    @strict_api()
    def predict(
        self,
        patients: Annotated[list[Patient], Field(min_length=1, max_length=LIMITS.max_items_per_request)],
        times: Annotated[list[Days], Field(min_length=1, max_length=TIMES.max_times_per_request)] | None = None,
    ) -> list[Prognosis]:
        """Risk, survival curve at `times` (days; left out: the declared set) and median survival, per patient."""
        rows = [p.model_dump() for p in patients]
        frame = pd.DataFrame(rows, columns=FEATURES)
        requested = np.sort(np.asarray(TIMES.default_days if times is None else times, dtype=float))
        with tracing.step("prognosis", "forward pass", items=len(frame)):
            risk = self.model.predict(frame)
            survival = np.clip(survival_matrix(self.model, frame, requested), 0.0, 1.0)
            survival = np.minimum.accumulate(
                survival, axis=1
            )  # a step function evaluated between steps can carry rounding noise
            curve = survival_matrix(self.model, frame, self.grid)
        answers = []
        for row in range(len(frame)):
            below = np.flatnonzero(curve[row] <= 0.5)
            answers.append(
                Prognosis(
                    risk_score=float(risk[row]),
                    survival=[
                        SurvivalPoint(days=float(t), probability=float(p), extrapolation=bool(t > FOLLOW_UP))
                        for t, p in zip(requested, survival[row])
                    ],
                    median_survival_days=float(self.grid[below[0]]) if len(below) else None,
                    **answered_by(CHAMPION),
                )
            )
        RECORD("predict", rows, [{"risk_score": a.risk_score} for a in answers])
        return answers

    @strict_api()
    def explain(self, patient: Patient) -> ExplainedValue:
        """Why: each covariate's SHAP contribution to the patient's risk score (``value``)."""
        why = self.explainer.explain("risk_score", pd.DataFrame([patient.model_dump()], columns=FEATURES))
        return ExplainedValue(**why.model_dump(), **answered_by(CHAMPION))

    def card_score(self, patient: Patient) -> Scored:
        """A CDS card's number (serving/cds_hooks.py): the risk of an event by the horizon, and why."""
        row = pd.DataFrame([patient.model_dump()], columns=FEATURES)
        risk = float(self._risk_by_horizon(row)[0])
        why = self.explainer.explain("risk_by_horizon", row, max_evals=card_evaluations(len(FEATURES)))
        when = HORIZON_IN_WORDS
        return Scored(
            score=risk,
            headline=f"{risk:.0%} risk by {when}",
            meaning=f"the model's probability of an event within {when}, one minus its survival curve at day "
            f"{HORIZON:g}",
            explained=f"the risk by {when}",
            contributions=why.contributions,
            logged={"risk_by_horizon": risk},
            notes=list(HORIZON_NOTES),
        )

    @strict_api()
    def model_info(self) -> dict[str, Any]:
        """Which model answers: version, training data hash, held-out metrics, model card, follow-up range."""
        return {
            **CHAMPION.info,
            "features": FEATURES,
            "max_follow_up_days": FOLLOW_UP,
            "default_days": TIMES.default_days,
        }


def _in_words(days: float) -> str:
    years = days / 365.25
    if abs(years - round(years)) < 0.01 and round(years) >= 1:
        return "1 year" if round(years) == 1 else f"{round(years)} years"
    return f"{days:g} days"


def _horizon_notes() -> list[str]:
    """How far to trust the card's risk: its calibration on held-out patients, and an extrapolation past follow-up."""
    metrics, notes = CHAMPION.info.get("metrics", {}), []
    if "calibration_slope" in metrics:
        notes.append(
            f"Calibration slope on held-out patients (model card): {metrics['calibration_slope']:.2f} (95% CI "
            f"{metrics.get('calibration_slope_ci_low', float('nan')):.2f} to "
            f"{metrics.get('calibration_slope_ci_high', float('nan')):.2f}; 1 is ideal, below 1 risks too extreme, "
            "above 1 too modest)."
        )
    if HORIZON > FOLLOW_UP:
        notes.append(
            f"Day {HORIZON:g} is past the longest follow-up in training (day {FOLLOW_UP:g}): the risk is extrapolated."
        )
    return notes


# the same for every card of this champion: said once, at the service's start
HORIZON_IN_WORDS = _in_words(HORIZON)
HORIZON_NOTES = tuple(_horizon_notes())
