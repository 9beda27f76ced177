"""FHIR R4 JSON written for the tests (as an EHR's prefetch would hold it), and the CDS mapping of the birthwt example.

The codes: LOINC 29463-7 (body weight), 32624-9 (race), 11637-6 (preterm births); SNOMED CT 77176002 (smoker) and
38341003 (hypertensive disorder). Uterine irritability and first-trimester visits have no code here: local ones.
"""

from __future__ import annotations

from typing import Any

LOINC, SNOMED, LOCAL = "http://loinc.org", "http://snomed.info/sct", "urn:medmaas:example"
PATIENT_ID = "pt-0042"
NOW = "2026-12-01T12:00:00+00:00"

FEATURES = {
    "age": {"source": "age"},
    "weight_lb": {"code": "29463-7", "unit": "[lb_av]"},
    "race": {"code": "32624-9", "categories": {"2106-3": "white", "2054-5": "black"}, "otherwise": "other"},
    "smoker": {"source": "condition", "codes": ["77176002"]},
    "premature_labours": {"code": "11637-6", "unit": "{#}"},
    "hypertension": {"source": "condition", "codes": ["38341003"]},
    "uterine_irritability": {"source": "condition", "codes": ["uterine-irritability"]},
    "physician_visits": {"system": LOCAL, "code": "first-trimester-visits", "unit": "{#}"},
}


def cds_block(audience: str, clients: list[dict] | None = None) -> dict[str, Any]:
    return {
        "id": "low-birth-weight",
        "hook": "patient-view",
        "title": "Low birth weight",
        "description": "Probability of a birth weight under 2.5 kg, from the mother's record (MASS::birthwt model).",
        "lookback_days": 270,
        "audience": audience,
        "risk_bands": [
            {"below": 0.25, "indicator": "info"},
            {"below": 0.5, "indicator": "warning"},
            {"indicator": "critical"},
        ],
        "features": FEATURES,
        "clients": clients or [],
    }


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


def hook_request(prefetch: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": PATIENT_ID},
        "prefetch": prefetch,
    } | changes
