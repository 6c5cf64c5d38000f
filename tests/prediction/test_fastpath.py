"""Tests for the single-patient fast path: it must return exactly what the normal path returns.

Two small models are trained once per module (an admission model with isotonic
calibrators, so that the coherence step changes some probabilities, and a community
model with sigmoid calibrators). Thousands of random patients -- random subsets of
fields, random values and spellings, some missing -- are predicted by the fast path
one at a time and compared bitwise with the normal path (validate, the model
matrix, ``Booster.predict``, ``explain``).
"""

from __future__ import annotations

import math
import threading
import warnings

import numpy as np
import pandas as pd
import pytest

import covid_risk.prediction._fastpath as fastpath
from covid_risk.exceptions import CalibrationWarning, DataQualityWarning
from covid_risk.explanation import explain
from covid_risk.labels import describe, format_value
from covid_risk.models import RiskModel, train
from covid_risk.prediction import _predict as api
from covid_risk.prediction._fastpath import FastPredictor, fast_predictor
from covid_risk.schema import COMMUNITY_PREDICTORS, FIELDS, PREDICTORS
from covid_risk.synthetic import make_cohort
from covid_risk.validation import parse_patient, validate

FAST = {"learning_rate": 0.1, "n_estimators": 300, "early_stopping_rounds": 20}


@pytest.fixture(scope="module")
def admission_model() -> RiskModel:
    """A small admission model with isotonic calibrators (coherence often steps in)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        return train(make_cohort(3000, random_state=21), random_state=0,
                     calibration="isotonic", **FAST)


@pytest.fixture(scope="module")
def community_model() -> RiskModel:
    """A small community model with sigmoid calibrators."""
    return train(make_cohort(6000, setting="community", random_state=22), setting="community",
                 random_state=0, calibration="sigmoid", **FAST)


@pytest.fixture
def serial(monkeypatch):
    """Keep explanations on the calling thread (faster on a busy test machine)."""
    monkeypatch.setattr(fastpath, "_idle_core", lambda: False)


# ------------------------------------------------------------------------ random patients
def _number_value(rng: np.random.Generator, name: str) -> object:
    f = FIELDS[name]
    lo, hi = f.plausible
    x = rng.uniform(lo, hi)
    if f.kind == "int":
        x = float(round(x))
        x = min(max(x, lo), hi)
        form = rng.integers(4)
        return [int(x), x, np.int64(int(x)), str(int(x))][form]
    x = round(x, int(rng.integers(0, 3)))
    x = min(max(x, lo), hi)
    form = rng.integers(6)
    return [x, x, np.float64(x), f"{x}", int(x) if float(int(x)) >= lo else x, x][form]


def _bool_value(rng: np.random.Generator) -> object:
    choices = [True, False, True, False, "yes", "No", " TRUE ", 1, 0, 0.0, np.True_, "n"]
    return choices[int(rng.integers(len(choices)))]


def _category_value(rng: np.random.Generator, name: str) -> object:
    cat = str(rng.choice(FIELDS[name].categories))
    form = int(rng.integers(5))
    if form == 1:
        cat = cat.upper()
    elif form == 2:
        cat = f" {cat.replace('_', ' ').title()} "
    elif form == 3:
        cat = cat.replace("_", "-")
    if name == "sex" and rng.random() < 0.15:
        cat = "M" if cat.strip().lower().startswith("m") else "f"
    return cat


def random_patients(n: int, setting: str, seed: int) -> list[dict]:
    """Patients with random subsets of fields, random plausible values and spellings."""
    rng = np.random.default_rng(seed)
    fields = [f for f in (PREDICTORS if setting == "admission" else COMMUNITY_PREDICTORS)
              if f not in ("age", "sex")]
    out = []
    for _ in range(n):
        p: dict[str, object] = {
            "age": float(round(rng.uniform(18, 105), int(rng.integers(0, 2)))),
            "sex": _category_value(rng, "sex"),
        }
        share = rng.uniform(0.1, 1.0)
        for name in fields:
            if rng.random() > share:
                continue
            r = rng.random()
            if r < 0.08:
                p[name] = None
            elif r < 0.1:
                p[name] = math.nan
            else:
                kind = FIELDS[name].kind
                if kind in ("float", "int"):
                    p[name] = _number_value(rng, name)
                elif kind == "bool":
                    p[name] = _bool_value(rng)
                else:
                    p[name] = _category_value(rng, name)
        if "diastolic_bp" in p and "systolic_bp" in p and rng.random() < 0.9:
            p.pop("diastolic_bp")  # keep most of them consistent
        out.append(p)
    return out


def _normal(patients: list[dict], model: RiskModel):
    """Run the normal path on all patients at once: flags, matrix, probabilities, explanations."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        data, report = validate(patients)
    X = model.model_matrix(data).to_numpy(dtype="float64")
    flagged = report.flags.to_numpy().any(axis=1)
    return flagged, X, model.predict_proba(data), explain(data, model=model)


