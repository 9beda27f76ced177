"""CDS Hooks over real HTTP: the birthwt example trained as its own model, served by the diagnosis service with a CDS
block; an EHR (an ES384 key pair made here, its public half in a JWKS file) discovers it and calls it with FHIR it
wrote; bad tokens, bad units, bad FHIR and missing observations get what the specification and the platform promise."""

import json
import time
import uuid
from types import SimpleNamespace

import httpx
import jwt
import pytest
import yaml
from fhir_records import (
    LOINC,
    MOTHER_AS_VALUES,
    PATIENT_ID,
    bundle,
    cds_block,
    days_ago,
    hook_request,
    mother,
    observation,
    quantity,
)
from pydantic import BaseModel
from support import Server, api_key, otlp_collector, spans_received, wait_for

from flows.train import run_family
from medmaas.environment import PROJECT_ROOT, STATE_DIR
from medmaas.settings import CdsHooksSettings
from serving.cds_hooks import cards_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving"), pytest.mark.usefixtures("prefect_harness")]
MODEL, AUDIENCE, ISSUER = "low_birth_weight_cds", "https://cds.example.org", "https://ehr.example.org"
SERVICE = "/cds-services/low-birth-weight"


@pytest.fixture(scope="module")
def ehr_keys(tmp_path_factory):
    """The EHR's signing key (its public half in the JWKS the service trusts) and a stranger's."""
    from cryptography.hazmat.primitives.asymmetric import ec

    signing, stranger = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP384R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(signing.public_key()))
    jwks = tmp_path_factory.mktemp("ehr") / "jwks.json"
    jwks.write_text(json.dumps({"keys": [public | {"kid": "ehr-1", "alg": "ES384", "use": "sig"}]}))
    return signing, stranger, jwks


@pytest.fixture(scope="module")
def collector():
    with otlp_collector() as (endpoint, received):
        yield endpoint, received


@pytest.fixture(scope="module")
def server(session_dir, wdbc_csv, ehr_keys, collector):
    params = yaml.safe_load((PROJECT_ROOT / "examples" / "birthwt.yaml").read_text())
    block = params["diagnosis"]
    block["registered_model"] = MODEL
    block["data"]["path"] = str(wdbc_csv.parent / "birthwt.csv")
    block["candidates"] = {"logistic_regression": {"C": [1.0]}}
    block["bootstrap_resamples"] = 200
    block["serving"] = {
        "cds_hooks": cds_block(AUDIENCE, [{"iss": ISSUER, "jwks_path": str(ehr_keys[2])}]),
        "tracing": {"otlp_endpoint": collector[0]},
    }
    path = session_dir / "cds-birthwt.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    assert run_family("diagnosis", path).promoted
    running = Server("serving.diagnosis:DiagnosisService", PROJECT_ROOT, {"MEDMAAS_PARAMS": str(path)})
    yield running
    running.stop()


def token(key, *, aud=AUDIENCE + SERVICE, expires_in=300, jti=None, kid="ehr-1", iss=ISSUER, alg="ES384") -> str:
    now = int(time.time())
    claims = {"iss": iss, "aud": aud, "exp": now + expires_in, "iat": now, "jti": jti or uuid.uuid4().hex, "sub": "ehr"}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def call(server, body, bearer) -> httpx.Response:
    return httpx.post(f"{server.url}{SERVICE}", json=body, headers={"Authorization": f"Bearer {bearer}"}, timeout=60)


def test_discovery_names_the_service_its_hook_and_prefetch_templates(server, ehr_keys):
    answer = httpx.get(
        f"{server.url}/cds-services", headers={"Authorization": f"Bearer {token(ehr_keys[0], aud=AUDIENCE)}"}
    )
    assert answer.status_code == 200, answer.text
    [service] = answer.json()["services"]
    assert (service["id"], service["hook"], service["title"]) == (
        "low-birth-weight",
        "patient-view",
        "Low birth weight",
    )
    assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    assert f"{LOINC}|29463-7" in service["prefetch"]["observations"]
    assert httpx.get(f"{server.url}/cds-services").status_code == 401  # discovery needs the EHR's token too


