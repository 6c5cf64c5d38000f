"""Tests of covid_risk.retrain: gates config, gate checks, outputs, exit codes, CLI glue."""

from __future__ import annotations

import argparse
import contextlib
import io
import json

import pytest

from covid_risk.cli import retrain as retrain_cli
from covid_risk.exceptions import CovidRiskError
from covid_risk.retraining import (
    EXIT_GATE_FAILED,
    EXIT_OK,
    GATES,
    GateConfig,
    RetrainError,
    check_gates,
    derived_seeds,
    load_gates,
    retrain,
)

# Small cohorts keep the tests fast; the permissive config makes the passing case robust
# to the noise of a 2,000-patient model, the default config must reject a 500-patient one.
PERMISSIVE = {
    "description": "test thresholds",
    "defaults": {
        "min_auroc": 0.6,
        "calibration_slope": [0.5, 1.6],
        "calibration_intercept": [-0.6, 0.6],
        "max_auroc_loss_vs_baseline": 0.1,
        "max_mae_to_truth": 0.2,
    },
}
SMALL = {"n_train": 2000, "n_eval": 1500, "outcomes": ("death", "deterioration"),
         "n_bootstrap": 20, "importance_rows": 100, "quiet": True}


@pytest.fixture(scope="module")
def passed(tmp_path_factory):
    out = tmp_path_factory.mktemp("retrain_pass")
    return retrain(scenario="wild_type_2020", seed=1, out=out, config=PERMISSIVE, **SMALL)


@pytest.fixture(scope="module")
def shifted(tmp_path_factory, passed):
    out = tmp_path_factory.mktemp("retrain_shift")
    return retrain(scenario="omicron_2022", seed=2, out=out, baseline=passed.model_path,
                   config=PERMISSIVE, **SMALL)


@pytest.fixture(scope="module")
def failed(tmp_path_factory):
    """The degraded run goes through ``covid-risk retrain``, with a stale model in the folder."""
    from covid_risk.cli import main

    out = tmp_path_factory.mktemp("retrain_fail")
    (out / "model.crmodel").write_text("stale model from an earlier run")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["retrain", "--seed", "3", "--n-train", "500", "--n-eval", "1500",
                     "--outcomes", "death,icu", "--n-bootstrap", "0", "--out", str(out),
                     "--quiet"])
    return code, out, printed.getvalue()


# ----------------------------------------------------------------------------- config
def test_packaged_and_repo_configs_are_valid_and_repo_is_not_laxer():
    """Both gate files parse; the repo's CI thresholds are at least as strict as the defaults."""
    from pathlib import Path

    packaged = load_gates()
    assert packaged.source == "packaged defaults"
    assert set(packaged.defaults) == set(GATES)
    repo_file = Path(__file__).resolve().parents[1] / "config" / "retrain_gates.json"
    repo = load_gates(repo_file)
    outcomes = ("death", "icu", "imv", "deterioration", "aki", "vte", "hospitalisation")
    for o in outcomes:
        a, b = packaged.for_outcome(o), repo.for_outcome(o)
        assert b["min_auroc"] >= a["min_auroc"], o
        assert b["max_mae_to_truth"] <= a["max_mae_to_truth"], o
        assert b["max_auroc_loss_vs_baseline"] <= a["max_auroc_loss_vs_baseline"], o
        for g in ("calibration_slope", "calibration_intercept"):
            assert a[g][0] <= b[g][0] <= b[g][1] <= a[g][1], (o, g)


def test_overrides_and_switched_off_gates():
    """Per-outcome values override defaults; null switches a gate off."""
    cfg = load_gates({"defaults": {**PERMISSIVE["defaults"], "max_mae_to_truth": None},
                      "outcomes": {"vte": {"min_auroc": 0.55}}})
    assert cfg.for_outcome("vte")["min_auroc"] == 0.55
    assert cfg.for_outcome("death")["min_auroc"] == 0.6
    assert cfg.for_outcome("death")["max_mae_to_truth"] is None
    assert load_gates(cfg) is cfg
    assert isinstance(cfg, GateConfig) and cfg.to_dict()["outcomes"] == {"vte": {"min_auroc": 0.55}}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"defaults": {**PERMISSIVE["defaults"], "min_aurok": 0.7}}, "unknown gate.*'min_aurok'"),
        ({"defaults": {"min_auroc": 0.7}}, "defaults lack calibration_slope"),
        ({"defaults": {**PERMISSIVE["defaults"], "calibration_slope": [1.2, 0.8]}},
         r"\[low, high\] pair"),
        ({"defaults": {**PERMISSIVE["defaults"], "min_auroc": "0.7"}}, "must be a number"),
        ({**PERMISSIVE, "outcomes": {"ards": {"min_auroc": 0.7}}}, "'ards' not an outcome"),
        ({**PERMISSIVE, "thresholds": {}}, "unknown key"),
        ([], "must be a JSON object"),
    ],
)
def test_bad_configs_name_the_problem(doc, message):
    """Each malformed config raises RetrainError naming the key and what is allowed."""
    with pytest.raises(RetrainError, match=message):
        load_gates(doc)


