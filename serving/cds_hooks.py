"""CDS Hooks 2.0 for a tabular service: the EHR discovers the service at ``GET /cds-services`` and calls
``POST /cds-services/{id}`` with the patient's FHIR R4 resources in ``prefetch``; the answer is a card.

The mapping from FHIR to the model's features is declared per model (``serving.cds_hooks`` in its block) and applied
by blocks/fhir.py. The EHR signs each call with a JWT (ES384 or RS384) that serving/cds_auth.py checks against the
JWKS of the client that issued it; the guard accepts that or an API key, and writes the audit line either way.
Cards carry the model's probability, the contributions behind it, the model and version: never an identifier of the
patient.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ValidationError

from blocks.fhir import FhirProblem, features_from, read_prefetch
from medmaas.champions import Champion
from medmaas.settings import CdsHooksSettings
from serving import tracing
from serving.base import Answer, answered_by
from serving.cds_auth import ROOT
from serving.champion import PredictionRecorder
from serving.explain import Contribution
from serving.guard import read_body

PATIENT_ID_PATTERN = r"^[A-Za-z0-9\-.]{1,64}$"  # a FHIR id
SUMMARY_LIMIT = 140
MAX_BODY = 100_000_000  # the largest serving.max_body_bytes: the guard has enforced the block's own


class Assessment(Answer):
    """What a service says of one patient for a card: the number its risk bands read, and why."""

    score: float = 0.0  # a probability, or a value in the outcome's units: what the risk bands read
    indicator: str = "info"  # the risk band the score falls in
    headline: str = ""  # the summary after the title: "43% probability", "28% risk by 3 years"
    meaning: str = ""  # what the score is, for the detail
    explained: str = ""  # what the contributions add up to
    contributions: list[tuple[str, Any, float]] = []  # feature, value, contribution (largest effect first)
    notes: list[str] = []  # e.g. an extrapolation
    candidate: str | None = None
    model_card: str | None = None
    not_assessed: list[str] = []  # features outside what the model accepts: no score


@dataclass(frozen=True)
class Scored:
    """A service's number for one patient's card (its ``scored`` function makes it)."""

    score: float
    headline: str
    meaning: str
    explained: str
    contributions: list[Contribution]
    logged: dict[str, float]  # what the prediction log keeps
    notes: list[str] = field(default_factory=list)


def card_evaluations(features: int) -> int:
    """Model evaluations for a card's explanation: an EHR waits on it, so one antithetic permutation (exactly additive,
    exact for pairwise interactions), not shap's 500; its top three match the default's as often as four permutations'
    do (benchmarks/card_explanations.py)."""
    return 2 * features + 1


@dataclass(frozen=True)
class Cards:
    """What a service's cards need besides its number for a patient (its ``card_score``): the block, the request
    model, the champion and its prediction log."""

    service: str
    settings: CdsHooksSettings
    patient_model: type[BaseModel]
    champion: Champion
    record: PredictionRecorder

    def assess(self, values: dict[str, Any], scored: Callable[[Any], Scored]) -> Assessment:
        """One patient's values from a call, scored by the service's ``scored``; values the model does not accept
        (outside its ranges) are named, not scored. Counted by risk band and logged like any prediction."""
        made_by = answered_by(self.champion)
        try:
            patient = self.patient_model(**_as_requested(values, self.patient_model))
        except ValidationError as error:
            return Assessment(not_assessed=sorted({str(e["loc"][0]) for e in error.errors() if e["loc"]}), **made_by)
        with tracing.step(self.service, "forward pass and explanation", items=1):
            result = scored(patient)
        bands = self.settings.risk_bands
        indicator = next(b.indicator for b in bands if b.below is None or result.score < b.below)
        self.record("cds_hooks", [patient.model_dump()], [result.logged], outcomes=[f"band {indicator}"])
        return Assessment(
            score=result.score,
            indicator=indicator,
            headline=result.headline,
            meaning=result.meaning,
            explained=result.explained,
            contributions=[(c.feature, c.value, c.contribution) for c in result.contributions[:3]],
            notes=result.notes,
            candidate=self.champion.info.get("candidate"),
            model_card=self.champion.info.get("model_card"),
            **made_by,
        )


def _as_requested(values: dict[str, Any], patient_model: type[BaseModel]) -> dict[str, Any]:
    """A Condition gives true or false; a model trained on a 0/1 column asks for 1 or 0."""
    fields = patient_model.model_fields
    return {
        name: int(value) if isinstance(value, bool) and name in fields and fields[name].annotation is int else value
        for name, value in values.items()
    }


def cards_for(
    service: str,
    settings: CdsHooksSettings | None,
    patient_model: type[BaseModel],
    champion: Champion,
    record: PredictionRecorder,
) -> Cards | None:
    """The service's cards if its block declares exactly the model's features; otherwise the service starts without
    CDS Hooks (its other routes unharmed) and says why (a model retrained on another table: ``feature_columns: all``).
    """
    if settings is None:
        return None
    if mismatch := settings.mismatch_with(champion.serving["feature_names"]):
        print(f"*** {service}: CDS Hooks off: {mismatch} ***", file=sys.stderr, flush=True)  # reaches `bentoml serve`
        return None
    return Cards(service, settings, patient_model, champion, record)


class CdsRefused(ValueError):
    """A CDS request the service answers with a 400 naming the field (never a value)."""


# --- discovery and cards ------------------------------------------------------------------------------------------
def discovery(settings: CdsHooksSettings | None) -> dict[str, Any]:
    if settings is None:
        return {"services": []}
    codes = ",".join(sorted({f"{f.system}|{f.code}" for f in settings.features.values() if f.source == "observation"}))
    return {
        "services": [
            {
                "id": settings.id,
                "hook": settings.hook,
                "title": settings.title,
                "description": settings.description,
                "prefetch": {
                    "patient": "Patient/{{context.patientId}}",
                    "observations": f"Observation?subject={{{{context.patientId}}}}&code={codes}&_sort=-date",
                    "conditions": "Condition?subject={{context.patientId}}&clinical-status=active",
                },
            }
        ]
    }


def _card(summary: str, indicator: str, detail: str, model: str, version: str) -> dict[str, Any]:
    """A CDS Hooks card; its source names the model that made it."""
    return {
        "uuid": str(uuid.uuid4()),
        "summary": summary if len(summary) < SUMMARY_LIMIT else summary[: SUMMARY_LIMIT - 2] + "…",
        "indicator": indicator,
        "detail": detail,
        "source": {"label": f"medmaas {model} v{version}"},
    }


def card_for(settings: CdsHooksSettings, assessment: Assessment) -> dict[str, Any]:
    made_by = (assessment.model, assessment.version)
    if assessment.not_assessed:
        fields = ", ".join(assessment.not_assessed)
        return _card(
            f"{settings.title}: not assessed ({fields} outside the model's range)",
            "info",
            f"The model was not applied: {fields} lie outside the values it accepts (its training range). No risk is "
            "shown rather than a guess.",
            *made_by,
        )
    lines = [
        f"**{settings.title}: {assessment.headline}**, {assessment.meaning} (no per-patient interval for this model).",
        *[f"\n{note}" for note in assessment.notes],
        "",
        f"What moved it most (SHAP contributions to {assessment.explained}):",
        *[f"- {name} = {_shown(value)}: {contribution:+.3g}" for name, value, contribution in assessment.contributions],
        "",
        f"Model: {assessment.model} v{assessment.version}"
        + (f" ({assessment.candidate})" if assessment.candidate else "")
        + (f"; model card: `{assessment.model_card}` in the registry." if assessment.model_card else "."),
    ]
    return _card(f"{settings.title}: {assessment.headline}", assessment.indicator, "\n".join(lines), *made_by)


def missing_card(settings: CdsHooksSettings, missing: list[str], model: str, version: str) -> dict[str, Any]:
    fields = ", ".join(missing)
    return _card(
        f"{settings.title}: not assessed, missing {fields}",
        "info",
        f"The record sent has no value for {fields} (Observations within the last {settings.lookback_days} days, or "
        "the Patient's birth date or gender). The model was not applied: no risk is shown rather than a guess.",
        model,
        version,
    )


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value).lower() if isinstance(value, bool) else str(value)


def answer(
    settings: CdsHooksSettings,
    request: Any,
    assess: Callable[[dict[str, Any]], Assessment],
    model: str,
    version: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The response to one hook call: ``{"cards": [...]}``; ``CdsRefused``/``FhirProblem`` for a request to refuse."""
    if not isinstance(request, dict):
        raise CdsRefused("the body must be a JSON object (a CDS Hooks request)")
    if request.get("hook") != settings.hook:
        raise CdsRefused(f"hook: this service answers {settings.hook}")
    if not isinstance(request.get("hookInstance"), str) or not request["hookInstance"]:
        raise CdsRefused("hookInstance: a string is required")
    context = request.get("context")
    patient_id = context.get("patientId") if isinstance(context, dict) else None
    if not isinstance(patient_id, str) or not re.match(PATIENT_ID_PATTERN, patient_id):
        raise CdsRefused("context.patientId: a FHIR id is required")
    if "prefetch" not in request:
        raise CdsRefused("prefetch: required (this service does not query the FHIR server itself)")
    record = read_prefetch(request["prefetch"], patient_id)
    features = features_from(record, settings.features, now or datetime.now(timezone.utc), settings.lookback_days)
    if features.missing:
        return {"cards": [missing_card(settings, features.missing, model, version)]}
    return {"cards": [card_for(settings, assess(features.values))]}


