"""Benchmark of streaming batch scoring: bounded memory on 5 million rows, and Dask 1 vs 2 workers.

What it does
------------
1. Writes a Parquet file of ``--rows`` synthetic admissions by streaming
   ``make_cohort`` chunks to disk with ``pyarrow.parquet.ParquetWriter`` (one row
   group per chunk, never one giant frame). Outcome and true-risk columns are
   dropped, as in a file of patients to be scored; ``patient_id`` is made unique.
   A second file holds the first ``--small-rows`` rows.
2. Scores them with ``score_file`` (engine "local"), each run in a fresh Python
   process so that its peak resident memory (``ru_maxrss``) belongs to that run:

   * the big file with ``--chunk-rows`` rows per chunk,
   * the small file with the same chunk size (same peak => independent of length),
   * the small file with a quarter of the chunk size (lower peak => grows with chunk).

3. Scores the small file with ``engine="dask"`` on a ``LocalCluster`` of 1 and then
   2 worker processes (one thread each), after a warm-up run on each cluster so that
   worker start-up and imports are not timed.

Results go to ``benchmarks/results/bench_batch.json`` and ``bench_batch.md``.

Usage::

    python benchmarks/bench_batch.py                       # 5,000,000 rows (long)
    python benchmarks/bench_batch.py --rows 200000 --small-rows 100000 --quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = textwrap.dedent("""
    import gc, json, resource, sys, time, warnings
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    import covid_risk
    import covid_risk.scoring._chunks as batch
    from covid_risk.scoring import score_file
    from covid_risk.models import load

    def rss_mb():  # resident memory now
        with open("/proc/self/status") as fh:
            return next(int(x.split()[1]) for x in fh if x.startswith("VmRSS:")) / 1024.0

    trace = []  # resident memory after each chunk (instrumentation only)
    original = batch.ChunkScorer.__call__
    def traced(self, table, offset):
        result = original(self, table, offset)
        trace.append(round(rss_mb(), 1))
        return result
    batch.ChunkScorer.__call__ = traced
    model = load(sys.argv[1], hmac_key=b"")
    gc.collect()
    baseline = rss_mb()  # after imports and the model
    report = score_file(sys.argv[2], sys.argv[3], model=model,
                              chunk_rows=int(sys.argv[4]), id_column="patient_id",
                              progress=False)
    out = report.to_dict()
    out["baseline_rss_mb"] = round(baseline, 1)
    out["rss_after_each_chunk_mb"] = trace
    out["startup_seconds"] = round(time.perf_counter() - t0 - report.seconds, 2)
    print("RESULT " + json.dumps(out))
""")


def _model_file(workdir: Path) -> tuple[Path, str]:
    """The bundled default admission model, or the same recipe rebuilt if not bundled."""
    from covid_risk.models._default import default_model_bytes

    target = workdir / "admission.crmodel"
    try:
        data = default_model_bytes("admission")
        origin = "bundled default admission model"
    except FileNotFoundError:
        from covid_risk.models.build_default import RECIPES, build

        t = time.perf_counter()
        data = build("admission")
        recipe = RECIPES["admission"]
        origin = (f"default admission recipe rebuilt here ({recipe.n_patients:,} patients, "
                  f"seed {recipe.cohort_seed}; {time.perf_counter() - t:.0f} s)")
    target.write_bytes(data)
    return target, origin


def generate(path: Path, rows: int, chunk: int, small_path: Path, small_rows: int) -> dict:
    """Stream make_cohort chunks into ``path``; copy the first ``small_rows`` to ``small_path``.

    A file already in the work folder with the same settings is reused (its
    generation figures are kept next to it).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    stats_file = path.with_suffix(".json")
    if stats_file.exists() and path.exists():
        stats = json.loads(stats_file.read_text())
        if (stats["rows"], stats["chunk"], stats.get("small_rows")) == (rows, chunk, small_rows):
            print(f"reusing {path.name}", file=sys.stderr)
            return stats

    from covid_risk.schema import OUTCOMES
    from covid_risk.synthetic import make_cohort

    start = time.perf_counter()
    writer = None
    written = 0
    i = 0
    while written < rows:
        n = min(chunk, rows - written)
        df = make_cohort(n, random_state=10_000 + i)
        df = df.drop(columns=[c for c in df.columns
                              if c in OUTCOMES or c.startswith("true_risk_")])
        df["patient_id"] = np.arange(written, written + n, dtype=np.int64)
        table = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=chunk)
        written += n
        i += 1
        print(f"  generated {written:,} / {rows:,} rows", file=sys.stderr, flush=True)
    writer.close()
    seconds = time.perf_counter() - start
    pf = pq.ParquetFile(path)
    groups, have = [], 0
    while have < small_rows:
        groups.append(len(groups))
        have += pf.metadata.row_group(groups[-1]).num_rows
    small = pf.read_row_groups(groups).slice(0, small_rows)
    pq.write_table(small, small_path, row_group_size=chunk)
    pq.write_table(small.slice(0, min(small_rows, 20_000)), _warm_path(small_path))
    stats = {
        "rows": rows, "chunk": chunk, "small_rows": small_rows, "seconds": round(seconds, 1),
        "rows_per_second": round(rows / seconds, 1),
        "bytes": path.stat().st_size, "columns": len(pf.schema_arrow.names),
        "row_groups": pf.metadata.num_row_groups,
    }
    stats_file.write_text(json.dumps(stats))
    return stats


