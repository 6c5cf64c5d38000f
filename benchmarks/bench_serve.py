"""The HTTP service under a bounded load, against a hand-rolled FastAPI app around the peer.

What runs
---------
* **covid_risk**: ``uvicorn covid_risk.service:app_from_env`` (what ``covid-risk serve``
  starts) on 127.0.0.1 and a free port, with 1 and with 2 worker processes, the
  bundled admission model, ``POST /v1/predict`` with one patient per request.
* **peer**: what a data scientist would write around the hand-rolled pipeline of
  :mod:`benchmarks.bench_peer` (one calibrated scikit-learn + LightGBM pipeline per
  outcome, ``shap.TreeExplainer`` for the factors): a FastAPI app with a ``dict`` body
  and a sync endpoint calling ``Peer.predict_one``, on uvicorn with 2 workers. It is
  trained in this run on a cohort of ``--peer-train`` patients.

The load
--------
Clients are threads in this process, each with its own persistent HTTP/1.1
connection (``http.client``), sending the patients of a fixed-seed cohort in turn.
Every phase sends a fixed number of requests (``--requests`` for 1 client,
``--requests-8`` for 8) after ``--warmup`` unmeasured ones, and stops by itself at
``--time-limit`` seconds whichever comes first. The latency of a request is measured
by its client from sending to the last byte read, so it includes HTTP, JSON and the
client's own time; on a 2-core machine the clients share the cores with the servers,
so the throughput figures are a floor. Explanations: ``explain=true`` gives the top
factors of every outcome for covid_risk and the top SHAP features of every outcome for
the peer.

Targets (from the serving issue): median 3 ms or less without explanation at 1 client,
6 ms or less with factors for all outcomes; at least 800 requests/s without
explanation with 2 workers; at least 10x the peer app's throughput.

Usage::

    python -m benchmarks.bench_serve            # moderate sizes (a few minutes)
    python -m benchmarks.bench_serve --quick    # smoke run
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from benchmarks._common import (
    ROOT,
    apply_quick,
    cohort,
    latency_stats,
    machine,
    patients_as_dicts,
    publish,
    ratio,
    settings,
)

PEER_ENV = "BENCH_SERVE_PEER_PICKLE"
TARGETS = {"median_ms_no_explain_1_client": 3.0, "median_ms_explain_1_client": 6.0,
           "throughput_rps_no_explain_2_workers": 800.0, "throughput_vs_peer": 10.0}


def peer_app_from_env() -> Any:
    """Build the hand-rolled peer app (an uvicorn factory) around the pickled peer."""
    from fastapi import Body, FastAPI

    with open(os.environ[PEER_ENV], "rb") as fh:
        peer = pickle.load(fh)
    app = FastAPI()

    @app.post("/predict")
    def predict(patient: dict = Body(...), explain: bool = False) -> dict:  # noqa: B008
        out = peer.predict_one(patient, explain=explain)
        return {o: (v if not isinstance(v, tuple) else {"probability": v[0], "factors": v[1]})
                for o, v in out.items()}

    return app


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """An uvicorn subprocess on loopback, stopped on exit."""

    def __init__(self, target: str, workers: int, env: dict[str, str]):
        self.port = free_port()
        pythonpath = os.pathsep.join([str(ROOT / "src"), str(ROOT),
                                      os.environ.get("PYTHONPATH", "")])
        # stderr to a file: a pipe nobody reads fills up and blocks the server's writes
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", target, "--factory", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(workers), "--log-level", "warning",
             "--no-access-log"],
            env={**os.environ, **env, "PYTHONPATH": pythonpath},
            stdout=subprocess.DEVNULL, stderr=self.log)
        self.workers = workers

    def wait(self, health: str, timeout: float = 180.0) -> None:
        """Wait until every worker answers ``health`` (distinct pids for covid_risk)."""
        deadline = time.monotonic() + timeout
        pids: set[int] = set()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError("server exited: " + self.log.read().decode()[-2000:])
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", health)
                body = conn.getresponse().read()
                conn.close()
                try:
                    pids.add(json.loads(body).get("pid", 0))
                except (ValueError, AttributeError):
                    pids.add(0)
                if health != "/healthz" or len(pids) >= self.workers:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not start in time")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


def drive(port: int, path: str, bodies: list[bytes], clients: int, n_requests: int,
          warmup: int, time_limit: float) -> dict:
    """Send ``n_requests`` (after ``warmup``) from ``clients`` threads; return statistics."""
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]
    stop_at = [0.0]

    def worker(measure: bool, total: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/json"}
        mine = []
        while True:
            with lock:
                i = next(counter)
            if i >= total or time.perf_counter() > stop_at[0]:
                break
            body = bodies[i % len(bodies)]
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body, headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status = 0
            if status == 200:
                mine.append(time.perf_counter() - t0)
            else:
                with lock:
                    errors[0] += 1
        conn.close()
        if measure:
            with lock:
                latencies.extend(mine)

    def phase(measure: bool, total: int, limit: float) -> float:
        nonlocal counter
        counter = itertools.count()
        stop_at[0] = time.perf_counter() + limit
        threads = [threading.Thread(target=worker, args=(measure, total)) for _ in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - t0

    phase(False, warmup, time_limit)
    wall = phase(True, n_requests, time_limit)
    stats = latency_stats(latencies) if latencies else {"calls": 0}
    stats.update({"clients": clients, "wall_s": round(wall, 3), "errors": errors[0],
                  "throughput_rps": round(len(latencies) / wall, 1) if wall else None,
                  "stopped_by_time_limit": len(latencies) < n_requests})
    return stats


def train_peer(n: int, seed: int) -> Any:
    """Fit the hand-rolled peer of :mod:`benchmarks.bench_peer` on ``n`` admissions."""
    import covid_risk
    from benchmarks.bench_peer import Peer

    frame = cohort(n, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Peer("admission", covid_risk.SETTING_OUTCOMES["admission"]).fit(frame)


def run(args: argparse.Namespace) -> dict:
    """Start each server, drive it with every load, stop it; return the results."""
    from covid_risk.schema import PREDICTORS

    frame = cohort(args.patients, random_state=args.seed)
    patients = patients_as_dicts(frame, [c for c in frame.columns if c in PREDICTORS])
    bodies = [json.dumps(p).encode() for p in patients]
    res: dict[str, Any] = {"machine": machine(), "settings": settings(args), "runs": {}}

    t0 = time.perf_counter()
    peer = train_peer(args.peer_train, args.seed + 1)
    res["peer_training_s"] = round(time.perf_counter() - t0, 2)
    tmp = tempfile.mkdtemp(prefix="bench-serve-")
    peer_file = Path(tmp) / "peer.pkl"
    peer_file.write_bytes(pickle.dumps(peer))

    contestants = [
        ("covid_risk_1_worker", "covid_risk.service:app_from_env", 1, {}, "/v1/predict",
         "/healthz"),
        ("covid_risk_2_workers", "covid_risk.service:app_from_env", 2, {}, "/v1/predict",
         "/healthz"),
        ("peer_2_workers", "benchmarks.bench_serve:peer_app_from_env", 2,
         {PEER_ENV: str(peer_file)}, "/predict", "/openapi.json"),
    ]
    try:
        for name, target, workers, env, path, health in contestants:
            server = Server(target, workers, env)
            try:
                server.wait(health)
                runs = {}
                for explain in (False, True):
                    for clients in (1, 8):
                        n = args.requests if clients == 1 else args.requests_8
                        if name.startswith("peer") and explain:
                            n = max(10, n // 10)  # SHAP per outcome: far slower
                        key = f"{'explain' if explain else 'no_explain'}_{clients}_clients"
                        runs[key] = drive(server.port, f"{path}?explain={str(explain).lower()}",
                                          bodies, clients, n, args.warmup, args.time_limit)
                        print(f"{name} {key}: median {runs[key].get('median_ms')} ms, "
                              f"{runs[key]['throughput_rps']} req/s", file=sys.stderr)
                res["runs"][name] = runs
            finally:
                server.stop()
    finally:
        peer_file.unlink(missing_ok=True)
        os.rmdir(tmp)

    cr1, cr2, peer_runs = (res["runs"][k] for k in ("covid_risk_1_worker",
                                                     "covid_risk_2_workers", "peer_2_workers"))
    best_rps = max(cr2["no_explain_8_clients"]["throughput_rps"],
                   cr2["no_explain_1_clients"]["throughput_rps"])
    res["targets"] = {
        "median_ms_no_explain_1_client": {
            "target": TARGETS["median_ms_no_explain_1_client"],
            "measured": cr1["no_explain_1_clients"]["median_ms"]},
        "median_ms_explain_1_client": {
            "target": TARGETS["median_ms_explain_1_client"],
            "measured": cr1["explain_1_clients"]["median_ms"]},
        "throughput_rps_no_explain_2_workers": {
            "target": TARGETS["throughput_rps_no_explain_2_workers"], "measured": best_rps},
        "throughput_vs_peer": {
            "target": TARGETS["throughput_vs_peer"],
            "measured": ratio(cr2["no_explain_8_clients"]["throughput_rps"],
                              peer_runs["no_explain_8_clients"]["throughput_rps"])},
        "throughput_vs_peer_with_explanations": {
            "target": TARGETS["throughput_vs_peer"],
            "measured": ratio(cr2["explain_8_clients"]["throughput_rps"],
                              peer_runs["explain_8_clients"]["throughput_rps"])},
    }
    for key, t in res["targets"].items():
        m = t["measured"]
        lower_is_better = key.startswith("median")
        t["met"] = m is not None and (m <= t["target"] if lower_is_better else m >= t["target"])
    return res


def markdown(res: dict) -> str:
    """The results as Markdown tables."""
    lines = ["## Serving: covid_risk's HTTP service against a hand-rolled peer app", "",
             f"Machine: {res['machine']['cpu']}, {res['machine']['cores']} cores, load "
             f"{res['machine']['load_average_at_start']} at start. Clients share the cores "
             "with the servers.", "",
             "| target | goal | measured | met |", "|---|---:|---:|---|"]
    for name, t in res["targets"].items():
        lines.append(f"| {name} | {t['target']} | {t['measured']} | "
                     f"{'yes' if t['met'] else 'no'} |")
    lines += ["", "| server | load | requests | median ms | p99 ms | req/s | errors |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for server, runs in res["runs"].items():
        for load, s in runs.items():
            lines.append(f"| {server} | {load.replace('_', ' ')} | {s['calls']} | "
                         f"{s.get('median_ms')} | {s.get('p99_ms')} | {s['throughput_rps']} | "
                         f"{s['errors']} |")
    lines += ["", f"Peer trained on {res['settings']['peer_train']} patients in "
              f"{res['peer_training_s']} s."]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_serve",
                                description=__doc__.split("\n")[0])
    p.add_argument("--patients", type=int, default=500, help="distinct patients sent in turn")
    p.add_argument("--requests", type=int, default=2000, help="measured requests at 1 client")
    p.add_argument("--requests-8", type=int, default=4000, help="measured requests at 8 clients")
    p.add_argument("--warmup", type=int, default=100, help="unmeasured requests first")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds per phase at most")
    p.add_argument("--peer-train", type=int, default=10_000, help="patients the peer learns on")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    p.add_argument("--out", type=Path, default=None, help="results folder")
    return p


QUICK = {"patients": 30, "requests": 40, "requests_8": 80, "warmup": 5, "time_limit": 15.0,
         "peer_train": 1500}


def main(argv: list[str] | None = None) -> dict:
    """Run from the command line; write and return the results."""
    args = parser().parse_args(argv)
    apply_quick(args, QUICK)
    return publish("bench_serve", run(args), markdown, args.out)


if __name__ == "__main__":  # pragma: no cover
    main()
