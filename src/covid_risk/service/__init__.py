"""The covid_risk service: an ASGI app for clinicians' tools (the ``serve`` extra).

* ``POST /v1/predict``: one patient (the schema's JSON) or a list; the options of
  ``predict_risk`` as query parameters; the answer is ``RiskPrediction.to_dict()``
  with the model fingerprint. Bad input: 422 with the library's own problems.
* ``POST /v1/fhir/predict``: a FHIR R4 Bundle in, a Bundle of RiskAssessment out.
* ``GET /cds-services`` and ``POST /cds-services/covid-risk-admission`` (``-community``):
  CDS Hooks 2.0 ``patient-view``.
* ``GET /``: the calculator page; ``GET /healthz``; ``GET /openapi.json``; ``GET /v1/schema``.

Start it with ``covid-risk serve`` (uvicorn); build it in Python with
:func:`create_app`. The app is stateless: every worker loads the same models and
answers alike, so workers and machines behind a load balancer scale it out.

Examples
--------
>>> from fastapi.testclient import TestClient  # doctest: +SKIP
>>> from covid_risk.service import create_app  # doctest: +SKIP
>>> client = TestClient(create_app())  # doctest: +SKIP
>>> client.post("/v1/predict?explain=false", json={"age": 80, "sex": "male"}).status_code
200
"""

from __future__ import annotations

import os
from typing import Any

from covid_risk.service._app import API_KEY_ENV, ServiceConfig, create_app
from covid_risk.service._core import (
    Models,
    PredictOptions,
    RequestError,
    model_fingerprint,
    parse_options,
    predict_records,
)

__all__ = [
    "API_KEY_ENV",
    "MODEL_ENV",
    "Models",
    "PredictOptions",
    "RequestError",
    "ServiceConfig",
    "app_from_env",
    "create_app",
    "model_fingerprint",
    "parse_options",
    "predict_records",
]

MODEL_ENV = "COVID_RISK_SERVE_MODEL"
"""Environment variable naming a model file for :func:`app_from_env` (uvicorn workers)."""


def app_from_env() -> Any:
    """Build the app from the environment (the factory each uvicorn worker calls).

    ``COVID_RISK_SERVE_MODEL`` names a model file (default: the bundled models) and
    ``COVID_RISK_API_KEY`` the API key (default: none).
    """
    return create_app(ServiceConfig(model=os.environ.get(MODEL_ENV) or None,
                                    api_key=os.environ.get(API_KEY_ENV) or None))
