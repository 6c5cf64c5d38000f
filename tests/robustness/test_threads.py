"""Thread safety: predict_risk called from 8 threads at once gives the serial answers."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest

from covid_risk.exceptions import ValidationError
from covid_risk.prediction._predict import predict_risk
from covid_risk.schema import OUTCOMES

N_THREADS = 8
PER_THREAD = 20
pytestmark = pytest.mark.filterwarnings("ignore::covid_risk.exceptions.DataQualityWarning")


def _records(setting: str, n: int, seed: int) -> list[dict[str, Any]]:
    """Generated patients as plain dicts (None for missing), as a clinician's tool sends them."""
    from covid_risk.synthetic import make_cohort

    df = make_cohort(n, setting=setting, random_state=seed)
    keep = [c for c in df.columns if c not in OUTCOMES and not c.startswith("true_risk_")
            and c != "patient_id"]
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()}
            for row in df[keep].to_dict(orient="records")]


def _jobs() -> list[list[tuple[dict, dict]]]:
    """Per thread, (patient, keyword arguments) pairs: every path predict_risk can take.

    Most patients take the fast path (explanations on or off); some take the normal
    path (an implausible value, an unknown key, a value spelled as text), some are
    refused, some are community patients and some go in as a one-row DataFrame.
    """
    rng = np.random.default_rng(7)
    admitted = _records("admission", N_THREADS * PER_THREAD, 51)
    community = _records("community", N_THREADS * 4, 52)
    jobs: list[list[tuple[dict, dict]]] = []
    for t in range(N_THREADS):
        mine = []
        for i in range(PER_THREAD):
            patient = dict(admitted[t * PER_THREAD + i])
            kwargs: dict[str, Any] = {"explain": bool((t + i) % 2)}
            kind = i % 10
            if kind == 1:
                patient["respiratory_rate"] = 55.0 + rng.integers(0, 20)  # implausible: flagged
                kwargs["explain"] = i % 4 == 1
            elif kind == 3:
                patient["ward"] = f"W{t}"  # unknown key: warned and dropped
                kwargs["explain"] = False
            elif kind == 5:
                patient["age"] = str(patient["age"]).replace(".", ",")  # decimal comma
                kwargs["explain"] = False
            elif kind == 7:
                patient["spo2"] = 140.0 + t  # impossible: ValidationError
            elif kind == 9:
                patient = dict(community[t * 4 + i // 10])
                kwargs["setting"] = "community"
            mine.append((patient, kwargs))
        mine.append((pd.DataFrame([admitted[t * PER_THREAD]]), {}))
        jobs.append(mine)
    return jobs


def _run(patient: Any, kwargs: dict, models: dict, model_file: Any, t: int) -> Any:
    """One call; returns the result or the error message (errors must match too)."""
    setting = kwargs.get("setting", "admission")
    model = model_file if (setting == "admission" and t % 2) else models[setting]
    try:
        return predict_risk(patient, model=model, **kwargs)
    except ValidationError as exc:
        return ("ValidationError", str(exc))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        return True
    return a == b


def test_eight_threads_calling_predict_risk_get_the_serial_answers(models, admission_file):
    """8 threads x 21 calls (fast and normal paths, errors, both settings, a frame) match serial."""
    from covid_risk.prediction import _predict as api

    jobs = _jobs()
    serial = [[_run(p, kw, models, admission_file, t) for p, kw in job]
              for t, job in enumerate(jobs)]
    api._MODEL_CACHE.clear()  # the threads race to load the model file too
    results: dict[int, list] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(N_THREADS)

    def work(t: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[t] = [_run(p, kw, models, admission_file, t) for p, kw in jobs[t]]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(N_THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(300)
    assert not any(th.is_alive() for th in threads), "a thread hung"
    assert not errors, errors
    kinds = set()
    for t in range(N_THREADS):
        assert len(results[t]) == len(serial[t])
        for got, want in zip(results[t], serial[t], strict=True):
            assert _same(got, want)
            kinds.add(type(want).__name__)
    assert kinds == {"RiskPrediction", "tuple", "DataFrame"}  # every kind of answer was exercised


def test_threads_predicting_the_same_patient_agree(admission_model):
    """8 threads hammering one patient (explained) all get the one serial answer."""
    patient = {"age": 81, "sex": "female", "respiratory_rate": 31, "spo2": 89, "urea": 14.2,
               "crp": 180, "gcs": 14, "on_oxygen": True, "chronic_kidney": True}
    want = predict_risk(patient, model=admission_model)
    got: list[Any] = []
    lock = threading.Lock()
    barrier = threading.Barrier(N_THREADS)

    def work() -> None:
        barrier.wait(timeout=60)
        mine = [predict_risk(patient, model=admission_model) for _ in range(25)]
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(N_THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(300)
    assert len(got) == N_THREADS * 25
    assert all(g == want for g in got)
    assert want["death"].raising  # explanations were compared, not just probabilities
