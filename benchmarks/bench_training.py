"""Training time and peak memory for 10,000 / 100,000 / 1,000,000 admitted patients.

Each run trains every outcome of the admission setting with calibration
(:func:`covid_risk.train`, default settings: early stopping decides the number of
trees) in a fresh Python process, so that its peak resident memory is its own; the
cohort is generated in the same process before the clock starts. The hand-rolled peer
(see :mod:`benchmarks.bench_peer`) is trained on the same cohorts up to
``--peer-max`` patients, as the baseline of the same run. Figures are medians over
``--repeats`` runs (one run at the largest size unless ``--repeats-large``).

How it grows: the exponent ``b`` of ``time ~ n^b`` between consecutive sizes (1 is
linear; early stopping can make it smaller or larger, because a larger cohort
supports more trees).

Results go to ``benchmarks/results/bench_training.json``.

Usage::

    python -m benchmarks.bench_training                       # 10k, 100k, 1M
    python -m benchmarks.bench_training --sizes 10000 100000  # skip the million
    python -m benchmarks.bench_training --quick               # tiny smoke run
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import machine, ratio, run_child, write_json

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


def growth(sizes: dict[str, Any]) -> dict[str, float]:
    """Exponent ``b`` of ``time ~ n^b`` between consecutive sizes (from median times)."""
    ns = sorted(int(k) for k in sizes)
    out = {}
    for a, b in zip(ns, ns[1:], strict=False):
        ta, tb = sizes[str(a)]["ours"]["median_seconds"], sizes[str(b)]["ours"]["median_seconds"]
        out[f"{a}->{b}"] = round(math.log(tb / ta) / math.log(b / a), 3)
    return out


def run(args: argparse.Namespace) -> dict:
    """Run the benchmark and return the results."""
    res: dict[str, Any] = {"benchmark": "bench_training", "machine": machine(),
                           "settings": {k: (str(v) if isinstance(v, Path) else v)
                                        for k, v in vars(args).items()}}
    sizes: dict[str, Any] = {}
    largest = max(args.sizes)
    for n in args.sizes:
        repeats = args.repeats_large if n == largest and len(args.sizes) > 1 else args.repeats
        entry: dict[str, Any] = {}
        who_all = ("ours", "peer") if n <= args.peer_max else ("ours",)
        runs: dict[str, list[dict]] = {w: [] for w in who_all}
        for r in range(repeats):  # alternate, so a change of load hits both alike
            for who in (who_all if r % 2 == 0 else who_all[::-1]):
                runs[who].append(run_child("benchmarks.bench_peer:train_child", who=who, n=n,
                                           setting="admission", seed=SEED, quick=args.quick,
                                           peer_threads=args.peer_threads))
                _log(f"{who} on {n:,}: {runs[who][-1]['seconds']} s, "
                     f"+{runs[who][-1]['peak_increase_mb']} MiB")
        for who in who_all:
            entry[who] = _summary(runs[who])
        if "peer" in entry:
            entry["ours_over_peer"] = ratio(entry["ours"]["median_seconds"],
                                            entry["peer"]["median_seconds"])
        entry["trees"] = entry["ours"]["runs"][0].get("trees")
        entry["generation_rows_per_second"] = round(n / max(
            entry["ours"]["generate_seconds"], 1e-9))
        sizes[str(n)] = entry
    res["sizes"] = sizes
    res["growth_exponent"] = growth(sizes)
    res["machine"]["load_average_at_end"] = [round(x, 2) for x in __import__("os").getloadavg()]
    return res


def markdown(res: dict) -> str:
    """A short Markdown section of the results."""
    lines = [
        "## Training time and memory (admission, all outcomes, with calibration)",
        "",
        "| patients | covid_risk (median s) | peak memory increase (MiB) | trees | peer (median s)"
        " | peer memory (MiB) | ours / peer |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, e in res["sizes"].items():
        trees = sum(e["trees"].values()) if e.get("trees") else "n/a"
        peer = e.get("peer")
        lines.append(
            f"| {int(n):,} | {e['ours']['median_seconds']:.1f} | "
            f"{e['ours']['peak_increase_mb']:.0f} | {trees} | "
            + (f"{peer['median_seconds']:.1f} | {peer['peak_increase_mb']:.0f} | "
               f"{e['ours_over_peer']} |" if peer else "not run | | |"))
    lines += ["", "Growth exponent of covid_risk's training time (time ~ n^b): " + ", ".join(
        f"{k}: {v}" for k, v in res["growth_exponent"].items()) + "."]
    return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_training",
                                description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--repeats", type=int, default=3, help="runs per size (medians)")
    p.add_argument("--repeats-large", type=int, default=1, help="runs at the largest size")
    p.add_argument("--peer-max", type=int, default=100_000,
                   help="largest cohort the peer is trained on")
    p.add_argument("--peer-threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="tiny sizes, fast settings")
    p.add_argument("--out", type=Path, default=None, help="results folder")
    return p


QUICK = {"sizes": [1000, 3000], "repeats": 1, "repeats_large": 1, "peer_max": 1000}


def main(argv: list[str] | None = None) -> dict:
    """Run from the command line (or from ``run_all``); write and return the results."""
    args = parser().parse_args(argv)
    if args.quick:
        for k, v in QUICK.items():
            setattr(args, k, v)
    res = run(args)
    res["markdown"] = markdown(res)
    path = write_json("bench_training", res, args.out)
    print(res["markdown"])
    print(f"written {path}", file=sys.stderr)
    return res


if __name__ == "__main__":  # pragma: no cover
    main()
