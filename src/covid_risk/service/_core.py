"""The one prediction path of the service: options, records, the library, errors.

Every endpoint (``/v1/predict``, ``/v1/fhir/predict``, CDS Hooks, the web page) ends
here, and this module calls only the public API of covid_risk: ``predict_risk`` for
the risks and factors and ``validate`` for unit conversion. Nothing is re-implemented.

Options that ``predict_risk`` does not take yet (``strict``, ``units``, an ID key) are
handled here around it; when a later ``predict_risk`` accepts ``units`` or ``strict``
(checked with :func:`inspect.signature` once), they are passed through instead.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import covid_risk
from covid_risk.schema import FIELDS, PREDICTORS, SETTINGS

__all__ = [
    "MAX_TOP",
    "OPTION_NAMES",
    "Models",
    "PredictOptions",
    "RequestError",
    "model_fingerprint",
    "parse_options",
    "predict_records",
    "problem_dicts",
]

OPTION_NAMES: tuple[str, ...] = ("setting", "outcomes", "explain", "top", "strict", "units",
                                 "id_key")
"""Query parameters of ``POST /v1/predict`` (the options of ``predict_risk``)."""

MAX_TOP = 20
"""Most factors per direction one request may ask for."""

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}
_PREDICTOR_SET = frozenset(PREDICTORS)


class RequestError(Exception):
    """A request the service refuses: an HTTP status, a reason and the problems found.

    Parameters
    ----------
    status : int
        HTTP status (4xx).
    detail : str
        One sentence saying what was wrong and what to do.
    problems : list of dict, optional
        The library's problems: ``field``, ``value``, ``row``, ``message``, ``allowed``.
    """

    def __init__(self, status: int, detail: str, problems: list[dict] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.problems = problems or []

    def body(self) -> dict[str, Any]:
        """Return the JSON body of the error answer."""
        out: dict[str, Any] = {"detail": self.detail}
        if self.problems:
            out["problems"] = self.problems
        return out


@dataclass(frozen=True)
class PredictOptions:
    """The options of one prediction request (see :data:`OPTION_NAMES`)."""

    setting: str = "admission"
    outcomes: tuple[str, ...] | None = None
    explain: bool = True
    top: int = 5
    strict: bool = True
    units: dict[str, str] = field(default_factory=dict)
    id_key: str | None = None


def model_fingerprint(model: Any) -> str:
    """Return the short SHA-256 of a model's file manifest, e.g. ``"sha256:5ccf6afb169a38e7"``.

    The manifest is the model file's verified JSON header (versions, setting,
    outcomes, schema and matrix hashes, the SHA-256 of every part), read with
    :func:`covid_risk.models.read_manifest` from ``model.to_bytes()``. It is hashed as
    the file stores it (sorted keys, one-space indent, ASCII, newline), so the
    fingerprint is the first 16 hex digits of the manifest hash in the model file's
    own header: two services answer with the same fingerprint exactly when they
    load the same model.
    """
    from covid_risk.models import read_manifest

    manifest = read_manifest(model.to_bytes(hmac_key=b""))
    text = json.dumps(manifest, sort_keys=True, indent=1, ensure_ascii=True) + "\n"
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()[:16]


@dataclass
class Models:
    """The models a service answers with: setting -> model, and their fingerprints."""

    by_setting: dict[str, Any]
    fingerprints: dict[str, str]

    @classmethod
    def load(cls, model: Any = None, models: Mapping[str, Any] | None = None) -> Models:
        """Load the bundled default models, replacing one setting's by ``model`` if given.

        Parameters
        ----------
        model : str, path or RiskModel, optional
            A model file (or fitted model) used for its own setting.
        models : mapping of str to RiskModel, optional
            Setting -> model, replacing the defaults (tests pass small models).
        """
        chosen: dict[str, Any] = {}
        for setting in SETTINGS:
            chosen[setting] = (models or {}).get(setting) or covid_risk.default_model(setting)
        if model is not None:
            loaded = covid_risk.load(model) if not hasattr(model, "outcomes_") else model
            chosen[str(getattr(loaded, "setting", "admission"))] = loaded
        return cls(chosen, {s: model_fingerprint(m) for s, m in chosen.items()})


def _bool(name: str, text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise RequestError(422, f"Query parameter {name!r} must be true or false; got {text!r}.")


def _units(text: str) -> dict[str, str]:
    """``{"urea": "mg/dL BUN"}`` as JSON, or ``urea:mg/dL BUN,temperature:°F``."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise RequestError(422, "Query parameter 'units' must be a JSON object of field "
                               "name to unit, e.g. {\"urea\": \"mg/dL BUN\"}.")
        return value
    out: dict[str, str] = {}
    for part in text.split(","):
        name, sep, unit = part.partition(":")
        if not sep or not name.strip() or not unit.strip():
            raise RequestError(422, "Query parameter 'units' must look like "
                               "'urea:mg/dL BUN,temperature:°F'; got " + repr(text[:100]) + ".")
        out[name.strip()] = unit.strip()
    return out


