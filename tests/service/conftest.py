"""Shared set-up of the service tests: one app on the bundled models, a client, a live server.

The live server is a real uvicorn on 127.0.0.1 and a free port, started in a thread
for the session and stopped by the fixture.
"""

from __future__ import annotations

import socket
import threading
import time
import warnings

import pytest

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)


@pytest.fixture(scope="session")
def app():
    """The service app on the bundled default models."""
    from covid_risk.service import create_app

    return create_app()


@pytest.fixture(scope="session")
def client(app):
    """A TestClient that turns server errors into answers (they must be 500, not raise)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(app):
    """Base URL of a real uvicorn serving ``app`` on loopback; stopped at the end."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
