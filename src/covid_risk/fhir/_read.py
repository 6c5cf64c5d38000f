"""FHIR R4 in: a Bundle (or CDS Hooks prefetch) of Patient, Observation, Condition -> one record.

Rules
-----
* Every resource is checked with the R4B models of ``fhir.resources``; a resource
  that is not valid FHIR makes the whole input refused (``ValidationError`` naming
  where), as does a quantity in a unit the schema's unit table cannot convert (the
  problem names the field, the code and the accepted units): guessing a unit is how
  a urea in mg/dL becomes a fatal mmol/L.
* The prediction time is ``as_of``, else the Bundle's ``timestamp``, else now (UTC).
* Observations: status final, amended, corrected or preliminary; the time is
  ``effectiveDateTime`` (or the effective period's end, ``effectiveInstant``,
  ``issued``). Vital signs and labs count within ``window`` (default 48 hours) before
  the prediction time, other observations (BMI, context) within ``context_window``
  (default 365 days); of several values of one field the most recent is used. Blood
  pressure panels are read through their components.
* Conditions: active, recurrent or relapsed (or without a clinical status), not
  refuted or entered in error, not abated, with onset before the prediction time;
  matched by SNOMED CT code or ICD-10 category (see :mod:`covid_risk.fhir._codes`).
  A comorbidity with no matching condition is read as *absent* (False), as tools
  that map coded records do; pass ``absent_conditions="missing"`` to leave it unknown.
* Everything else is ignored, and the result says which resource and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from covid_risk.exceptions import Problem, ValidationError
from covid_risk.fhir._codes import (
    CONDITION_CODES,
    FIELD_SYSTEM,
    ICD10_SYSTEMS,
    LOINC,
    OBSERVATION_CODES,
    PERCENT_OF_LEUKOCYTES,
    SNOMED,
    UCUM,
    UCUM_TO_SCHEMA,
)
from covid_risk.schema import FIELDS, PREDICTORS

__all__ = ["DEFAULT_CONTEXT_WINDOW", "DEFAULT_WINDOW", "FhirRecord", "read_patient"]

DEFAULT_WINDOW = timedelta(hours=48)
"""How old a vital sign or lab may be at the prediction time."""

DEFAULT_CONTEXT_WINDOW = timedelta(days=365)
"""How old a BMI or context observation may be at the prediction time."""

_USED_STATUS = {"final", "amended", "corrected", "preliminary"}
_ACTIVE = {"active", "recurrence", "relapse"}
_REFUTED = {"refuted", "entered-in-error"}
_COVID = {"840539006", "840544004", "U07.1", "U07.2"}
_TIMED = {"vital", "lab", "imaging"}
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_PREDICTOR_SET = frozenset(PREDICTORS)


@dataclass
class FhirRecord:
    """One patient record read from FHIR, and what was used and ignored.

    Attributes
    ----------
    record : dict
        Canonical field -> value (canonical units), ready for ``predict_risk``.
    patient_reference : str
        ``"Patient/<id>"``.
    as_of : datetime
        The prediction time the window was counted back from.
    used : list of str
        References of the resources the record was built from.
    ignored : list of dict
        ``{"reference": ..., "reason": ...}`` for every resource not used.
    sources : dict
        Field -> reference of the resource its value came from.
    """

    record: dict[str, Any]
    patient_reference: str
    as_of: datetime
    used: list[str] = field(default_factory=list)
    ignored: list[dict[str, str]] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)


def _parse_time(text: Any) -> datetime | None:
    if isinstance(text, datetime):
        return text if text.tzinfo else text.replace(tzinfo=timezone.utc)
    if isinstance(text, date):
        return datetime(text.year, text.month, text.day, tzinfo=timezone.utc)
    if not isinstance(text, str):
        return None
    m = _DATE.match(text)
    if m:
        return datetime(int(m[1]), int(m[2] or 1), int(m[3] or 1), tzinfo=timezone.utc)
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _collect(data: Any, problems: list[Problem]) -> tuple[list[tuple[str, dict]], Any]:
    """Flatten a Bundle, a prefetch mapping or a list into ``(reference, resource)`` pairs."""
    from fhir.resources.R4B import get_fhir_model_class

    out: list[tuple[str, dict]] = []
    timestamp = None

    def add(resource: Any, where: str, full_url: str | None = None) -> None:
        nonlocal timestamp
        if resource is None:
            return
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            problems.append(Problem(where, f"{where} is not a FHIR resource (a JSON object with "
                                           "a resourceType).", value=_short(resource)))
            return
        kind = resource["resourceType"]
        try:
            cls = get_fhir_model_class(kind)
        except (ValueError, KeyError):
            problems.append(Problem(where, f"{where} has an unknown resourceType {kind[:40]!r}.",
                                    value=kind[:40]))
            return
        if kind == "Bundle":
            entries = resource.get("entry", [])
            if not isinstance(entries, list):
                problems.append(Problem(f"{where}.entry", f"{where}.entry must be a list."))
                return
            for j, entry in enumerate(entries):
                if not isinstance(entry, dict):
                    problems.append(Problem(f"{where}.entry[{j}]",
                                            f"{where}.entry[{j}] must be an object."))
                    continue
                add(entry.get("resource"), f"{where}.entry[{j}].resource", entry.get("fullUrl"))
            shell = {k: v for k, v in resource.items() if k != "entry"}
            _check(cls, shell, where, problems)
            if timestamp is None and isinstance(resource.get("timestamp"), str):
                timestamp = resource["timestamp"]
            return
        if not _check(cls, resource, where, problems):
            return
        ident = resource.get("id")
        ref = f"{kind}/{ident}" if isinstance(ident, str) else (full_url or where)
        out.append((ref, resource))

    if isinstance(data, list):
        for i, item in enumerate(data):
            add(item, f"[{i}]")
    elif isinstance(data, dict) and "resourceType" not in data:  # CDS Hooks prefetch
        for key, value in data.items():
            add(value, f"prefetch.{str(key)[:40]}")
    else:
        add(data, "Bundle" if isinstance(data, dict) and data.get("resourceType") == "Bundle"
            else "resource")
    return out, timestamp


def _short(value: Any) -> Any:
    text = repr(value)
    return value if isinstance(value, (int, float, bool)) or value is None else text[:80]


def _check(cls: Any, resource: dict, where: str, problems: list[Problem]) -> bool:
    from pydantic import ValidationError as PydanticError

    try:
        cls.model_validate(resource)
    except PydanticError as exc:
        for err in exc.errors()[:5]:
            loc = ".".join(str(x) for x in err.get("loc", ()))
            problems.append(Problem(f"{where}.{loc}" if loc else where,
                                    f"{where} is not valid FHIR R4: {loc or 'resource'}: "
                                    f"{err.get('msg', 'invalid')}.",
                                    value=_short(err.get("input"))))
        return False
    except (ValueError, TypeError, RecursionError) as exc:
        problems.append(Problem(where, f"{where} is not valid FHIR R4 ({type(exc).__name__})."))
        return False
    return True


def _codings(concept: Any) -> list[tuple[str, str]]:
    if not isinstance(concept, dict):
        return []
    return [(str(c.get("system", "")), str(c.get("code", "")))
            for c in concept.get("coding", []) or [] if isinstance(c, dict)]


def _observation_time(obs: dict) -> datetime | None:
    for key in ("effectiveDateTime", "effectiveInstant"):
        if key in obs:
            return _parse_time(obs[key])
    period = obs.get("effectivePeriod")
    if isinstance(period, dict):
        return _parse_time(period.get("end") or period.get("start"))
    return _parse_time(obs.get("issued"))


def _field_of(codings: list[tuple[str, str]]) -> tuple[str | None, str, str]:
    """``(field, code, reason)`` for an observation code."""
    for system, code in codings:
        if system == LOINC and code in OBSERVATION_CODES:
            return OBSERVATION_CODES[code], code, ""
        if system == FIELD_SYSTEM and code in _PREDICTOR_SET:
            return code, code, ""
    for system, code in codings:
        if system == LOINC and code in PERCENT_OF_LEUKOCYTES:
            return None, code, (f"LOINC {code} is a percentage of leukocytes; the model needs "
                                f"the {PERCENT_OF_LEUKOCYTES[code]} count")
    shown = ", ".join(f"{c}" for _, c in codings[:3]) or "no code"
    return None, "", f"code {shown[:60]} is not used by the model"


def _value(field_name: str, code: str, item: dict, where: str,
           problems: list[Problem]) -> Any:
    """Return the canonical value of an observation (or component); None when absent."""
    f = FIELDS[field_name]
    if "valueQuantity" in item:
        q = item["valueQuantity"]
        value = q.get("value")
        if value is None:
            return None
        value = float(value)
        if q.get("system") == UCUM and "code" in q:
            unit_code = str(q["code"])
            unit = UCUM_TO_SCHEMA.get(unit_code, unit_code)
        else:
            unit_code = str(q.get("code") or q.get("unit") or "")
            unit = UCUM_TO_SCHEMA.get(unit_code, unit_code)
        if unit_code == "1":  # dimensionless: a fraction where the field has one (SpO2, FiO2)
            unit = "fraction" if f.conversion("fraction") is not None else ""
        if field_name == "urea" and unit in ("mg/dL",):
            unit = "mg/dL BUN" if code == "3094-0" else "mg/dL urea"
        if not unit_code and f.unit and f.kind != "int":
            problems.append(Problem(field_name, f"{where}: {f.label} {value:g} has no unit; "
                                    f"send a UCUM unit, e.g. {f.unit!r}.", value=value))
            return None
        if "DDU" in unit_code.upper():
            problems.append(Problem(field_name, f"{where}: D-dimer in DDU is not accepted (its "
                                    "conversion to FEU depends on the assay); send FEU.",
                                    value=unit_code))
            return None
        conv = f.conversion(unit)
        if conv is None:
            accepted = ", ".join(repr(u) for u in f.accepted_units)
            problems.append(Problem(field_name, f"{where}: unit {unit_code[:30]!r} is not "
                                    f"accepted for {f.label} ({field_name}); accepted: "
                                    f"{accepted}.", value=unit_code[:30]))
            return None
        canonical = float(conv.apply(value))
        if f.kind == "int" and canonical.is_integer():
            return int(canonical)
        return canonical
    for key in ("valueBoolean", "valueInteger", "valueString"):
        if key in item:
            return item[key]
    if "valueCodeableConcept" in item:
        cc = item["valueCodeableConcept"]
        codes = [c for _, c in _codings(cc)]
        return codes[0] if codes else cc.get("text")
    return None


def _sex(patient: dict, problems: list[Problem], where: str) -> str | None:
    gender = patient.get("gender")
    if gender in ("male", "female"):
        return gender
    problems.append(Problem("sex", f"{where}: gender {str(gender)[:20]!r} cannot be used: the "
                            "model needs sex recorded as male or female.",
                            value=_short(gender)))
    return None


def _age(patient: dict, as_of: datetime, problems: list[Problem], where: str) -> int | None:
    born = _parse_time(patient.get("birthDate"))
    if born is None:
        problems.append(Problem("age", f"{where} has no birthDate; the model needs the age."))
        return None
    if born > as_of:
        problems.append(Problem("age", f"{where}: birthDate {patient.get('birthDate')} is after "
                                f"the prediction time {as_of.isoformat()}.",
                                value=str(patient.get("birthDate"))))
        return None
    years = as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))
    return years


def read_patient(
    data: Any,
    *,
    as_of: datetime | str | None = None,
    window: timedelta = DEFAULT_WINDOW,
    context_window: timedelta = DEFAULT_CONTEXT_WINDOW,
    absent_conditions: str = "no",
) -> FhirRecord:
    """Read one patient record from FHIR R4 resources.

    Parameters
    ----------
    data : dict or list
        A Bundle, a CDS Hooks ``prefetch`` object (key -> resource or Bundle), or a
        list of resources, holding one Patient and their Observations and Conditions.
    as_of : datetime or str, optional
        Prediction time. Default: the Bundle's ``timestamp``, else now (UTC).
    window : timedelta, default=48 hours
        Oldest vital sign or lab used.
    context_window : timedelta, default=365 days
        Oldest BMI or context observation used.
    absent_conditions : {"no", "missing"}, default="no"
        What a comorbidity without a matching Condition becomes.

    Returns
    -------
    FhirRecord
        The record (canonical units), what was used and what was ignored and why.

    Raises
    ------
    ValidationError
        When the input is not valid FHIR R4, has no single Patient with sex and
        birth date, or has a quantity in a unit that cannot be converted.
    """
    problems: list[Problem] = []
    resources, timestamp = _collect(data, problems)
    if problems:
        raise ValidationError(problems)
    when = _parse_time(as_of) if as_of is not None else _parse_time(timestamp)
    if as_of is not None and when is None:
        raise ValidationError(Problem("as_of", f"as_of {str(as_of)[:40]!r} is not an ISO 8601 "
                                      "date or date-time.", value=str(as_of)[:40]))
    when = when or datetime.now(timezone.utc)

    patients = [(ref, r) for ref, r in resources if r["resourceType"] == "Patient"]
    ids = {ref for ref, _ in patients}
    if len(ids) != 1:
        raise ValidationError(Problem("Patient", f"The input must hold exactly one Patient; it "
                                      f"holds {len(ids)}.", value=len(ids)))
    patient_ref, patient = patients[0]
    out = FhirRecord(record={}, patient_reference=patient_ref, as_of=when)
    sex = _sex(patient, problems, patient_ref)
    age = _age(patient, when, problems, patient_ref)
    out.used.append(patient_ref)
    out.sources.update({"age": patient_ref, "sex": patient_ref})

    best: dict[str, tuple[datetime, int, Any, str]] = {}
    matched: dict[str, str] = {}
    for order, (ref, r) in enumerate(resources):
        kind = r["resourceType"]
        if kind == "Patient":
            continue
        subject = (r.get("subject") or {}).get("reference")
        if subject and patient.get("id") and not str(subject).endswith(f"Patient/{patient['id']}"):
            out.ignored.append({"reference": ref, "reason": f"about another patient ({subject})"})
            continue
        if kind == "Observation":
            _observation(ref, r, order, when, window, context_window, best, out, problems)
        elif kind == "Condition":
            _condition(ref, r, when, matched, out)
        else:
            out.ignored.append({"reference": ref, "reason": f"{kind} is not read by the model"})
    if problems:
        raise ValidationError(problems)

    record: dict[str, Any] = {"age": age, "sex": sex}
    for name, (_t, _o, value, ref) in best.items():
        record[name] = value
        out.sources[name] = ref
        if ref not in out.used:
            out.used.append(ref)
    for name in CONDITION_CODES:
        if name in matched:
            record[name] = True
            out.sources[name] = matched[name]
        elif absent_conditions == "no":
            record[name] = False
    out.record = record
    return out


def _observation(ref: str, obs: dict, order: int, when: datetime, window: timedelta,
                 context_window: timedelta, best: dict, out: FhirRecord,
                 problems: list[Problem]) -> None:
    status = obs.get("status")
    if status not in _USED_STATUS:
        out.ignored.append({"reference": ref, "reason": f"status {status!r}"})
        return
    if "dataAbsentReason" in obs and not any(k.startswith("value") for k in obs):
        out.ignored.append({"reference": ref, "reason": "no value (dataAbsentReason)"})
        return
    t = _observation_time(obs)
    if t is None:
        out.ignored.append({"reference": ref, "reason": "no effective time"})
        return
    items: list[dict] = []
    if any(k.startswith("value") for k in obs):
        items.append(obs)
    items += [c for c in obs.get("component", []) or [] if isinstance(c, dict)]
    used_any = False
    reasons = []
    for item in items:
        name, code, reason = _field_of(_codings(item.get("code")))
        if name is None:
            reasons.append(reason)
            continue
        span = window if FIELDS[name].group in _TIMED else context_window
        if t > when:
            reasons.append(f"{name} measured after the prediction time")
            continue
        if when - t > span:
            reasons.append(f"{name} older than the {_span_text(span)} window")
            continue
        value = _value(name, code, item, ref, problems)
        if value is None:
            reasons.append(f"{name} has no value")
            continue
        previous = best.get(name)
        if previous is None or (t, order) >= (previous[0], previous[1]):
            if previous is not None:
                out.ignored.append({"reference": previous[3],
                                    "reason": f"a more recent {name} was used"})
            best[name] = (t, order, value, ref)
        else:
            reasons.append(f"a more recent {name} was used")
            continue
        used_any = True
    if not used_any:
        out.ignored.append({"reference": ref,
                            "reason": "; ".join(dict.fromkeys(reasons)) or "no value"})


def _span_text(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:g} h" if hours < 72 else f"{hours / 24:g} days"


def _condition(ref: str, cond: dict, when: datetime, matched: dict, out: FhirRecord) -> None:
    clinical = [c for _, c in _codings(cond.get("clinicalStatus"))]
    if clinical and not set(clinical) & _ACTIVE:
        out.ignored.append({"reference": ref, "reason": f"clinical status {clinical[0]!r}"})
        return
    verification = [c for _, c in _codings(cond.get("verificationStatus"))]
    if set(verification) & _REFUTED:
        out.ignored.append({"reference": ref, "reason": f"verification {verification[0]!r}"})
        return
    if any(k.startswith("abatement") for k in cond):
        out.ignored.append({"reference": ref, "reason": "abated (resolved)"})
        return
    onset = _parse_time(cond.get("onsetDateTime") or cond.get("recordedDate"))
    if onset is not None and onset > when:
        out.ignored.append({"reference": ref, "reason": "onset after the prediction time"})
        return
    codings = _codings(cond.get("code"))
    found = []
    for system, code in codings:
        for name, (snomed, icd10) in CONDITION_CODES.items():
            if system == SNOMED and code in snomed:
                found.append(name)
            elif system in ICD10_SYSTEMS and code.upper().startswith(icd10):
                found.append(name)
    if not found:
        if any(code in _COVID for _, code in codings):
            reason = "the COVID-19 diagnosis itself (the setting says it)"
        else:
            reason = "not a comorbidity the model uses"
        out.ignored.append({"reference": ref, "reason": reason})
        return
    for name in dict.fromkeys(found):
        matched.setdefault(name, ref)
    if ref not in out.used:
        out.used.append(ref)