def _check_equal(patients, model, *, top=5):
    """Compare the fast path with the normal path on every accepted patient; return counts."""
    fp = fast_predictor(model)
    assert fp is not None and not fp.disabled_reason
    flagged, X, proba, explained = _normal(patients, model)
    accepted = notes = factors = 0
    for i, patient in enumerate(patients):
        result = fp.predict_one(patient, explain=True, top=top)
        assert (result is None) == flagged[i]  # steps aside exactly for flagged records
        if result is None:
            continue
        accepted += 1
        np.testing.assert_array_equal(fp.row(result.values), X[i])
        for r in result.outcomes:
            ex = explained[r.outcome]
            assert r.probability == proba[r.outcome].iloc[i]  # bitwise
            assert r.probability == ex.probability[i]
            assert r.baseline_probability == ex.baseline_probability
            assert r.note == ex.coherence_note(i)
            notes += bool(r.note)
            pp = 100.0 * ex.probability_contributions[i]
            for direction, chosen in (("raises", r.raising), ("lowers", r.lowering)):
                sign = 1 if direction == "raises" else -1
                candidates = np.flatnonzero(sign * pp > 0)
                expect = candidates[np.argsort(-sign * pp[candidates], kind="stable")][:top]
                got = [fp.feature_names.index(f[0]) for f in chosen]
                assert sorted(got) == sorted(expect.tolist())
                for feature, text, value, unit, points in chosen:
                    j = fp.feature_names.index(feature)
                    assert points == pp[j]  # bitwise
                    if i % 4 == 0:
                        assert text == describe(feature, ex.values[i, j])
                        assert value == format_value(feature, ex.values[i, j])
                        assert unit == ex.units[j]
                assert [f[4] for f in chosen] == sorted((f[4] for f in chosen),
                                                        key=lambda v: -sign * v)
                factors += len(chosen)
    return accepted, notes, factors


# ------------------------------------------------------------------------------ equality
def test_admission_fast_path_equals_normal_path_on_2000_random_patients(admission_model, serial):
    """2,000+ random admitted patients: probabilities, baselines, factors, notes bitwise equal."""
    patients = random_patients(2400, "admission", seed=1)
    accepted, notes, factors = _check_equal(patients, admission_model)
    assert accepted >= 2000  # the fast path takes nearly all plausible records
    assert notes > 0  # some coherence notes were compared
    assert factors > 10_000


def test_community_fast_path_equals_normal_path_on_2000_random_patients(community_model, serial):
    """2,000+ random community patients (admission fields ignored by the model) compare equal."""
    patients = random_patients(2200, "community", seed=2)
    for p in patients[::3]:
        p["spo2"] = 95.0  # validated but not used by a community model
    accepted, _notes, factors = _check_equal(patients, community_model, top=3)
    assert accepted >= 2000
    assert factors > 4000


def test_predict_risk_fast_equals_normal_path_objects(admission_model, community_model):
    """predict_risk via the fast path returns the same RiskPrediction as the normal path."""
    for model, setting, seed in ((admission_model, "admission", 3),
                                 (community_model, "community", 4)):
        patients = [p for p in random_patients(12, setting, seed=seed) if parse_patient(p)]
        assert len(patients) >= 6
        for patient in patients[:6]:
            for explain_ in (False, True):
                fast = api.predict_risk(patient, model=model, setting=setting, explain=explain_)
                slow = api._predict_one(patient, model, setting, tuple(model.outcomes_),
                                        explain_, 5)
                assert fast == slow


