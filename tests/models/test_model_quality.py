"""Quality on moderate sizes: 20,000 training and 20,000 test patients (different seeds).

The full 50,000 / 50,000 figures are in ``benchmarks/bench_models.py``. The
thresholds here are looser because the model is trained on fewer patients and a
20,000-patient test cohort has wider sampling error: on this test cohort even
the *true* risk has calibration intercepts of +0.04 (ICU) and +0.05 (IMV), so
the model's intercept is compared with the true risk's. Measured when the
thresholds were set: death AUROC 0.804 vs ceiling 0.815 and 4C 0.768; slopes
0.99-1.05; intercepts within 0.035 of the true risk's; MAE to the truth
0.027-0.058; AKI log loss 0.5049 vs 0.5094 for logistic regression.
"""

from __future__ import annotations

import numpy as np
import pytest

from covid_risk import evaluate
from covid_risk.models import ClinicalScoreBaseline, LogisticBaseline, train

pytestmark = pytest.mark.slow  # trains on default sizes to compare with the ceiling


@pytest.fixture(scope="module")
def result():
    """Model and baselines trained on 20,000 patients, evaluated on 20,000 others."""
    from covid_risk.synthetic import make_cohort

    cohort = make_cohort(20_000, setting="admission", random_state=501)
    test = make_cohort(20_000, setting="admission", random_state=502)
    model = train(cohort, random_state=0)
    baselines = {
        "4c_mortality": ClinicalScoreBaseline("4c_mortality").fit(cohort),
        "logistic_regression": LogisticBaseline(outcomes=["aki"]).fit(cohort),
    }
    ev = evaluate(model, test, baselines=baselines, n_bootstrap=0, subgroups=())
    return model, ev


def metric(ev, predictor: str, outcome: str, name: str) -> float:
    return float(ev.results[predictor][outcome].metrics.at[name, "estimate"])


def test_death_auroc_close_to_the_ceiling_and_above_4c(result):
    """Death AUROC within 0.02 of the true-risk ceiling and 0.02 above the 4C score."""
    model, ev = result
    auroc = metric(ev, "lightgbm", "death", "auroc")
    ceiling = metric(ev, "true risk", "death", "auroc")
    four_c = metric(ev, "4c_mortality", "death", "auroc")
    assert ceiling - auroc < 0.02
    assert auroc - four_c > 0.02


@pytest.mark.parametrize("outcome", ["death", "icu", "imv", "deterioration", "aki", "vte"])
def test_every_outcome_is_calibrated(result, outcome):
    """Slope within 0.85-1.15; intercept within 0.06 of the true risk's on the same patients."""
    _, ev = result
    slope = metric(ev, "lightgbm", outcome, "calibration_slope")
    intercept = metric(ev, "lightgbm", outcome, "calibration_intercept")
    truth = metric(ev, "true risk", outcome, "calibration_intercept")
    assert 0.85 <= slope <= 1.15
    assert abs(intercept - truth) <= 0.06


@pytest.mark.parametrize("outcome", ["death", "icu", "imv", "deterioration", "aki"])
def test_close_to_the_truth(result, outcome):
    """AUROC within 0.025 of the ceiling; mean absolute error to the true risk below 0.07."""
    _, ev = result
    gap = metric(ev, "true risk", outcome, "auroc") - metric(ev, "lightgbm", outcome, "auroc")
    assert gap < 0.025
    assert metric(ev, "lightgbm", outcome, "mae_true") < 0.07


def test_beats_logistic_regression_on_kidney_injury(result):
    """Lower log loss than the spline logistic regression for AKI, whose risk has interactions."""
    _, ev = result
    assert metric(ev, "lightgbm", "aki", "log_loss") < metric(
        ev, "logistic_regression", "aki", "log_loss"
    )


def test_coherent_on_the_test_cohort(result):
    """On every test patient deterioration >= death, ICU, IMV and ICU >= IMV."""
    model, _ = result
    from covid_risk.synthetic import make_cohort

    p = model.predict_proba(make_cohort(3000, random_state=503))
    assert np.all(p["deterioration"].to_numpy() >= p[["death", "icu", "imv"]].max(axis=1))
    assert np.all(p["icu"] >= p["imv"])
