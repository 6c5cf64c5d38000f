"""10,000 malformed requests get 4xx with reasons and no 5xx; concurrent answers are exact."""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pandas as pd
import pytest

import covid_risk
from covid_risk.fhir import to_bundle
from covid_risk.schema import PREDICTORS
from covid_risk.service import ServiceConfig, create_app

N_MALFORMED = 10_000
TIME_LIMIT_S = 600  # the loop stops by itself past this, and the test then fails
AS_OF = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
GOOD = {"age": 66, "sex": "female", "respiratory_rate": 24, "spo2": 93, "urea": 8.1, "crp": 90}
WRONG_VALUES = [[], {}, [1, 2], {"a": 1}, "abc", "12,5,1", -1e308, 1e308, "Infinity",
                "yes please", "😷", "1e999"]
"""Values no numeric field accepts (null, "" and "NaN" are the library's spellings of missing)."""
NUMERIC = [n for n in PREDICTORS if covid_risk.FIELDS[n].kind in ("float", "int")]


def _bundle() -> dict:
    return to_bundle(dict(GOOD, diabetes=True), as_of=AS_OF)[0]


def malformed_requests(rng: random.Random, n: int):
    """Yield ``(method, path, body bytes, kind)`` of requests that must each be refused."""
    good = json.dumps(GOOD).encode()
    bundle = _bundle()
    bundle_bytes = json.dumps(bundle).encode()
    kinds = ["bad_json", "wrong_type", "huge", "unknown_field", "broken_fhir", "wrong_code",
             "wrong_unit", "bad_query", "cds"]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        path, body = "/v1/predict", good
        if kind == "bad_json":
            cut = rng.randrange(1, len(good) - 1)
            body = rng.choice([good[:cut], good[:cut] + b"}}", b"\xff\xfe" + good,
                               bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))),
                               b"{'age': 60}", b"[" * rng.randrange(2000, 50_000)])
            if rng.random() < 0.2:
                path = "/v1/fhir/predict"
                body = bundle_bytes[:rng.randrange(1, len(bundle_bytes) - 1)]
        elif kind == "wrong_type":
            record = dict(GOOD)
            record[rng.choice(["age", "sex", *NUMERIC])] = rng.choice(WRONG_VALUES)
            if record.get("sex") == "female" and rng.random() < 0.3:
                record["sex"] = rng.choice(["x", 1, None, "M/F"])
            record_or_list = rng.choice([record, [GOOD, record], 42, "patient", None, [[GOOD]]])
            body = json.dumps(record_or_list).encode()
        elif kind == "huge":
            size = rng.randrange(60_000, 120_000)
            body = rng.choice([b" " * size, json.dumps([GOOD] * (size // 60)).encode(),
                               json.dumps({"age": 60, "sex": "male", "x": "y" * size}).encode()])
            path = rng.choice(["/v1/predict", "/v1/fhir/predict",
                               "/cds-services/covid-risk-admission"])
        elif kind == "unknown_field":
            record = dict(GOOD)
            record[rng.choice(["spO2", "Age", "blood_type", "urea_mg", "", "__proto__"])] = 1
            body = json.dumps(record).encode()
        elif kind == "broken_fhir":
            path = "/v1/fhir/predict"
            b = json.loads(bundle_bytes)
            entry = rng.choice([e for e in b["entry"]
                                if e["resource"]["resourceType"] == "Observation"])["resource"]
            choice = rng.randrange(7)
            if choice == 0:
                entry["status"] = rng.choice([1, ["final"], {"code": "final"}])
            elif choice == 1:
                entry.pop("code", None)
            elif choice == 2:
                entry["resourceType"] = rng.choice(["Observatio", "", 5])
            elif choice == 3:
                b["entry"] = rng.choice(["x", 3, {"a": 1}])
            elif choice == 4:
                b["entry"] = b["entry"][1:]  # no Patient
            elif choice == 5:
                b["entry"][0]["resource"]["birthDate"] = rng.choice(["1950-13-45", "yesterday"])
            else:
                b = rng.choice([{"resourceType": "Patient"}, [b], {"entry": []}])
            body = json.dumps(b).encode()
        elif kind == "wrong_code":
            choice = rng.randrange(4)
            if choice == 0:
                path = "/v1/fhir/predict"
                b = json.loads(bundle_bytes)
                b["entry"][0]["resource"]["gender"] = rng.choice(["unknown", "other", "M", ""])
                body = json.dumps(b).encode()
            elif choice == 1:
                path = "/v1/predict?outcomes=" + rng.choice(["mortality", "death,foo", "ICU"])
            elif choice == 2:
                path = "/v1/predict?setting=" + rng.choice(["icu", "hospital", "ADMISSION"])
            else:
                record = dict(GOOD, sex=rng.choice(["man", "woman", "unknown"]))
                body = json.dumps(record).encode()
        elif kind == "wrong_unit":
            if rng.random() < 0.5:
                unit = rng.choice(["kg", "furlongs", "mmol", "%%", "mg/dL DDU"])
                path = "/v1/predict?units=" + json.dumps({"urea": unit})
            else:
                path = "/v1/fhir/predict"
                b = json.loads(bundle_bytes)
                for e in b["entry"]:
                    if "valueQuantity" in e["resource"]:
                        e["resource"]["valueQuantity"]["code"] = rng.choice(["kg", "m", "mol"])
                        break
                body = json.dumps(b).encode()
        elif kind == "bad_query":
            path = "/v1/predict?" + rng.choice(["explian=false", "top=-1", "top=abc",
                                                "explain=perhaps", "strict=2", "units=urea",
                                                "id_key=", "units={bad"])
        else:  # cds
            path = "/cds-services/" + rng.choice(["covid-risk-admission", "covid-risk-community",
                                                  "nope"])
            request = {"hook": "patient-view", "context": {"patientId": "p"}}
            request = rng.choice([request, dict(request, hook="order-sign"), dict(request,
                                 context=None), dict(request, prefetch={"patient": None}),
                                 [request]])
            body = json.dumps(request).encode()
        yield "POST", path, body, kind


@pytest.mark.slow
def test_ten_thousand_malformed_requests_are_4xx(app):
    from fastapi.testclient import TestClient

    fuzz_app = create_app(ServiceConfig(models=app.state.models.by_setting,
                                        max_body_bytes=50_000))
    rng = random.Random(20240301)
    counts: dict[str, dict[int, int]] = {}
    no_reason = 0
    started = time.monotonic()
    sent = 0
    with TestClient(fuzz_app, raise_server_exceptions=False) as c:
        for method, path, body, kind in malformed_requests(rng, N_MALFORMED):
            if time.monotonic() - started > TIME_LIMIT_S:
                break
            r = c.request(method, path, content=body,
                          headers={"content-type": "application/json"})
            sent += 1
            counts.setdefault(kind, {}).setdefault(r.status_code, 0)
            counts[kind][r.status_code] += 1
            try:
                detail = r.json().get("detail")
            except (ValueError, AttributeError):
                detail = None
            no_reason += not detail
        statuses = {s for by_kind in counts.values() for s in by_kind}
        # the service still answers correctly after all that
        after = c.post("/v1/predict", json=GOOD).json()
    assert sent == N_MALFORMED, f"only {sent} requests in {TIME_LIMIT_S} s"
    assert all(400 <= s < 500 for s in statuses), counts
    assert no_reason == 0
    assert {k: v for k, v in after.items() if k != "model_fingerprint"} == json.loads(
        json.dumps(covid_risk.predict_risk(GOOD).to_dict()))
    print("malformed requests by kind and status:", json.dumps(counts, sort_keys=True))


def test_a_sample_of_malformed_requests_is_4xx(client):
    """The same generator, 300 requests (the quick loop; the full 10,000 are marked slow)."""
    rng = random.Random(7)
    for method, path, body, _kind in malformed_requests(rng, 300):
        r = client.request(method, path, content=body,
                           headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500, (path, body[:200], r.status_code, r.text[:300])


def test_concurrent_answers_equal_in_process_predict_risk(live_server):
    import httpx

    cohort = covid_risk.make_cohort(120, random_state=11)
    patients = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()
                 if k in PREDICTORS and not pd.isna(v)}
                for row in cohort.astype(object).to_dict("records")]
    jobs = [(p, i % 2 == 0) for i, p in enumerate(patients)]

    def ask(job):
        patient, explain = job
        with httpx.Client(timeout=60) as http:
            r = http.post(f"{live_server}/v1/predict?explain={str(explain).lower()}",
                          json=patient)
        return r.status_code, r.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, jobs))
    for (patient, explain), (status, body) in zip(jobs, answers, strict=True):
        assert status == 200
        want = json.loads(json.dumps(covid_risk.predict_risk(patient, explain=explain)
                                     .to_dict()))
        assert {k: v for k, v in body.items() if k != "model_fingerprint"} == want
