"""POST /v1/fhir/predict and CDS Hooks 2.0 (discovery, patient-view cards)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

import covid_risk
from covid_risk.fhir import to_bundle

AS_OF = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
RECORD = {"age": 84, "sex": "male", "respiratory_rate": 31, "spo2": 88, "urea": 14.0,
          "crp": 180.0, "chronic_kidney": True, "diabetes": True}


def canonical_record():
    return {**RECORD, **{k: False for k in covid_risk.fhir.CONDITION_CODES if k not in RECORD}}


def test_fhir_predict_answers_risk_assessments(client):
    b = to_bundle(RECORD, as_of=AS_OF)[0]
    r = client.post("/v1/fhir/predict", json=b)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    entries = [e["resource"] for e in r.json()["entry"]]
    want = covid_risk.predict_risk(canonical_record()).probabilities
    got = {ra["prediction"][0]["outcome"]["coding"][0]["code"]:
           ra["prediction"][0]["probabilityDecimal"] for ra in entries}
    assert got == want
    fingerprint = client.get("/healthz").json()["models"]["admission"]["fingerprint"]
    assert all(ra["method"]["coding"][0]["code"] == fingerprint for ra in entries)


def test_fhir_predict_reports_ignored_resources(client):
    b = to_bundle(RECORD, as_of=AS_OF)[0]
    b["entry"].append({"resource": {"resourceType": "Encounter", "id": "e1", "status": "finished",
                                    "class": {"code": "IMP"}}})
    r = client.post("/v1/fhir/predict", json=b)
    assert r.status_code == 200
    outcome = [e["resource"] for e in r.json()["entry"]
               if e["resource"]["resourceType"] == "OperationOutcome"]
    assert outcome and "Encounter/e1" in outcome[0]["issue"][0]["diagnostics"]


@pytest.mark.parametrize("body", [
    {"resourceType": "Patient"},
    [1, 2],
    {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
        "resourceType": "Observation"}}]},
])
def test_fhir_predict_refuses_broken_input(client, body):
    r = client.post("/v1/fhir/predict", json=body)
    assert r.status_code == 422 and r.json()["detail"]


def test_fhir_predict_impossible_value_names_the_field(client):
    b = to_bundle(dict(RECORD, respiratory_rate=31), as_of=AS_OF)[0]
    for e in b["entry"]:
        if e["resource"]["id"].endswith("respiratory-rate"):
            e["resource"]["valueQuantity"]["value"] = 500
    r = client.post("/v1/fhir/predict", json=b)
    assert r.status_code == 422
    assert r.json()["problems"][0]["field"] == "respiratory_rate"


def test_discovery(client):
    services = client.get("/cds-services").json()["services"]
    assert {s["id"] for s in services} == {"covid-risk-admission", "covid-risk-community"}
    for s in services:
        assert s["hook"] == "patient-view"
        assert s["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        assert "http://loinc.org|9279-1" in s["prefetch"]["observations"]
        assert "clinical-status=active" in s["prefetch"]["conditions"]


def hook_request(record=RECORD, **prefetch_override):
    resources = [e["resource"] for e in to_bundle(record, as_of=datetime.now(timezone.utc))[0][
        "entry"]]
    patient = resources[0]
    search = {"resourceType": "Bundle", "type": "searchset"}
    prefetch = {
        "patient": patient,
        "observations": {**search, "entry": [{"resource": r} for r in resources
                                             if r["resourceType"] == "Observation"]},
        "conditions": {**search, "entry": [{"resource": r} for r in resources
                                           if r["resourceType"] == "Condition"]},
    }
    prefetch.update(prefetch_override)
    return {"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {"userId": "Practitioner/1", "patientId": patient["id"]},
            "prefetch": prefetch}


def test_patient_view_card(client):
    r = client.post("/cds-services/covid-risk-admission", json=hook_request())
    assert r.status_code == 200
    cards = r.json()["cards"]
    assert len(cards) == 1
    card = cards[0]
    assert len(card["summary"]) < 140
    prediction = covid_risk.predict_risk(canonical_record(), top=3).to_dict()
    bands = [risk["band"] for risk in prediction["risks"].values()]
    worst = max(bands, key=["low", "intermediate", "high", "very high"].index)
    assert card["indicator"] == {"low": "info", "intermediate": "info", "high": "warning",
                                 "very high": "critical"}[worst]
    fingerprint = client.get("/healthz").json()["models"]["admission"]["fingerprint"]
    assert fingerprint in card["source"]["label"]
    top = prediction["risks"]["death"]["raising"][0]["text"]
    assert top in card["detail"] and "| Death |" in card["detail"]
    assert "Not recorded" in card["detail"]  # important fields not available
    link = card["links"][0]
    assert link["type"] == "absolute" and "/#setting=admission" in link["url"]


def test_community_service(client):
    r = client.post("/cds-services/covid-risk-community",
                    json=hook_request({"age": 70, "sex": "female", "bmi": 33.0}))
    assert r.status_code == 200
    assert "community" in r.json()["cards"][0]["summary"]


def test_without_prefetch_is_412_with_reason(client):
    body = hook_request()
    del body["prefetch"]
    r = client.post("/cds-services/covid-risk-admission", json=body)
    assert r.status_code == 412 and "does not call the FHIR server" in r.json()["detail"]


@pytest.mark.parametrize("change, status", [
    (lambda b: b.update(hook="order-select"), 400),
    (lambda b: b.update(context={}), 400),
    (lambda b: b["prefetch"]["patient"].update(gender="other"), 422),
])
def test_bad_hook_requests(client, change, status):
    body = hook_request()
    change(body)
    r = client.post("/cds-services/covid-risk-admission", json=body)
    assert r.status_code == status


def test_unknown_service_is_404(client):
    assert client.post("/cds-services/nothing", json=hook_request()).status_code == 404
