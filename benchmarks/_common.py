"""Shared helpers of the benchmarks: timing statistics, peak memory, machine facts, results.

Timing
------
Wall-clock time with :func:`time.perf_counter`. Every figure reported is a median
over repeated runs; latencies also report the 99th percentile over all calls.

Memory
------
Peak memory is measured in a fresh child process that does one measured step
(:func:`run_child`): just before the step the kernel's peak resident size is reset to
the current one (``/proc/self/clear_refs``, Linux) and read back after it
(``VmHWM``; ``resource.getrusage(...).ru_maxrss`` elsewhere). The figure reported is
the increase of the peak over the resident size just before the step (after imports,
set-up and the cohort). It counts memory allocated by LightGBM's C++ code and by
numpy, which ``tracemalloc`` would miss.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

FAST_TRAINING = {"learning_rate": 0.1, "n_estimators": 300, "early_stopping_rounds": 20}
"""Settings of the small models trained by ``--quick`` runs (seconds, not minutes)."""


def machine() -> dict[str, Any]:
    """Versions, cores and the load average when the run started (a busy machine is slower)."""
    import lightgbm
    import pandas
    import sklearn

    try:
        import shap

        shap_version = shap.__version__
    except ImportError:  # pragma: no cover - optional
        shap_version = None
    import covid_risk

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover - not Linux
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count()
    return {
        "python": platform.python_version(),
        "covid_risk": covid_risk.__version__,
        "git": _git_state(),
        "numpy": np.__version__,
        "pandas": pandas.__version__,
        "lightgbm": lightgbm.__version__,
        "scikit_learn": sklearn.__version__,
        "shap": shap_version,
        "cpu": cpu,
        "cores": cores,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _git_state() -> str | None:
    """Commit of the checkout, with "+changes" when the package source has uncommitted edits."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, timeout=10, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return commit.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def latency_stats(seconds: Sequence[float], runs: Sequence[Sequence[float]] | None = None,
                  cpu: Sequence[float] | None = None) -> dict:
    """Median, 90th and 99th percentile, mean and minimum in milliseconds.

    Parameters
    ----------
    seconds : sequence of float
        Every call's wall time.
    runs : sequence of sequences, optional
        The same calls grouped by repeated run; adds the per-run medians.
    cpu : sequence of float, optional
        Every call's CPU time (all threads of the process); adds its median and p99. On
        a busy machine wall time includes waiting for a core, CPU time does not.
    """
    x = np.asarray(seconds, dtype="float64") * 1e3
    out = {
        "calls": int(x.size),
        "median_ms": round(float(np.median(x)), 4),
        "p90_ms": round(float(np.percentile(x, 90)), 4),
        "p99_ms": round(float(np.percentile(x, 99)), 4),
        "mean_ms": round(float(x.mean()), 4),
        "min_ms": round(float(x.min()), 4),
    }
    if runs is not None:
        medians = [float(np.median(np.asarray(r) * 1e3)) for r in runs]
        out["run_medians_ms"] = [round(m, 4) for m in medians]
    if cpu is not None:
        c = np.asarray(cpu, dtype="float64") * 1e3
        out["cpu_median_ms"] = round(float(np.median(c)), 4)
        out["cpu_p99_ms"] = round(float(np.percentile(c, 99)), 4)
    return out


def time_calls(
    fn: Callable[[Any], Any], items: Sequence[Any], repeats: int
) -> tuple[list[float], list[list[float]], list[float]]:
    """Call ``fn(item)`` for every item, ``repeats`` times.

    Returns
    -------
    wall : list of float
        Every call's wall time (s).
    runs : list of list of float
        The same, grouped by run.
    cpu : list of float
        Every call's process CPU time (s).
    """
    runs, cpu = [], []
    for _ in range(repeats):
        times = []
        for item in items:
            c = time.process_time()
            t = time.perf_counter()
            fn(item)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        runs.append(times)
    return [t for run in runs for t in run], runs, cpu


