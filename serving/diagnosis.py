"""Online diagnosis: the diagnosis champion behind a typed HTTP API.

    bentoml serve serving.diagnosis:DiagnosisService          (or: medmaas serve diagnosis)

Requests carry features only, never a patient identifier; answers come back in request order.
"""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import bentoml
import numpy as np
import pandas as pd
from bentoml.validators import DType, Shape
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from blocks.encoding import FeatureMatrix
from blocks.fhir import prepare
from families.diagnosis.family import Diagnosis
from serving import tracing
from serving.base import Answer, ClassPrediction, answered_by, champion_service
from serving.bodies import strict_api
from serving.cds_auth import ROOT as CDS_ROOT
from serving.cds_hooks import CdsApp, Scored, card_evaluations, cards_for
from serving.champion import PredictionRecorder, resolve_champion
from serving.explain import Contribution, Explainer

CHAMPION = resolve_champion("diagnosis", Diagnosis)
FEATURES: list[str] = CHAMPION.serving["feature_names"]
LIMITS = CHAMPION.family.settings.serving
if TYPE_CHECKING:
    Patient = BaseModel  # for the type checker; at run time the champion's own request model, its fields typed
else:
    Patient = CHAMPION.family.patient_model(CHAMPION.serving)
MATRIX = FeatureMatrix(CHAMPION.serving)  # raw values <-> numbers, for the array endpoint
RECORD = PredictionRecorder(CHAMPION)


class Explanation(Answer):
    explained_class: str
    probability: float = Field(description="the model's probability of explained_class for this patient")
    base_value: float = Field(
        description="mean probability over the background; base_value + sum(contributions) = probability"
    )
    contributions: list[Contribution] = Field(description="largest effect first")


def _rows_of_numbers(features: Any) -> Any:
    """The JSON as sent, before BentoML makes an array of it (it would reshape a 3-D list and read "5" or true as
    numbers)."""
    if not isinstance(features, list) or not features:
        raise ValueError(f"features must be a non-empty list of rows, each a list of {len(FEATURES)} numbers")
    for index, row in enumerate(features):  # the body's size is bounded, so this loop is too
        if not isinstance(row, list) or len(row) != len(FEATURES):
            raise ValueError(
                f"features[{index}] must be a list of {len(FEATURES)} numbers, in this order: {', '.join(FEATURES)}"
            )
        if not all(type(v) in (int, float) for v in row):
            raise ValueError(f"features[{index}] must hold numbers only (not text, booleans or null)")
    if len(features) > LIMITS.max_items_per_request:
        raise ValueError(f"features has {len(features)} rows; at most {LIMITS.max_items_per_request} per request")
    return features


def _finite_rows(features: np.ndarray) -> np.ndarray:
    """Checked per request, before adaptive batching can merge it with other clients' rows."""
    bad = np.argwhere(~np.isfinite(features))
    if len(bad):
        row, col = bad[0]
        raise ValueError(f"features[{row}][{col}] ({FEATURES[col]}) is not a finite number")
    for col, name in enumerate(FEATURES):
        if name in MATRIX.categories:
            codes = features[:, col]
            if invalid := np.flatnonzero(
                (codes != np.round(codes)) | (codes < 0) | (codes >= len(MATRIX.categories[name]))
            ).tolist():
                raise ValueError(
                    f"features[{invalid[0]}][{col}] ({name}) must be the index of one of {MATRIX.categories[name]}"
                )
        elif MATRIX.kinds.get(name) == "boolean" and np.any((features[:, col] != 0) & (features[:, col] != 1)):
            raise ValueError(f"column {col} ({name}) is a boolean: 0 or 1")
    return features


def _probability_of(model: Any, index: int, frame: pd.DataFrame) -> np.ndarray:
    """One class's probability: what the explainer explains for that class."""
    return np.asarray(model.predict_proba(frame)[:, index])


FeatureArray = Annotated[
    np.ndarray,
    BeforeValidator(_rows_of_numbers),
    Shape((-1, len(FEATURES))),
    DType("float64"),
    AfterValidator(_finite_rows),
]


CARDS = cards_for("diagnosis", LIMITS.cds_hooks, Patient, CHAMPION, RECORD)


