"""POST /v1/predict, health, OpenAPI, limits, API key, logs: the app around predict_risk."""

from __future__ import annotations

import json
import logging

import pytest

import covid_risk
from covid_risk.service import ServiceConfig, create_app, model_fingerprint

PATIENT = {"age": 78, "sex": "male", "respiratory_rate": 28, "spo2": 90, "urea": 11.2,
           "crp": 140, "chronic_kidney": True}


def expected(patient, **options):
    """What the library answers in process, through JSON like the service."""
    return json.loads(json.dumps(covid_risk.predict_risk(patient, **options).to_dict()))


def without_fingerprint(answer):
    return {k: v for k, v in answer.items() if k != "model_fingerprint"}


@pytest.mark.parametrize("explain", [True, False])
def test_one_patient_equals_predict_risk(client, explain):
    r = client.post(f"/v1/predict?explain={str(explain).lower()}", json=PATIENT)
    assert r.status_code == 200
    body = r.json()
    assert body["model_fingerprint"].startswith("sha256:")
    assert without_fingerprint(body) == expected(PATIENT, explain=explain)


def test_list_in_list_out_with_options_and_id(client):
    patients = [dict(PATIENT, pid="a"), {"age": 40, "sex": "female", "pid": 7}]
    r = client.post("/v1/predict?setting=admission&outcomes=death,icu&top=2&id_key=pid",
                    json=patients)
    assert r.status_code == 200
    body = r.json()
    assert [a["id"] for a in body] == ["a", 7]
    for answer, patient in zip(body, patients, strict=True):
        record = {k: v for k, v in patient.items() if k != "pid"}
        want = expected(record, outcomes=("death", "icu"), top=2)
        assert {k: v for k, v in answer.items() if k not in ("id", "model_fingerprint")} == want


def test_community_setting(client):
    person = {"age": 70, "sex": "female", "bmi": 31, "vaccine_doses": 2}
    r = client.post("/v1/predict?setting=community", json=person)
    assert r.status_code == 200
    assert without_fingerprint(r.json()) == expected(person, setting="community")


def test_units_are_converted_by_the_library(client):
    r = client.post("/v1/predict?explain=false&units=urea:mg/dL%20BUN",
                    json={"age": 70, "sex": "male", "urea": 28})
    assert r.status_code == 200
    data = covid_risk.validate({"age": 70, "sex": "male", "urea": 28},
                               units={"urea": "mg/dL BUN"}).data
    canonical = {"age": 70.0, "sex": "male", "urea": float(data.loc[0, "urea"])}
    assert r.json()["risks"] == expected(canonical, explain=False)["risks"]
    r = client.post('/v1/predict?units={"urea":"furlongs"}', json={"age": 70, "sex": "male",
                                                                   "urea": 28})
    assert r.status_code == 422 and "furlongs" in json.dumps(r.json())


def test_impossible_values_are_422_with_the_library_problems(client):
    r = client.post("/v1/predict", json=[PATIENT, dict(PATIENT, urea=-9, spo2="abc")])
    assert r.status_code == 422
    body = r.json()
    fields = {p["field"]: p for p in body["problems"]}
    assert set(fields) == {"urea", "spo2"}
    assert fields["urea"]["value"] == -9 and fields["urea"]["row"] == 1
    assert "between 0 and 150" in fields["urea"]["allowed"]
    assert "Traceback" not in r.text


def test_unknown_fields_refused_unless_not_strict(client):
    r = client.post("/v1/predict", json=dict(PATIENT, spo=93))
    assert r.status_code == 422
    assert "spo2" in r.json()["problems"][0]["message"]  # did you mean
    r = client.post("/v1/predict?strict=false&explain=false", json=dict(PATIENT, spo=93))
    assert r.status_code == 200
    assert any("spo" in w for w in r.json()["warnings"])


@pytest.mark.parametrize("query", ["explian=false", "explain=maybe", "top=99", "setting=icu",
                                   "outcomes=", "outcomes=nonsense", "top=1&top=2"])
def test_bad_options_are_422(client, query):
    r = client.post(f"/v1/predict?{query}", json=PATIENT)
    assert r.status_code == 422
    assert r.json()["detail"]


@pytest.mark.parametrize("body, status", [(b"{bad", 400), (b"", 400), (b"[]", 422),
                                          (b"[1, 2]", 422), (b"\"text\"", 422),
                                          (b"[" * 100_000 + b"]" * 100_000, 400)])
def test_malformed_bodies(client, body, status):
    r = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text


