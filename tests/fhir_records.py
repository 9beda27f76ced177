"""FHIR R4 JSON written for the tests (as an EHR's prefetch would hold it) for the CDS block of the birthwt example
(examples/birthwt.yaml, which says what its codes are)."""

from __future__ import annotations

from typing import Any

import yaml

from medmaas.environment import PROJECT_ROOT

LOINC, SNOMED, LOCAL = "http://loinc.org", "http://snomed.info/sct", "urn:medmaas:example"
PATIENT_ID = "pt-0042"
NOW = "2026-12-01T12:00:00+00:00"

EXAMPLE = yaml.safe_load((PROJECT_ROOT / "examples" / "birthwt.yaml").read_text())["diagnosis"]["serving"]["cds_hooks"]
FEATURES = EXAMPLE["features"]


def cds_block(audience: str, clients: list[dict] | None = None) -> dict[str, Any]:
    """The example's CDS block, for this audience and these clients."""
    return EXAMPLE | {"audience": audience, "clients": clients or []}


def observation(system: str, code: str, when: str, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "code": {"coding": [{"system": system, "code": code}]},
        "effectiveDateTime": when,
        **value,
    }


def quantity(number: float, ucum: str) -> dict[str, Any]:
    return {"valueQuantity": {"value": number, "unit": ucum, "system": "http://unitsofmeasure.org", "code": ucum}}


def condition(code: str, status: str = "active", system: str = SNOMED) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]
        },
        "code": {"coding": [{"system": system, "code": code}]},
    }


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def mother(weight: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """A whole prefetch: 28 years old, 58 kg (two weeks ago; an older 61 kg too), black, a smoker, one preterm birth,
    hypertension resolved, two visits; ``changes`` replace prefetch keys."""
    weight = weight or quantity(58, "kg")
    prefetch = {
        "patient": {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": "1998-03-14", "gender": "female"},
        "observations": bundle(
            observation(LOINC, "29463-7", "2026-11-17T09:30:00+00:00", **weight),
            observation(LOINC, "29463-7", "2026-07-02T09:30:00+00:00", **quantity(61, "kg")),
            observation(LOINC, "32624-9", "2026-05-01", valueCodeableConcept={"coding": [{"code": "2054-5"}]}),
            observation(LOINC, "11637-6", "2026-11-17", **quantity(1, "{#}")),
            observation(LOCAL, "first-trimester-visits", "2026-11-17", **quantity(2, "{#}")),
        ),
        "conditions": bundle(condition("77176002"), condition("38341003", status="resolved")),
    }
    return prefetch | changes


# what mother()'s record gives the model, as raw values (58 kg in pounds, 28 years on NOW's date, ...)
MOTHER_AS_VALUES = {
    "age": 28,
    "weight_lb": 58 / 0.45359237,
    "race": "black",
    "smoker": True,
    "premature_labours": 1,
    "hypertension": False,
    "uterine_irritability": False,
    "physician_visits": 2,
}


def hook_request(prefetch: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": PATIENT_ID},
        "prefetch": prefetch,
    } | changes