def test_config_file_errors(tmp_path):
    """A missing or non-JSON config file is a RetrainError (the CLI's exit 2)."""
    with pytest.raises(RetrainError, match="does not exist"):
        load_gates(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{defaults: }")
    with pytest.raises(RetrainError, match="not valid JSON"):
        load_gates(bad)
    good = tmp_path / "gates.json"
    good.write_text(json.dumps(PERMISSIVE))
    assert load_gates(good).source == "gates.json"


def test_derived_seeds_are_fixed_and_distinct():
    """Seeds are SeedSequence children: stable for a seed, different between cohorts."""
    import numpy as np

    s = derived_seeds(1)
    assert s == derived_seeds(1)
    assert s["train_cohort"] == int(np.random.SeedSequence(1).spawn(5)[0].generate_state(1)[0])
    assert len(set(s.values())) == 5
    assert derived_seeds(2)["train_cohort"] != s["train_cohort"]
    with pytest.raises(RetrainError, match="seed=-1"):
        derived_seeds(-1)


# ----------------------------------------------------------------------------- passing run
def test_passing_run_writes_accepted_model_and_exit_0(passed):
    """All gates pass: exit 0, model.crmodel (loadable), no rejected file, every output."""
    import covid_risk

    assert passed.passed and passed.exit_code == EXIT_OK == 0
    assert passed.model_path.name == "model.crmodel"
    names = sorted(p.name for p in passed.out.iterdir())
    assert names == ["MODEL_CARD.md", "gates.json", "metrics.json", "model.crmodel",
                     "report.html"]
    model = covid_risk.load(passed.model_path)
    assert model.outcomes_ == ("death", "deterioration")
    assert repr(passed).startswith("RetrainResult(accepted: 8/8 gates passed; exit 0")
    summary = passed.summary
    assert list(summary.columns) == ["gate", "outcome", "threshold", "value", "status", "note"]
    assert summary["status"].value_counts().to_dict() == {"pass": 8, "skipped": 2}
    assert passed.failed == () and set(passed.files) == {"model", "gates", "metrics", "report",
                                                         "model_card"}


def test_gates_json_lists_every_gate_with_value_and_threshold(passed):
    """gates.json has each gate and outcome with the evaluation's own numbers."""
    doc = json.loads((passed.out / "gates.json").read_text())
    assert doc["passed"] is True and doc["exit_code"] == 0 and doc["status"] == "accepted"
    assert doc["model_file"] == "model.crmodel" and doc["config"] == "gates config"
    assert (doc["n_gates"], doc["n_failed"], doc["n_skipped"]) == (8, 0, 2)
    by_key = {(g["gate"], g["outcome"]): g for g in doc["gates"]}
    assert set(by_key) == {(g, o) for g in GATES for o in ("death", "deterioration")}
    ev = passed.evaluation
    death = by_key[("min_auroc", "death")]
    assert death["value"] == pytest.approx(ev["death"]["auroc"]) and death["threshold"] == 0.6
    slope = by_key[("calibration_slope", "deterioration")]
    assert slope["value"] == pytest.approx(ev["deterioration"]["calibration_slope"])
    assert slope["threshold"] == [0.5, 1.6]
    mae = by_key[("max_mae_to_truth", "death")]
    assert mae["value"] == pytest.approx(ev["death"]["mae_true"])
    skipped = by_key[("max_auroc_loss_vs_baseline", "death")]
    assert skipped["passed"] is None and skipped["note"] == "no baseline model given"


def test_metrics_json_holds_evaluation_drift_sizes_seeds_timings(passed):
    """metrics.json = evaluation.to_dict() plus drift, sizes, seeds and timings."""
    doc = json.loads((passed.out / "metrics.json").read_text())
    assert doc["evaluation"]["outcomes"] == ["death", "deterioration"]
    assert doc["evaluation"]["n"] == 1500
    assert doc["sizes"]["n_train"] == 2000 and doc["sizes"]["n_eval"] == 1500
    assert doc["seeds"] == derived_seeds(1)
    assert doc["scenario"] == "wild_type_2020" and doc["status"] == "accepted"
    assert doc["timings_seconds"]["total"] >= doc["timings_seconds"]["train"] > 0
    assert doc["drift"]["verdict"] == "none"  # training vs evaluation cohort of one scenario
    assert doc["drift"]["reference"] == "the new training cohort"
    assert doc["baseline"] is None


def test_cohorts_come_from_the_derived_seeds(passed):
    """The model was trained on make_cohort(n_train, random_state=seeds['train_cohort'])."""
    meta = passed.model.metadata_["training_cohort"]
    assert meta["seed"] == derived_seeds(1)["train_cohort"]
    assert meta["n_rows"] == 2000 and meta["scenario"] == "wild_type_2020"


def test_report_has_model_card_gates_and_drift(passed):
    """report.html holds the model card, a gates section and a drift section, self-contained."""
    page = (passed.out / "report.html").read_text()
    for anchor in ('id="model_card"', 'id="retrain_gates"', 'id="drift"', 'id="tripod"'):
        assert anchor in page
    assert page.index('id="retrain_gates"') < page.index('id="tripod"')
    assert page.index('href="#drift"') < page.index('href="#tripod"')
    assert "Accepted." in page and "REJECTED" not in page
    assert "http://" not in page and "https://" not in page
    card = (passed.out / "MODEL_CARD.md").read_text()
    assert card.startswith("#")


def test_check_gates_on_a_real_evaluation(passed):
    """Strict thresholds fail exactly where the evaluation's numbers miss them."""
    ev = passed.evaluation
    auroc = ev["death"]["auroc"]
    strict = {"defaults": {"min_auroc": auroc + 0.001, "calibration_slope": None,
                           "calibration_intercept": None, "max_auroc_loss_vs_baseline": None,
                           "max_mae_to_truth": None},
              "outcomes": {"deterioration": {"min_auroc": 0.5}}}
    results = check_gates(ev, strict)
    assert [(g.outcome, g.passed) for g in results] == [("death", False), ("deterioration", True)]
    assert results[0].value == pytest.approx(auroc)
    assert results[0].describe().endswith("fail")


# ----------------------------------------------------------------------------- baseline
def test_baseline_gate_is_the_paired_auroc_loss(shifted):
    """With a baseline, the loss gate is baseline AUROC minus new AUROC on the same rows."""
    ev = shifted.evaluation
    assert ev.baselines == ("current model",)
    for g in (g for g in shifted.gates if g.gate == "max_auroc_loss_vs_baseline"):
        base = ev.results["current model"][g.outcome]["auroc"]
        new = ev[g.outcome]["auroc"]
        assert g.value == pytest.approx(base - new)
        assert g.value == pytest.approx(ev.comparison.loc[(g.outcome, "current model"),
                                                          "delta_auroc"])
        assert g.passed is (g.value <= 0.1) and "paired 95% CI" in g.note
    doc = json.loads((shifted.out / "metrics.json").read_text())
    assert doc["baseline"]["training_cohort"]["scenario"] == "wild_type_2020"


def test_drift_against_the_regenerated_baseline_cohort(shifted, passed):
    """Drift compares the baseline's regenerated training cohort with the Omicron one."""
    d = shifted.drift
    assert d.n_reference == 2000 and d.n_current == 2000
    assert {"variant_period", "vaccine_doses", "days_since_vaccination"} <= set(d.drifted)
    assert d.features.at["sex", "verdict"] == "none"
    doc = json.loads((shifted.out / "metrics.json").read_text())
    assert doc["drift"]["note"] == ""  # event counts matched the baseline's metadata
    assert "regenerated" in doc["drift"]["reference"]
    assert doc["drift"]["verdict"] == "major"


def test_baseline_errors(tmp_path, passed):
    """A missing baseline file or one of another setting is a RetrainError before any work."""
    with pytest.raises(RetrainError, match="does not exist"):
        retrain(out=tmp_path / "x", baseline=tmp_path / "none.crmodel", n_train=100, n_eval=100)
    with pytest.raises(RetrainError, match="'admission' setting but the retrain is for"):
        retrain(out=tmp_path / "x", baseline=passed.model_path, setting="community")
    assert not (tmp_path / "x").exists()


# ----------------------------------------------------------------------------- failing run
def test_tiny_training_cohort_fails_with_exit_3(failed):
    """500 training patients under the default gates: exit 3, model written as rejected."""
    code, out, _ = failed
    assert code == EXIT_GATE_FAILED == 3
    assert (out / "model.rejected.crmodel").is_file()
    assert not (out / "model.crmodel").exists()  # the stale accepted model was removed
    doc = json.loads((out / "gates.json").read_text())
    assert doc["passed"] is False and doc["exit_code"] == 3 and doc["status"] == "rejected"
    assert doc["model_file"] == "model.rejected.crmodel"
    assert doc["config"] == "packaged defaults"
    failing = {(g["gate"], g["outcome"]) for g in doc["gates"] if g["passed"] is False}
    assert doc["n_failed"] == len(failing) > 0
    for g in doc["gates"]:
        if g["passed"] is False and g["value"] is not None and g["gate"] == "min_auroc":
            assert g["value"] < g["threshold"]
    assert ("max_mae_to_truth", "death") in failing
    page = (out / "report.html").read_text()
    assert "REJECTED by the retraining gates" in page


def test_cli_prints_each_gate_and_verdict(failed):
    """The command prints one line per gate, then the rejected verdict naming the file."""
    code, out, printed = failed
    lines = printed.strip().splitlines()
    doc = json.loads((out / "gates.json").read_text())
    assert len(lines) == len(doc["gates"]) + 1
    first = doc["gates"][0]
    assert lines[0] == (f"min_auroc/death: {first['value']:.4f} (needs >= "
                        f"{first['threshold']:g}) {first['status']}")
    assert lines[-1].startswith(f"rejected: {doc['n_failed']} gate(s) failed; model written to ")
    assert lines[-1].endswith("model.rejected.crmodel (not for deployment)")


# ----------------------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scenario": "beta_2021"}, "scenario='beta_2021' is not one of"),
        ({"setting": "icu"}, "setting='icu' is not one of"),
        ({"n_train": 10}, "n_train=10 is not allowed"),
        ({"n_eval": 2.5}, "n_eval=2.5 is not allowed"),
        ({"n_bootstrap": -1}, "n_bootstrap=-1"),
        ({"outcomes": ["hospitalisation"]}, "'hospitalisation'.*admission setting"),
        ({"config": {"defaults": {}}}, "defaults lack"),
    ],
)
def test_bad_arguments_raise_before_any_work(tmp_path, kwargs, message):
    """Bad arguments raise RetrainError (a CovidRiskError: the CLI exits 2) and write nothing."""
    with pytest.raises(RetrainError, match=message):
        retrain(out=tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_retrain_error_maps_to_usage_exit(tmp_path, capsys):
    """RetrainError is one of the CLI's usage errors: exit 2 with one line, nothing written."""
    from covid_risk.cli import USAGE_ERRORS, main

    err = RetrainError("x")
    assert isinstance(err, CovidRiskError) and isinstance(err, ValueError)
    assert isinstance(err, USAGE_ERRORS)
    out = tmp_path / "out"
    assert main(["retrain", "--scenario", "beta_2021", "--out", str(out)]) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("covid-risk: error: scenario='beta_2021' is not one of ")
    assert "\n" not in message and not out.exists()


def test_out_must_be_a_folder(tmp_path):
    """An existing file as --out is refused."""
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(RetrainError, match="is a file"):
        retrain(out=f)


def test_workflow_runs_a_command_the_parser_accepts():
    """The scheduled workflow's retrain command parses, and its config and baseline exist."""
    import re
    import shlex
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    text = (root / ".github" / "workflows" / "retrain.yml").read_text()
    assert re.search(r'cron: "[0-9*/, -]+"', text) and "upload-artifact" in text
    command = re.search(r"covid-risk retrain \\\n(.*?--quiet)", text, re.S).group(1)
    argv = shlex.split(command.replace("\\\n", " ").replace('"$SCENARIO"', "wild_type_2020")
                       .replace('"$SEED"', "7").replace('"$OUT"', "retrain-out"))
    parser = argparse.ArgumentParser()
    retrain_cli.add_arguments(parser)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    assert (args.seed, args.out, args.quiet) == (7, "retrain-out", True)
    assert load_gates(root / args.config).source == "retrain_gates.json"
    assert (root / args.baseline).is_file()
