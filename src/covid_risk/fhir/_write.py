"""FHIR R4 out: cohort rows as Bundles, and predictions as RiskAssessment resources."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

from covid_risk.fhir._codes import (
    CONDITION_CODES,
    FIELD_SYSTEM,
    ICD10_SYSTEMS,
    LOINC,
    SNOMED,
    UCUM,
    WRITE_CODES,
)
from covid_risk.schema import FIELDS, PREDICTORS

__all__ = [
    "BAND_TO_RISK_PROBABILITY",
    "MODEL_SYSTEM",
    "OUTCOME_SYSTEM",
    "SYNTHETIC_CAVEAT",
    "prediction_bundle",
    "risk_assessments",
    "to_bundle",
]

OUTCOME_SYSTEM = "urn:covid-risk:outcome"
"""Code system of the predicted outcomes (the schema's outcome names)."""

MODEL_SYSTEM = "urn:covid-risk:model"
"""Code system of ``RiskAssessment.method``: the model fingerprint."""

RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"

BAND_TO_RISK_PROBABILITY = {"low": "low", "intermediate": "moderate", "high": "high",
                            "very high": "high"}
"""covid_risk band -> HL7 risk-probability code (the band's own name is the text)."""

SYNTHETIC_CAVEAT = (
    "Predicted by a covid_risk model trained on synthetic cohorts with known true risk; it "
    "has not been validated on real patients and must not be used alone for clinical "
    "decisions."
)

_EPOCH_NS = uuid.UUID("6f0a3c1e-2b4d-4e55-9a66-1c0ffee0c0de")
_LOCAL_FIELDS = tuple(n for n in PREDICTORS
                      if n not in WRITE_CODES and n not in CONDITION_CODES
                      and n not in ("age", "sex"))


def _uuid(*parts: Any) -> str:
    return str(uuid.uuid5(_EPOCH_NS, "/".join(str(p) for p in parts)))


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd

        if value is pd.NA:
            return True
    except ImportError:  # pragma: no cover
        pass
    return isinstance(value, float) and math.isnan(value)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _birth_date(age: float, as_of: datetime) -> str:
    years = int(math.floor(float(age)))
    year = as_of.year - years
    try:
        born = date(year, as_of.month, as_of.day)
    except ValueError:  # 29 February in a common year
        born = date(year, as_of.month, as_of.day - 1)
    return born.isoformat()


def _rows(records: Any) -> list[dict]:
    if isinstance(records, Mapping):
        return [dict(records)]
    if hasattr(records, "to_dict") and hasattr(records, "columns"):
        return [{k: _plain(v) for k, v in r.items()}
                for r in records.astype(object).to_dict("records")]
    return [dict(r) for r in records]


def _observation(pid: str, name: str, value: Any, when: str) -> dict:
    f = FIELDS[name]
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"{pid}-{name.replace('_', '-')}",
        "status": "final",
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
    }
    if name in WRITE_CODES:
        code, display, unit = WRITE_CODES[name]
        obs["category"] = [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs" if f.group == "vital" or name == "bmi" else "laboratory"}]}]
        obs["code"] = {"coding": [{"system": LOINC, "code": code, "display": display}],
                       "text": f.label}
        if name == "fio2":
            unit = "1"  # the schema's canonical fraction, written exactly
        number = float(value)
        obs["valueQuantity"] = {"value": int(number) if f.kind == "int" else number,
                                "unit": f.unit or unit, "system": UCUM, "code": unit}
        return obs
    obs["code"] = {"coding": [{"system": FIELD_SYSTEM, "code": name, "display": f.label}],
                   "text": f.label}
    if f.kind == "bool":
        obs["valueBoolean"] = bool(value)
    elif f.kind == "category":
        obs["valueString"] = str(value)
    elif f.kind == "int":
        obs["valueInteger"] = int(value)
    else:
        obs["valueQuantity"] = {"value": float(value), "unit": f.unit}
    return obs


def _condition(pid: str, name: str, when: str) -> dict:
    snomed, icd10 = CONDITION_CODES[name]
    coding = ({"system": SNOMED, "code": snomed[0], "display": FIELDS[name].label} if snomed
              else {"system": ICD10_SYSTEMS[0], "code": icd10[0], "display": FIELDS[name].label})
    return {
        "resourceType": "Condition",
        "id": f"{pid}-{name.replace('_', '-')}",
        "clinicalStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": "active"}]},
        "verificationStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "code": "confirmed"}]},
        "code": {"coding": [coding], "text": FIELDS[name].label},
        "subject": {"reference": f"Patient/{pid}"},
        "recordedDate": when,
    }


