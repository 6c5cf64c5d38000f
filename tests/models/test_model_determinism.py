from __future__ import annotations

import lightgbm as lgb
import pytest

from covid_risk.models import DEFAULT_MODEL_FILES, default_model, train
from covid_risk.models._default import default_model_bytes


def test_same_cohort_and_seed_give_identical_bytes(admission_cohort, fast):
    """Two trainings with the same cohort and random_state write byte-identical files."""
    a = train(admission_cohort, outcomes=["death", "vte"], random_state=7, **fast)
    b = train(admission_cohort, outcomes=["death", "vte"], random_state=7, **fast)
    assert a.to_bytes(hmac_key=b"") == b.to_bytes(hmac_key=b"")


def test_the_thread_count_does_not_change_the_file(admission_cohort, fast):
    """One or two LightGBM threads give the same trees and so the same bytes."""
    small = admission_cohort.head(2000)
    a = train(small, outcomes=["death"], random_state=3, n_jobs=1, **fast)
    b = train(small, outcomes=["death"], random_state=3, n_jobs=2, **fast)
    assert a.to_bytes(hmac_key=b"") == b.to_bytes(hmac_key=b"")
    assert b"[num_threads: 0]" in a.to_bytes(hmac_key=b"")


def test_another_seed_gives_another_model(admission_cohort, fast):
    """A different random_state changes the splits and so the file."""
    a = train(admission_cohort, outcomes=["death"], random_state=7, **fast)
    b = train(admission_cohort, outcomes=["death"], random_state=8, **fast)
    same_data = a.metadata_["training_cohort"]["data_hash"]
    assert same_data == b.metadata_["training_cohort"]["data_hash"]
    assert a.to_bytes(hmac_key=b"") != b.to_bytes(hmac_key=b"")


def test_an_outcome_trains_the_same_alone_or_with_others(admission_cohort, fast, fitted):
    """Per-outcome seeds: the death booster does not depend on which other outcomes are trained."""
    alone = train(admission_cohort, outcomes=["death"], random_state=0, **fast)
    assert (
        alone.boosters_["death"].model_to_string() == fitted.boosters_["death"].model_to_string()
    )


@pytest.mark.slow
@pytest.mark.parametrize("setting", sorted(DEFAULT_MODEL_FILES))
def test_default_bundle_regenerates_byte_for_byte(setting):
    """Rebuilding each bundled default model from its recipe gives exactly the shipped bytes."""
    from covid_risk.models import read_manifest
    from covid_risk.models.build_default import build

    shipped = default_model_bytes(setting)
    built_with = read_manifest(shipped)["lightgbm_version"]
    if built_with != lgb.__version__:
        pytest.skip(
            f"bundle built with LightGBM {built_with}, {lgb.__version__} installed: trees differ "
            "across LightGBM releases; run python -m covid_risk.models.build_default"
        )
    assert build(setting) == shipped, (
        "the bundled model differs from its recipe; rebuild it with "
        "'python -m covid_risk.models.build_default'"
    )


@pytest.mark.parametrize("setting", sorted(DEFAULT_MODEL_FILES))
def test_default_model_loads_once_and_predicts(setting):
    """default_model verifies and caches the bundled model; it predicts every outcome."""
    from covid_risk.schema import SETTING_OUTCOMES

    model = default_model(setting)
    assert default_model(setting) is model
    assert model.setting == setting
    assert model.outcomes_ == SETTING_OUTCOMES[setting]
    p = model.predict_proba({"age": 80, "sex": "male", "diabetes": True})
    assert p.shape == (1, len(model.outcomes_))
    assert model.metadata_["created"] is not None
