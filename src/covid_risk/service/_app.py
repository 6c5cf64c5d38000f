"""The ASGI app: JSON and FHIR predictions, CDS Hooks, health, schema and the calculator page.

Stateless: every request is answered from the models loaded at start-up, so any
number of workers or machines behind a load balancer give the same answers.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import platform
import warnings
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

import covid_risk
from covid_risk._json import bounded_loads
from covid_risk.exceptions import DataQualityWarning
from covid_risk.schema import FIELDS, SETTING_OUTCOMES, SETTINGS
from covid_risk.service._cds import CDS_SERVICES, cds_answer, cds_discovery
from covid_risk.service._core import (
    OPTION_NAMES,
    Models,
    PredictOptions,
    RequestError,
    parse_options,
    predict_records,
)
from covid_risk.service._page import calculator_page, schema_json

__all__ = ["API_KEY_ENV", "ServiceConfig", "create_app"]

API_KEY_ENV = "COVID_RISK_API_KEY"
"""Environment variable holding the API key (compared in constant time)."""

LOG = logging.getLogger("covid_risk.service")


@dataclass(frozen=True)
class ServiceConfig:
    """Settings of one service.

    Parameters
    ----------
    model : str, path or RiskModel, optional
        A model used for its own setting (default: the bundled models).
    models : mapping, optional
        Setting -> model, replacing the bundled ones (tests).
    api_key : str, optional
        When set, every ``/v1`` and ``/cds-services`` request must send it as
        ``X-API-Key`` or ``Authorization: Bearer <key>``.
    max_body_bytes : int, default=1_000_000
        Larger bodies are refused with 413 before they are parsed.
    max_patients : int, default=1000
        Most patients in one ``/v1/predict`` request.
    time_limit : float, default=10.0
        Seconds one request may take; a slower one answers 503.
    log_values : bool, default=False
        Log the problems of refused requests, values included (off: only counts).
    """

    model: Any = None
    models: Any = None
    api_key: str | None = None
    max_body_bytes: int = 1_000_000
    max_patients: int = 1000
    time_limit: float = 10.0
    log_values: bool = False


_OPEN_PATHS = frozenset({"/", "/healthz", "/openapi.json", "/v1/schema", "/cds-services"})


def _patient_schema() -> dict:
    props: dict[str, Any] = {}
    for name, f in FIELDS.items():
        if f.group == "outcome":
            continue
        if f.kind == "category":
            props[name] = {"type": "string", "enum": list(f.categories), "description": f.label}
        elif f.kind == "bool":
            props[name] = {"type": "boolean", "description": f.label}
        else:
            prop: dict[str, Any] = {"type": "integer" if f.kind == "int" else "number",
                                    "description": f"{f.label}" + (f" ({f.unit})" if f.unit
                                                                    else "")}
            if f.hard is not None:
                prop["minimum"], prop["maximum"] = f.hard
            props[name] = prop
    patient = {"type": "object", "properties": props, "required": ["age", "sex"],
               "example": {"age": 78, "sex": "male", "respiratory_rate": 28, "spo2": 90,
                           "urea": 11.2, "crp": 140}}
    return {"oneOf": [patient, {"type": "array", "items": patient}]}


def _query_docs() -> list[dict]:
    docs = {
        "setting": ("admission or community", "string"),
        "outcomes": ("comma-separated outcomes (default: all of the setting)", "string"),
        "explain": ("include the top factors (default true)", "boolean"),
        "top": ("factors per direction, 0 to 20 (default 5)", "integer"),
        "strict": ("refuse unknown fields (default true)", "boolean"),
        "units": ("units of values not in the canonical unit, e.g. urea:mg/dL BUN", "string"),
        "id_key": ("field carrying the caller's patient id, returned as 'id'", "string"),
    }
    return [{"name": n, "in": "query", "required": False, "description": docs[n][0],
             "schema": {"type": docs[n][1]}} for n in OPTION_NAMES]


def create_app(config: ServiceConfig | None = None) -> FastAPI:
    """Build the ASGI app.

    Parameters
    ----------
    config : ServiceConfig, optional
        Default: bundled models, no API key, the default limits.

    Returns
    -------
    fastapi.FastAPI
        Serve it with uvicorn (``covid-risk serve``) or drive it with
        ``fastapi.testclient.TestClient``.
    """
    cfg = config or ServiceConfig()
    # The prediction carries its warnings in the answer; the log copy would hold patient
    # values (implausible values are quoted), so the library's warnings are not logged.
    warnings.filterwarnings("ignore", category=DataQualityWarning, module=r"covid_risk\.")
    models = Models.load(cfg.model, cfg.models)
    app = FastAPI(
        title="covid_risk",
        version=covid_risk.__version__,
        description="Calibrated, explained risks of COVID-19 complications (models trained on "
                    "synthetic cohorts: not validated on real patients). JSON and FHIR R4 in "
                    "and out, CDS Hooks 2.0 and a calculator page.",
        docs_url=None, redoc_url=None,  # their pages load scripts from a CDN
    )
    app.state.models = models
    app.state.config = cfg
    page = calculator_page(models.fingerprints)

    def authorize(request: Request) -> None:
        if not cfg.api_key or request.url.path in _OPEN_PATHS:
            return
        given = request.headers.get("x-api-key", "")
        auth = request.headers.get("authorization", "")
        if not given and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not hmac.compare_digest(given.encode("utf-8", "replace"),
                                   cfg.api_key.encode("utf-8")):
            raise RequestError(401, "Send the API key as 'X-API-Key' or 'Authorization: "
                               "Bearer <key>'.")

    async def read_json(request: Request) -> Any:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > cfg.max_body_bytes):
            raise RequestError(413, f"The body is larger than {cfg.max_body_bytes} bytes.")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > cfg.max_body_bytes:
                raise RequestError(413, f"The body is larger than {cfg.max_body_bytes} bytes.")
        if not body:
            raise RequestError(400, "The body is empty; send a JSON object (one patient) or "
                               "a list of them.")
        try:  # bounded nesting and number size; NaN is left for validation to judge
            return bounded_loads(bytes(body), "The body", ValueError, finite=False)
        except ValueError as exc:
            raise RequestError(400, str(exc)) from None

    async def limited(fn, *args) -> Any:
        try:
            return await asyncio.wait_for(run_in_threadpool(fn, *args), cfg.time_limit)
        except asyncio.TimeoutError:
            raise RequestError(503, f"The request took longer than {cfg.time_limit:g} s; send "
                               "fewer patients per request.") from None

    @app.exception_handler(RequestError)
    async def _refused(request: Request, exc: RequestError) -> JSONResponse:
        if cfg.log_values and exc.problems:
            LOG.info("refused %s: %s", request.url.path, exc.problems)
        else:
            LOG.info("refused %s with %d (%d problems)", request.url.path, exc.status,
                     len(exc.problems))
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": "The request does not match the API; see /openapi.json."},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        LOG.error("internal error on %s: %s", request.url.path, type(exc).__name__)
        return JSONResponse({"detail": "Internal error; the request was not answered. It has "
                                       "been logged without patient values."}, status_code=500)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def calculator() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @app.get("/healthz", summary="Liveness, model fingerprints and versions")
    async def healthz() -> dict:
        import fastapi

        return {
            "status": "ok",
            "models": {s: {"fingerprint": models.fingerprints[s],
                           "outcomes": list(models.by_setting[s].outcomes_)}
                       for s in SETTINGS},
            "versions": {"covid_risk": covid_risk.__version__, "fastapi": fastapi.__version__,
                         "python": platform.python_version()},
            "pid": os.getpid(),
        }

    @app.get("/v1/schema", summary="The patient record's fields, units and outcomes")
    async def schema() -> dict:
        return schema_json() | {"setting_outcomes": {s: list(o)
                                                     for s, o in SETTING_OUTCOMES.items()}}

    @app.post(
        "/v1/predict",
        summary="Risks of one patient (a JSON object) or several (a list)",
        openapi_extra={
            "parameters": _query_docs(),
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": _patient_schema()}}},
            "responses": {"422": {"description": "The library's problems: field, value, row, "
                                                 "message, allowed."},
                          "413": {"description": "Body too large."}},
        },
    )
    async def predict(request: Request) -> Response:
        authorize(request)
        options = parse_options(list(request.query_params.multi_items()))
        body = await read_json(request)
        many = isinstance(body, list)
        records = body if many else [body]
        if many and not records:
            raise RequestError(422, "The list of patients is empty.")
        if len(records) > cfg.max_patients:
            raise RequestError(413, f"At most {cfg.max_patients} patients per request; got "
                               f"{len(records)}.")
        answers = await limited(predict_records, records, options, models)
        return JSONResponse(answers if many else answers[0])

    @app.post(
        "/v1/fhir/predict",
        summary="FHIR R4 Bundle of Patient, Observation and Condition in; Bundle of "
                "RiskAssessment out",
        openapi_extra={"parameters": [
            {"name": "setting", "in": "query", "schema": {"type": "string"}},
            {"name": "as_of", "in": "query", "schema": {"type": "string"},
             "description": "prediction time (ISO 8601); default the Bundle's timestamp, "
                            "else now"},
            {"name": "window_hours", "in": "query", "schema": {"type": "number"}},
        ], "requestBody": {"required": True, "content": {
            "application/fhir+json": {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}}}}},
    )
    async def fhir_predict(request: Request) -> Response:
        authorize(request)
        query = dict(request.query_params)
        unknown = set(query) - {"setting", "as_of", "window_hours", "explain", "top"}
        if unknown:
            raise RequestError(422, f"Unknown query parameter {sorted(unknown)[0]!r}; the options "
                               "are setting, as_of, window_hours, explain, top.")
        options = parse_options([(k, v) for k, v in query.items()
                                 if k in ("setting", "explain", "top")])
        body = await read_json(request)
        answer = await limited(_fhir_predict, body, options, query, models)
        return JSONResponse(answer, media_type="application/fhir+json")

    @app.get("/cds-services", summary="CDS Hooks 2.0 discovery")
    async def discovery() -> dict:
        return cds_discovery()

    @app.post("/cds-services/{service_id}", summary="CDS Hooks 2.0 patient-view service")
    async def cds(service_id: str, request: Request) -> Response:
        authorize(request)
        if service_id not in CDS_SERVICES:
            raise RequestError(404, f"No CDS service {service_id[:60]!r}; see /cds-services.")
        body = await read_json(request)
        base = str(request.base_url)
        answer = await limited(cds_answer, service_id, body, models, base)
        return JSONResponse(answer)

    return app


def _fhir_predict(body: Any, options: PredictOptions, query: dict, models: Models) -> dict:
    from covid_risk.service._fhir_bridge import fhir_predict

    return fhir_predict(body, options, query, models)