def test_a_call_with_the_mother_s_record_gets_one_card_with_the_model_s_probability_and_its_reasons(server, ehr_keys):
    answer = call(server, hook_request(mother()), token(ehr_keys[0]))
    assert answer.status_code == 200, server.log_text()[-3000:]
    [card] = answer.json()["cards"]
    explained = server.post("explain", {"patient": MOTHER_AS_VALUES}).json()  # the same values, raw
    probability = explained["probability"]
    assert card["summary"] == f"Low birth weight: {probability:.0%} probability" and len(card["summary"]) < 140
    expected = "info" if probability < 0.25 else "warning" if probability < 0.5 else "critical"
    assert card["indicator"] == expected
    top = explained["contributions"][0]
    assert f"- {top['feature']} = " in card["detail"] and f"{MODEL} v" in card["detail"]
    assert card["source"]["label"].startswith(f"medmaas {MODEL} v")
    assert PATIENT_ID not in answer.text and mother()["patient"]["birthDate"][:4] not in answer.text
    audit = (STATE_DIR / "audit" / "diagnosis.jsonl").read_text().splitlines()  # the server shares this state
    last = [json.loads(line) for line in audit if SERVICE in line][-1]
    assert last["key"] == f"cds:{ISSUER}" and last["status"] == 200 and PATIENT_ID not in json.dumps(last)


@pytest.mark.parametrize(
    ("make", "because"),
    [
        (lambda keys: token(keys[0], expires_in=-120), "expired"),
        (lambda keys: token(keys[1]), "signature does not verify"),
        (lambda keys: token(keys[0], aud="https://elsewhere.example.org"), "aud is not this service"),
        (lambda keys: token(keys[0], iss="https://unknown-ehr.example.org"), "issuer is not a registered client"),
        (lambda keys: jwt.encode({"iss": ISSUER, "exp": int(time.time()) + 60}, "shared", algorithm="HS256"), "ES384"),
        (lambda keys: "mm_not-a-key", "not a JWT"),
    ],
)
def test_a_token_the_ehr_did_not_sign_for_this_service_now_gets_a_401_saying_why(server, ehr_keys, make, because):
    bearer = make(ehr_keys)
    answer = call(server, hook_request(mother()), bearer)
    assert answer.status_code == 401 and because in answer.json()["error"], answer.text
    assert bearer not in answer.text


def test_a_replayed_token_is_refused_and_a_direct_caller_s_api_key_is_accepted(server, ehr_keys):
    once = token(ehr_keys[0])
    assert call(server, hook_request(mother()), once).status_code == 200
    replayed = call(server, hook_request(mother()), once)
    assert replayed.status_code == 401 and "used before" in replayed.json()["error"]
    assert call(server, hook_request(mother()), api_key()).status_code == 200


def test_a_unit_that_does_not_convert_gets_a_400_naming_the_code_and_bad_fhir_names_its_place(server, ehr_keys):
    wrong_unit = call(server, hook_request(mother(weight=quantity(58, "mg/dL"))), token(ehr_keys[0]))
    assert wrong_unit.status_code == 400 and "Observation 29463-7" in wrong_unit.json()["error"]
    broken = mother(patient={"resourceType": "Patient", "id": PATIENT_ID, "birthDate": "Jane Roe"})
    invalid = call(server, hook_request(broken), token(ehr_keys[0]))
    assert invalid.status_code == 400 and invalid.json()["error"].startswith("prefetch.patient.birthDate")
    assert "Jane" not in invalid.text
    other_hook = call(server, hook_request(mother(), hook="order-select"), token(ehr_keys[0]))
    assert other_hook.status_code == 400 and other_hook.json()["error"].startswith("hook:")
    no_prefetch = {k: v for k, v in hook_request(mother()).items() if k != "prefetch"}
    assert "prefetch" in call(server, no_prefetch, token(ehr_keys[0])).json()["error"]


def test_a_body_that_is_not_json_or_nests_past_the_parser_gets_a_400_and_the_service_goes_on(server, ehr_keys):
    for body in (b"{not json", b'{"hook": "patient-view", "prefetch": ' + b"[" * 5000 + b"]" * 5000 + b"}"):
        headers = {"Authorization": f"Bearer {token(ehr_keys[0])}", "content-type": "application/json"}
        refused = httpx.post(f"{server.url}{SERVICE}", content=body, headers=headers, timeout=60)
        assert refused.status_code == 400 and "not JSON" in refused.json()["error"], refused.text
    entry = mother(observations=bundle(mother()["patient"]))  # a Patient where an Observation belongs
    misplaced = call(server, hook_request(entry), token(ehr_keys[0]))
    assert misplaced.json()["error"] == "prefetch.observations.entry[0]: an Observation is expected here"
    assert call(server, hook_request(mother()), token(ehr_keys[0])).status_code == 200


