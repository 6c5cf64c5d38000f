"""Run every benchmark and write ``benchmarks/results/RESULTS.md``.

Usage::

    python -m benchmarks.run_all             # the full suite (``make bench``)
    python -m benchmarks.run_all --quick     # smoke run with tiny sizes (a few minutes)
    python -m benchmarks.run_all --only latency peer   # re-run two steps, keep the others

Steps (each writes its own ``results/<name>.json``; a step that crashes is reported
and the others still run; the exit code is 1 if a step crashed -- targets that are not
met are reported in ``RESULTS.md``, not as a failure):

==========  ====================================================================
generator   cohort generation rate (``bench_generator.py``, when present)
training    training time and memory for 10k / 100k / 1M patients, 1 and 2 LightGBM
            threads up to 100k (``bench_training``)
peer        quality and speed against the hand-rolled scikit-learn + shap peer
latency     one patient, batches and SHAP against the raw LightGBM limit
models      model quality against the true risk and the baselines (``bench_models``)
batch       streaming scoring with bounded memory, Dask 1 vs 2 workers (``bench_batch``)
==========  ====================================================================

``RESULTS.md`` starts with the targets of the speed issue, each with the figure
measured in this run, then every benchmark's own table. The peer comparison reuses the
100,000-patient models (and their training times) of the training step, those of one
LightGBM thread; the training step also times both contestants with two threads, and the
targets show the 100,000-patient training at both thread counts.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._common import RESULTS, machine, write_json

STEPS = ("generator", "training", "peer", "latency", "models", "batch")


def _full_args(step: str, model: str | None, shared: Path) -> list[str]:
    """Arguments of each step in the full run (about 40 minutes on a shared 2-core machine).

    Training the death model on 1,000,000 patients takes about a third of it.
    """
    with_model = ["--model", model] if model else []
    trained = ["--trained", str(shared)] if (shared / "training.json").is_file() else []
    return {
        "generator": ["--repeats", "3"],
        "training": ["--sizes", "10000", "100000", "1000000", "--repeats", "3", "1", "1",
                     "--peer-max", "100000", "--threads", "1", "2",
                     "--save-dir", str(shared), "--save-size", "100000"],
        "peer": ["--n-train", "100000", "--n-test", "50000", "--repeats-training", "1",
                 "--peer-patients", "100", "--batch-rows", "20000", "--shap-rows", "1000",
                 *trained],
        "latency": [*with_model, "--shap-rows", "2000"],
        "models": [],
        "batch": ["--rows", "500000", "--small-rows", "100000", *with_model],
    }[step]


def _quick_args(step: str, model: str | None, shared: Path) -> list[str]:
    """Arguments of each step in the smoke run."""
    trained = ["--trained", str(shared)] if (shared / "training.json").is_file() else []
    return {
        "generator": ["--quick"],
        "training": ["--quick", "--save-dir", str(shared)],
        "peer": ["--quick", *trained],
        "latency": ["--quick"],
        "models": ["--n-train", "3000", "--n-test", "2000", "--no-logistic"],
        "batch": ["--rows", "20000", "--small-rows", "10000", "--gen-chunk", "5000",
                  "--chunk-rows", "5000", "--skip-dask", "--quick",
                  *(["--model", model] if model else [])],
    }[step]


def _entry(step: str) -> Callable[[list[str]], Any] | None:
    """The ``main(argv)`` of a step's module, or None when the module does not exist."""
    name = {"generator": "bench_generator", "training": "bench_training", "peer": "bench_peer",
            "latency": "bench_latency", "models": "bench_models", "batch": "bench_batch"}[step]
    if not (Path(__file__).resolve().parent / f"{name}.py").is_file():
        return None
    module = importlib.import_module(f"benchmarks.{name}")
    return getattr(module, "main", None)


def _model_file(quick: bool) -> tuple[str | None, str]:
    """A model file for the speed steps: none (they use the bundled model) or one built here."""
    if quick:
        return None, "quick steps train their own small models"
    try:
        from covid_risk.models._default import default_model_bytes

        default_model_bytes("admission")
        return None, "bundled default admission model"
    except FileNotFoundError:
        from covid_risk.models.build_default import build

        path = Path(tempfile.mkdtemp(prefix="covid_risk_bench_")) / "admission.crmodel"
        t = time.perf_counter()
        path.write_bytes(build("admission"))
        return str(path), (f"default admission recipe trained for this run "
                           f"({time.perf_counter() - t:.0f} s; not bundled yet)")


def _load(name: str, out: Path) -> dict | None:
    path = out / f"{name}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:  # pragma: no cover - a broken file is reported as missing
        return None


def _get(d: Any, *keys: Any) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def training_threads(train: dict | None) -> list[str]:
    """Thread counts of the 100,000-patient training targets: 1 and 2, and any other measured."""
    measured = _get(train, "sizes", "100000", "threads") or {}
    return sorted({"1", "2", *measured}, key=int)


