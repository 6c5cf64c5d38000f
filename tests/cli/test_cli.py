"""Tests of the ``covid-risk`` command line, run in-process through ``main(argv)``."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

import covid_risk.cli.scores as cli_scores
from covid_risk import progress
from covid_risk.cli import COMMANDS, main
from covid_risk.cli._io import (
    CliError,
    TableWriter,
    parse_mapping,
    read_table,
    to_jsonable,
    write_table,
)


class _TTY(io.StringIO):
    """A string buffer that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("covid-risk: error:")]
    assert len(errors) == 1, err
    assert "Traceback" not in err
    return errors[0]


# --------------------------------------------------------------------------- parser
@pytest.mark.parametrize("name", [c.name for c in COMMANDS])
def test_every_subcommand_help_exits_0_with_examples(name, capsys):
    """Each subcommand's --help exits 0 and shows usage and an example."""
    assert main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: covid-risk {name}")
    assert f"covid-risk {name} " in out.split("examples:")[1]


def test_top_level_help_lists_every_command(capsys):
    """The top-level --help lists all six subcommands."""
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("cohort", "train", "evaluate", "predict", "explain", "scores"):
        assert f"    {name} " in out


def test_version(capsys):
    """--version prints the package version and exits 0."""
    from covid_risk import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"covid-risk {__version__}"


def test_no_command_is_bad_usage(capsys):
    """Running without a subcommand exits 2 and names the commands."""
    assert main([]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "cohort, train, evaluate, predict, explain, scores" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["bogus"],
        ["cohort", "--n", "0", "--out", "x.csv"],
        ["cohort", "--n", "ten", "--out", "x.csv"],
        ["cohort", "--setting", "icu", "--out", "x.csv"],
        ["cohort"],  # --out is required
        ["evaluate", "c.csv", "--bootstrap", "-1"],
        ["predict", "p.csv", "--top", "0"],
        ["retrain", "--n-train", "0", "--out", "x"],
        ["retrain", "--seed", "-1", "--out", "x"],
    ],
)
def test_argparse_errors_exit_2(argv, capsys):
    """Malformed arguments exit 2 with argparse's one-line message."""
    assert main(argv) == 2
    _one_error_line(capsys.readouterr().err)


def test_global_flags_work_before_and_after_the_subcommand(monkeypatch):
    """--quiet and --debug are accepted on either side of the subcommand."""
    seen = []
    monkeypatch.setattr(cli_scores, "run", lambda args: seen.append((args.quiet, args.debug)))
    assert main(["--quiet", "scores", "x.csv"]) == 0
    assert main(["scores", "x.csv", "--quiet", "--debug"]) == 0
    assert main(["scores", "x.csv"]) == 0
    assert seen == [(True, False), (True, True), (False, False)]


# --------------------------------------------------------------------------- error handling
def test_internal_error_exits_1_with_debug_hint(monkeypatch, capsys):
    """An unexpected exception exits 1 with one error line and the --debug hint."""

    def boom(args):
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(cli_scores, "run", boom)
    assert main(["scores", "x.csv"]) == 1
    err = capsys.readouterr().err
    line = _one_error_line(err)
    assert line == "covid-risk: error: internal error (RuntimeError): something broke"
    assert "run with --debug for the traceback" in err


def test_debug_reraises(monkeypatch):
    """With --debug the original exception propagates."""

    def boom(args):
        raise RuntimeError("broke")

    monkeypatch.setattr(cli_scores, "run", boom)
    with pytest.raises(RuntimeError, match="broke"):
        main(["--debug", "scores", "x.csv"])


