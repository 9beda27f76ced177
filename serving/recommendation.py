"""Online treatment recommendation: the recommendation champion behind a typed HTTP API.

    bentoml serve serving.recommendation:RecommendationService   (or: medmaas serve recommendation)

- ``recommend``: a patient the model was trained on (by id) -> the top-k treatments they have not
  had, each with its predicted outcome and its reason;
- ``recommend_new``: a patient outside the training data, from the outcomes they report (a fold-in
  into the same model; with none reported, the most popular treatments);
- ``model_info``: the version, its metrics, the outcome scale and the treatments it knows.

Reasons name treatments, never another patient: similar patients appear as counts and averages.
No answer or log line repeats a patient id.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import bentoml
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, Strict

from blocks.sparse import PatientRows
from families.recommendation.family import Recommendation
from serving import tracing
from serving.base import Answer, answered_by, champion_service
from serving.bodies import strict_api
from serving.champion import resolve_champion

CHAMPION = resolve_champion("recommendation", Recommendation)
SETTINGS = CHAMPION.family.settings
SCALE = SETTINGS.data.scale
LIMITS = SETTINGS.recommend
TopK = Annotated[
    int,
    Strict(),
    Field(
        ge=1, le=LIMITS.max_k, description="how many treatments to return; the first k of a longer list are the same"
    ),
]


class ReportedOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")
    treatment: str = Field(
        min_length=1, max_length=200, description="a treatment id the model knows (model_info lists them)"
    )
    outcome: Annotated[float, Strict()] = Field(
        ge=SCALE.min,
        le=SCALE.max,
        allow_inf_nan=False,
        description=f"on the declared scale, {SCALE.min:g} to {SCALE.max:g}",
    )


class Driver(BaseModel):
    treatment: str = Field(description="one of the patient's own treatments")
    your_outcome: float
    similarity: float = Field(
        description="how much this treatment pushed the recommendation (the candidate's own scale)"
    )


class Reason(BaseModel):
    based_on: Literal["similar_patients", "similar_treatments", "popularity"]
    summary: str
    treatments: list[Driver] = Field(
        default_factory=list, description="similar_treatments: the patient's treatments that drove it"
    )
    similar_patients: int | None = Field(
        None, description="similar_patients / popularity: how many patients behind it (a count, no ids)"
    )
    mean_similarity: float | None = None
    their_mean_outcome: float | None = None


class RecommendedTreatment(BaseModel):
    rank: int
    treatment: str
    score: float = Field(
        description="the ranking score (the candidate's own scale): the list is in its order, best first; ties go to "
        "the more popular"
    )
    predicted_outcome: float = Field(description=f"expected outcome on the {SCALE.min:g}-{SCALE.max:g} scale")
    reason: Reason


class Recommendations(Answer):
    recommendations: list[RecommendedTreatment] = Field(
        description="best first; never a treatment the patient already had"
    )
    patient: Literal["known", "new"]


@champion_service("recommendation", SETTINGS.serving, CHAMPION)
class RecommendationService:
    def __init__(self) -> None:
        with tracing.step(
            "recommendation", "load model", **tracing.naming(CHAMPION.registered_model, CHAMPION.version)
        ):
            self.model = CHAMPION.load()

    def _answer(self, rows: PatientRows, k: int, patient: Literal["known", "new"]) -> Recommendations:
        with tracing.step("recommendation", "forward pass", items=len(rows)):
            columns, scores, predicted = self.model.recommend(rows, k)
        listed = columns[0] >= 0
        columns, scores, predicted = columns[0][listed], scores[0][listed], predicted[0][listed]
        items = [
            RecommendedTreatment(
                rank=rank,
                treatment=str(self.model.treatments[column]),
                score=float(score),
                predicted_outcome=round(float(value), 4),
                reason=Reason(**reason),
            )
            for rank, (column, score, value, reason) in enumerate(
                zip(columns, scores, predicted, self.model.reasons(rows, columns)), start=1
            )
        ]
        return Recommendations(recommendations=items, patient=patient, **answered_by(CHAMPION))

    @strict_api()
    def recommend(
        self, patient_id: Annotated[str, Field(min_length=1, max_length=200)], k: TopK = LIMITS.default_k
    ) -> Recommendations:
        """Top-k untried treatments for a patient in the training data."""
        row = self.model.row_of(patient_id)
        if row is None:  # the id is not repeated: it must not reach a response or a log
            raise bentoml.exceptions.NotFound(
                "patient_id: not a patient this model was trained on; send their outcomes to recommend_new instead"
            )
        return self._answer(self.model.training_rows(np.array([row])), k, "known")

    @strict_api()
    def recommend_new(
        self,
        outcomes: Annotated[list[ReportedOutcome], Field(max_length=LIMITS.max_reported_outcomes)] = [],  # noqa: B006 (pydantic copies it)
        k: TopK = LIMITS.default_k,
    ) -> Recommendations:
        """Top-k for a new patient from the outcomes they report; with none, the most popular treatments."""
        seen: set[str] = set()
        columns = self.model.treatment_column(np.array([o.treatment for o in outcomes], dtype=object))
        for index, (reported, column) in enumerate(zip(outcomes, columns)):
            if reported.treatment in seen:  # never the name itself: it is the client's text
                raise bentoml.exceptions.InvalidArgument(
                    f"outcomes[{index}].treatment: the same treatment is reported twice"
                )
            if column < 0:
                raise bentoml.exceptions.InvalidArgument(
                    f"outcomes[{index}].treatment: not a treatment this model knows (model_info lists them)"
                )
            seen.add(reported.treatment)
        return self._answer(self.model.new_patient({o.treatment: o.outcome for o in outcomes}), k, "new")

    @strict_api()
    def model_info(self) -> dict[str, Any]:
        """Which model answers: version, provenance, held-out metrics, outcome scale, limits, known treatments."""
        return {
            **CHAMPION.info,
            "scale": SCALE.model_dump(),
            "max_k": LIMITS.max_k,
            "default_k": LIMITS.default_k,
            "treatments": [str(t) for t in self.model.treatments],
        }
