"""FHIR R4 JSON written for the tests (as an EHR's prefetch would hold it) for the CDS blocks of the birthwt example
(examples/birthwt.yaml) and of the bundled prognosis and progression models (params.yaml): those say what the codes
are."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import yaml

from medmaas.environment import PROJECT_ROOT

LOINC, SNOMED, LOCAL = "http://loinc.org", "http://snomed.info/sct", "urn:medmaas:example"
PATIENT_ID = "pt-0042"
# dates are relative to today: a service reads the record at its own clock, and an age or a look-back must not drift
TODAY = datetime.now(timezone.utc).date()
NOW = f"{TODAY.isoformat()}T12:00:00+00:00"  # the clock of the tests that call blocks/fhir.py directly


def days_ago(days: int, at: str = "") -> str:
    return (TODAY - timedelta(days=days)).isoformat() + at


def born(years_ago: int) -> str:
    """A birth date that makes the patient ``years_ago`` whole years old on any day of this year."""
    return f"{TODAY.year - years_ago}-01-01"


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
    """A whole prefetch: 28 years old, 58 kg (two weeks ago; an older 61 kg, five months ago), black, a smoker, one
    preterm birth, hypertension resolved, two visits; ``changes`` replace prefetch keys."""
    weight = weight or quantity(58, "kg")
    prefetch = {
        "patient": {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": born(28), "gender": "female"},
        "observations": bundle(
            observation(LOINC, "29463-7", days_ago(14, "T09:30:00+00:00"), **weight),
            observation(LOINC, "29463-7", days_ago(150, "T09:30:00+00:00"), **quantity(61, "kg")),
            observation(LOINC, "32624-9", days_ago(214), valueCodeableConcept={"coding": [{"code": "2054-5"}]}),
            observation(LOINC, "11637-6", days_ago(14), **quantity(1, "{#}")),
            observation(LOCAL, "first-trimester-visits", days_ago(14), **quantity(2, "{#}")),
        ),
        "conditions": bundle(condition("77176002"), condition("38341003", status="resolved")),
    }
    return prefetch | changes


# what mother()'s record gives the model, as raw values (58 kg in pounds, ...)
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


# --- the bundled prognosis and progression models' CDS blocks (params.yaml) ---------------------------------------
def breast_cancer_record(**changes: Any) -> dict[str, Any]:
    """For the GBSG2 model: 56 years old, after menopause, a 2.5 cm grade-2 tumour, 3 positive nodes, receptors sent in
    two units (40 fmol/L, 0.06 pmol/L), on hormone therapy; ``changes`` replace prefetch keys."""
    prefetch = {
        "patient": {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": born(56), "gender": "female"},
        "observations": bundle(
            observation(LOINC, "21889-1", days_ago(30), **quantity(2.5, "cm")),
            observation(LOCAL, "histologic-grade", days_ago(30), **quantity(2, "1")),
            observation(LOINC, "21893-3", days_ago(30), **quantity(3, "{#}")),
            observation(LOCAL, "progesterone-receptor", days_ago(30), **quantity(40, "fmol/L")),
            observation(LOCAL, "oestrogen-receptor", days_ago(30), **quantity(0.06, "pmol/L")),
        ),
        "conditions": bundle(condition("307429007"), condition("hormone-therapy", system=LOCAL)),
    }
    return prefetch | changes


BREAST_CANCER_AS_VALUES = {
    "age": 56,
    "postmenopausal": 1,
    "tumour_size_mm": 25.0,
    "tumour_grade": 2,
    "positive_nodes": 3,
    "progesterone_receptor": 40.0,
    "oestrogen_receptor": 60.0,
    "hormone_therapy": 1,
}


def diabetes_record(gender: str = "female", **changes: Any) -> dict[str, Any]:
    """For the diabetes model: 50 years old, BMI 27, mean pressure 95 mm[Hg], lipids and glucose in mmol/L as a European
    lab sends them (converted to the model's mg/dL through the declared molar masses), triglycerides as their log."""
    prefetch = {
        "patient": {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": born(50), "gender": gender},
        "observations": bundle(
            observation(LOINC, "39156-5", days_ago(20), **quantity(27, "kg/m2")),
            observation(LOINC, "8478-0", days_ago(20), **quantity(95, "mm[Hg]")),
            observation(LOINC, "2093-3", days_ago(20), **quantity(5.0, "mmol/L")),
            observation(LOINC, "13457-7", days_ago(20), **quantity(115, "mg/dL")),
            observation(LOINC, "2085-9", days_ago(20), **quantity(1.3, "mmol/L")),
            observation(LOINC, "9830-1", days_ago(20), **quantity(3.85, "{ratio}")),
            observation(LOINC, "2571-8", days_ago(20), **quantity(1.5, "mmol/L")),
            observation(LOINC, "2345-7", days_ago(20), **quantity(5.2, "mmol/L")),
        ),
        "conditions": bundle(),
    }
    return prefetch | changes


DIABETES_AS_VALUES = {
    "age": 50,
    "sex": 1,  # female, as the block maps it
    "bmi": 27.0,
    "bp": 95.0,
    "total_cholesterol": 5.0 * 38.665,  # mmol/L x 386.65 g/mol, in mg/dL
    "ldl": 115.0,
    "hdl": 1.3 * 38.665,
    "cholesterol_hdl_ratio": 3.85,
    "log_triglycerides": math.log(1.5 * 88.57),
    "glucose": 5.2 * 18.016,
}
