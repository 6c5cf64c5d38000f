"""How fast is the synthetic cohort generator?

Usage::

    python -m benchmarks.bench_generator            # 1,000,000 people, 5 repeats
    python -m benchmarks.bench_generator --quick    # smoke run

Measures (median wall time over repeats, with every run's time):

* ``population``: ``make_population(n)`` -- ``n`` infected adults (community setting)
  *and* the admission records, in-hospital outcomes and true risks of those admitted,
  as two canonical DataFrames. This is the issue's target: 1,000,000 people in under
  15 seconds on 2 cores.
* ``community``: ``make_cohort(n, setting="community")``.
* ``admission``: ``make_cohort(n_admission, setting="admission")`` (admitted patients
  are drawn from the community population, about 18 candidates per admission).

Writes ``results/bench_generator.json`` and ``results/bench_generator.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks._common import apply_quick, machine, median_seconds, publish

TARGET_SECONDS = 15.0


def parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_generator",
                                description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1_000_000, help="infected adults per run")
    p.add_argument("--n-admission", type=int, default=100_000, help="admitted patients per run")
    p.add_argument("--repeats", type=int, default=5, help="runs per measurement (median)")
    p.add_argument("--quick", action="store_true", help="tiny sizes")
    p.add_argument("--out", type=Path, default=None, help="results folder")
    return p


def run(args: argparse.Namespace) -> dict:
    """Time the three generation paths; return the results as a dict."""
    from covid_risk.synthetic import make_cohort, make_population

    make_cohort(1000, setting="community", random_state=0)  # imports and caches warm
    sizes = {}

    def population():
        sizes["admitted"] = len(make_population(args.n, random_state=1).admissions)

    res = {"machine": machine(), "n": args.n, "n_admission": args.n_admission,
           "repeats": args.repeats, "target_seconds": TARGET_SECONDS}
    med, runs = median_seconds(population, args.repeats)
    res["population"] = {"median_s": round(med, 3), "runs_s": runs,
                         "n_admitted": sizes["admitted"],
                         "people_per_s": round(args.n / med)}
    med, runs = median_seconds(
        lambda: make_cohort(args.n, setting="community", random_state=1), args.repeats)
    res["community"] = {"median_s": round(med, 3), "runs_s": runs,
                        "people_per_s": round(args.n / med)}
    med, runs = median_seconds(lambda: make_cohort(args.n_admission, random_state=1),
                               args.repeats)
    res["admission"] = {"median_s": round(med, 3), "runs_s": runs,
                        "patients_per_s": round(args.n_admission / med)}
    res["target_met"] = res["population"]["median_s"] < TARGET_SECONDS
    return res


def markdown(res: dict) -> str:
    """The results as a Markdown section."""
    m = res["machine"]
    load = m.get("load_average") or m.get("load_average_at_start") or ""
    p, c, a = res["population"], res["community"], res["admission"]
    lines = [
        "# Synthetic cohort generation",
        "",
        f"Median of {res['repeats']} runs; cores: {m.get('cores', '?')}; "
        f"load average at start: {load}.",
        "",
        "| what | size | median (s) | rate | runs (s) |",
        "|---|---|---|---|---|",
        f"| community + admission records (`make_population`) | {res['n']:,} people "
        f"({p['n_admitted']:,} admitted) | {p['median_s']} | {p['people_per_s']:,} people/s | "
        f"{p['runs_s']} |",
        f"| community only (`make_cohort(setting='community')`) | {res['n']:,} | "
        f"{c['median_s']} | {c['people_per_s']:,} people/s | {c['runs_s']} |",
        f"| admitted patients (`make_cohort(setting='admission')`) | {res['n_admission']:,} | "
        f"{a['median_s']} | {a['patients_per_s']:,} patients/s | {a['runs_s']} |",
        "",
        f"Target: {res['n']:,} people with the admitted subset's admission records in under "
        f"{res['target_seconds']:g} s -- **{'met' if res['target_met'] else 'NOT met'}** "
        f"({p['median_s']} s).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    """Run from the command line (or from ``run_all``); write and return the results."""
    args = parser().parse_args(argv)
    apply_quick(args, {"n": 20_000, "n_admission": 2_000, "repeats": 2})
    return publish("bench_generator", run(args), markdown, args.out, markdown_file=True)


if __name__ == "__main__":  # pragma: no cover
    main()
