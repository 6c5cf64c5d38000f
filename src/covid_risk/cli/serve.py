"""``covid-risk serve``: the HTTP service (JSON, FHIR R4, CDS Hooks, the calculator page)."""

from __future__ import annotations

import argparse
import ipaddress
import os

from covid_risk.cli._common import positive_int
from covid_risk.cli._io import CliError

__all__ = ["DESCRIPTION", "EPILOG", "add_arguments", "is_loopback", "run"]

DESCRIPTION = """\
Serve predictions over HTTP: POST /v1/predict (JSON), POST /v1/fhir/predict (FHIR R4
Bundle in, RiskAssessment out), CDS Hooks 2.0 at /cds-services, the calculator page at
/, /healthz and /openapi.json. Needs the 'serve' extra: pip install 'covid-risk[serve]'.

Binding to an address other than loopback needs an API key in COVID_RISK_API_KEY
(clients send it as X-API-Key or Authorization: Bearer) or --insecure. A real
deployment sits behind the hospital's gateway, which terminates TLS and
authenticates users; this service is stateless, so run several workers or machines
behind a load balancer to scale it out."""

EPILOG = """\
examples:
  covid-risk serve
  covid-risk serve --port 8080 --workers 2
  COVID_RISK_API_KEY=... covid-risk serve --host 0.0.0.0 --model model.crmodel"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``serve``."""
    parser.add_argument("--model", metavar="PATH",
                        help="model file used for its own setting (default: the bundled models)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=positive_int, default=8000, help="port (default: 8000)")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="worker processes (default: 1)")
    parser.add_argument("--insecure", action="store_true",
                        help="allow a non-loopback address without an API key")
    parser.add_argument("--log-level", default="info",
                        choices=("critical", "error", "warning", "info", "debug"),
                        help="uvicorn log level (default: info; logs hold no patient values)")


def is_loopback(host: str) -> bool:
    """Return whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    """Start uvicorn with the app factory; return when the server stops."""
    from covid_risk.service import API_KEY_ENV, MODEL_ENV

    if not is_loopback(args.host) and not os.environ.get(API_KEY_ENV) and not args.insecure:
        raise CliError(f"refusing to listen on {args.host} without an API key: set "
                       f"{API_KEY_ENV} (or pass --insecure behind a gateway that authenticates)")
    try:
        import uvicorn
    except ImportError:
        raise CliError("the service needs the 'serve' extra: pip install "
                       "'covid-risk[serve]'") from None
    if args.model:
        if not os.path.isfile(args.model):
            raise CliError(f"model file {args.model!r} not found")
        os.environ[MODEL_ENV] = os.path.abspath(args.model)
    uvicorn.run("covid_risk.service:app_from_env", factory=True, host=args.host,
                port=args.port, workers=args.workers, log_level=args.log_level,
                server_header=False)
    return 0
