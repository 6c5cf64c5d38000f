"""``POST /v1/fhir/predict``: a FHIR Bundle in, a Bundle of RiskAssessment out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import covid_risk
from covid_risk.fhir import DEFAULT_WINDOW, predict_fhir
from covid_risk.service._core import Models, PredictOptions, RequestError, problem_dicts

__all__ = ["fhir_predict", "read_window"]


def read_window(query: dict) -> timedelta:
    """Return the ``window_hours`` query parameter as a timedelta (default 48 h)."""
    text = query.get("window_hours")
    if text is None:
        return DEFAULT_WINDOW
    try:
        hours = float(text)
    except ValueError:
        hours = -1.0
    if not 0 < hours <= 24 * 365:
        raise RequestError(422, "Query parameter 'window_hours' must be a number of hours "
                           f"above 0 and at most 8760; got {str(text)[:40]!r}.")
    return timedelta(hours=hours)


def fhir_predict(body: Any, options: PredictOptions, query: dict, models: Models) -> dict:
    """Answer a Bundle of RiskAssessment (and an OperationOutcome of ignored resources).

    Raises
    ------
    RequestError
        422 with the problems (not FHIR R4, no patient, an unconvertible unit, an
        impossible value).
    """
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise RequestError(422, "The body must be a FHIR R4 Bundle (resourceType 'Bundle') of "
                           "Patient, Observation and Condition resources.")
    try:
        answer, _read, _prediction = predict_fhir(
            body, setting=options.setting, model=models.by_setting[options.setting],
            fingerprint=models.fingerprints[options.setting], as_of=query.get("as_of"),
            window=read_window(query), explain=options.explain, top=options.top)
    except covid_risk.ValidationError as exc:
        raise RequestError(422, "The Bundle cannot be read as one patient record; each problem "
                           "names the field or resource and what is allowed.",
                           problem_dicts(exc)) from None
    return answer
