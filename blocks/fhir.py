"""From a CDS Hooks request's FHIR R4 prefetch to one row of a model's features, as params declare them.

Every value comes from the patient's own resources: the latest Observation with the declared code inside the
look-back (its unit converted to the one the model was trained in, by UCUM), true where an active Condition carries a
declared code, age from the birth date, a value for the Patient's gender. A feature it cannot find is reported missing,
never filled in; a unit it cannot convert is an error naming the code. Errors name where in the prefetch the problem
is, never a value.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import cache
from typing import Any

from pydantic import ValidationError

from medmaas.settings import FhirFeature

UCUM = "http://unitsofmeasure.org"
INACTIVE = {"inactive", "remission", "resolved"}
USABLE_STATUS = {"final", "amended", "corrected", "preliminary"}


class FhirProblem(ValueError):
    """The prefetch is not valid FHIR R4 or does not say what the model needs in a usable form (a 400)."""


@dataclass(frozen=True)
class PatientRecord:
    """The prefetch, validated: the Patient, their Observations and their Conditions."""

    patient: Any
    observations: list[Any] = field(default_factory=list)
    conditions: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Features:
    values: dict[str, Any]
    missing: list[str]  # features the record does not give (no observation in the look-back, no birth date)


def read_prefetch(prefetch: Any, patient_id: str) -> PatientRecord:
    """Validate ``prefetch.patient`` (a Patient) and the Bundles in ``prefetch.observations`` and
    ``prefetch.conditions`` with fhir.resources' R4B models; only the patient's own resources are kept."""
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.patient import Patient

    if not isinstance(prefetch, dict) or not isinstance(prefetch.get("patient"), dict):
        raise FhirProblem("prefetch.patient: a FHIR Patient resource is required")
    patient = _validated(Patient, prefetch["patient"], "prefetch.patient")
    if patient.id is not None and patient.id != patient_id:
        raise FhirProblem("prefetch.patient: its id is not context.patientId")
    resources: dict[str, list[Any]] = {"Observation": [], "Condition": []}
    for key, kind in (("observations", "Observation"), ("conditions", "Condition")):
        if prefetch.get(key) is None:
            continue
        bundle = _validated(Bundle, prefetch[key], f"prefetch.{key}")
        for position, entry in enumerate(bundle.entry or []):
            resource = entry.resource
            if resource is None:
                continue
            if resource.get_resource_type() != kind:
                raise FhirProblem(f"prefetch.{key}.entry[{position}]: {_article(kind)} {kind} is expected here")
            if _subject(resource) in (None, patient_id, f"Patient/{patient_id}"):
                resources[kind].append(resource)
    return PatientRecord(patient, resources["Observation"], resources["Condition"])


def _article(noun: str) -> str:
    return "an" if noun[0] in "AEIOU" else "a"


def _validated(model: Any, payload: Any, where: str) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        place = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in first["loc"]).replace(".[", "[")
        raise FhirProblem(f"{where}.{place}: {first['msg']}" if place else f"{where}: {first['msg']}") from None


def _subject(resource: Any) -> str | None:
    subject = getattr(resource, "subject", None)
    return subject.reference if subject is not None else None


def features_from(
    record: PatientRecord, declared: dict[str, FhirFeature], now: datetime, lookback_days: int
) -> Features:
    """The model's features from the record; ``UnitProblem`` (a FhirProblem) for a unit that cannot be converted."""
    values: dict[str, Any] = {}
    missing: list[str] = []
    since = now - timedelta(days=lookback_days)
    for name, feature in declared.items():
        if feature.source == "age":
            born = record.patient.birthDate
            if born is None:
                missing.append(name)
            else:
                values[name] = _years_between(born, now.date())
        elif feature.source == "condition":
            values[name] = any(_active(c) and _carries(c.code, None, set(feature.codes)) for c in record.conditions)
        elif feature.source == "gender":
            assert feature.categories is not None  # settings check it
            gender = record.patient.gender
            if gender in feature.categories:
                values[name] = feature.categories[gender]
            else:
                missing.append(name)  # unrecorded, or a gender the model has no value for: not a guess
        else:
            latest = _latest(record.observations, feature, since, now)
            if latest is None:
                missing.append(name)
            else:
                values[name] = _value(latest, feature)
    return Features(values, missing)


