"""What every service shares: answers that name the model that gave them, and the one way to make a service.

    @champion_service("diagnosis", LIMITS, CHAMPION)
    class DiagnosisService: ...

``champion_service`` is BentoML's ``@bentoml.service`` with the house settings and the guard in front
(serving/guard.py), so a service without keys, bounded bodies and the audit log cannot be written by forgetting a
line; ``tests/tools/test_services.py`` checks that no service reaches for ``bentoml.service`` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import bentoml
from pydantic import BaseModel, Field

from medmaas.champions import Champion
from medmaas.settings import ServingSettings
from serving.guard import SERVICE_CONFIG, protect

ServiceClass = TypeVar("ServiceClass", bound=type)


class Answer(BaseModel):
    """Every answer names the registered model and the version that gave it."""

    model: str = Field(description="the registered model that answered")
    version: str = Field(description="its version in the registry")


class ClassPrediction(Answer):
    """One item's class probabilities and the predicted class (a patient, an image)."""

    probabilities: dict[str, float] = Field(description="probability of each class; they sum to 1")
    predicted: str


def answered_by(champion: Champion) -> dict[str, str]:
    """The fields of ``Answer`` for ``champion``'s answers."""
    return {"model": champion.registered_model, "version": champion.version}


def champion_service(
    name: str, settings: ServingSettings, champion: Champion, routes: dict[str, Champion] | None = None
) -> Callable[[ServiceClass], ServiceClass]:
    """A class decorator: a BentoML service named ``name`` with the house settings, behind the guard. Its audit lines
    name ``champion``, or for a route in ``routes`` (a service with several models) that route's champion."""

    def make(cls: ServiceClass) -> ServiceClass:
        service = bentoml.service(name=name, **SERVICE_CONFIG)(cls)
        protect(
            service,
            settings,
            (champion.registered_model, champion.version),
            {route: (c.registered_model, c.version) for route, c in (routes or {}).items()},
        )
        return service  # type: ignore[return-value]  # BentoML's Service stands in for the class it wraps

    return make