def test_outcome_subset_and_top(admission_model):
    """A subset of outcomes in the caller's order, and top=1/0, match the normal path."""
    patient = {"age": 81, "sex": "female", "respiratory_rate": 30, "spo2": 88, "urea": 14}
    for outcomes, top in ((("vte", "death"), 1), (("deterioration",), 0), (("imv", "icu"), 2)):
        fast = api.predict_risk(patient, model=admission_model, outcomes=list(outcomes), top=top)
        slow = api._predict_one(patient, admission_model, "admission", outcomes, True, top)
        assert fast == slow
        assert fast.outcomes == outcomes


# ---------------------------------------------------------------------------- fallbacks
@pytest.mark.parametrize(
    "extra",
    [
        {"heart_rte": 80},  # unknown key
        {"respiratory_rate": 60},  # implausible (plausible 8-50)
        {"respiratory_rate": 95},  # impossible (hard 0-80)
        {"urea": "12,5"},  # decimal comma: validate parses it leniently
        {"spo2": " 93 "},  # surrounding spaces
        {"on_oxygen": 2},  # not yes/no
        {"smoking": "sometimes"},  # unknown category
        {"gcs": 14.5},  # not a whole number
        {"age": None},  # required
        {"systolic_bp": 100, "diastolic_bp": 100},  # diastolic not below systolic
        {"fio2": 0.4, "on_oxygen": False},  # FiO2 above room air without oxygen
        {"crp": True},  # a bool where a number belongs
        {"ethnicity": np.str_("white")},  # numpy string
        {"death": True},  # an outcome column
        {"age": math.inf},
    ],
)
def test_unusual_records_take_the_normal_path(admission_model, extra):
    """Anything unusual makes the fast path step aside (parse_patient and predict_one give None)."""
    patient = {"age": 70, "sex": "male", **extra}
    assert parse_patient(patient) is None
    assert fast_predictor(admission_model).predict_one(patient) is None


def test_fallback_keeps_normal_warnings_and_errors(admission_model):
    """Implausible values warn and unknown values raise exactly as the normal path does."""
    patient = {"age": 70, "sex": "male", "respiratory_rate": 60, "heart_rte": 80}
    with pytest.warns(DataQualityWarning):
        got = api.predict_risk(patient, model=admission_model)
    with pytest.warns(DataQualityWarning):
        want = api._predict_one(patient, admission_model, "admission",
                                tuple(admission_model.outcomes_), True, 5)
    assert got == want
    assert any("respiratory_rate" in w for w in got.warnings)
    assert any("heart_rte" in w for w in got.warnings)


def test_parse_limits_match_validate():
    """Values at the hard and plausible limits are accepted or refused as validate flags them."""
    cases = [
        ("respiratory_rate", 50.0, True), ("respiratory_rate", 50.000001, False),
        ("respiratory_rate", 8.0, True), ("respiratory_rate", 7.999, False),
        ("fio2", 0.21, True), ("fio2", 1.0, True), ("fio2", 1.0 + 5e-10, False),
        ("gcs", 3, True), ("gcs", 15.0, True), ("deprivation_quintile", 0, False),
        ("temperature", 34.0, True), ("temperature", 42.0, True), ("bmi", 14.99, False),
    ]
    for name, value, ok in cases:
        patient = {"age": 50.0, "sex": "female", name: value}
        parsed = parse_patient(patient)
        assert (parsed is not None) == ok, (name, value)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            try:
                data, report = validate(patient)
            except Exception:
                assert not ok
                continue
        clean = not report.implausible
        assert clean == ok, (name, value)
        if ok:
            assert parsed[name] == float(data[name].astype("float64").iloc[0])


def test_parse_spellings_and_types():
    """Lenient spellings the fast path handles give validate's canonical values."""
    patient = {
        "age": np.float32(70.5), "sex": "M", "ethnicity": " South-Asian ", "smoking": "NEVER",
        "on_oxygen": "Yes", "diabetes": 0, "asthma": np.False_, "gcs": np.int64(14),
        "urea": "7.5", "crp": "1e2", "days_since_onset": -0.0, "care_home": "na",
        "platelets": "NaN", "variant_period": "wild type", "dementia": 1.0, "bmi": None,
    }
    parsed = parse_patient(patient)
    data, report = validate(patient)
    assert report.ok
    want = {
        "age": 70.5, "sex": 1.0, "ethnicity": 1.0, "smoking": 0.0, "on_oxygen": 1.0,
        "diabetes": 0.0, "asthma": 0.0, "gcs": 14.0, "urea": 7.5, "crp": 100.0,
        "days_since_onset": 0.0, "care_home": math.nan, "platelets": math.nan,
        "variant_period": 0.0, "dementia": 1.0, "bmi": math.nan,
    }
    assert list(parsed) == list(want)
    for name, value in want.items():
        if math.isnan(value):
            assert math.isnan(parsed[name]), name
        else:
            assert parsed[name] == value, name
    assert math.copysign(1.0, parsed["days_since_onset"]) == 1.0  # -0.0 became 0.0
    assert data.loc[0, "ethnicity"] == "south_asian" and data.loc[0, "sex"] == "male"
    assert data.loc[0, "variant_period"] == "wild_type"