def to_bundle(
    records: Any,
    *,
    as_of: datetime | None = None,
    id_column: str = "patient_id",
) -> list[dict]:
    """Write patient records (cohort rows) as FHIR R4 Bundles, one per patient.

    Each Bundle (type ``collection``, ``timestamp`` = ``as_of``) holds a Patient
    (gender; birthDate so that the age in completed years at ``as_of`` is the record's
    age), one Observation per recorded vital sign, lab or context field (LOINC where
    :data:`~covid_risk.fhir._codes.WRITE_CODES` has a code, in the canonical unit as
    UCUM; other fields under :data:`~covid_risk.fhir._codes.FIELD_SYSTEM`), taken one
    hour before ``as_of``, and one active Condition per comorbidity that is present.
    Reading a Bundle back with :func:`covid_risk.fhir.read_patient` gives the same
    record (ages in whole years), hence the same predictions.

    Parameters
    ----------
    records : dict, list of dict or pandas.DataFrame
        Canonical records, e.g. from ``covid_risk.make_cohort``.
    as_of : datetime, optional
        Prediction time. Default: now (UTC), to the second.
    id_column : str, default="patient_id"
        Field holding the patient id (default ids: ``patient-<row>``).

    Returns
    -------
    list of dict
        One Bundle per record, as JSON-able dicts.
    """
    when = (as_of or datetime.now(timezone.utc)).replace(microsecond=0)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    measured = (when - timedelta(hours=1)).isoformat()
    bundles = []
    for i, row in enumerate(_rows(records)):
        pid = str(row.get(id_column, f"patient-{i}")) if not _missing(row.get(id_column)) \
            else f"patient-{i}"
        pid = "".join(c if c.isalnum() or c in "-." else "-" for c in pid)[:64]
        patient: dict[str, Any] = {"resourceType": "Patient", "id": pid}
        if not _missing(row.get("sex")):
            patient["gender"] = str(row["sex"])
        if not _missing(row.get("age")):
            patient["birthDate"] = _birth_date(row["age"], when)
        resources = [patient]
        for name in (*WRITE_CODES, *_LOCAL_FIELDS):
            value = row.get(name)
            if not _missing(value):
                resources.append(_observation(pid, name, value, measured))
        for name in CONDITION_CODES:
            value = row.get(name)
            if not _missing(value) and bool(value):
                resources.append(_condition(pid, name, measured))
        bundles.append({
            "resourceType": "Bundle",
            "id": _uuid("bundle", pid, when.isoformat()),
            "type": "collection",
            "timestamp": when.isoformat(),
            "entry": [{"fullUrl": f"urn:uuid:{_uuid(r['resourceType'], r['id'])}", "resource": r}
                      for r in resources],
        })
    return bundles


def risk_assessments(
    prediction: Mapping[str, Any],
    *,
    patient_reference: str,
    basis: Sequence[str] = (),
    as_of: datetime | None = None,
) -> list[dict]:
    """Return one FHIR ``RiskAssessment`` per outcome of a prediction.

    Parameters
    ----------
    prediction : mapping
        ``RiskPrediction.to_dict()`` with ``model_fingerprint`` added.
    patient_reference : str
        ``"Patient/<id>"``.
    basis : sequence of str
        References of the resources the record was built from.
    as_of : datetime, optional
        The prediction time (``occurrenceDateTime``).

    Returns
    -------
    list of dict
        ``RiskAssessment`` resources (status final): ``prediction[0]`` with the
        outcome, ``probabilityDecimal`` and ``qualitativeRisk`` from the band;
        ``method`` the model fingerprint; ``basis`` the resources used; ``note`` the
        synthetic-training caveat, the top factors and the prediction's warnings.
    """
    fingerprint = str(prediction.get("model_fingerprint", ""))
    when = (as_of or datetime.now(timezone.utc)).isoformat()
    out = []
    for outcome, risk in prediction["risks"].items():
        notes = [{"text": SYNTHETIC_CAVEAT}]
        raising = [f["text"] for f in risk.get("raising", [])]
        lowering = [f["text"] for f in risk.get("lowering", [])]
        if raising or lowering:
            notes.append({"text": "Raising the risk: " + ("; ".join(raising) or "none") +
                          ". Lowering it: " + ("; ".join(lowering) or "none") + "."})
        notes += [{"text": w} for w in prediction.get("warnings", [])]
        out.append({
            "resourceType": "RiskAssessment",
            "id": _uuid("risk", patient_reference, outcome, fingerprint, when),
            "status": "final",
            "subject": {"reference": patient_reference},
            "occurrenceDateTime": when,
            "method": {
                "coding": [{"system": MODEL_SYSTEM, "code": fingerprint,
                            "display": str(prediction.get("model_version", ""))}],
                "text": f"covid_risk {prediction.get('setting', '')} model {fingerprint}",
            },
            "basis": [{"reference": r} for r in basis],
            "prediction": [{
                "outcome": {"coding": [{"system": OUTCOME_SYSTEM, "code": outcome,
                                        "display": risk["label"]}],
                            "text": risk["label"]},
                "probabilityDecimal": float(risk["probability"]),
                "qualitativeRisk": {"coding": [{
                    "system": RISK_PROBABILITY,
                    "code": BAND_TO_RISK_PROBABILITY.get(risk["band"], "high")}],
                    "text": risk["band"]},
            }],
            "note": notes,
        })
    return out


def prediction_bundle(assessments: Sequence[dict], ignored: Sequence[Mapping[str, str]] = (),
                      *, as_of: datetime | None = None) -> dict:
    """Return a ``collection`` Bundle of RiskAssessments (and the ignored input).

    When some input was not used, an ``OperationOutcome`` is added with one
    information issue per ignored resource, saying why.
    """
    when = (as_of or datetime.now(timezone.utc)).isoformat()
    entries = [{"fullUrl": f"urn:uuid:{a['id']}", "resource": a} for a in assessments]
    if ignored:
        outcome = {
            "resourceType": "OperationOutcome",
            "id": _uuid("ignored", when, len(ignored), *(i["reference"] for i in ignored)),
            "issue": [{"severity": "information", "code": "informational",
                       "diagnostics": f"{i['reference']} not used: {i['reason']}",
                       "expression": [i["reference"]]} for i in ignored],
        }
        entries.append({"fullUrl": f"urn:uuid:{outcome['id']}", "resource": outcome})
    return {"resourceType": "Bundle", "id": _uuid("answer", when, len(entries),
                                                  *(e["fullUrl"] for e in entries)),
            "type": "collection", "timestamp": when, "entry": entries}