def _warm_path(small: Path) -> Path:
    return small.with_name(small.stem + "_warm.parquet")


def local_run(model: Path, src: Path, dst: Path, chunk_rows: int,
              env: dict | None = None) -> dict:
    """Run score_file in a fresh process and return its report (with peak RSS)."""
    proc = subprocess.run([sys.executable, "-c", CHILD, str(model), str(src), str(dst),
                           str(chunk_rows)], capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"scoring run failed:\n{proc.stderr[-3000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    return result


def anonymise(result: dict) -> dict:
    """Keep only file names in the reports (no machine paths in committed results)."""
    runs = [*result.get("local", []), *result.get("dask", [])]
    if result.get("local_system_pool"):
        runs.append(result["local_system_pool"])
    for run in runs:
        for key in ("source", "destination", "rejects"):
            if key in run:
                run[key] = Path(run[key]).name
    return result


def _worker_peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def dask_runs(model_path: Path, src: Path, workdir: Path, chunk_rows: int,
              workers: tuple[int, ...]) -> list[dict]:
    """Score ``src`` on LocalClusters of 1 and 2 workers (warm-up run not timed)."""
    from distributed import Client, LocalCluster

    from covid_risk.models import load
    from covid_risk.scoring import score_file

    model = load(model_path, hmac_key=b"")
    out = []
    for n in workers:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=50)
            client = Client(cluster)
            try:
                t = time.perf_counter()
                score_file(_warm_path(src), workdir / f"warm{n}.parquet", model=model,
                           engine="dask", client=client, chunk_rows=chunk_rows,
                           id_column="patient_id", progress=False)
                warm = time.perf_counter() - t
                load1 = os.getloadavg()[0]
                report = score_file(src, workdir / f"dask{n}.parquet", model=model,
                                    engine="dask", client=client, chunk_rows=chunk_rows,
                                    id_column="patient_id", progress=False)
                peaks = client.run(_worker_peak_mb)
            finally:
                client.close()
                cluster.close()
        result = report.to_dict()
        result.update(workers=n, warm_up_seconds=round(warm, 1),
                      worker_peak_rss_mb=sorted(round(v, 1) for v in peaks.values()),
                      load_average_1min_before=round(load1, 2))
        out.append(result)
    return out


def _same_results(a: Path, b: Path) -> bool:
    import pandas as pd

    return pd.read_parquet(a).equals(pd.read_parquet(b))


def _trace_lines(run: dict, label: str) -> list[str]:
    """Resident memory after each chunk, summarised by thirds of the run."""
    trace = run.get("rss_after_each_chunk_mb") or []
    if len(trace) < 9:
        return []
    third = len(trace) // 3
    parts = [trace[:third], trace[third:2 * third], trace[2 * third:]]
    means = [sum(p) / len(p) for p in parts]
    return [
        f"Resident memory after each of the {len(trace)} chunks ({label}): mean "
        f"{means[0]:,.0f} MB over the first third, {means[1]:,.0f} MB over the second, "
        f"{means[2]:,.0f} MB over the last (lowest {min(trace):,.0f}, highest "
        f"{max(trace):,.0f}).", ""]


