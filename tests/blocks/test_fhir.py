"""From FHIR R4 prefetch to a model's features: codes, look-back, UCUM conversion, conditions, age; and what is
refused (invalid FHIR, units that do not convert) without repeating a value."""

from datetime import datetime

import pytest
import yaml
from fhir_records import (
    DIABETES_AS_VALUES,
    FEATURES,
    LOINC,
    NOW,
    PATIENT_ID,
    bundle,
    days_ago,
    diabetes_record,
    mother,
    observation,
    quantity,
)

from blocks.fhir import FhirProblem, UnitProblem, convert, features_from, read_prefetch
from families import load_params
from medmaas.environment import PROJECT_ROOT
from medmaas.settings import ConfigError, FhirFeature

DECLARED = {name: FhirFeature(**spec) for name, spec in FEATURES.items()}


def features(prefetch, lookback_days=270):
    return features_from(read_prefetch(prefetch, PATIENT_ID), DECLARED, datetime.fromisoformat(NOW), lookback_days)


def test_the_latest_observation_in_the_look_back_converted_to_the_model_s_unit_and_conditions_as_booleans():
    found = features(mother())
    assert found.missing == []
    assert found.values["weight_lb"] == pytest.approx(58 / 0.45359237)  # the latest of two, kg -> [lb_av]
    assert found.values | {"weight_lb": None} == {
        "age": 28,
        "weight_lb": None,
        "race": "black",
        "smoker": True,
        "premature_labours": 1.0,
        "hypertension": False,  # resolved
        "uterine_irritability": False,  # no such condition in the record
        "physician_visits": 2.0,
    }


def test_a_feature_with_no_observation_in_the_look_back_is_missing_never_filled_in():
    assert features(mother(), lookback_days=10).missing == [
        "weight_lb",
        "race",
        "premature_labours",
        "physician_visits",
    ]
    without_birth_date = mother(patient={"resourceType": "Patient", "id": PATIENT_ID})
    assert features(without_birth_date).missing == ["age"]


def test_units_convert_by_ucum_and_through_a_declared_molar_mass():
    assert convert(100, "[lb_av]", "kg", "29463-7") == pytest.approx(45.359237)
    assert convert(5.5, "mmol/L", "mg/dL", "2345-7", molar_mass=180.16) == pytest.approx(99.088)
    assert convert(98.6, "[degF]", "Cel", "8310-5") == pytest.approx(37.0)
    assert convert(2, "{#}", "1", "11637-6") == 2


@pytest.mark.parametrize(
    ("sent", "because"),
    [("mg/dL", "does not convert to [lb_av]"), ("stone-ish", "not a UCUM unit"), (None, "has no unit")],
)
def test_a_unit_that_cannot_be_converted_is_refused_naming_the_code(sent, because):
    weight = {"valueQuantity": {"value": 58, **({"unit": sent, "code": sent} if sent else {})}}
    with pytest.raises(UnitProblem) as refused:
        features(mother(weight=weight))
    assert "Observation 29463-7" in str(refused.value) and because in str(refused.value)


def test_invalid_fhir_is_refused_naming_the_place_never_the_value():
    cases = {
        "prefetch.patient.birthDate": mother(
            patient={"resourceType": "Patient", "id": PATIENT_ID, "birthDate": "Jane"}
        ),
        "prefetch.observations.entry[0].resource.valueQuantity.value": mother(
            observations=bundle(observation(LOINC, "29463-7", days_ago(14), valueQuantity={"value": "Doe-58"}))
        ),
        "prefetch.conditions.entry[0]": mother(conditions=bundle(observation(LOINC, "29463-7", days_ago(14)))),
        "prefetch.patient": {"observations": bundle()},
    }
    for place, prefetch in cases.items():
        with pytest.raises(FhirProblem) as refused:
            read_prefetch(prefetch, PATIENT_ID)
        assert str(refused.value).startswith(place), (place, str(refused.value))
        assert "Jane" not in str(refused.value) and "Doe" not in str(refused.value)


