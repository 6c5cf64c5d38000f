"""Training time and peak memory for 10,000 / 100,000 / 1,000,000 admitted patients.

Each run trains with calibration (:func:`covid_risk.train`, default settings: early
stopping decides the number of trees) in a fresh Python process, so that its peak
resident memory is its own; the cohort is generated in the same process before the
clock starts. Up to ``--all-outcomes-max`` patients (default 100,000) every outcome of
the admission setting is trained -- the issue's target is 100,000 patients under 60 s --
and at every size ``--growth-outcome`` (death) is also trained alone, which makes the
1,000,000-patient point affordable (all six outcomes take about six times as long).
The hand-rolled peer (see :mod:`benchmarks.bench_peer`) is trained on the same
cohorts up to ``--peer-max`` patients, as the baseline of the same run.

Threads: at every size where both all outcomes and the peer are trained, both are
trained with each LightGBM thread count of ``--threads`` (default 1 and 2:
covid_risk's ``n_jobs``, the peer's ``LGBMClassifier(n_jobs=...)``), and ours/peer is
reported at the same thread count. covid_risk's default is one thread (on a busy
machine OpenMP threads wait for each other), but a 2-core machine of one's own can use
two. In LightGBM's deterministic mode the trees do not depend on the thread count; the
benchmark checks that covid_risk grows the same number of trees at every count. The
growth outcome alone, and every size beyond those, is trained with one thread. Runs
of the same size alternate between contestants and thread counts (order reversed
every round). Figures are medians over ``--repeats`` runs.

JSON: ``sizes[n]["threads"][t]`` holds each contestant's figures at ``t`` threads
(with every run) and ``ours_over_peer``; ``sizes[n]["ours"]``, ``["peer"]``,
``["ours_over_peer"]`` and ``["trees"]`` are those of one thread (the first of
``--threads`` when 1 is not in it), as before the thread counts were added (the runs
themselves only under ``threads``); ``["trees_same_at_every_thread_count"]`` says
whether every run of covid_risk, at every thread count, grew the same trees per outcome.

How it grows: the exponent ``b`` of ``time ~ n^b`` between consecutive sizes (1 is
linear; early stopping can make it smaller or larger, because a larger cohort
supports more trees).

Results go to ``benchmarks/results/bench_training.json``.

Usage::

    python -m benchmarks.bench_training                       # 10k, 100k, 1M
    python -m benchmarks.bench_training --sizes 10000 100000  # skip the million
    python -m benchmarks.bench_training --threads 1           # one thread only
    python -m benchmarks.bench_training --quick               # tiny smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import apply_quick, machine, publish, ratio, run_child, settings

SEED = 1001
_START = time.perf_counter()


def _log(message: str) -> None:
    print(f"  [{time.perf_counter() - _START:7.1f} s] {message}", file=sys.stderr, flush=True)


def _summary(runs: list[dict]) -> dict:
    return {
        "median_seconds": round(float(np.median([r["seconds"] for r in runs])), 2),
        "median_cpu_seconds": round(float(np.median([r["cpu_seconds"] for r in runs])), 2),
        "peak_increase_mb": round(float(np.median([r["peak_increase_mb"] for r in runs])), 1),
        "generate_seconds": round(float(np.median([r["generate_seconds"] for r in runs])), 2),
        "runs": runs,
    }


def growth(sizes: dict[str, Any], key: str = "ours") -> dict[str, float]:
    """Exponent ``b`` of ``time ~ n^b`` between consecutive sizes (from median times)."""
    ns = sorted(int(k) for k in sizes if key in sizes[k])
    out = {}
    for a, b in zip(ns, ns[1:], strict=False):
        ta, tb = sizes[str(a)][key]["median_seconds"], sizes[str(b)][key]["median_seconds"]
        out[f"{a}->{b}"] = round(math.log(tb / ta) / math.log(b / a), 3)
    return out


def _repeats(args: argparse.Namespace) -> list[int]:
    r = list(args.repeats)
    return (r * len(args.sizes))[: len(args.sizes)] if len(r) == 1 else r


def _jobs(n: int, args: argparse.Namespace, threads: list[int], base: int) -> dict[str, dict]:
    """The child runs of one size: key -> :func:`benchmarks.bench_peer.train_child` options.

    ``ours@t`` / ``peer@t``: all outcomes at ``t`` threads (every count of ``threads``
    where both are trained, else ``base`` only); ``ours_one``: the growth outcome, 1 thread.
    """
    all_outcomes, peer = n <= args.all_outcomes_max, n <= args.peer_max
    jobs: dict[str, dict] = {}
    for t in (threads if all_outcomes and peer else [base]):
        if all_outcomes:
            jobs[f"ours@{t}"] = {"who": "ours", "outcomes": None, "n_jobs": t}
        if peer:
            jobs[f"peer@{t}"] = {"who": "peer", "outcomes": None, "peer_threads": t}
    jobs["ours_one"] = {"who": "ours", "outcomes": [args.growth_outcome], "n_jobs": 1}
    return jobs


def _by_threads(runs: dict[str, list[dict]], base: int) -> dict[str, Any]:
    """Figures of one size: per thread count, and those of ``base`` threads at the top."""
    counts = sorted({int(k.split("@")[1]) for k in runs if "@" in k})
    by: dict[str, Any] = {}
    for t in counts:
        e: dict[str, Any] = {}
        for who in ("ours", "peer"):
            if f"{who}@{t}" in runs:
                e[who] = _summary(runs[f"{who}@{t}"])
        if "ours" in e:
            e["ours"]["trees"] = sum(e["ours"]["runs"][0]["trees"].values())
        if "ours" in e and "peer" in e:
            e["ours_over_peer"] = ratio(e["ours"]["median_seconds"],
                                        e["peer"]["median_seconds"])
        by[str(t)] = e
    for t, e in by.items():  # speed-up from more threads
        for who in ("ours", "peer"):
            if who in e and who in by.get(str(base), {}) and int(t) != base:
                e[who]["over_base_threads"] = ratio(e[who]["median_seconds"],
                                                    by[str(base)][who]["median_seconds"])
    entry: dict[str, Any] = {}
    top = by.get(str(base), {})
    for who in ("ours", "peer"):  # the keys of one thread, as before; runs under "threads"
        if who in top:
            entry[who] = {**{k: v for k, v in top[who].items() if k != "runs"},
                          "threads": base}
    if "ours_over_peer" in top:
        entry["ours_over_peer"] = top["ours_over_peer"]
    if "ours_one" in runs:
        entry["ours_one"] = _summary(runs["ours_one"])
    ours_runs = [r for k in runs if k.startswith("ours@") for r in runs[k]]
    if ours_runs:
        entry["trees"] = runs[f"ours@{base}"][0]["trees"] if f"ours@{base}" in runs else (
            ours_runs[0]["trees"])
        entry["trees_same_at_every_thread_count"] = all(
            r["trees"] == ours_runs[0]["trees"] for r in ours_runs)
    else:
        entry["trees"] = runs["ours_one"][0].get("trees")
    entry["threads"] = by
    return entry


def run(args: argparse.Namespace) -> dict:
    """Run the benchmark and return the results."""
    res: dict[str, Any] = {"benchmark": "bench_training", "machine": machine(),
                           "settings": settings(args)}
    sizes: dict[str, Any] = {}
    repeats = _repeats(args)
    if len(repeats) != len(args.sizes):
        raise SystemExit("--repeats needs one value, or one per size")
    threads = list(dict.fromkeys(args.threads))
    if not threads or min(threads) < 1:
        raise SystemExit("--threads needs one or more positive thread counts")
    base = 1 if 1 in threads else threads[0]  # the top-level keys and the saved models
    for n, reps in zip(args.sizes, repeats, strict=True):
        jobs = _jobs(n, args, threads, base)
        runs: dict[str, list[dict]] = {k: [] for k in jobs}
        names = list(jobs)
        for r in range(reps):  # alternate, so a change of load hits all alike
            for key in (names if r % 2 == 0 else names[::-1]):
                save = None
                if (args.save_dir and n == args.save_size and r == 0
                        and key in (f"ours@{base}", f"peer@{base}")):
                    Path(args.save_dir).mkdir(parents=True, exist_ok=True)
                    save = str(Path(args.save_dir) / f"{key.split('@')[0]}.model")
                runs[key].append(run_child(
                    "benchmarks.bench_peer:train_child", n=n, setting="admission", seed=SEED,
                    quick=args.quick, save=save, **jobs[key]))
                _log(f"{key} on {n:,}: {runs[key][-1]['seconds']} s, "
                     f"+{runs[key][-1]['peak_increase_mb']} MiB")
        entry = _by_threads(runs, base)
        first = (runs.get(f"ours@{base}") or runs["ours_one"])[0]
        entry["generation_rows_per_second"] = round(n / max(first["generate_seconds"], 1e-9))
        sizes[str(n)] = entry
        if args.save_dir and n == args.save_size:  # for bench_peer --trained
            (Path(args.save_dir) / "training.json").write_text(json.dumps(
                {who: runs[f"{who}@{base}"] for who in ("ours", "peer")
                 if f"{who}@{base}" in runs}, indent=2))
    res["sizes"] = sizes
    res["growth_exponent"] = growth(sizes, "ours")
    res["growth_exponent_one_outcome"] = growth(sizes, "ours_one")
    res["machine"]["load_average_at_end"] = [round(x, 2) for x in __import__("os").getloadavg()]
    return res


def _rows(e: dict) -> dict[str, dict]:
    """Per thread count, the figures of one size (results without ``threads``: one row)."""
    if e.get("threads"):
        return e["threads"]
    return {"1": {k: e[k] for k in ("ours", "peer", "ours_over_peer") if k in e}}


def markdown(res: dict) -> str:
    """A short Markdown section of the results: one row per size and thread count."""
    one = res.get("settings", {}).get("growth_outcome", "death")
    lines = [
        "## Training time and memory (admission, with calibration)",
        "",
        f"All six outcomes, and {one} alone (the growth series, up to the largest size, "
        "one thread). Threads: LightGBM threads of covid_risk (`n_jobs`; the library "
        "default is 1) and of the peer (`LGBMClassifier(n_jobs=...)`); ours / peer at the "
        "same thread count. Each run in a fresh process; medians over the runs; CPU s is "
        "the process CPU time of all threads.",
        "",
        "| patients | threads | all outcomes: covid_risk s | CPU s | memory MiB | trees "
        f"| peer s | peer CPU s | peer memory MiB | ours / peer | {one} alone: s | memory MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for n, e in res["sizes"].items():
        rows = _rows(e)
        if not rows:  # only the growth outcome at this size
            rows = {"1": {}}
        for i, (t, r) in enumerate(rows.items()):
            ours, peer = r.get("ours"), r.get("peer")
            single = e.get("ours_one") if int(t) == 1 or (i == 0 and "1" not in rows) else None
            trees = ours.get("trees") if ours and ours.get("trees") else (
                sum(e["trees"].values()) if e.get("trees") and not i else "")
            cells = [f"{int(n):,}", t]
            cells += ([f"{ours['median_seconds']:.1f}", f"{ours['median_cpu_seconds']:.1f}",
                       f"{ours['peak_increase_mb']:.0f}", str(trees)] if ours
                      else ["not run", "", "", str(trees)])
            cells += ([f"{peer['median_seconds']:.1f}", f"{peer['median_cpu_seconds']:.1f}",
                       f"{peer['peak_increase_mb']:.0f}", str(r.get("ours_over_peer", ""))]
                      if peer else ["not run", "", "", ""])
            cells += ([f"{single['median_seconds']:.1f}", f"{single['peak_increase_mb']:.0f}"]
                      if single else ["", ""])
            lines.append("| " + " | ".join(cells) + " |")
        if len(rows) > 1 and "trees_same_at_every_thread_count" in e:
            same = "yes" if e["trees_same_at_every_thread_count"] else "**no**"
            notes.append(f"{int(n):,}: {same}")
    if notes:
        lines += ["", "covid_risk grew the same number of trees for every outcome in every "
                  "run at every thread count (LightGBM deterministic mode): "
                  + "; ".join(notes) + "."]
    lines += ["", "Growth exponent of covid_risk's training time (time ~ n^b), all outcomes: "
              + (", ".join(f"{k}: {v}" for k, v in res["growth_exponent"].items()) or "n/a")
              + f"; {one} alone: "
              + (", ".join(f"{k}: {v}" for k, v in res.get(
                  "growth_exponent_one_outcome", {}).items()) or "n/a") + "."]
    return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_training",
                                description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--repeats", type=int, nargs="+", default=[3, 2, 1],
                   help="runs per size (one value for all sizes, or one per size)")
    p.add_argument("--all-outcomes-max", type=int, default=100_000,
                   help="largest cohort trained on all outcomes (larger: the growth outcome)")
    p.add_argument("--growth-outcome", default="death",
                   help="outcome trained alone at every size (the growth series)")
    p.add_argument("--peer-max", type=int, default=100_000,
                   help="largest cohort the peer is trained on")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                   help="LightGBM thread counts of both contestants, all outcomes (sizes "
                        "up to --all-outcomes-max and --peer-max); the rest: 1 thread")
    p.add_argument("--save-dir", default=None,
                   help="save the first models at --save-size here (for bench_peer --trained)")
    p.add_argument("--save-size", type=int, default=100_000)
    p.add_argument("--quick", action="store_true", help="tiny sizes, fast settings")
    p.add_argument("--out", type=Path, default=None, help="results folder")
    return p


QUICK = {"sizes": [1000, 3000], "repeats": [1], "all_outcomes_max": 3000, "peer_max": 1000,
         "save_size": 1000}


def main(argv: list[str] | None = None) -> dict:
    """Run from the command line (or from ``run_all``); write and return the results."""
    args = parser().parse_args(argv)
    apply_quick(args, QUICK)
    return publish("bench_training", run(args), markdown, args.out)


if __name__ == "__main__":  # pragma: no cover
    main()
