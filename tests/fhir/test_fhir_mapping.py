"""FHIR R4 in and out: codes, units, windows, conditions, RiskAssessment, and the round trip."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

import covid_risk
from covid_risk.fhir import predict_fhir, read_patient, risk_assessments, to_bundle
from covid_risk.schema import PREDICTORS

AS_OF = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)


def canonical(row) -> dict:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()
            if k in PREDICTORS and not pd.isna(v)}


def observation(oid, code, value, unit, *, when=AS_OF - timedelta(hours=2), system="LOINC",
                status="final"):
    return {"resourceType": "Observation", "id": oid, "status": status,
            "code": {"coding": [{"system": "http://loinc.org" if system == "LOINC" else system,
                                 "code": code}]},
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": when.isoformat(),
            "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org",
                              "code": unit, "unit": unit}}


def bundle(*resources, timestamp=AS_OF):
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female",
               "birthDate": "1950-06-15"}
    return {"resourceType": "Bundle", "type": "collection", "timestamp": timestamp.isoformat(),
            "entry": [{"resource": r} for r in (patient, *resources)]}


@pytest.mark.parametrize("setting, seed", [("admission", 5), ("community", 6)])
def test_round_trip_gives_the_same_predictions(setting, seed):
    cohort = covid_risk.make_cohort(60, setting=setting, random_state=seed)
    for i, b in enumerate(to_bundle(cohort, as_of=AS_OF)):
        record = canonical(cohort.iloc[i].to_dict())
        read = read_patient(b)
        assert {k: v for k, v in read.record.items() if k in record} == record
        want = covid_risk.predict_risk(record, setting=setting, explain=False).probabilities
        got = covid_risk.predict_risk(read.record, setting=setting, explain=False).probabilities
        assert got == want
        assert not read.ignored


def test_bundles_are_valid_r4b_and_risk_assessments_too():
    from fhir.resources.R4B.bundle import Bundle

    b = to_bundle({"age": 81, "sex": "male", "urea": 12.0, "crp": 150, "diabetes": True,
                   "on_oxygen": True, "ethnicity": "white"}, as_of=AS_OF)[0]
    Bundle.model_validate(b)
    answer, read, prediction = predict_fhir(b, fingerprint="sha256:abc")
    Bundle.model_validate(answer)
    assessments = [e["resource"] for e in answer["entry"]]
    assert len(assessments) == len(covid_risk.SETTING_OUTCOMES["admission"])
    for ra in assessments:
        assert ra["resourceType"] == "RiskAssessment" and ra["status"] == "final"
        outcome = ra["prediction"][0]["outcome"]["coding"][0]["code"]
        assert ra["prediction"][0]["probabilityDecimal"] == prediction["risks"][outcome][
            "probability"]
        assert ra["prediction"][0]["qualitativeRisk"]["text"] == prediction["risks"][outcome][
            "band"]
        assert ra["method"]["coding"][0]["code"] == "sha256:abc"
        assert "synthetic" in ra["note"][0]["text"]
        assert {x["reference"] for x in ra["basis"]} == set(read.used)
        assert ra["subject"]["reference"] == read.patient_reference


def test_units_are_converted_through_the_schema_table():
    b = bundle(observation("bun", "3094-0", 28.014, "mg/dL"),
               observation("cr", "2160-0", 1.1312, "mg/dL"),
               observation("t", "8310-5", 98.6, "[degF]"),
               observation("dd", "48065-7", 1500, "ng/mL{FEU}"),
               observation("alb", "1751-7", 3.5, "g/dL"),
               observation("ly", "731-0", 800, "/uL"),
               observation("sat", "59408-5", 0.93, "1"))
    r = read_patient(b).record
    assert r["urea"] == pytest.approx(10.0)
    assert r["creatinine"] == pytest.approx(100.0)
    assert r["temperature"] == pytest.approx(37.0)
    assert r["d_dimer"] == pytest.approx(1.5)
    assert r["albumin"] == pytest.approx(35.0)
    assert r["lymphocytes"] == pytest.approx(0.8)
    assert r["spo2"] == pytest.approx(93.0)
    assert r["age"] == 73 and r["sex"] == "female"
    urea_mass = read_patient(bundle(observation("u", "22664-7", 60.06, "mg/dL"))).record
    assert urea_mass["urea"] == pytest.approx(10.0)


def test_wrong_unit_is_refused_naming_the_field():
    with pytest.raises(covid_risk.ValidationError) as err:
        read_patient(bundle(observation("u", "22664-7", 5, "kg")))
    p = err.value.problems[0]
    assert p.field == "urea" and "mmol/L" in p.message
    with pytest.raises(covid_risk.ValidationError, match="DDU"):
        read_patient(bundle(observation("d", "48065-7", 0.5, "ug/mL{DDU}")))


def test_most_recent_within_the_window_is_used_and_the_rest_explained():
    b = bundle(observation("rr-old", "9279-1", 30, "/min", when=AS_OF - timedelta(hours=20)),
               observation("rr-new", "9279-1", 22, "/min", when=AS_OF - timedelta(hours=1)),
               observation("hr-stale", "8867-4", 120, "/min", when=AS_OF - timedelta(days=5)),
               observation("hr-future", "8867-4", 99, "/min", when=AS_OF + timedelta(hours=1)),
               observation("x", "2345-7", 100, "mg/dL"),
               observation("pct", "736-9", 12, "%"),
               observation("bad", "9279-1", 40, "/min", status="entered-in-error"))
    read = read_patient(b)
    assert read.record["respiratory_rate"] == 22 and "heart_rate" not in read.record
    reasons = {i["reference"]: i["reason"] for i in read.ignored}
    assert "more recent" in reasons["Observation/rr-old"]
    assert "older than the 48 h window" in reasons["Observation/hr-stale"]
    assert "after the prediction time" in reasons["Observation/hr-future"]
    assert "not used by the model" in reasons["Observation/x"]
    assert "percentage" in reasons["Observation/pct"]
    assert "entered-in-error" in reasons["Observation/bad"]
    assert read.sources["respiratory_rate"] == "Observation/rr-new"
    wide = read_patient(b, window=timedelta(days=7))
    assert wide.record["heart_rate"] == 120


def test_blood_pressure_panel_components():
    panel = {"resourceType": "Observation", "id": "bp", "status": "final",
             "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
             "effectiveDateTime": (AS_OF - timedelta(hours=1)).isoformat(),
             "component": [
                 {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                  "valueQuantity": {"value": 101, "system": "http://unitsofmeasure.org",
                                    "code": "mm[Hg]"}},
                 {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                  "valueQuantity": {"value": 62, "system": "http://unitsofmeasure.org",
                                    "code": "mm[Hg]"}}]}
    r = read_patient(bundle(panel)).record
    assert r["systolic_bp"] == 101 and r["diastolic_bp"] == 62


def condition(cid, system, code, **extra):
    return {"resourceType": "Condition", "id": cid,
            "code": {"coding": [{"system": system, "code": code}]},
            "subject": {"reference": "Patient/p1"}, **extra}


def test_conditions_by_snomed_and_icd10_with_status():
    resolved = {"clinicalStatus": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
        "code": "resolved"}]}}
    refuted = {"verificationStatus": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
        "code": "refuted"}]}}
    b = bundle(condition("dm", "http://snomed.info/sct", "44054006"),
               condition("hf", "http://hl7.org/fhir/sid/icd-10", "I50.9"),
               condition("copd", "http://snomed.info/sct", "13645005", **resolved),
               condition("ckd", "http://hl7.org/fhir/sid/icd-10-cm", "N18.3", **refuted),
               condition("covid", "http://snomed.info/sct", "840539006"))
    read = read_patient(b)
    r = read.record
    assert r["diabetes"] is True and r["chronic_cardiac"] is True
    assert r["chronic_pulmonary"] is False and r["chronic_kidney"] is False
    reasons = {i["reference"]: i["reason"] for i in read.ignored}
    assert "resolved" in reasons["Condition/copd"] and "refuted" in reasons["Condition/ckd"]
    assert "COVID-19 diagnosis" in reasons["Condition/covid"]
    unknown = read_patient(b, absent_conditions="missing").record
    assert "chronic_pulmonary" not in unknown


@pytest.mark.parametrize("mutate, where", [
    (lambda b: b["entry"][0]["resource"].update(birthDate="15/06/1950"), "birthDate"),
    (lambda b: b["entry"][0]["resource"].update(gender="unknown"), "sex"),
    (lambda b: b["entry"].append({"resource": {"resourceType": "Observation",
                                               "status": "final"}}), "code"),
    (lambda b: b["entry"].append({"resource": {"resourceType": "Nonsense"}}), "Nonsense"),
    (lambda b: b["entry"].pop(0), "Patient"),
    (lambda b: b.update(entry="x"), "entry"),
])
def test_broken_fhir_is_refused_with_where(mutate, where):
    b = bundle(observation("rr", "9279-1", 22, "/min"))
    mutate(b)
    with pytest.raises(covid_risk.ValidationError) as err:
        read_patient(b)
    assert where in str(err.value)


def test_prefetch_mapping_and_as_of():
    b = to_bundle({"age": 60, "sex": "male", "crp": 80.0}, as_of=AS_OF)[0]
    resources = [e["resource"] for e in b["entry"]]
    prefetch = {"patient": resources[0],
                "observations": {"resourceType": "Bundle", "type": "searchset",
                                 "entry": [{"resource": r} for r in resources[1:]]}}
    read = read_patient(prefetch, as_of=AS_OF)
    assert read.record["crp"] == 80.0 and read.record["age"] == 60
    late = read_patient(prefetch, as_of=AS_OF + timedelta(days=3))
    assert "crp" not in late.record and late.record["age"] == 60


def test_risk_assessment_band_mapping():
    prediction = json.loads(json.dumps(covid_risk.predict_risk(
        {"age": 90, "sex": "male", "spo2": 80, "respiratory_rate": 35, "urea": 20}).to_dict()))
    prediction["model_fingerprint"] = "sha256:x"
    ras = risk_assessments(copy.deepcopy(prediction), patient_reference="Patient/p1")
    codes = {ra["prediction"][0]["qualitativeRisk"]["text"]:
             ra["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] for ra in ras}
    mapping = {"low": "low", "intermediate": "moderate", "high": "high", "very high": "high"}
    assert all(mapping[band] == code for band, code in codes.items())
