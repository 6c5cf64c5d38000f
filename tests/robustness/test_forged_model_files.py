"""1,000 forged model files: none crashes, hangs or loads to NaN risks.

Each case (:func:`tests.robustness.forging.forged_case`) edits the small admission
model file the way the red-team report did (same-length line edits, numbers in
trees and header set to 0, -1, huge, NaN or infinity, self-loops, out-of-range
children, dropped or duplicated trees, junk lines of up to 150 MB, non-finite
calibrator parameters, mistyped or deeply nested manifests and JSON parts), with
every hash recomputed so that only the content checks can refuse it. A file that
loads predicts with the RiskModel (``lightgbm`` package) and, in a quarter of the
cases, with the compiled view (texts loaded by LightGBM's C API, the one-patient path). The cases
are loaded and used for prediction in child processes, so that an interpreter
crash is a counted failure, not a dead test run: a child announces every case
before it starts; if it dies or falls silent for :data:`CASE_SECONDS`, the case
is re-run alone to confirm, recorded, and a new child continues after it.
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

N_CASES = 1000
CASE_SECONDS = 5.0
"""A case that takes longer than this is a hang (a load and prediction take ~0.05 s)."""

_CHILD = textwrap.dedent(
    """
    import importlib.util, math, sys, warnings
    import numpy as np
    spec = importlib.util.spec_from_file_location("forging", sys.argv[1])
    forging = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(forging)
    from covid_risk.exceptions import CovidRiskError
    from covid_risk.models import read_model_file
    from covid_risk.models._load import load_bytes
    from covid_risk.synthetic import make_cohort

    warnings.simplefilter("ignore")
    base = open(sys.argv[2], "rb").read()
    patients = make_cohort(40, setting="admission", random_state=5)
    for index in range(int(sys.argv[3]), int(sys.argv[4])):
        print(f"@@START {index}", flush=True)
        what, data = forging.forged_case(base, index)
        try:
            model = load_bytes(data, hmac_key=b"")
        except CovidRiskError:
            outcome = "refused"
        except Exception as exc:
            outcome = f"foreign:{type(exc).__name__}:{str(exc)[:80]}"
        else:
            try:
                risks = np.asarray(model.predict_proba(patients), dtype=float)
                both = risks.ravel()
                if index % 4 == 0:  # and, for a quarter of the cases (time), the one-patient
                    # path: the same checked texts loaded through LightGBM's C API
                    view = read_model_file(data, hmac_key=b"")
                    X = np.ascontiguousarray(model.model_matrix(patients), dtype="float64")
                    final = view.compile().probabilities(X)[2]
                    both = np.concatenate([both, *final.values()])
                outcome = "finite" if np.isfinite(both).all() else "nan"
            except CovidRiskError:
                outcome = "refused-at-predict"
            except Exception as exc:
                outcome = f"foreign-at-predict:{type(exc).__name__}:{str(exc)[:80]}"
        del data
        print(f"@@RESULT {index} {what.split()[0]} {outcome}", flush=True)
    print("@@DONE", flush=True)
    """
)


kinds: dict[int, str] = {}
"""Case -> kind of edit, as the children report them."""


def _run(base: Path, start: int, stop: int) -> tuple[dict[int, str], int | None, str]:
    """Run cases [start, stop) in one child; return (results, stuck case or None, why)."""
    forging = Path(__file__).with_name("forging.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(forging), str(base), str(start), str(stop)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)],
                     daemon=True).start()
    results: dict[int, str] = {}
    current = None
    started_at = time.monotonic()
    try:
        while True:
            # the import before the first case is not timed as a case
            limit = 120.0 if current is None else CASE_SECONDS
            try:
                line = lines.get(timeout=max(0.0, limit - (time.monotonic() - started_at)))
            except queue.Empty:
                return results, current, "hang"
            if line is None:
                proc.wait()
                return results, current, f"crash (exit {proc.returncode})"
            if line.startswith("@@START "):
                current, started_at = int(line.split()[1]), time.monotonic()
            elif line.startswith("@@RESULT "):
                _, index, kind, outcome = line.rstrip("\n").split(" ", 3)
                results[int(index)] = outcome
                kinds[int(index)] = kind
                current = None
                started_at = time.monotonic()
            elif line.startswith("@@DONE"):
                return results, None, ""
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _shard(base: Path, start: int, stop: int) -> dict[int, str]:
    """Outcomes of cases [start, stop): a new child after each crash or hang."""
    outcomes: dict[int, str] = {}
    while start < stop:
        results, stuck, why = _run(base, start, stop)
        outcomes.update(results)
        if stuck is None:
            if not why:
                break
            stuck = max(results, default=start - 1) + 1  # died between cases
        # confirm alone (a busy machine can stall one case), then go on after it
        again, stuck_again, why_again = _run(base, stuck, stuck + 1)
        outcomes[stuck] = again.get(stuck) or (why_again if stuck_again is not None else why)
        start = stuck + 1
    return outcomes


@pytest.mark.slow
def test_forged_model_files_never_crash_hang_or_predict_nan(admission_file):
    """1,000 forged files: refused with our error or loaded with finite risks, nothing else."""
    from .forging import forged_case

    base = Path(admission_file)
    outcomes: dict[int, str] = {}
    half = N_CASES // 2
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # two children, one per core
        for part in pool.map(lambda r: _shard(base, *r), [(0, half), (half, N_CASES)]):
            outcomes.update(part)
    counts = collections.Counter(o.split(":")[0].split(" ")[0] for o in outcomes.values())
    by_kind = collections.Counter((kinds.get(i, "?"), o.split(":")[0].split(" ")[0])
                                  for i, o in outcomes.items())
    print(f"\nforged model files: {dict(counts)}; by kind: {dict(sorted(by_kind.items()))}")
    bad = {i: o for i, o in outcomes.items() if o not in ("refused", "finite")}
    described = {i: (forged_case(base.read_bytes(), i)[0], o) for i, o in list(bad.items())[:10]}
    assert len(outcomes) == N_CASES
    assert not bad, f"{len(bad)} forged files crashed, hung, predicted NaN or raised a " \
        f"foreign error: {described}"
    assert counts["refused"] > N_CASES / 2 and counts["finite"] > 0
