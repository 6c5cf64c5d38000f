"""CDS Hooks 2.0: discovery and the ``patient-view`` services (one per setting).

This version reads the patient only from ``prefetch`` (the EHR sends the Patient,
recent Observations by the LOINC codes the model reads, and active Conditions, as
the discovery document's templates ask). It does not call the EHR's FHIR server;
a request without the prefetch is answered ``412`` with that reason, as the CDS
Hooks specification provides for a service that cannot get its data.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import covid_risk
from covid_risk.fhir import SYNTHETIC_CAVEAT, loinc_codes, read_patient
from covid_risk.service._core import Models, RequestError, problem_dicts

__all__ = ["CDS_SERVICES", "INDICATOR", "cds_answer", "cds_discovery"]

CDS_SERVICES: dict[str, str] = {
    "covid-risk-admission": "admission",
    "covid-risk-community": "community",
}
"""CDS service id -> setting."""

INDICATOR = {"low": "info", "intermediate": "info", "high": "warning", "very high": "critical",
             "unknown": "warning"}
"""Band -> card indicator."""

_BAND_ORDER = ("low", "intermediate", "high", "very high", "unknown")
_PREFETCH_KEYS = ("patient", "observations", "conditions")


def cds_discovery() -> dict:
    """Return the discovery document (``GET /cds-services``)."""
    codes = ",".join(f"http://loinc.org|{c}" for c in loinc_codes())
    prefetch = {
        "patient": "Patient/{{context.patientId}}",
        "observations": f"Observation?patient={{{{context.patientId}}}}&code={codes}"
                        "&_sort=-date&_count=200",
        "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
    }
    services = []
    for service_id, setting in CDS_SERVICES.items():
        services.append({
            "hook": "patient-view",
            "id": service_id,
            "title": f"COVID-19 complication risks ({setting})",
            "description": (
                f"Calibrated, explained risks of COVID-19 complications for a patient in the "
                f"{setting} setting, from the patient's recent vital signs, labs and active "
                "conditions. Models trained on synthetic cohorts: not validated on real "
                "patients."),
            "prefetch": prefetch,
            "usageRequirements": "Send the prefetch: this service does not query the FHIR "
                                 "server.",
        })
    return {"services": services}


def _summary(setting: str, prediction: dict) -> str:
    parts = [f"{r['label']} {r['percent']:.0f}%" for r in prediction["risks"].values()]
    text = f"COVID-19 {setting} risk: " + ", ".join(parts)
    while len(text) > 139 and len(parts) > 1:
        parts.pop()
        text = f"COVID-19 {setting} risk: " + ", ".join(parts) + ", ..."
    return text[:139]


def _detail(prediction: dict) -> str:
    lines = ["| Outcome | Risk | Band |", "|---|---:|---|"]
    for r in prediction["risks"].values():
        lines.append(f"| {r['label']} | {r['percent']:.1f}% | {r['band']} |")
    lines.append("")
    for r in prediction["risks"].values():
        raising = "; ".join(f["text"] for f in r.get("raising", [])[:3])
        lowering = "; ".join(f["text"] for f in r.get("lowering", [])[:3])
        if raising or lowering:
            lines.append(f"**{r['label']}**: raising: {raising or 'none'}; "
                         f"lowering: {lowering or 'none'}.")
    missing = [w for w in prediction.get("warnings", []) if w.startswith("Not recorded")]
    others = [w for w in prediction.get("warnings", []) if not w.startswith("Not recorded")]
    if missing:
        lines += ["", "**Important fields not available:** " + " ".join(missing)]
    if others:
        lines += ["", "**Notes:** " + " ".join(others)]
    lines += ["", f"_{SYNTHETIC_CAVEAT}_"]
    return "\n".join(lines)


def cds_answer(service_id: str, body: Any, models: Models, base_url: str) -> dict:
    """Answer a ``patient-view`` request with one card.

    Raises
    ------
    RequestError
        400 for a request that is not ``patient-view``, 412 without prefetch, 422 when
        the prefetched data cannot be read or hold an impossible value.
    """
    setting = CDS_SERVICES[service_id]
    if not isinstance(body, dict):
        raise RequestError(400, "A CDS Hooks request is a JSON object.")
    if body.get("hook") != "patient-view":
        raise RequestError(400, f"This service answers the 'patient-view' hook; got "
                           f"{str(body.get('hook'))[:40]!r}.")
    context = body.get("context")
    if not isinstance(context, dict) or not isinstance(context.get("patientId"), str):
        raise RequestError(400, "context.patientId is required for patient-view.")
    prefetch = body.get("prefetch")
    if not isinstance(prefetch, dict) or not isinstance(prefetch.get("patient"), dict):
        raise RequestError(412, "No prefetch: send the 'patient', 'observations' and "
                           "'conditions' prefetch of the discovery document. This version "
                           "does not call the FHIR server.")
    data = {k: prefetch[k] for k in _PREFETCH_KEYS if prefetch.get(k) is not None}
    try:
        read = read_patient(data)
        prediction = covid_risk.predict_risk(read.record, setting=setting,
                                             model=models.by_setting[setting],
                                             explain=True, top=3).to_dict()
    except covid_risk.ValidationError as exc:
        raise RequestError(422, "The prefetched data cannot be used; each problem names the "
                           "field or resource.", problem_dicts(exc)) from None
    fingerprint = models.fingerprints[setting]
    worst = max((r["band"] for r in prediction["risks"].values()), key=_BAND_ORDER.index)
    query = "&".join(f"{k}={quote(str(v))}" for k, v in read.record.items())
    card = {
        "uuid": str(uuid.uuid4()),
        "summary": _summary(setting, prediction),
        "indicator": INDICATOR[worst],
        "detail": _detail(prediction),
        "source": {"label": f"covid_risk {setting} model {fingerprint}",
                   "url": base_url.rstrip("/") + "/"},
        "links": [{"label": "Open in the covid_risk calculator",
                   "url": f"{base_url.rstrip('/')}/#setting={setting}&{query}",
                   "type": "absolute"}],
    }
    return {"cards": [card]}
