"""FHIR R4 in and out: Bundles of Patient, Observation and Condition; RiskAssessment answers.

* :func:`read_patient` turns a Bundle (or a CDS Hooks prefetch) into one canonical
  patient record, converting quantities through the schema's unit table, and says
  which resources it used and which it ignored and why.
* :func:`predict_fhir` reads the record, calls ``predict_risk`` (the same path as a
  Python caller) and answers FHIR ``RiskAssessment`` resources, one per outcome.
* :func:`to_bundle` writes cohort rows as Bundles, so tests, the demo and users have
  realistic inputs; record -> Bundle -> record gives the same predictions.

Resources are checked with the R4B models of ``fhir.resources`` (the ``serve`` extra);
the codes used and their sources are listed in :mod:`covid_risk.fhir._codes`.

Examples
--------
>>> from covid_risk.fhir import to_bundle, read_patient  # doctest: +SKIP
>>> bundle = to_bundle({"age": 71, "sex": "male", "urea": 9.2, "crp": 120})[0]  # doctest: +SKIP
>>> read_patient(bundle).record["urea"]  # doctest: +SKIP
9.2
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from covid_risk.fhir._codes import (
    CONDITION_CODES,
    FIELD_SYSTEM,
    OBSERVATION_CODES,
    WRITE_CODES,
    loinc_codes,
)
from covid_risk.fhir._read import DEFAULT_CONTEXT_WINDOW, DEFAULT_WINDOW, FhirRecord, read_patient
from covid_risk.fhir._write import (
    SYNTHETIC_CAVEAT,
    prediction_bundle,
    risk_assessments,
    to_bundle,
)

__all__ = [
    "CONDITION_CODES",
    "DEFAULT_CONTEXT_WINDOW",
    "DEFAULT_WINDOW",
    "FIELD_SYSTEM",
    "OBSERVATION_CODES",
    "SYNTHETIC_CAVEAT",
    "WRITE_CODES",
    "FhirRecord",
    "loinc_codes",
    "predict_fhir",
    "prediction_bundle",
    "read_patient",
    "risk_assessments",
    "to_bundle",
]


def predict_fhir(
    data: Any,
    *,
    setting: str = "admission",
    model: Any = None,
    fingerprint: str = "",
    as_of: Any = None,
    window: timedelta = DEFAULT_WINDOW,
    explain: bool = True,
    top: int = 5,
) -> tuple[dict, FhirRecord, dict]:
    """Predict from FHIR: ``(answer Bundle, FhirRecord, prediction dict)``.

    Parameters
    ----------
    data : dict or list
        A Bundle, CDS Hooks prefetch or list of resources (see :func:`read_patient`).
    setting, model, explain, top
        As for ``predict_risk``.
    fingerprint : str, optional
        Model fingerprint written in ``RiskAssessment.method``.
    as_of, window
        As for :func:`read_patient`.

    Raises
    ------
    ValidationError
        Bad FHIR, a unit that cannot be converted, or an impossible value.
    """
    from covid_risk.prediction import predict_risk

    read = read_patient(data, as_of=as_of, window=window)
    prediction = predict_risk(read.record, setting=setting, model=model, explain=explain,
                              top=top).to_dict()
    prediction["model_fingerprint"] = fingerprint
    assessments = risk_assessments(prediction, patient_reference=read.patient_reference,
                                   basis=read.used, as_of=read.as_of)
    return prediction_bundle(assessments, read.ignored, as_of=read.as_of), read, prediction