@champion_service("diagnosis", LIMITS, CHAMPION)
@bentoml.asgi_app(CdsApp(CARDS), path=CDS_ROOT)
class DiagnosisService:
    def __init__(self) -> None:
        self.family = CHAMPION.family
        with tracing.step("diagnosis", "load model", **tracing.naming(CHAMPION.registered_model, CHAMPION.version)):
            self.model = CHAMPION.load()
        self.classes = [str(c) for c in self.model.classes_]
        positive = self.family.settings.data.positive_label
        self.explained_class = str(positive) if len(self.classes) == 2 and str(positive) in self.classes else None
        self.explainer = Explainer(
            CHAMPION, {cls: partial(_probability_of, self.model, index) for index, cls in enumerate(self.classes)}
        )
        if CARDS is not None:
            prepare(CARDS.settings.features)

    def _frame(self, rows: Any) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=FEATURES)

    @strict_api()
    def predict(
        self,
        patients: Annotated[list[Patient], Field(min_length=1, max_length=LIMITS.max_items_per_request)],
    ) -> list[ClassPrediction]:
        """Probabilities and the predicted class for one patient (a list of one) or many."""
        with tracing.step("diagnosis", "prepare features", items=len(patients)):
            rows = [p.model_dump() for p in patients]
            frame = self._frame(rows)
        with tracing.step("diagnosis", "forward pass", items=len(rows)):
            proba = self.model.predict_proba(frame)
            labels = self.family.predict_labels(self.model, proba)
        answers = [
            ClassPrediction(
                probabilities=dict(zip(self.classes, map(float, row))), predicted=str(label), **answered_by(CHAMPION)
            )
            for row, label in zip(proba, labels)
        ]
        RECORD("predict", rows, [a.model_dump(include={"probabilities", "predicted"}) for a in answers])
        return answers

    @strict_api(batchable=True, batch_dim=0, max_batch_size=LIMITS.max_batch_size, max_latency_ms=LIMITS.max_latency_ms)
    def predict_array(self, features: FeatureArray) -> np.ndarray:
        """Class probabilities (columns in `model_info().classes` order) for rows of features; batched adaptively.

        Numbers only: a boolean as 0/1, a category as its index in `model_info().categories`."""
        with tracing.step("diagnosis", "prepare features", items=len(features)):
            frame = MATRIX.to_frame(features)
        with tracing.step("diagnosis", "forward pass", items=len(frame)):
            proba = self.model.predict_proba(frame)
        RECORD("predict_array", json.loads(frame.to_json(orient="records")), proba.tolist())
        return proba

    @strict_api()
    def explain(self, patient: Patient) -> Explanation:
        """Why: each feature's SHAP contribution to the probability of the explained class."""
        return self._explained(patient)

    def _explained(self, patient: Patient, max_evals: int | None = None) -> Explanation:
        row = self._frame([patient.model_dump()])
        proba = self.model.predict_proba(row)[0]
        explained = self.explained_class or self.classes[int(proba.argmax())]
        why = self.explainer.explain(explained, row, max_evals)
        return Explanation(
            explained_class=explained,
            probability=float(proba[self.classes.index(explained)]),
            base_value=why.base_value,
            contributions=why.contributions,
            **answered_by(CHAMPION),
        )

    def card_score(self, patient: Patient) -> Scored:
        """A CDS card's number (serving/cds_hooks.py): the probability of the explained class, and why."""
        explanation = self._explained(patient, max_evals=card_evaluations(len(FEATURES)))
        return Scored(
            score=explanation.probability,
            headline=f"{explanation.probability:.0%} probability",
            meaning=f"the model's probability of class `{explanation.explained_class}`",
            explained="the probability",
            contributions=explanation.contributions,
            logged={"probability": explanation.probability},
        )

    @strict_api()
    def model_info(self) -> dict[str, Any]:
        """Which model answers: version, training data hash, held-out metrics, link to its model card."""
        return {
            **CHAMPION.info,
            "classes": self.classes,
            "features": FEATURES,
            "explained_class": self.explained_class,
            "kinds": MATRIX.kinds,
            "categories": MATRIX.categories,
        }