def test_validation_error_with_many_problems_is_one_line(monkeypatch, capsys):
    """A ValidationError listing many problems is folded onto one line."""
    from covid_risk.exceptions import Problem, ValidationError

    problems = [Problem("age", f"age {v} is impossible", row=i, value=v)
                for i, v in enumerate([150, -1, 200, 300, 999])]

    def bad(args):
        raise ValidationError(problems)

    monkeypatch.setattr(cli_scores, "run", bad)
    assert main(["scores", "x.csv"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line == (
        "covid-risk: error: 5 problems in the input: row 0: age 150 is impossible; "
        "row 1: age -1 is impossible; row 2: age 200 is impossible; and 2 more"
    )


def test_missing_input_file_exits_2(tmp_path, capsys):
    """A missing input file is bad input: exit 2, one line naming the file."""
    missing = tmp_path / "nope.csv"
    assert main(["scores", str(missing)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "nope.csv" in line and "does not exist" in line


def test_unknown_extension_exits_2(tmp_path, capsys):
    """An input that is neither CSV nor Parquet is refused with the accepted extensions."""
    path = tmp_path / "patients.xlsx"
    path.write_text("x")
    assert main(["scores", str(path)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "'.xlsx'" in line and ".csv, .parquet" in line


def test_warnings_are_printed_once_as_one_line(monkeypatch, capsys):
    """Warnings raised by the library are shown once each, without file paths."""
    import warnings

    from covid_risk.exceptions import DataQualityWarning

    def warn(args):
        for _ in range(3):
            warnings.warn("spo2 55 is implausible\n(kept)", DataQualityWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(cli_scores, "run", warn)
    assert main(["scores", "x.csv"]) == 0
    err = capsys.readouterr().err
    assert err == "covid-risk: warning: spo2 55 is implausible (kept)\n"


# --------------------------------------------------------------------------- I/O helpers
def test_parse_mapping_and_errors():
    """NAME=VALUE lists parse with spaces trimmed; malformed items name the option."""
    assert parse_mapping("Old name=age, Sex = sex,", option="--columns") == {
        "Old name": "age", "Sex": "sex"}
    assert parse_mapping(None, option="--units") == {}
    with pytest.raises(CliError, match="--units: cannot read 'urea'"):
        parse_mapping("urea", option="--units")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_round_trip(tmp_path, suffix):
    """A table written in chunks reads back with the same values."""
    path = tmp_path / f"t{suffix}"
    with TableWriter(path) as w:
        w.write(pd.DataFrame({"a": [1.5, None], "b": ["x", "y"]}))
        w.write(pd.DataFrame({"a": [3.0], "b": ["z"]}))
    back = read_table(path)
    assert back["b"].tolist() == ["x", "y", "z"]
    assert back["a"].iloc[0] == 1.5 and pd.isna(back["a"].iloc[1]) and back["a"].iloc[2] == 3.0
    assert w.rows == 3


def test_write_table_to_missing_folder_is_bad_usage(tmp_path):
    """Writing into a folder that does not exist is refused up front."""
    with pytest.raises(CliError, match="does not exist"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "no" / "t.csv")


def test_to_jsonable_handles_numpy_and_missing():
    """numpy scalars become plain numbers and NaN/NA become null."""
    import numpy as np

    doc = {"p": np.float64(0.25), "n": np.int64(3), "b": np.bool_(True),
           "nan": float("nan"), "na": pd.NA, "arr": np.array([1.0, np.inf])}
    assert json.loads(json.dumps(to_jsonable(doc))) == {
        "p": 0.25, "n": 3, "b": True, "nan": None, "na": None, "arr": [1.0, None]}


# --------------------------------------------------------------------------- progress
def test_progress_draws_on_a_terminal_only():
    """The bar draws on a TTY, stays silent on a pipe or with quiet=True."""
    tty, pipe, quiet = _TTY(), io.StringIO(), _TTY()
    for stream, q in ((tty, False), (pipe, False), (quiet, True)):
        with progress.Progress(4, desc="steps", stream=stream, quiet=q, min_interval=0) as bar:
            for _ in range(4):
                bar.update()
    assert pipe.getvalue() == "" and quiet.getvalue() == ""
    final = tty.getvalue().split("\r")[-1]
    assert final.startswith("[" + "#" * 30 + "] 4/4 steps")
    assert final.endswith("\n")


def test_track_yields_items_unchanged():
    """track() passes every item through and counts them."""
    stream = _TTY()
    assert list(progress.track(range(3), desc="x", stream=stream)) == [0, 1, 2]
    assert "3/3 x" in stream.getvalue()


def test_stage_reports_done_or_failed():
    """stage() ends its line with 'done in' or 'failed', and is silent when quiet."""
    ok, bad, quiet = _TTY(), _TTY(), _TTY()
    with progress.stage("work", stream=ok, interval=0.01):
        pass
    with pytest.raises(ValueError), progress.stage("work", stream=bad, interval=0.01):
        raise ValueError("x")
    with progress.stage("work", stream=quiet, quiet=True):
        pass
    assert ok.getvalue().split("\r")[-1].startswith("work done in ")
    assert bad.getvalue().split("\r")[-1] == "work failed\x1b[K\n"
    assert quiet.getvalue() == ""


# --------------------------------------------------------------------------- scores
_PATIENTS = """\
pid,age,sex,respiratory_rate,spo2,urea,gcs,crp,chronic_cardiac,systolic_bp,diastolic_bp,heart_rate,temperature,on_oxygen
a,81,male,31,91,12,15,120,yes,95,60,110,38.5,no
b,45,female,16,98,4,15,5,no,130,80,70,36.8,no
"""


@pytest.fixture
def patients_csv(tmp_path):
    path = tmp_path / "patients.csv"
    path.write_text(_PATIENTS)
    return path


def test_scores_to_stdout_match_hand_computed(patients_csv, capsys):
    """Scores of two hand-scored patients: 4C 16/0, CURB-65 4/0, NEWS2 10/0, qSOFA 2/0."""
    assert main(["scores", str(patients_csv), "--id", "pid"]) == 0
    captured = capsys.readouterr()
    out = pd.read_csv(io.StringIO(captured.out))
    assert out["pid"].tolist() == ["a", "b"]
    assert out["four_c_mortality"].tolist() == [16, 0]
    assert out["curb65"].tolist() == [4, 0]
    assert out["news2"].tolist() == [10, 0]
    assert out["qsofa"].tolist() == [2, 0]
    assert captured.err == ""  # the id column is not reported as unknown


def test_scores_to_parquet_with_units_and_column_mapping(patients_csv, tmp_path, capsys):
    """--units converts BUN in mg/dL (40 -> 14.3 mmol/L, 3 points) and --columns renames."""
    text = _PATIENTS.replace("urea", "BUN").replace(",12,15,", ",40,15,")
    src = tmp_path / "us.csv"
    src.write_text(text)
    out = tmp_path / "scores.parquet"
    argv = ["scores", str(src), "--columns", "BUN=urea", "--units", "urea=mg/dL BUN",
            "--id", "pid", "--out", str(out)]
    assert main(argv) == 0
    assert "wrote clinical scores for 2 patients" in capsys.readouterr().out
    scores = pd.read_parquet(out)
    assert scores["four_c_mortality"].tolist() == [18, 0]


def test_scores_impossible_age_exits_2(patients_csv, tmp_path, capsys):
    """An impossible age in the CSV is bad input: exit 2, one line naming field, value and row."""
    bad = tmp_path / "bad.csv"
    bad.write_text(_PATIENTS.replace("\nb,45,", "\nb,181,"))
    assert main(["scores", str(bad), "--id", "pid"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "'age'" in line and "181" in line and "row 1" in line and "120" in line


def test_scores_unknown_mapping_target_exits_2(patients_csv, capsys):
    """A --columns target that is not a field exits 2 and suggests the close match."""
    assert main(["scores", str(patients_csv), "--columns", "pid=agee"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line == ("covid-risk: error: --columns: 'agee' is not a field of the patient "
                    "record; did you mean 'age'?")


# --------------------------------------------------------------------------- the full chain
def _run(argv):
    """Run main(argv) capturing stdout and stderr (usable outside capsys fixtures)."""
    from contextlib import redirect_stderr, redirect_stdout

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """cohort (Parquet and CSV) -> train with fast settings, once for the module."""
    d = tmp_path_factory.mktemp("chain")
    runs = {
        "cohort": _run(["cohort", "--n", 2000, "--seed", 1, "--out", d / "train.parquet"]),
        "cohort_csv": _run(["cohort", "--n", 600, "--seed", 8, "--out", d / "test.csv", "-q"]),
        "train": _run(["train", d / "train.parquet", "--outcomes", "death,icu", "--seed", 0,
                       "--n-estimators", 40, "--learning-rate", 0.1,
                       "--out", d / "model.crmodel", "--quiet"]),
    }
    return d, runs


@pytest.fixture(scope="module")
def chain_model(chain):
    import covid_risk

    d, _ = chain
    return covid_risk.load(d / "model.crmodel")


@pytest.fixture(scope="module")
def eval_cohort(chain):
    import warnings

    from covid_risk.cli._common import read_cohort

    d, _ = chain
    with warnings.catch_warnings():  # the generator's implausible values are flagged
        warnings.simplefilter("ignore")
        return read_cohort(d / "test.csv")


def test_cohort_writes_parquet_and_csv(chain):
    """cohort writes the requested rows with outcomes and true risks, by extension."""
    import covid_risk

    d, runs = chain
    code, out, err = runs["cohort"]
    assert code == 0 and err == ""
    train = covid_risk.load_cohort(d / "train.parquet")
    assert out.startswith(f"wrote 2000 admission records ({train.shape[1]} columns) to ")
    assert len(train) == 2000 and "true_risk_death" in train.columns
    assert train["death"].dtype == "boolean"
    code, out, _ = runs["cohort_csv"]
    assert code == 0 and out.startswith("wrote 600 admission records")
    csv = pd.read_csv(d / "test.csv")
    assert len(csv) == 600 and "icu" in csv.columns


def test_cohort_same_seed_same_data(chain, tmp_path):
    """The same --seed gives the same cohort; death rate printed matches the file."""
    import covid_risk

    d, runs = chain
    code, out, _ = _run(["cohort", "--n", 2000, "--seed", 1, "--out", tmp_path / "again.parquet"])
    assert code == 0
    first = covid_risk.load_cohort(d / "train.parquet")
    pd.testing.assert_frame_equal(first, covid_risk.load_cohort(tmp_path / "again.parquet"))
    assert f"death {first['death'].mean():.1%}" in out


def test_train_prints_held_out_metrics(chain, chain_model):
    """train saves a loadable model and prints the held-out metrics of its 15% split."""
    _, runs = chain
    code, out, err = runs["train"]
    assert code == 0, err
    assert chain_model.outcomes_ == ("death", "icu")
    lines = out.splitlines()
    assert lines[0].startswith("trained a model (admission setting) for death, icu on 2000")
    assert lines[1] == "held-out metrics:"
    held = chain_model.held_out_
    assert int(held.loc["death", "n"]) == 500  # the calibration split: 25% of 2000 rows
    death_row = next(ln for ln in lines if ln.startswith("death "))
    assert f"{held.loc['death', 'auroc']:.3f}" in death_row


def test_evaluate_prints_summary_and_writes_reports(chain, chain_model, eval_cohort, tmp_path):
    """evaluate's printed and JSON AUROC equal scikit-learn's on the model's predictions."""
    from sklearn.metrics import roc_auc_score

    d, _ = chain
    html, js = tmp_path / "report.html", tmp_path / "metrics.json"
    code, out, err = _run(["evaluate", "--model", d / "model.crmodel", d / "test.csv",
                           "--bootstrap", 0, "--report", html, "--json", js, "--quiet",
                           "--baselines", d / "train.parquet"])
    assert code == 0, err
    p = chain_model.predict_proba(eval_cohort)
    expected = roc_auc_score(eval_cohort["death"].astype(bool), p["death"])
    auroc_line = next(ln for ln in out.splitlines() if ln.startswith("death") and "auroc" in ln)
    assert f"{expected:.3f}" in auroc_line
    doc = json.loads(js.read_text())
    got = doc["results"][doc["model"]]["death"]["metrics"]["auroc"]["estimate"]
    assert got == pytest.approx(expected, abs=1e-12)
    four_c = doc["results"]["4c_mortality"]["death"]["metrics"]["auroc"]["estimate"]
    four_c_line = next(ln for ln in out.splitlines() if ln.lstrip().startswith("4c_mortality"))
    assert four_c_line.split()[1] == f"{four_c:.3f}"
    assert html.read_text().lstrip().lower().startswith("<!doctype html")
    assert f"wrote report to {html}" in out


def test_evaluate_unknown_outcome_is_bad_usage(chain, capsys):
    """Asking evaluate for an outcome the model does not predict exits 2."""
    d, _ = chain
    assert main(["evaluate", "--model", str(d / "model.crmodel"), str(d / "test.csv"),
                 "--outcomes", "aki", "--bootstrap", "0"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "does not predict aki" in line


def test_predict_file_matches_model(chain, chain_model, eval_cohort, tmp_path):
    """predict on a CSV writes the model's exact probabilities with the id column first."""
    d, _ = chain
    out_path = tmp_path / "risks.parquet"
    code, out, err = _run(["predict", d / "test.csv", "--model", d / "model.crmodel",
                           "--id", "patient_id", "--out", out_path])
    assert code == 0, err
    assert out == f"wrote 600 predictions to {out_path}\n"
    risks = pd.read_parquet(out_path)
    assert list(risks.columns[:3]) == ["patient_id", "death", "death_band"]
    expected = chain_model.predict_proba(eval_cohort)
    assert risks["patient_id"].tolist() == eval_cohort.index.tolist()
    assert risks["death"].to_numpy() == pytest.approx(expected["death"].to_numpy(), abs=1e-12)
    assert risks["icu"].to_numpy() == pytest.approx(expected["icu"].to_numpy(), abs=1e-12)


def test_predict_to_stdout_csv(chain, patients_csv, capsys):
    """Without --out, predictions go to standard output as CSV."""
    d, _ = chain
    assert main(["predict", str(patients_csv), "--model", str(d / "model.crmodel"),
                 "--id", "pid"]) == 0
    risks = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert risks["pid"].tolist() == ["a", "b"]
    assert risks["death"].iloc[0] > risks["death"].iloc[1]  # 81 y, RR 31 vs 45 y, RR 16


def test_predict_json_patient_on_stdin(chain, chain_model, monkeypatch, capsys):
    """One JSON patient on stdin prints RiskPrediction.to_dict() as JSON."""
    import covid_risk

    d, _ = chain
    patient = {"age": 81, "sex": "male", "urea": 12, "respiratory_rate": 31, "spo2": 91}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(patient)))
    assert main(["predict", "--model", str(d / "model.crmodel"), "--explain", "--top", "2"]) == 0
    doc = json.loads(capsys.readouterr().out)
    expected = covid_risk.predict_risk(patient, model=chain_model, explain=True, top=2).to_dict()
    assert doc == json.loads(json.dumps(expected))
    assert set(doc["risks"]) == {"death", "icu"}
    assert len(doc["risks"]["death"]["raising"]) <= 2


def test_predict_json_list_and_units(chain, chain_model, monkeypatch, capsys):
    """A JSON list gives a list; --units converts BUN mg/dL exactly as in canonical units."""
    d, _ = chain
    canonical = {"age": 70, "sex": "female", "urea": 10.0}
    us = {"age": 70, "sex": "female", "urea": 10.0 * 28.014 / 10.0}  # 28.014 mg/dL BUN
    model = str(d / "model.crmodel")
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps([canonical, canonical])))
    assert main(["predict", "-", "--model", model]) == 0
    first = json.loads(capsys.readouterr().out)
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(us)))
    assert main(["predict", "--model", model, "--units", "urea=mg/dL BUN"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert len(first) == 2 and first[0] == first[1]
    assert second["risks"]["death"]["probability"] == pytest.approx(
        first[0]["risks"]["death"]["probability"], abs=1e-12)


def test_predict_bad_json_and_impossible_value_exit_2(chain, monkeypatch, capsys):
    """Broken JSON and an impossible age on stdin both exit 2 with one line."""
    model = str(chain[0] / "model.crmodel")
    monkeypatch.setattr("sys.stdin", io.StringIO("{'age': 70"))
    assert main(["predict", "--model", model]) == 2
    assert "not valid JSON" in _one_error_line(capsys.readouterr().err)
    monkeypatch.setattr("sys.stdin", io.StringIO('[{"age": 70, "sex": "male"}, '
                                                 '{"age": 130, "sex": "male"}]'))
    assert main(["predict", "--model", model]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "patient 1" in line and "'age'" in line and "130" in line


def test_predict_impossible_age_in_csv_exits_2(chain, tmp_path, capsys):
    """An impossible age in the CSV: exit 2, one line with field, value and row."""
    bad = tmp_path / "bad.csv"
    bad.write_text(_PATIENTS.replace("\nb,45,", "\nb,-3,"))
    assert main(["predict", str(bad), "--model", str(chain[0] / "model.crmodel"),
                 "--id", "pid"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "'age'" in line and "-3" in line and "row 1" in line


def test_foreign_model_file_exits_2(patients_csv, tmp_path, capsys):
    """A pickle passed as --model is refused (never unpickled): exit 2, one line."""
    import pickle

    foreign = tmp_path / "model.crmodel"
    foreign.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    assert main(["predict", str(patients_csv), "--model", str(foreign)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "not a covid_risk model file" in line


def test_missing_model_file_exits_2(patients_csv, tmp_path, capsys):
    """A --model path that does not exist exits 2 naming it."""
    assert main(["explain", str(patients_csv), "--model", str(tmp_path / "no.crmodel")]) == 2
    assert "no.crmodel" in _one_error_line(capsys.readouterr().err)


def test_explain_prints_top_factors(chain, chain_model, eval_cohort, capsys):
    """explain prints the row's predicted risk and at most --top factors each way."""
    d, _ = chain
    assert main(["explain", str(d / "test.csv"), "--row", "3", "--outcome", "icu", "--top", "3",
                 "--model", str(d / "model.crmodel")]) == 0
    out = capsys.readouterr().out
    p = chain_model.predict_proba(eval_cohort.iloc[[3]])["icu"].iloc[0]
    first = out.splitlines()[0]
    assert first.startswith(f"patient {eval_cohort.index[3]} (row 3 of ")
    assert f"predicted icu risk {p:.1%}" in first
    factor_lines = [ln for ln in out.splitlines() if " pp  " in ln]
    assert 1 <= len(factor_lines) <= 6


def test_explain_row_out_of_range_exits_2(chain, capsys):
    """--row beyond the file exits 2 saying how many rows there are."""
    d, _ = chain
    assert main(["explain", str(d / "test.csv"), "--row", "600",
                 "--model", str(d / "model.crmodel")]) == 2
    assert "has 600 row(s) (0 to 599)" in _one_error_line(capsys.readouterr().err)


def test_quiet_prints_no_progress(tmp_path, monkeypatch):
    """On a terminal, cohort shows progress on stderr; with --quiet it shows none."""
    tty = _TTY()
    monkeypatch.setattr("sys.stderr", tty)
    assert main(["cohort", "--n", "300", "--out", str(tmp_path / "a.parquet")]) == 0
    shown = tty.getvalue()
    assert "generating 300 admission records done in" in shown
    quiet = _TTY()
    monkeypatch.setattr("sys.stderr", quiet)
    assert main(["cohort", "--n", "300", "--out", str(tmp_path / "b.parquet"), "--quiet"]) == 0
    assert quiet.getvalue() == ""


def test_progress_live_redraws_while_a_step_runs():
    """With live redraws, the line is redrawn even when update() is not called."""
    import time

    tty = _TTY()
    with progress.Progress(None, desc="rows", stream=tty, live=0.01):
        deadline = time.monotonic() + 10
        while tty.getvalue().count("\r") < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert tty.getvalue().count("\r") >= 3
    assert tty.getvalue().split("\r")[-1].startswith("0 rows ")


def test_unknown_scenario_exits_2_listing_scenarios(tmp_path, capsys):
    """cohort --scenario with an unknown name exits 2 and lists the known ones."""
    from covid_risk.synthetic import SCENARIOS

    assert main(["cohort", "--scenario", "wild", "--out", str(tmp_path / "c.parquet")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.endswith("choose one of " + ", ".join(SCENARIOS))
    assert not (tmp_path / "c.parquet").exists()


def test_predict_without_model_uses_the_bundled_default(monkeypatch, capsys):
    """No --model: the packaged admission model answers, or a clean exit 2 says it is missing."""
    from importlib import resources

    from covid_risk.models import DEFAULT_MODEL_FILES
    from covid_risk.schema import SETTING_OUTCOMES

    bundled = resources.files("covid_risk") / "data" / DEFAULT_MODEL_FILES["admission"]
    monkeypatch.setattr("sys.stdin", io.StringIO('{"age": 70, "sex": "female"}'))
    code = main(["predict"])
    captured = capsys.readouterr()
    if bundled.is_file():
        assert code == 0, captured.err
        assert set(json.loads(captured.out)["risks"]) == set(SETTING_OUTCOMES["admission"])
    else:
        assert code == 2
        assert "default admission model" in _one_error_line(captured.err)


def test_train_refuses_a_cohort_of_the_other_setting(tmp_path, capsys):
    """Training an admission model on a community cohort exits 2 before any fitting."""
    cohort = tmp_path / "community.parquet"
    assert main(["cohort", "--n", "300", "--setting", "community", "--out", str(cohort)]) == 0
    capsys.readouterr()
    assert main(["train", str(cohort), "--setting", "admission",
                 "--out", str(tmp_path / "m.crmodel")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "is a community cohort" in line and "--setting community" in line
    assert not (tmp_path / "m.crmodel").exists()


def test_third_party_warnings_are_hidden_unless_debug(monkeypatch, capsys):
    """A FutureWarning from another library is not shown to CLI users, except with --debug."""
    import warnings

    def noisy(args):
        warnings.warn_explicit("pandas will change", FutureWarning, "pandas/core/x.py", 1)
        return 0

    monkeypatch.setattr(cli_scores, "run", noisy)
    assert main(["scores", "x.csv"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["scores", "x.csv", "--debug"]) == 0
    assert capsys.readouterr().err == "covid-risk: warning: pandas will change\n"


def test_scores_on_the_chain_cohort_match_score_table(chain, eval_cohort, tmp_path):
    """scores on a generated CSV cohort equals covid_risk.score_table row for row."""
    from covid_risk.features import score_table

    d, _ = chain
    out_path = tmp_path / "scores.csv"
    code, out, err = _run(["scores", d / "test.csv", "--out", out_path, "-q"])
    assert code == 0, err
    assert out == f"wrote clinical scores for 600 patients to {out_path}\n"
    got = pd.read_csv(out_path)
    expected = score_table(eval_cohort).reset_index(drop=True)
    assert got["patient_id"].tolist() == eval_cohort.index.tolist()
    for name in ("four_c_mortality", "curb65", "news2", "qsofa"):
        want = expected[name].astype("Float64").to_numpy(dtype=float, na_value=float("nan"))
        assert got[name].to_numpy(dtype=float) == pytest.approx(want, nan_ok=True)
