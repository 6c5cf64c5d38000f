"""Same cohort and seed, same model file: across processes and across 1 and 2 threads.

Measured with LightGBM 4 (``deterministic=True``, ``force_col_wise=True``): the
trees, calibrators and metadata are identical whatever the thread count; the
files differ only where the thread count itself is recorded -- ``n_jobs`` in
``model.json`` (the settings and the training parameters) and LightGBM's
``[num_threads: N]`` parameter line in each booster text.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

SETTINGS = {"learning_rate": 0.2, "n_estimators": 25, "early_stopping_rounds": 10,
            "outcomes": ("death", "icu", "imv", "deterioration")}
COHORT = {"n": 1500, "random_state": 3}
SEED = 0


def _train_bytes(n_jobs: int) -> bytes:
    from covid_risk.models import train
    from covid_risk.synthetic import make_cohort

    cohort = make_cohort(COHORT["n"], random_state=COHORT["random_state"])
    return train(cohort, random_state=SEED, n_jobs=n_jobs, **SETTINGS).to_bytes(hmac_key=b"")


@pytest.fixture(scope="module")
def here() -> bytes:
    """The model file trained in this process with one thread."""
    return _train_bytes(1)


@pytest.fixture(scope="module")
def child(tmp_path_factory) -> dict[int, bytes]:
    """The model files trained in a fresh interpreter (other hash seed), with 1 and 2 threads."""
    folder = tmp_path_factory.mktemp("determinism")
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parents[1])!r})
        from robustness.test_determinism import _train_bytes
        for n_jobs in (1, 2):
            with open({str(folder)!r} + f"/n{{n_jobs}}.crmodel", "wb") as fh:
                fh.write(_train_bytes(n_jobs))
    """)
    # passive OpenMP waits: on a busy machine spinning threads make 2-thread training crawl
    env = {**os.environ, "PYTHONHASHSEED": "12345", "OMP_WAIT_POLICY": "PASSIVE"}
    env.pop("COVID_RISK_MODEL_KEY", None)
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=600)
    return {n: (folder / f"n{n}.crmodel").read_bytes() for n in (1, 2)}


def test_two_processes_write_byte_identical_files(here, child):
    """Training twice (here and in a fresh interpreter) gives the same bytes."""
    assert here == child[1]


def test_one_and_two_thread_models_predict_identically(here, child):
    """The two files' models give bitwise identical probabilities and raw scores."""
    from covid_risk.models._load import load_bytes
    from covid_risk.synthetic import make_cohort

    patients = make_cohort(500, random_state=4)
    one, two = load_bytes(here, hmac_key=b""), load_bytes(child[2], hmac_key=b"")
    np.testing.assert_array_equal(one.predict_proba(patients).to_numpy(),
                                  two.predict_proba(patients).to_numpy())
    for o in one.outcomes_:
        np.testing.assert_array_equal(one.predict_raw(patients, o), two.predict_raw(patients, o))


def test_one_and_two_threads_write_byte_identical_files(here, child):
    """The issue's target: the same bytes whatever the thread count."""
    assert child[2] == here