def median_seconds(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float]]:
    """Median wall time of ``fn()`` over ``repeats`` runs, and every run's time."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), [round(t, 4) for t in times]


def alternate(steps: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Wall times of several steps run in turn, ``repeats`` rounds, order reversed each round.

    Comparing steps timed this way, a change of machine load during the run affects
    them alike.
    """
    import warnings

    names = list(steps)
    times: dict[str, list[float]] = {n: [] for n in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(repeats):
            for name in (names if r % 2 == 0 else names[::-1]):
                t = time.perf_counter()
                steps[name]()
                times[name].append(round(time.perf_counter() - t, 4))
    return times


def current_rss_mb() -> float:
    """Resident set size of this process now (MiB)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):  # pragma: no cover - not Linux
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size of this process (MiB): ``VmHWM``, else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):  # pragma: no cover - not Linux
        pass
    import resource  # pragma: no cover - not Linux

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # pragma: no cover


def mark_memory() -> float:
    """Reset the peak resident size to the current one (Linux) and return the current (MiB).

    Call it just before a measured step; :func:`peak_rss_mb` afterwards is the peak of
    that step alone (on systems without ``/proc/self/clear_refs`` it is the peak of the
    whole process, an upper bound).
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # pragma: no cover - not Linux or not allowed
        pass
    return current_rss_mb()


_CHILD = textwrap.dedent("""
    import importlib, json, sys, warnings
    warnings.simplefilter("ignore")
    module, name = sys.argv[1].rsplit(":", 1)
    result = getattr(importlib.import_module(module), name)(**json.loads(sys.argv[2]))
    from benchmarks._common import peak_rss_mb
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    if "rss_before_mb" in result:
        result["peak_increase_mb"] = round(result["peak_rss_mb"] - result["rss_before_mb"], 1)
    print("RESULT " + json.dumps(result))
""")


def run_child(target: str, timeout: float | None = None, **kwargs: Any) -> dict:
    """Run ``module:function(**kwargs)`` in a fresh Python process and return its result dict.

    The function returns a JSON-able dict; it may record ``rss_before_mb``
    (:func:`mark_memory` just before its measured step), and the child adds
    ``peak_rss_mb`` and ``peak_increase_mb``.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, target, json.dumps(kwargs)], capture_output=True,
        text=True, cwd=ROOT, env=env, timeout=timeout, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark step {target} failed:\n{proc.stderr[-4000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def settings(args: Any) -> dict:
    """Command-line settings for the results, with folders and files by name only.

    Results are committed; a machine's paths do not belong in them.
    """
    out = {}
    for k, v in vars(args).items():
        if isinstance(v, Path) or (isinstance(v, str) and os.sep in v):
            v = Path(v).name
        out[k] = v
    return out


def write_json(name: str, data: dict, out: Path | None = None) -> Path:
    """Write ``results/<name>.json`` (pretty, keys in insertion order)."""
    folder = RESULTS if out is None else Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def apply_quick(args: Any, sizes: dict[str, Any]) -> None:
    """With ``--quick``, replace the options named in ``sizes`` by their smoke-run values."""
    if args.quick:
        for name, value in sizes.items():
            setattr(args, name, value)


def publish(name: str, res: dict, markdown: Callable[[dict], str], out: Path | None = None,
            *, markdown_file: bool = False) -> dict:
    """Render ``res`` as Markdown, write ``<name>.json`` (and ``<name>.md``), print; return it."""
    res["markdown"] = markdown(res)
    path = write_json(name, res, out)
    if markdown_file:
        (path.parent / f"{name}.md").write_text(res["markdown"] + "\n")
    print(res["markdown"])
    print(f"written {path}", file=sys.stderr)
    return res


def ratio(a: float, b: float) -> float | None:
    """``a / b`` rounded to 3 significant figures (None when ``b`` is 0)."""
    if not b:
        return None
    return float(f"{a / b:.3g}")


def bench_model(path: str | None, *, quick: bool, setting: str = "admission") -> tuple[Any, str]:
    """The model the speed benchmarks use, and where it came from.

    ``path`` if given; else the bundled default model; else (not built yet) the
    default recipe trained here, or with ``quick`` a small model trained in seconds.
    """
    from covid_risk.models import load

    if path:
        return load(path, hmac_key=b""), f"model file {Path(path).name}"
    if quick:
        from covid_risk import make_cohort, train

        cohort = make_cohort(3000, setting=setting, random_state=7)
        return train(cohort, setting=setting, random_state=0, **FAST_TRAINING), (
            "small model trained for the quick run (3,000 patients, fast settings)")
    from covid_risk.models import default_model

    try:
        return default_model(setting), f"bundled default {setting} model"
    except FileNotFoundError:
        from covid_risk.models._load import load_bytes
        from covid_risk.models.build_default import RECIPES, build

        t = time.perf_counter()
        data = build(setting)
        recipe = RECIPES[setting]
        return load_bytes(data, hmac_key=b""), (
            f"default {setting} recipe trained here ({recipe.n_patients:,} patients, seed "
            f"{recipe.cohort_seed}, {time.perf_counter() - t:.0f} s): not bundled yet")


def model_facts(model: Any) -> dict:
    """Trees, leaves and calibrators of a RiskModel."""
    return {
        "outcomes": list(model.outcomes_),
        "features": len(model.feature_names_),
        "trees": {o: int(b.num_trees()) for o, b in model.boosters_.items()},
        "total_trees": int(sum(b.num_trees() for b in model.boosters_.values())),
        "calibrators": {o: type(c).__name__ for o, c in model.calibrators_.items()},
    }


def patients_as_dicts(frame: Any, columns: Sequence[str]) -> list[dict]:
    """Rows of a canonical frame as plain dicts (missing values left out), as a tool sends them."""
    records = frame[list(columns)].astype(object).to_dict("records")
    out = []
    for r in records:
        d = {}
        for k, v in r.items():
            if v is None or v is pd.NA or (isinstance(v, float) and v != v):
                continue
            d[k] = v.item() if hasattr(v, "item") else v
        out.append(d)
    return out


def cohort(n: int, *, setting: str = "admission", random_state: int) -> pd.DataFrame:
    """``make_cohort`` without records ``validate`` would refuse (their count in ``attrs``).

    A generated cohort should never hold an impossible value; if one does (a generator
    under development), the benchmark drops those rows rather than failing, and says
    how many in ``frame.attrs["dropped_impossible"]``.
    """
    import warnings

    from covid_risk import make_cohort
    from covid_risk.exceptions import ValidationError
    from covid_risk.validation import validate

    frame = make_cohort(n, setting=setting, random_state=random_state)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            validate(frame)
        bad: set[int] = set()
    except ValidationError as exc:
        bad = {p.row for p in exc.problems if p.row is not None}
    if bad:
        frame = frame.drop(index=frame.index[sorted(bad)]).reset_index(drop=True)
    frame.attrs["dropped_impossible"] = len(bad)
    return frame


def to_score(frame: pd.DataFrame) -> pd.DataFrame:
    """Records as a file to be scored holds them: predictors only, indexed by patient id."""
    from covid_risk.schema import PREDICTORS

    out = frame[[c for c in frame.columns if c in PREDICTORS]]
    if "patient_id" in frame.columns:
        out = out.set_axis(pd.Index(frame["patient_id"], name="patient_id"), axis=0)
    return out
