"""Training time and peak memory for 10,000 / 100,000 / 1,000,000 admitted patients.

Each run trains with calibration (:func:`covid_risk.train`, default settings: early
stopping decides the number of trees) in a fresh Python process, so that its peak
resident memory is its own; the cohort is generated in the same process before the
clock starts. Up to ``--all-outcomes-max`` patients (default 100,000) every outcome of
the admission setting is trained -- the issue's target is 100,000 patients under 60 s --
and at every size ``--growth-outcome`` (death) is also trained alone, which makes the
1,000,000-patient point affordable (all six outcomes take about six times as long).
The hand-rolled peer (see :mod:`benchmarks.bench_peer`) is trained on the same
cohorts up to ``--peer-max`` patients, as the baseline of the same run; runs of the
same size alternate between the two. Figures are medians over ``--repeats`` runs.

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
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import machine, ratio, run_child, settings, write_json

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


def run(args: argparse.Namespace) -> dict:
    """Run the benchmark and return the results."""
    res: dict[str, Any] = {"benchmark": "bench_training", "machine": machine(),
                           "settings": settings(args)}
    sizes: dict[str, Any] = {}
    repeats = _repeats(args)
    if len(repeats) != len(args.sizes):
        raise SystemExit("--repeats needs one value, or one per size")
    for n, reps in zip(args.sizes, repeats, strict=True):
        # ours: all outcomes up to --all-outcomes-max; ours_one: the growth outcome alone
        jobs = {}
        if n <= args.all_outcomes_max:
            jobs["ours"] = {"who": "ours", "outcomes": None}
        if n <= args.peer_max:
            jobs["peer"] = {"who": "peer", "outcomes": None}
        jobs["ours_one"] = {"who": "ours", "outcomes": [args.growth_outcome]}
        runs: dict[str, list[dict]] = {k: [] for k in jobs}
        names = list(jobs)
        for r in range(reps):  # alternate, so a change of load hits all alike
            for key in (names if r % 2 == 0 else names[::-1]):
                save = None
                if args.save_dir and n == args.save_size and r == 0 and key in ("ours", "peer"):
                    Path(args.save_dir).mkdir(parents=True, exist_ok=True)
                    save = str(Path(args.save_dir) / f"{key}.model")
                runs[key].append(run_child(
                    "benchmarks.bench_peer:train_child", n=n, setting="admission", seed=SEED,
                    quick=args.quick, peer_threads=args.peer_threads, save=save, **jobs[key]))
                _log(f"{key} on {n:,}: {runs[key][-1]['seconds']} s, "
                     f"+{runs[key][-1]['peak_increase_mb']} MiB")
        entry: dict[str, Any] = {k: _summary(v) for k, v in runs.items()}
        if "ours" in entry and "peer" in entry:
            entry["ours_over_peer"] = ratio(entry["ours"]["median_seconds"],
                                            entry["peer"]["median_seconds"])
        first = entry.get("ours", entry["ours_one"])["runs"][0]
        entry["trees"] = first.get("trees")
        entry["generation_rows_per_second"] = round(n / max(first["generate_seconds"], 1e-9))
        sizes[str(n)] = entry
        if args.save_dir and n == args.save_size:
            (Path(args.save_dir) / "training.json").write_text(json.dumps(
                {k: runs[k] for k in ("ours", "peer") if k in runs}, indent=2))
    res["sizes"] = sizes
    res["growth_exponent"] = growth(sizes, "ours")
    res["growth_exponent_one_outcome"] = growth(sizes, "ours_one")
    res["machine"]["load_average_at_end"] = [round(x, 2) for x in __import__("os").getloadavg()]
    return res


def markdown(res: dict) -> str:
    """A short Markdown section of the results."""
    one = res.get("settings", {}).get("growth_outcome", "death")
    lines = [
        "## Training time and memory (admission, with calibration)",
        "",
        f"All six outcomes, and {one} alone (the growth series, up to the largest size). "
        "Each run in a fresh process; medians over the runs.",
        "",
        "| patients | all outcomes: covid_risk s | memory MiB | trees | peer s | peer memory MiB "
        f"| ours / peer | {one} alone: s | memory MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, e in res["sizes"].items():
        ours, peer, single = e.get("ours"), e.get("peer"), e.get("ours_one")
        trees = sum(e["trees"].values()) if e.get("trees") else "n/a"
        cells = [f"{int(n):,}"]
        cells += ([f"{ours['median_seconds']:.1f}", f"{ours['peak_increase_mb']:.0f}",
                   str(trees)] if ours else ["not run", "", str(trees)])
        cells += ([f"{peer['median_seconds']:.1f}", f"{peer['peak_increase_mb']:.0f}",
                   str(e.get("ours_over_peer", ""))] if peer else ["not run", "", ""])
        cells += ([f"{single['median_seconds']:.1f}", f"{single['peak_increase_mb']:.0f}"]
                  if single else ["", ""])
        lines.append("| " + " | ".join(cells) + " |")
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
    p.add_argument("--peer-threads", type=int, default=1)
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