# ------------------------------------------------------------------------------ threads
def test_eight_threads_get_the_same_answers(admission_model):
    """Eight threads predicting at once (explanations included) get the single-thread answers."""
    patients = [p for p in random_patients(400, "admission", seed=5) if parse_patient(p)][:240]
    fp = fast_predictor(admission_model)
    expected = [fp.predict_one(p, explain=True) for p in patients]
    results: dict[int, list] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(t: int) -> None:
        try:
            barrier.wait()
            order = np.random.default_rng(t).permutation(len(patients))
            got = {int(i): fp.predict_one(patients[i], explain=bool((t + i) % 2)) for i in order}
            results[t] = [got[i] for i in range(len(patients))]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for t in range(8):
        for i, (got, want) in enumerate(zip(results[t], expected, strict=True)):
            if (t + i) % 2:
                assert got == want
            else:
                assert got.outcomes == tuple(
                    fastpath.FastOutcome(o.outcome, o.probability) for o in want.outcomes)


def test_explanations_split_over_two_threads_match_one_thread(admission_model, monkeypatch):
    """Sharing the TreeSHAP work with the helper thread changes nothing in the result."""
    patients = [p for p in random_patients(60, "admission", seed=6) if parse_patient(p)]
    fp = fast_predictor(admission_model)
    monkeypatch.setattr(fastpath, "EXPLAIN_THREADS", 1)
    fp._groups.clear()
    alone = [fp.predict_one(p, explain=True) for p in patients]
    monkeypatch.setattr(fastpath, "EXPLAIN_THREADS", 2)
    monkeypatch.setattr(fastpath, "PARALLEL_MIN_TREES", 0)
    monkeypatch.setattr(fastpath, "_idle_core", lambda: True)
    fp._groups.clear()
    here, there = fp._split(fp.outcomes, fp._needed_for(fp.outcomes))
    assert there and sorted(here + there) == sorted(fp.outcomes)  # really split, nothing lost
    calls = []
    original = fp._contrib_many
    monkeypatch.setattr(fp, "_contrib_many", lambda *a: calls.append(a[0]) or original(*a))
    shared = [fp.predict_one(p, explain=True) for p in patients]
    fp._groups.clear()
    assert len(calls) == len(patients) and set(calls[0]) == set(there)  # helper's share
    assert shared == alone


def test_idle_core_reads_the_load_average(monkeypatch):
    """The helper thread is used only while the load average is below the core count."""
    monkeypatch.setattr(fastpath, "_CORES", 2)
    for load, idle in ((0.4, True), (1.5, True), (2.0, False), (14.0, False)):
        monkeypatch.setattr(fastpath, "_LOAD_CHECK", [0.0, None])
        monkeypatch.setattr(fastpath.os, "getloadavg", lambda load=load: (load, load, load))
        assert fastpath._idle_core() is idle


# ---------------------------------------------------------------------- compile and cache
def test_cache_recompiles_when_boosters_change(admission_model):
    """The compiled predictor is cached per model and rebuilt when a booster is replaced."""
    fp = fast_predictor(admission_model)
    assert fast_predictor(admission_model) is fp
    old = admission_model.boosters_["vte"]
    try:
        admission_model.boosters_["vte"] = type(old)(model_str=old.model_to_string())
        assert fast_predictor(admission_model) is not fp
    finally:
        admission_model.boosters_["vte"] = old