def _years_between(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _active(condition: Any) -> bool:
    status = condition.clinicalStatus
    codes = {c.code for c in (status.coding or [])} if status is not None else set()
    return not codes & INACTIVE


def _carries(concept: Any, system: str | None, codes: set[str]) -> bool:
    return concept is not None and any(
        c.code in codes and (system is None or c.system == system) for c in concept.coding or []
    )


def _latest(observations: list[Any], feature: FhirFeature, since: datetime, now: datetime) -> Any | None:
    """The most recent usable observation of the feature's code inside the look-back (None if there is none)."""
    dated = []
    for observation in observations:
        if observation.status not in USABLE_STATUS or not _carries(
            observation.code, feature.system, {feature.code or ""}
        ):
            continue
        when = _effective(observation)
        if when is not None and since <= when <= now + timedelta(minutes=5):
            dated.append((when, observation))
    return max(dated, key=lambda pair: pair[0])[1] if dated else None


def _effective(observation: Any) -> datetime | None:
    when = observation.effectiveDateTime or (observation.effectivePeriod.end if observation.effectivePeriod else None)
    if when is None:
        when = observation.issued
    if isinstance(when, datetime):
        return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    if isinstance(when, date):
        return datetime(when.year, when.month, when.day, tzinfo=timezone.utc)
    return None


def _value(observation: Any, feature: FhirFeature) -> Any:
    if feature.categories is not None:
        concept = observation.valueCodeableConcept
        coded = [c.code for c in (concept.coding or [])] if concept is not None else []
        for code in coded:
            if code in feature.categories:
                return feature.categories[code]
        if feature.otherwise is not None and coded:
            return feature.otherwise
        raise FhirProblem(f"Observation {feature.code}: its coded value is not one this model knows")
    quantity = observation.valueQuantity
    if quantity is None or quantity.value is None:
        raise FhirProblem(f"Observation {feature.code}: a valueQuantity with a value is required")
    sent = quantity.code if quantity.system == UCUM and quantity.code else quantity.unit
    assert feature.unit is not None  # a number feature declares its unit (settings check it)
    value = convert(float(quantity.value), sent, feature.unit, feature.code or "", feature.molar_mass)
    if not feature.log:
        return value
    if value <= 0:
        raise FhirProblem(f"Observation {feature.code}: the model takes its logarithm, so it must be positive")
    return math.log(value)


class UnitProblem(FhirProblem):
    """A unit that is not UCUM or does not convert to the model's."""


def convert(value: float, sent: str | None, wanted: str, code: str, molar_mass: float | None = None) -> float:
    """``value`` in the UCUM unit ``sent``, in ``wanted``; mol-based to mass-based (or back) through ``molar_mass``."""
    if not sent:
        raise UnitProblem(f"Observation {code}: the value has no unit (the model needs {wanted})")
    if sent == wanted:
        return value
    with _UCUM_LOCK:  # ucumvert's parser and pint's registry are not safe across threads; this takes microseconds
        registry = _ucum()
        try:
            quantity = registry.Quantity(value, _unit(sent))
            target = _unit(wanted)
        except Exception:  # noqa: BLE001 (the parser's errors vary; the message below is the user's)
            raise UnitProblem(f"Observation {code}: the unit is not a UCUM unit this service can read") from None
        candidates = [quantity]
        if molar_mass is not None:
            grams_per_mole = registry.Quantity(molar_mass, _unit("g/mol"))
            candidates += [quantity * grams_per_mole, quantity / grams_per_mole]
        for candidate in candidates:
            try:
                return float(candidate.to(target).magnitude)
            except Exception:  # noqa: BLE001 (pint's DimensionalityError, mostly)
                continue
    raise UnitProblem(f"Observation {code}: its unit does not convert to {wanted}")


def prepare(declared: dict[str, FhirFeature]) -> None:
    """Build the UCUM registry, parse the declared units and load FHIR's resource models now (about a second), at a
    service's start, not on an EHR's first call."""
    with _UCUM_LOCK:
        for feature in declared.values():
            if feature.unit is not None:
                _unit(feature.unit)
    subject, code = {"reference": "Patient/warm-up"}, {"coding": [{"code": "warm-up"}]}
    value = {"valueQuantity": {"value": 1, "code": "1"}, "effectiveDateTime": "2026-01-01"}
    read_prefetch(
        {
            "patient": {"resourceType": "Patient", "id": "warm-up"},
            "observations": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [
                    {
                        "resource": {
                            "resourceType": "Observation",
                            "status": "final",
                            "code": code,
                            "subject": subject,
                            **value,
                        }
                    }
                ],
            },
            "conditions": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [
                    {
                        "resource": {
                            "resourceType": "Condition",
                            "code": code,
                            "subject": subject,
                            "clinicalStatus": code,
                        }
                    }
                ],
            },
        },
        "warm-up",
    )


def _without_annotations(unit: str) -> str:
    """UCUM annotations (``{#}``, ``{cells}``) carry no dimension: ``{#}`` alone is 1."""
    plain = re.sub(r"\{[^}]*\}", "", unit)
    return "1" + plain if plain.startswith("/") or not plain else plain.rstrip(".")


_UCUM_LOCK = threading.RLock()


@cache
def _unit(ucum: str) -> Any:
    """The pint unit of a UCUM string, parsed once (an EHR sends few distinct units); under ``_UCUM_LOCK``."""
    return _ucum().from_ucum(_without_annotations(ucum))


@cache
def _ucum() -> Any:
    from ucumvert import PintUcumRegistry

    return PintUcumRegistry()