def markdown(res: dict) -> str:
    """The results as a Markdown page."""
    g = res["generation"]
    lines = [
        "# Batch scoring benchmark (`benchmarks/bench_batch.py`)",
        "",
        f"Machine: {res['machine']['cpus']} CPUs, {res['machine']['platform']}, Python "
        f"{res['machine']['python']}; load average (1 min) {res['machine']['load_start']} at the "
        f"start and {res['machine']['load_end']} at the end -- the machine was shared with other "
        "jobs, so times are indicative; memory figures do not depend on load.",
        f"Model: {res['model']}.",
        "",
        "## Source file",
        "",
        f"{g['rows']:,} synthetic admissions ({g['columns']} columns, {g['row_groups']} row "
        f"groups, {g['bytes'] / 1e6:,.0f} MB Parquet), written by streaming `make_cohort` chunks "
        f"of {g['chunk']:,} rows in {g['seconds']:,.0f} s.",
        "",
        "## Local engine: peak memory is bounded by the chunk, not the file",
        "",
        "Each run in a fresh process; *baseline* is the resident memory after imports and "
        "loading the model, just before scoring; *peak* is the process's high-water mark "
        "(`ru_maxrss`), which also covers the imports.",
        "",
        "| rows | chunk_rows | chunks | rejected | seconds | rows/s | baseline RSS (MB) "
        "| peak RSS (MB) | peak - baseline (MB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["local"]:
        lines.append(
            f"| {r['rows_read']:,} | {r['chunk_rows']:,} | {r['chunks']} | "
            f"{r['rows_rejected']:,} | {r['seconds']:,.1f} | {r['rows_per_second']:,.0f} | "
            f"{r['baseline_rss_mb']:,.0f} | {r['peak_rss_mb']:,.0f} | "
            f"{r['peak_rss_mb'] - r['baseline_rss_mb']:,.0f} |")
    lines += ["", res["memory_conclusion"], ""]
    lines += _trace_lines(res["local"][0], "Arrow's default memory pool "
                          f"({res.get('arrow_pool', 'mimalloc')})")
    if res.get("local_system_pool"):
        r = res["local_system_pool"]
        lines += [
            "The same run with `ARROW_DEFAULT_MEMORY_POOL=system` (Arrow allocating with the "
            f"C library's malloc): {r['seconds']:,.0f} s, baseline {r['baseline_rss_mb']:,.0f} MB, "
            f"peak {r['peak_rss_mb']:,.0f} MB.", ""]
        lines += _trace_lines(r, "the system memory pool")
    big = res["local"][0]
    if big["rows_rejected"]:
        fields = ", ".join(f"{k} {v:,}" for k, v in big["reject_fields"].items())
        lines += [f"Rejected rows ({fields}): the generator, as it was when this file was "
                  "written, produced values outside the schema's hard limits; each such row "
                  "is in the rejects file with its reason, and `rows_read == rows_scored + "
                  "rows_rejected` in every run.", ""]
    if res.get("dask"):
        lines += [
            "## Dask engine: 1 vs 2 workers",
            "",
            f"`score_file(..., engine=\"dask\")` on the {res['dask'][0]['rows_read']:,}-row file "
            f"({res['dask'][0]['chunks']} partitions of {res['dask'][0]['chunk_rows']:,} rows), "
            "`LocalCluster` with one "
            "thread per worker process, timed after a warm-up run (20,000 rows: worker start-up, "
            "imports, loading the model) on the same cluster.",
            "",
            "| workers | seconds | rows/s | speed-up | worker peak RSS (MB) | warm-up run s |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        base = res["dask"][0]["seconds"]
        for r in res["dask"]:
            peaks = ", ".join(f"{v:,.0f}" for v in r["worker_peak_rss_mb"])
            lines.append(
                f"| {r['workers']} | {r['seconds']:,.1f} | {r['rows_per_second']:,.0f} | "
                f"{base / r['seconds']:.2f}x | {peaks} | {r['warm_up_seconds']:,.1f} |")
        lines += ["", f"Dask results identical to the local engine's: "
                  f"{res['dask_equals_local']}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; write JSON and Markdown results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--small-rows", type=int, default=300_000)
    parser.add_argument("--gen-chunk", type=int, default=100_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--dask-chunk-rows", type=int, default=50_000,
                        help="rows per Dask partition (default 50,000: 6 partitions of the "
                        "300,000-row file, an even split over 1 or 2 workers)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="scratch folder for the data (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--model", type=Path, default=None,
                        help="model file (default: the bundled admission model)")
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--system-pool", action="store_true",
                        help="score the big file once more with ARROW_DEFAULT_MEMORY_POOL=system")
    parser.add_argument("--quick", action="store_true",
                        help="write results as bench_batch_quick.* (a smoke run)")
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_batch_"))
    workdir.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()[0]
    if args.model is not None:
        model_path, origin = args.model, f"model file {args.model.name}"
    else:
        model_path, origin = _model_file(workdir)
    big, small = workdir / "patients.parquet", workdir / "patients_small.parquet"
    print(f"generating {args.rows:,} rows in {workdir}", file=sys.stderr)
    gen = generate(big, args.rows, args.gen_chunk, small, args.small_rows)
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "load_start": round(load_start, 2)},
        "model": origin,
        "generation": gen,
    }
    runs = {}
    # small runs and Dask first (quick), the long run last
    for key, src, chunk in (("small", small, args.chunk_rows),
                            ("quarter", small, max(1, args.chunk_rows // 4))):
        print(f"scoring {src.name} with chunk_rows={chunk:,}", file=sys.stderr, flush=True)
        runs[key] = local_run(model_path, src, workdir / f"out_{src.stem}_{chunk}.parquet", chunk)
    if not args.skip_dask:
        print("scoring on Dask with 1 and 2 workers", file=sys.stderr, flush=True)
        result["dask"] = dask_runs(model_path, small, workdir, args.dask_chunk_rows, (1, 2))
        result["dask_equals_local"] = _same_results(
            workdir / "dask2.parquet", workdir / f"out_{small.stem}_{args.chunk_rows}.parquet")
    print(f"scoring {big.name} with chunk_rows={args.chunk_rows:,}", file=sys.stderr, flush=True)
    runs["big"] = local_run(model_path, big, workdir / f"out_{big.stem}.parquet",
                            args.chunk_rows)
    if args.system_pool:
        print("scoring it again with Arrow's system memory pool", file=sys.stderr, flush=True)
        result["local_system_pool"] = local_run(
            model_path, big, workdir / f"out_{big.stem}_system.parquet", args.chunk_rows,
            env={"ARROW_DEFAULT_MEMORY_POOL": "system"})
    import pyarrow as pa

    result["arrow_pool"] = pa.default_memory_pool().backend_name
    big_run, small_run, quarter = runs["big"], runs["small"], runs["quarter"]
    result["local"] = [big_run, small_run, quarter]
    per_row_kb = (big_run["peak_rss_mb"] - big_run["baseline_rss_mb"]) / args.chunk_rows * 1e3
    result["memory_conclusion"] = (
        f"Scoring {big_run['rows_read']:,} rows peaked at {big_run['peak_rss_mb']:,.0f} MB and "
        f"{small_run['rows_read']:,} rows at {small_run['peak_rss_mb']:,.0f} MB with the same "
        f"chunk_rows={args.chunk_rows:,} (a {big_run['rows_read'] / small_run['rows_read']:.0f}x "
        f"longer file, {big_run['peak_rss_mb'] - small_run['peak_rss_mb']:+,.0f} MB); a quarter of "
        f"the chunk size peaked at {quarter['peak_rss_mb']:,.0f} MB. Peak memory is baseline + "
        f"about {per_row_kb:,.1f} kB per row of chunk, whatever the file's length."
    )
    result["machine"]["load_end"] = round(os.getloadavg()[0], 2)
    import covid_risk

    result["versions"] = {"covid_risk": covid_risk.__version__}
    for name in ("pyarrow", "pandas", "lightgbm", "dask", "distributed"):
        try:
            result["versions"][name] = __import__(name).__version__
        except ImportError:
            pass
    anonymise(result)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "bench_batch_quick" if args.quick else "bench_batch"
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(result) + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