def _threads(t: str) -> str:
    return f"{t} LightGBM thread{'' if t == '1' else 's'}"


def targets(out: Path) -> list[dict]:
    """The issue's targets with the figures of this run (``None`` when not measured)."""
    lat, peer, train = _load("bench_latency", out), _load("bench_peer", out), _load(
        "bench_training", out)
    sp = _get(lat, "single_patient") or {}
    rows = []

    def add(what: str, value: Any, unit: str, goal: str, ok: bool | None) -> None:
        rows.append({"target": what, "measured": value, "unit": unit, "goal": goal,
                     "met": ok})

    v = _get(sp, "ours_without_explanation", "median_ms")
    add("predict_risk(one dict), no explanation: median", v, "ms", "< 0.5",
        None if v is None else v < 0.5)
    v = _get(sp, "ours_without_explanation", "p99_ms")
    add("predict_risk(one dict), no explanation: p99", v, "ms", "< 2",
        None if v is None else v < 2)
    v = _get(sp, "ours_with_top5_factors", "median_ms")
    add("predict_risk(one dict), top-5 factors for every outcome: median", v, "ms", "< 2",
        None if v is None else v < 2)
    for label, key in (("no explanation", "without_explanation"),
                       ("with factors", "with_top5_factors")):
        v = _get(peer, "latency", key, "peer_over_ours_median")
        add(f"faster than the hand-rolled peer, one dict, {label}", v, "x", ">= 10",
            None if v is None else v >= 10)
    v = _get(lat, "batch", "ours_share_of_raw_limit")
    add("batch scoring of a DataFrame, share of raw-limit throughput", v, "", ">= 0.70",
        None if v is None else v >= 0.70)
    counts = training_threads(train)  # the machines have 2 cores: 1 and 2 threads
    peer_100k = _get(peer, "settings", "n_train") == 100_000  # the peer step: one thread
    for t in counts:
        v = _get(train, "sizes", "100000", "threads", t, "ours", "median_seconds")
        if v is None and t == "1":  # results without thread counts: one thread
            v = _get(train, "sizes", "100000", "ours", "median_seconds")
            if v is None and peer_100k:
                v = _get(peer, "training", "ours", "median_seconds")
        add(f"training, 100,000 admitted patients, all outcomes, calibrated, {_threads(t)}",
            v, "s", "< 60", None if v is None else v < 60)
    for t in counts:
        v = _get(train, "sizes", "100000", "threads", t, "ours_over_peer")
        if v is None and t == "1":
            v = _get(train, "sizes", "100000", "ours_over_peer")
            if v is None and peer_100k:
                v = _get(peer, "training", "ours_over_peer")
        add(f"training time, ours / peer, both {_threads(t)}", v, "", "<= 1",
            None if v is None else v <= 1)
    better = _get(peer, "quality", "ours_at_least_as_accurate")
    if better:
        ok = all(m["auroc"] and m["log_loss"] for m in better.values())
        worse = [o for o, m in better.items() if not (m["auroc"] and m["log_loss"])]
        add("at least as accurate as the peer (AUROC and log loss, every outcome)",
            "all" if ok else "not for " + ", ".join(worse), "", "all outcomes", ok)
    return rows