def parse_options(query: Mapping[str, str] | Sequence[tuple[str, str]]) -> PredictOptions:
    """Turn query parameters into :class:`PredictOptions`, refusing unknown or bad ones.

    Raises
    ------
    RequestError
        422 naming the parameter, the value and what is allowed.
    """
    items = list(query.items()) if isinstance(query, Mapping) else list(query)
    seen: dict[str, str] = {}
    for name, value in items:
        if name not in OPTION_NAMES:
            raise RequestError(422, f"Unknown query parameter {name!r}; the options are "
                               f"{', '.join(OPTION_NAMES)}.")
        if name in seen:
            raise RequestError(422, f"Query parameter {name!r} is given twice.")
        seen[name] = value
    setting = seen.get("setting", "admission")
    if setting not in SETTINGS:
        raise RequestError(422, f"Query parameter 'setting' must be one of "
                           f"{', '.join(SETTINGS)}; got {setting[:50]!r}.")
    outcomes = None
    if "outcomes" in seen:
        outcomes = tuple(o.strip() for o in seen["outcomes"].split(",") if o.strip())
        if not outcomes:
            raise RequestError(422, "Query parameter 'outcomes' is empty; leave it out for all "
                               "outcomes or name them, e.g. outcomes=death,icu.")
    top = 5
    if "top" in seen:
        try:
            top = int(seen["top"])
        except ValueError:
            top = -1
        if not 0 <= top <= MAX_TOP:
            raise RequestError(422, f"Query parameter 'top' must be a whole number from 0 to "
                               f"{MAX_TOP}; got {seen['top'][:50]!r}.")
    id_key = seen.get("id_key")
    if id_key is not None and not 0 < len(id_key) <= 64:
        raise RequestError(422, "Query parameter 'id_key' must be a field name of 1 to 64 "
                           "characters.")
    return PredictOptions(
        setting=setting,
        outcomes=outcomes,
        explain=_bool("explain", seen["explain"]) if "explain" in seen else True,
        top=top,
        strict=_bool("strict", seen["strict"]) if "strict" in seen else True,
        units=_units(seen.get("units", "")),
        id_key=id_key,
    )


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value if not isinstance(value, str) else value[:200]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return repr(value)[:200]


def problem_dicts(error: covid_risk.ValidationError, row: int | None = None) -> list[dict]:
    """Return the library's problems as JSON: field, value, row, message and what is allowed.

    Parameters
    ----------
    error : ValidationError
        As raised by ``predict_risk`` or ``validate``.
    row : int, optional
        Position of the record in the request body (replaces the library's row,
        which counts within one record).
    """
    out = []
    for p in error.problems:
        f = FIELDS.get(p.field)
        message = p.message
        if row is not None and p.row is not None and p.row != row:
            message = message.replace(f"(row {p.row})", f"(record {row})")
        out.append({
            "field": p.field,
            "value": _json_value(p.value),
            "row": row if row is not None else p.row,
            "message": message,
            "allowed": f.allowed_text() if f is not None else None,
        })
    return out


def _supported() -> frozenset[str]:
    return frozenset(inspect.signature(covid_risk.predict_risk).parameters)


_SUPPORTED: frozenset[str] | None = None


def _supports(name: str) -> bool:
    global _SUPPORTED
    if _SUPPORTED is None:
        _SUPPORTED = _supported()
    return name in _SUPPORTED