def test_body_size_and_patient_count_limits(app):
    from fastapi.testclient import TestClient

    small = create_app(ServiceConfig(models=app.state.models.by_setting, max_body_bytes=2000,
                                     max_patients=3))
    with TestClient(small) as c:
        assert c.post("/v1/predict", content=b" " * 5000).status_code == 413
        assert c.post("/v1/predict", json=[PATIENT] * 4).status_code == 413
        assert c.post("/v1/predict", json=[PATIENT] * 3).status_code == 200


def test_time_limit_answers_503(app):
    from fastapi.testclient import TestClient

    slow = create_app(ServiceConfig(models=app.state.models.by_setting, time_limit=1e-4))
    with TestClient(slow) as c:
        r = c.post("/v1/predict", json=[PATIENT] * 300)
    assert r.status_code == 503 and "longer than" in r.json()["detail"]


def test_api_key(app):
    from fastapi.testclient import TestClient

    keyed = create_app(ServiceConfig(models=app.state.models.by_setting, api_key="s3cret"))
    with TestClient(keyed) as c:
        assert c.post("/v1/predict", json=PATIENT).status_code == 401
        assert c.post("/v1/predict", json=PATIENT,
                      headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.post("/v1/predict", json=PATIENT,
                      headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.post("/v1/predict", json=PATIENT,
                      headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/healthz").status_code == 200


def test_healthz_fingerprint_is_the_model_file_manifest_hash(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["versions"]["covid_risk"] == covid_risk.__version__
    model = covid_risk.default_model("admission")
    data = model.to_bytes(hmac_key=b"")
    # header: 14-byte magic, 8-byte manifest length, then the manifest's SHA-256
    assert body["models"]["admission"]["fingerprint"] == "sha256:" + data[22:54].hex()[:16]
    assert model_fingerprint(model) == body["models"]["admission"]["fingerprint"]


def test_openapi_documents_the_options(client):
    doc = client.get("/openapi.json").json()
    params = {p["name"] for p in doc["paths"]["/v1/predict"]["post"]["parameters"]}
    assert {"setting", "outcomes", "explain", "top", "strict", "units", "id_key"} <= params
    assert "/v1/fhir/predict" in doc["paths"] and "/cds-services" in doc["paths"]
    assert client.get("/docs").status_code == 404  # its page would load a CDN


def test_no_patient_values_in_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    r = client.post("/v1/predict", json=dict(PATIENT, urea=-987.654))
    assert r.status_code == 422
    client.post("/v1/predict", json=dict(PATIENT, crp=987.654321))
    assert "987.654" not in caplog.text


def test_unknown_path_and_method(client):
    assert client.get("/v1/nothing").status_code == 404
    assert client.get("/v1/predict").status_code == 405


def test_real_server_answers(live_server):
    import httpx

    r = httpx.post(f"{live_server}/v1/predict?explain=false", json=PATIENT, timeout=30)
    assert r.status_code == 200
    assert without_fingerprint(r.json()) == expected(PATIENT, explain=False)
    assert httpx.get(f"{live_server}/healthz", timeout=30).json()["status"] == "ok"


def test_cli_refuses_open_bind_without_key(monkeypatch, capsys):
    from covid_risk.cli import main
    from covid_risk.cli.serve import is_loopback

    monkeypatch.delenv("COVID_RISK_API_KEY", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "API key" in capsys.readouterr().err
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")


def test_covid_risk_serve_starts_uvicorn_and_stops(tmp_path):
    """The command itself: uvicorn with the app factory, the API key from the environment."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "COVID_RISK_API_KEY": "k3y", "PYTHONPATH": os.pathsep.join(sys.path)}
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from covid_risk.cli import main; "
         f"sys.exit(main(['serve', '--port', '{port}', '--log-level', 'warning']))"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (
                tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        url = f"http://127.0.0.1:{port}/v1/predict?explain=false"
        assert httpx.post(url, json=PATIENT, timeout=30).status_code == 401
        r = httpx.post(url, json=PATIENT, headers={"X-API-Key": "k3y"}, timeout=30)
        assert without_fingerprint(r.json()) == expected(PATIENT, explain=False)
        # implausible (kept, warned) and impossible (refused) values stay out of the logs
        for crp in (987.654, -987.654):
            httpx.post(url, json=dict(PATIENT, crp=crp), headers={"X-API-Key": "k3y"},
                       timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    assert b"987.654" not in (tmp_path / "serve.log").read_bytes()