def results_markdown(out: Path, run_info: dict) -> str:
    """Compose RESULTS.md from the JSON results in ``out``."""
    m = run_info["machine"]
    quick = run_info["quick"]
    lines = [
        "# covid_risk benchmark results",
        "",
        f"`python -m benchmarks.run_all{' --quick' if quick else ''}` on "
        f"{run_info['started']} UTC, covid_risk {m['covid_risk']} at commit {m.get('git')}; "
        f"{m['cores']} cores ({m['cpu']}), load average "
        f"{m['load_average_at_start'][0]} at the start; Python {m['python']}, LightGBM "
        f"{m['lightgbm']}, scikit-learn {m['scikit_learn']}, shap {m['shap']}, numpy "
        f"{m['numpy']}, pandas {m['pandas']}.",
        "",
    ]
    for rerun in run_info.get("reruns", []):
        lines += [f"Re-run with `--only {' '.join(rerun['steps'])}` on {rerun['started']} UTC "
                  f"at commit {rerun['git']}, load average {rerun['load_average_at_start'][0]} "
                  "at the start; those steps' figures are from the re-run.", ""]
    if quick:
        lines += ["**Smoke run (`--quick`): tiny cohorts and small models; the figures only "
                  "show that the code runs, they say nothing about the targets.**", ""]
    latest = ([*run_info.get("reruns", [])] or [m])[-1]["load_average_at_start"][0]
    if latest > max(1.0, m["cores"] - 1):
        lines += [f"Note: the machine was busy (load average {latest} on {m['cores']} cores "
                  "at the start of the latest run); latencies, p99 especially, are inflated.",
                  ""]
    lines += [
        "Every figure is a median over repeated runs; ratios are against baselines "
        "measured in the same run. Peak memory: increase of the peak resident size "
        "(VmHWM, reset before the step) over the resident size before the step, in a "
        "fresh process.",
        "",
        "## Targets",
        "",
        "| target | measured | goal | met |",
        "|---|---|---|---|",
    ]
    for t in targets(out):
        value = "not measured" if t["measured"] is None else f"{t['measured']} {t['unit']}"
        met = {True: "yes", False: "**no**", None: "-"}[t["met"]]
        lines.append(f"| {t['target']} | {value.strip()} | {t['goal']} {t['unit']} | {met} |")
    lines.append("")
    e = _get(_load("bench_training", out), "sizes", "100000") or {}
    if len(e.get("threads") or {}) > 1 and "trees_same_at_every_thread_count" in e:
        same = e["trees_same_at_every_thread_count"]
        lines += [
            f"Training is timed with {' and '.join(_threads(t) for t in e['threads'])} for "
            "both contestants (covid_risk `n_jobs`, the peer's `LGBMClassifier(n_jobs=...)`); "
            "covid_risk's default is one thread, because on a busy machine OpenMP threads "
            "wait for each other. covid_risk grew "
            + ("the same number of trees for every outcome in every run at every thread "
               "count (LightGBM deterministic mode: the trees do not depend on the threads); "
               "the accuracy row is measured on the one-thread models."
               if same else "**different numbers of trees at different thread counts**; the "
               "accuracy row is that of the one-thread models."),
            "",
        ]
    for name in ("bench_training", "bench_peer", "bench_latency"):
        res = _load(name, out)
        if res and res.get("markdown"):
            lines += [res["markdown"], ""]
    for name in ("bench_generator", "bench_models", "bench_batch", "bench_batch_quick"):
        md = out / f"{name}.md"
        if md.is_file():  # their headings one level down, under this page's title
            text = md.read_text().strip().splitlines()
            lines += ["#" + t if t.startswith("#") else t for t in text] + [""]
    lines += ["## Steps", "", "| step | started (UTC) | commit | seconds | status |",
              "|---|---|---|---|---|"]
    for step, info in run_info["steps"].items():
        lines.append(f"| {step} | {info.get('started', run_info['started'])} | "
                     f"{info.get('git', m.get('git'))} | {info.get('seconds', '')} | "
                     f"{info['status']} |")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the selected steps, then write ``RESULTS.md``; return the exit code."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.run_all",
                                description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: tiny sizes")
    p.add_argument("--only", nargs="+", choices=STEPS, help="run only these steps")
    p.add_argument("--skip", nargs="+", choices=STEPS, default=[], help="skip these steps")
    p.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    steps = [s for s in (args.only or STEPS) if s not in args.skip]
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    run_info: dict[str, Any] = {"started": now, "quick": args.quick, "machine": machine(),
                                "steps": {}}
    previous = _load("run_all", args.out)
    if args.only and previous and previous.get("quick") == args.quick:
        # re-running some steps: keep the record of the others (each step says when it ran)
        rerun = {"started": now, "steps": steps, "git": run_info["machine"].get("git"),
                 "load_average_at_start": run_info["machine"]["load_average_at_start"]}
        run_info["started"] = previous["started"]
        run_info["machine"] = previous["machine"]
        run_info["steps"] = previous["steps"]
        run_info["reruns"] = [*previous.get("reruns", []), rerun]
    model, origin = (None, "") if not {"latency", "batch"} & set(steps) else _model_file(
        args.quick)
    run_info["model"] = origin
    shared = Path(tempfile.mkdtemp(prefix="covid_risk_bench_models_"))  # training -> peer
    failed = False
    for step in steps:
        entry = _entry(step)
        if entry is None:
            run_info["steps"][step] = {"status": "not available (module not written yet)"}
            continue
        argv_step = [*(_quick_args if args.quick else _full_args)(step, model, shared),
                     "--out", str(args.out)]
        print(f"== {step}: {' '.join(argv_step)}", file=sys.stderr, flush=True)
        t = time.perf_counter()
        try:
            code = entry(argv_step)
            status = ("ok" if code in (None, 0) or isinstance(code, dict)
                      else f"ok, exit {code}: some of its own targets not met")
        except (Exception, SystemExit) as exc:  # one failing step must not hide the others
            status = f"failed: {type(exc).__name__}: {exc}"
            traceback.print_exc()
        failed = failed or status.startswith("failed")
        run_info["steps"][step] = {"seconds": round(time.perf_counter() - t, 1),
                                   "status": status.splitlines()[0][:300], "started": now,
                                   "git": machine().get("git")}
    run_info["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    run_info["targets"] = targets(args.out)
    write_json("run_all", run_info, args.out)
    (args.out / "RESULTS.md").write_text(results_markdown(args.out, run_info))
    print(f"written {args.out / 'RESULTS.md'}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
