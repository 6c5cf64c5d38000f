"""Smoke run of the serving benchmark (``--quick``: tiny sizes, no timing assertions)."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_bench_serve_quick(tmp_path):
    from benchmarks import bench_serve

    res = bench_serve.main(["--quick", "--requests", "10", "--requests-8", "16", "--warmup", "2",
                            "--patients", "8", "--peer-train", "800", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "bench_serve.json").read_text())
    assert set(saved["runs"]) == {"covid_risk_1_worker", "covid_risk_2_workers",
                                  "peer_2_workers"}
    for runs in res["runs"].values():
        assert set(runs) == {"no_explain_1_clients", "no_explain_8_clients",
                             "explain_1_clients", "explain_8_clients"}
        assert all(r["errors"] == 0 and r["calls"] > 0 for r in runs.values())
    assert set(res["targets"]) >= {"median_ms_no_explain_1_client", "throughput_vs_peer"}
    assert "| target | goal |" in res["markdown"]


def test_drive_counts_requests_against_a_live_server(live_server):
    from benchmarks.bench_serve import drive

    port = int(live_server.rsplit(":", 1)[1])
    body = json.dumps({"age": 70, "sex": "male"}).encode()
    stats = drive(port, "/v1/predict?explain=false", [body], clients=2, n_requests=12,
                  warmup=2, time_limit=60)
    assert stats["calls"] == 12 and stats["errors"] == 0 and not stats["stopped_by_time_limit"]
    bad = drive(port, "/v1/predict?explian=false", [body], clients=1, n_requests=3, warmup=0,
                time_limit=60)
    assert bad["errors"] == 3 and bad["calls"] == 0