# --- the mounted app ----------------------------------------------------------------------------------------------
class CdsApp:
    """The ASGI app a service mounts at /cds-services. The guard in front has already checked the caller and the
    body's size; the service instance (``bentoml.get_current_service()``) scores the patient with its
    ``card_score``."""

    def __init__(self, cards: Cards | None) -> None:
        self.cards = cards
        self.settings = cards.settings if cards is not None else None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        tail = scope.get("path", "").removeprefix(scope.get("root_path", "")).removeprefix(ROOT).rstrip("/")
        method = scope.get("method")
        if tail == "" and method == "GET":
            await _json(send, 200, discovery(self.settings))
        elif self.settings is not None and tail == f"/{self.settings.id}" and method == "POST":
            await self._call(receive, send)
        elif tail == "" or (self.settings is not None and tail == f"/{self.settings.id}"):
            await _json(send, 405, {"error": "discovery answers GET, a service POST"})
        else:
            await _json(send, 404, {"error": "no such CDS service"})

    async def _call(self, receive: Any, send: Any) -> None:
        import anyio
        import bentoml

        assert self.cards is not None
        body = await read_body(receive, MAX_BODY)  # bounded by the guard in front already
        try:
            request = json.loads(body if isinstance(body, bytes) else b"")
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            await _json(send, 400, {"error": "the body is not JSON this service reads (invalid, or nested too deep)"})
            return
        scored = bentoml.get_current_service().card_score
        cards = self.cards
        model, version = cards.champion.registered_model, cards.champion.version

        def answered() -> dict[str, Any]:
            with tracing.step(cards.service, "FHIR to features, assessment, card"):
                return answer(cards.settings, request, lambda values: cards.assess(values, scored), model, version)

        try:
            response = await anyio.to_thread.run_sync(answered)  # the request's span travels with the context
        except (CdsRefused, FhirProblem) as problem:
            await _json(send, 400, {"error": str(problem)})
            return
        await _json(send, 200, response)


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _json(send: Any, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