def test_only_plain_risk_models_get_a_fast_path(admission_model):
    """Subclasses (which could change how probabilities are made) and other objects get None."""

    class Tweaked(RiskModel):
        pass

    tweaked = Tweaked()
    tweaked.__dict__.update(admission_model.__dict__)
    assert fast_predictor(tweaked) is None
    assert fast_predictor(object()) is None
    assert fast_predictor(RiskModel()) is None  # not fitted


def test_a_feature_without_a_row_recipe_disables_the_fast_path(admission_model):
    """A model feature the row recipe does not know switches the fast path off for that model."""
    model = RiskModel()
    model.__dict__.update(admission_model.__dict__)
    model.feature_names_ = (*admission_model.feature_names_[:-1], "pulse_pressure")
    fp = FastPredictor(model)
    assert "pulse_pressure" in fp.disabled_reason
    assert fp.predict_one({"age": 50, "sex": "male"}) is None
    assert "off" in repr(fp)
    assert fast_predictor(model).predict_one({"age": 50, "sex": "male"}) is None


def test_one_definition_behind_both_paths(admission_model):
    """The fast path's parser, row recipe and probabilities are the general path's own pieces."""
    from covid_risk import validation
    from covid_risk.features import derived, matrix

    fp = fast_predictor(admission_model)
    assert fastpath.parse_patient is validation.parse_patient
    assert fp.compiled is admission_model.compile()
    for j, one in fp._recipe._derived:
        name = fp.feature_names[j]
        assert one.__self__ is derived.DERIVED_DEFINITIONS[name]
    assert isinstance(fp._recipe, matrix.RowRecipe)


def test_sigmoid_calibrators_are_applied_together(admission_model, community_model):
    """All-sigmoid models calibrate every outcome in one array; isotonic ones one by one."""
    assert fast_predictor(community_model)._stack_sigmoid is True
    assert fast_predictor(admission_model)._stack_sigmoid is False
    fp = FastPredictor(community_model)
    patients = [p for p in random_patients(200, "community", seed=8) if parse_patient(p)]
    together = [fp.predict_one(p) for p in patients]
    fp._stack_sigmoid = False
    assert [fp.predict_one(p) for p in patients] == together


def test_repr_and_row_order(admission_model):
    """The repr names the setting; row() puts values at their model-matrix positions."""
    fp = fast_predictor(admission_model)
    assert repr(fp).startswith("FastPredictor(admission, 6 outcomes")
    row = fp.row({"age": 70.0, "sex": 1.0, "spo2": 94.0, "on_oxygen": 0.0})
    names = list(fp.feature_names)
    assert row[names.index("age")] == 70.0 and row[names.index("sex")] == 1.0
    assert row[names.index("spo2_fio2")] == 94.0 / 0.21
    assert row[names.index("comorbidity_count")] == 0.0
    assert np.isnan(row[names.index("urea")])
    frame = pd.DataFrame({"age": [70.0], "sex": ["male"], "spo2": [94.0],
                          "on_oxygen": pd.array([False], dtype="boolean")})
    np.testing.assert_array_equal(row, admission_model.model_matrix(frame).to_numpy()[0])


@pytest.mark.parametrize("setting", ["admission", "community"])
def test_bundled_view_equals_the_bundled_model_bit_for_bit(setting):
    """model=None answers a dict from the file's view; the loaded RiskModel gives the same bits."""
    from covid_risk.models import default_model

    full = default_model(setting)
    for i, patient in enumerate(random_patients(150, setting, seed=404)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            assert (api.predict_risk(patient, setting=setting, top=3)
                    == api.predict_risk(patient, setting=setting, model=full, top=3)), i
            assert (api.predict_risk(patient, setting=setting, explain=False)
                    == api.predict_risk(patient, setting=setting, model=full, explain=False)), i


def test_first_prediction_in_a_fresh_process_imports_no_lightgbm_or_sklearn():
    """The one-dict path with the bundled model compiles the booster texts in LightGBM's C
    library: neither the lightgbm package nor scikit-learn or scipy is imported."""
    import subprocess
    import sys

    code = ("import sys, covid_risk as cr\n"
            "p = cr.predict_risk({'age': 70, 'sex': 'male', 'spo2': 91})\n"
            "q = cr.predict_risk({'age': 30, 'sex': 'female'}, setting='community')\n"
            "print(0 < p['death'].probability < 1, 0 < q['death'].probability < 1,"
            " [m for m in ('lightgbm', 'sklearn', 'scipy') if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split("\n")[0] == "True True []"
