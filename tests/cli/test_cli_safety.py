"""``covid-risk predict``: bad input exits 2 with one line, CSV output is spreadsheet-safe."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from covid_risk.cli import main
from covid_risk.synthetic import make_cohort


@pytest.fixture(scope="module")
def patients_csv(tmp_path_factory):
    df = make_cohort(20, setting="admission", random_state=3).reset_index(drop=True)
    df["patient_id"] = ["=HYPERLINK(\"x\")", "+1+1", "@SUM(A1)", "-5", "ok"] * 4
    path = tmp_path_factory.mktemp("cli") / "patients.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("payload", [
    "[" * 100_000 + "]" * 100_000,
    '{"age": ' + "1" * 5000 + ', "sex": "male"}',
    '{"age": [70], "sex": "male"}',
    '{"age": 70, "sex": {"a": ["male"]}}',
])
def test_hostile_json_on_stdin_exits_2_with_one_line(payload, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(payload))
    assert main(["predict", "-q"]) == 2
    err = capsys.readouterr().err
    assert "covid-risk: error:" in err and "Traceback" not in err and "internal" not in err


def test_predict_csv_neutralises_formulas_unless_asked_not_to(patients_csv, admission_file,
                                                              tmp_path, capsys):
    out = tmp_path / "risks.csv"
    assert main(["predict", str(patients_csv), "--model", str(admission_file), "--id",
                 "patient_id", "--out", str(out), "-q"]) == 0
    ids = pd.read_csv(out, dtype=str, keep_default_na=False)["patient_id"].tolist()
    assert ids[:5] == ["'=HYPERLINK(\"x\")", "'+1+1", "'@SUM(A1)", "'-5", "ok"]
    assert main(["predict", str(patients_csv), "--model", str(admission_file), "--id",
                 "patient_id", "--out", str(out), "--no-spreadsheet-safe", "-q"]) == 0
    ids = pd.read_csv(out, dtype=str, keep_default_na=False)["patient_id"].tolist()
    assert ids[:4] == ["=HYPERLINK(\"x\")", "+1+1", "@SUM(A1)", "-5"]


def test_an_id_named_like_an_output_column_exits_2(patients_csv, admission_file, capsys):
    assert main(["predict", str(patients_csv), "--model", str(admission_file), "--id",
                 "death", "-q"]) == 2
    assert "output column" in capsys.readouterr().err