def test_resources_of_another_patient_are_left_out():
    other = observation(LOINC, "29463-7", days_ago(1), **quantity(90, "kg")) | {"subject": {"reference": "Patient/x"}}
    prefetch = mother()
    prefetch["observations"]["entry"].append({"resource": other})
    assert features(prefetch).values["weight_lb"] == pytest.approx(58 / 0.45359237)
    with pytest.raises(FhirProblem, match="context.patientId"):
        read_prefetch(mother(), "someone-else")


def test_a_category_code_the_mapping_does_not_know_takes_the_declared_otherwise():
    coded = observation(LOINC, "32624-9", days_ago(214), valueCodeableConcept={"coding": [{"code": "2028-9"}]})
    assert features(mother(observations=bundle(coded))).values.get("race") == "other"


def test_conversions_from_many_threads_at_once_all_come_out_right():
    # a service answers several EHR calls at once; the UCUM parser and pint's registry are not thread-safe alone
    from concurrent.futures import ThreadPoolExecutor

    sent = [("kg", 58 / 0.45359237), ("g", 0.058 / 0.45359237), ("[lb_av]", 58.0)] * 400
    with ThreadPoolExecutor(16) as pool:
        converted = list(pool.map(lambda pair: convert(58, pair[0], "[lb_av]", "29463-7"), sent))
    assert converted == pytest.approx([expected for _, expected in sent])


def test_the_bundled_blocks_read_gender_through_their_mapping_and_take_the_log_the_model_was_trained_on():
    params = load_params(PROJECT_ROOT / "params.yaml")
    diabetes = params.families["progression"].serving.cds_hooks
    found = features_from(
        read_prefetch(diabetes_record(), PATIENT_ID), diabetes.features, datetime.fromisoformat(NOW), 365
    )
    assert found.missing == [] and found.values == pytest.approx(DIABETES_AS_VALUES)
    male = features_from(
        read_prefetch(diabetes_record("male"), PATIENT_ID), diabetes.features, datetime.fromisoformat(NOW), 365
    )
    assert male.values["sex"] == 2
    unknown = features_from(
        read_prefetch(diabetes_record("unknown"), PATIENT_ID), diabetes.features, datetime.fromisoformat(NOW), 365
    )
    assert unknown.missing == ["sex"]  # a gender the model has no code for is not guessed
    zero = diabetes_record()
    zero["observations"]["entry"][6]["resource"]["valueQuantity"]["value"] = 0
    with pytest.raises(FhirProblem, match="Observation 2571-8: the model takes its logarithm"):
        features_from(read_prefetch(zero, PATIENT_ID), diabetes.features, datetime.fromisoformat(NOW), 365)


@pytest.mark.parametrize(
    ("family", "cds", "named"),
    [
        ("prognosis", {"risk_bands": [{"below": 30, "indicator": "info"}, {"indicator": "critical"}]}, "risk_bands"),
        ("diagnosis", {"horizon_days": 365, "risk_bands": [{"indicator": "info"}]}, "horizon_days"),
        ("progression", {"features": {"bmi": {"code": "39156-5", "categories": {"a": 1}, "log": True}}}, "log"),
        ("progression", {"features": {"sex": {"source": "gender"}}}, "gender feature needs categories"),
        (
            "prognosis",
            {"risk_bands": [{"indicator": "info"}]},
            "serving.cds_hooks.features: the model's postmenopausal",
        ),
    ],
)
def test_a_cds_block_that_does_not_fit_its_family_is_refused_naming_the_key(tmp_path, family, cds, named):
    bundled = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    block = bundled["progression"]["serving"]["cds_hooks"]
    params = {family: bundled[family] | {"serving": {"cds_hooks": block | cds}}}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError, match=named):
        load_params(path)