def _canonical(record: dict, units: Mapping[str, str]) -> dict:
    """Convert ``record`` to canonical units with ``validate`` (the library's own table)."""
    import warnings

    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = covid_risk.validate(record, units=dict(units)).data
    row = data.astype(object).iloc[0].to_dict()
    out = {}
    for name, value in row.items():
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            continue
        out[name] = value.item() if hasattr(value, "item") else value
    return out


def _strict_problems(record: Mapping[str, Any], row: int) -> list[dict]:
    import difflib

    out = []
    for name in record:
        if name in _PREDICTOR_SET:
            continue
        close = difflib.get_close_matches(str(name), PREDICTORS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        out.append({
            "field": _json_value(name),
            "value": _json_value(record[name]),
            "row": row,
            "message": f"{str(name)[:60]!r} is not a field of the patient record.{hint} "
                       "Send strict=false to ignore unknown fields with a warning.",
            "allowed": "a field name of the schema (GET /v1/schema)",
        })
    return out


def predict_records(
    records: Sequence[Any],
    options: PredictOptions,
    models: Models,
    *,
    transform: Callable[[dict], dict] | None = None,
) -> list[dict]:
    """Predict every record with ``predict_risk``; answer ``to_dict()`` plus the fingerprint.

    Parameters
    ----------
    records : sequence
        Patients as sent (each should be a JSON object).
    options : PredictOptions
        The request's options.
    models : Models
        The service's models.
    transform : callable, optional
        Applied to each answer dict before it is returned.

    Returns
    -------
    list of dict
        One answer per record, in order.

    Raises
    ------
    RequestError
        422 listing every problem of every record (field, value, row, allowed).
    """
    model = models.by_setting[options.setting]
    fingerprint = models.fingerprints[options.setting]
    answers: list[dict] = []
    problems: list[dict] = []
    kwargs: dict[str, Any] = {"setting": options.setting, "model": model,
                              "outcomes": options.outcomes, "explain": options.explain,
                              "top": options.top}
    pass_units = bool(options.units) and _supports("units")
    if pass_units:
        kwargs["units"] = dict(options.units)
    if _supports("strict"):
        kwargs["strict"] = options.strict
    for i, raw in enumerate(records):
        if not isinstance(raw, dict):
            problems.append({"field": "<record>", "value": _json_value(raw), "row": i,
                             "message": f"Record {i} must be a JSON object of field names to "
                                        f"values; got {type(raw).__name__}.",
                             "allowed": "a JSON object"})
            continue
        record = dict(raw)
        ident = None
        if options.id_key is not None:
            if options.id_key not in record:
                problems.append({"field": options.id_key, "value": None, "row": i,
                                 "message": f"Record {i} has no {options.id_key!r} (the id_key).",
                                 "allowed": "a string or whole number"})
                continue
            ident = record.pop(options.id_key)
            if not isinstance(ident, (str, int)) or isinstance(ident, bool):
                problems.append({"field": options.id_key, "value": _json_value(ident), "row": i,
                                 "message": f"The id {options.id_key!r} of record {i} must be a "
                                            "string or a whole number.",
                                 "allowed": "a string or whole number"})
                continue
        if options.strict and not _supports("strict"):
            found = _strict_problems(record, i)
            if found:
                problems += found
                continue
        try:
            if options.units and not pass_units:
                record = _canonical(record, options.units)
            prediction = covid_risk.predict_risk(record, **kwargs)
        except covid_risk.ValidationError as exc:
            problems += problem_dicts(exc, row=i)
            continue
        except (ValueError, TypeError) as exc:  # options the model refuses (outcomes, ...)
            raise RequestError(422, str(exc)[:500]) from None
        if problems:
            continue
        answer = prediction.to_dict()
        answer["model_fingerprint"] = fingerprint
        if options.id_key is not None:
            answer["id"] = ident
        answers.append(transform(answer) if transform else answer)
    if problems:
        n = len({p["row"] for p in problems})
        raise RequestError(422, f"{len(problems)} problem(s) in {n} record(s); nothing was "
                           "predicted. Each problem names the field, the value and what is "
                           "allowed.", problems)
    return answers