def test_a_missing_observation_or_a_value_outside_the_model_s_range_gets_a_card_saying_so_and_no_risk(server, ehr_keys):
    old = observation(LOINC, "29463-7", days_ago(400), **quantity(58, "kg"))  # outside the 270-day look-back
    prefetch = mother()
    prefetch["observations"] = bundle(old, *[e["resource"] for e in prefetch["observations"]["entry"][2:]])
    [missing] = call(server, hook_request(prefetch), token(ehr_keys[0])).json()["cards"]
    assert "missing weight_lb" in missing["summary"] and "%" not in missing["summary"] + missing["detail"]
    [outside] = call(server, hook_request(mother(weight=quantity(400, "kg"))), token(ehr_keys[0])).json()["cards"]
    assert "weight_lb" in outside["summary"] and "not assessed" in outside["summary"] and "%" not in outside["detail"]


def test_a_call_is_one_trace_from_the_guard_to_the_forward_pass_exported_over_otlp(server, ehr_keys, collector):
    caller_trace = uuid.uuid4().hex
    headers = {"Authorization": f"Bearer {token(ehr_keys[0])}", "traceparent": f"00-{caller_trace}-{'1' * 16}-01"}
    assert (
        httpx.post(f"{server.url}{SERVICE}", json=hook_request(mother()), headers=headers, timeout=60).status_code
        == 200
    )

    def ours():  # the service's batch exporter sends every few seconds
        return [s for s in spans_received(collector[1]) if s.trace_id.hex() == caller_trace]

    spans = wait_for(lambda: len(ours()) >= 4 and ours(), waiting_for="the call's spans at the collector", timeout_s=60)
    by_id = {s.span_id: s for s in spans}
    [request] = [s for s in spans if s.name == f"POST {SERVICE}"]
    chain = ["forward pass and explanation", "FHIR to features, assessment, card", f"POST {SERVICE}"]
    span = next(s for s in spans if s.name == chain[0])
    for parent in chain[1:]:
        span = by_id[span.parent_span_id]
        assert span.name == parent
    attributes = {a.key: a.value.string_value or a.value.int_value for a in request.attributes}
    assert attributes["medmaas.model"] == MODEL and attributes["http.response.status_code"] == 200
    assert PATIENT_ID not in str([list(s.attributes) for s in spans])
    audit = STATE_DIR / "audit" / "diagnosis.jsonl"
    before = len(audit.read_text().splitlines())
    untraced = call(server, hook_request(mother()), token(ehr_keys[0]))  # a caller that sends no traceparent
    lines = wait_for(lambda: audit.read_text().splitlines()[before:], waiting_for="its audit line", timeout_s=30)
    [trace_id] = [json.loads(line)["trace_id"] for line in lines]
    assert untraced.status_code == 200 and wait_for(
        lambda: any(s.trace_id.hex() == trace_id for s in spans_received(collector[1])),
        waiting_for="a trace of its own for the call without traceparent",
        timeout_s=60,
    )


def test_a_block_that_does_not_declare_the_model_s_features_turns_cds_hooks_off_saying_why(capsys):
    # a model retrained on another table (feature_columns: all) keeps serving; only its CDS routes are off
    block = CdsHooksSettings(**cds_block(AUDIENCE))

    def cards(features):
        champion = SimpleNamespace(serving={"feature_names": features})  # what cards_for reads of a champion
        return cards_for("diagnosis", block, BaseModel, champion, record=None)

    features = list(MOTHER_AS_VALUES)
    assert cards(features).settings is block
    assert cards([*features, "parity"]) is None
    assert "CDS Hooks off: serving.cds_hooks.features: the model's parity not declared" in capsys.readouterr().err
    assert cards(features[1:]) is None
    assert "age not features of the model" in capsys.readouterr().err
