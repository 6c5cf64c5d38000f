"""The HTML report is one self-contained file with every section; the model card is complete."""

from __future__ import annotations

import base64
import html
import json
import re
import struct

import numpy as np
import pandas as pd
import pytest

import covid_risk as cr
from covid_risk.evaluation.card import (
    NOT_FOR_CLINICAL_USE,
    REPORT_SECTIONS,
    TRIPOD_ITEMS,
    model_card,
)
from covid_risk.evaluation.report import SECTION_TITLES, _ci_text, _num, render_report
from covid_risk.models import ClinicalScoreBaseline

OUTCOMES = ("death", "deterioration")
TRAIN_SEED = 11
N_TRAIN = 1500
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def fitted():
    """A small fast model, a 4C baseline and their evaluation on an independent cohort."""
    train = cr.make_cohort(N_TRAIN, setting="admission", random_state=TRAIN_SEED)
    test = cr.make_cohort(800, setting="admission", random_state=12)
    model = cr.train(train, setting="admission", outcomes=list(OUTCOMES), random_state=0,
                     n_estimators=60, learning_rate=0.2)
    four_c = ClinicalScoreBaseline("4c_mortality").fit(train)
    evaluation = cr.evaluate(model, test, baselines={"4c_mortality": four_c}, n_bootstrap=20,
                             random_state=0)
    return model, evaluation, test


@pytest.fixture(scope="module")
def report(fitted, tmp_path_factory):
    """The report written with importance computed from 200 test patients."""
    model, evaluation, test = fitted
    path = tmp_path_factory.mktemp("report") / "sub" / "report.html"
    written = render_report(evaluation, path, model=model, cohort=test.head(200))
    assert written == path
    return path.read_text(encoding="utf-8")


def _section(text: str, key: str) -> str:
    """The HTML of the top-level section ``key``."""
    start = text.index(f'<section id="{key}">')
    keys = list(SECTION_TITLES)
    later = keys[keys.index(key) + 1:]
    ends = [text.index(f'<section id="{k}">') for k in later if f'<section id="{k}">' in text]
    return text[start:min(ends)] if ends else text[start:]


def test_report_is_self_contained(report):
    """No external reference: no http(s) or protocol-relative src/href, script, link or import."""
    assert re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", report, re.I) is None
    assert "http://" not in report and "https://" not in report
    assert "<script" not in report and "<link" not in report
    assert "@import" not in report and "url(" not in report
    assert report.startswith("<!DOCTYPE html>") and report.rstrip().endswith("</html>")


def test_report_has_every_section_heading_in_order(report):
    """Each required section has its heading, in the documented order."""
    positions = [report.index(f"<h2>{html.escape(title)}</h2>")
                 for title in SECTION_TITLES.values()]
    assert positions == sorted(positions)
    assert set(REPORT_SECTIONS) <= set(SECTION_TITLES)


def test_embedded_images_decode_as_png(report):
    """ROC, calibration, decision curve, importance and comparison figures are real PNGs."""
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', report)
    assert len(images) == 5
    for data in images:
        png = base64.b64decode(data, validate=True)
        assert png[:8] == PNG_MAGIC
        width, height = struct.unpack(">II", png[16:24])
        assert width > 300 and height > 200
    for key in ("roc", "calibration", "decision_curve", "importance", "comparison"):
        assert "data:image/png;base64," in _section(report, key)


def test_metrics_with_confidence_intervals(fitted, report):
    """Every outcome's AUROC appears with its bootstrap interval, as computed by evaluate."""
    _, evaluation, _ = fitted
    section = _section(report, "performance")
    for outcome in OUTCOMES:
        est = evaluation[outcome]["auroc"]
        lo, hi = evaluation[outcome].interval("auroc")
        assert f"{est:.3f} [{lo:.3f}, {hi:.3f}]" in section
        assert lo <= est <= hi
    assert "Calibration slope" in section and "Brier score" in section
    assert f"{evaluation['death'].n:,}" in section


def test_subgroup_table(fitted, report):
    """Each outcome gets a subgroup table with the evaluation's counts per group."""
    _, evaluation, _ = fitted
    section = _section(report, "subgroups")
    sub = evaluation.subgroups
    for outcome in OUTCOMES:
        assert f"<h3>{html.escape(cr.FIELDS[outcome].label)}</h3>" in section
    women = sub[(sub["outcome"] == "death") & (sub["variable"] == "sex")
                & (sub["group"] == "female")].iloc[0]
    assert (f"<td>Sex</td><td>Female</td><td class=\"num\">{int(women['n']):,}</td>"
            f"<td class=\"num\">{int(women['events']):,}</td>") in section
    assert "Age band" in section and "AUROC [95% CI]" in section


def test_comparison_names_model_and_baseline(report):
    """The comparison lists the model, the 4C score and the true-risk ceiling."""
    section = _section(report, "comparison")
    for name in ("lightgbm", "4c_mortality", "true risk"):
        assert f"<td>{name}</td>" in section


def test_model_card_sections_in_report(fitted, report):
    """The report carries every model-card section and the not-for-clinical-use statement."""
    model, _, _ = fitted
    card = model_card(model)
    section = _section(report, "model_card")
    for s in card.sections:
        if s.key != "tripod":
            assert f'<section id="{s.key}"><h3>{html.escape(s.title)}</h3>' in section
    assert html.escape(NOT_FOR_CLINICAL_USE) in report
    assert f"<dt>Seed</dt><dd>{TRAIN_SEED}</dd>" in section


def test_ids_unique_and_internal_links_resolve(report):
    """Element ids are unique and every internal link points at one of them."""
    ids = re.findall(r'\sid="([^"]+)"', report)
    assert len(ids) == len(set(ids))
    targets = set(re.findall(r'href="#([^"]+)"', report))
    assert targets and targets <= set(ids)


def test_importance_given_is_shown(fitted, tmp_path):
    """A given importance table is drawn and listed in the importance section."""
    _, evaluation, _ = fitted
    imp = pd.DataFrame({"death": [0.9, 0.2], "deterioration": [0.1, 0.7]},
                       index=["Age", "Respiratory rate"])
    text = render_report(evaluation, tmp_path / "a.html", importance=imp).read_text()
    section = _section(text, "importance")
    assert "data:image/png;base64," in section
    assert "<td>Age</td><td class=\"num\">0.900</td><td class=\"num\">0.100</td>" in section
    assert "No baselines were evaluated" not in _section(text, "comparison")


def test_report_without_baselines_or_bootstrap(fitted, tmp_path):
    """Without baselines or importance the report says so; without bootstrap, no intervals."""
    model, _, test = fitted
    evaluation = cr.evaluate(model, test, n_bootstrap=0)
    text = render_report(evaluation, tmp_path / "r.html", model=model).read_text()
    assert "No baselines were evaluated" in _section(text, "comparison")
    assert "Not computed: pass importance=" in _section(text, "importance")
    est = evaluation["death"]["auroc"]
    assert f'<td class="num">{est:.3f}</td>' in _section(text, "performance")
    assert f"{est:.3f} [" not in _section(text, "performance")


def test_to_html_is_render_report_and_reproducible(fitted, tmp_path):
    """Evaluation.to_html writes the same bytes as render_report, and twice the same bytes."""
    model, evaluation, _ = fitted
    imp = pd.DataFrame({"death": [0.3], "deterioration": [0.2]}, index=["Age"])
    a = evaluation.to_html(tmp_path / "a.html", model=model, importance=imp)
    b = render_report(evaluation, tmp_path / "b.html", model=model, importance=imp)
    assert a.read_bytes() == b.read_bytes()


def test_number_formatting():
    """Estimates and intervals print with three decimals; NaN as a dash; no negative zero."""
    assert _ci_text(0.8234, 0.8011, 0.8499) == "0.823 [0.801, 0.850]"
    assert _ci_text(0.5, np.nan, 0.6) == "0.500"
    assert _num(float("nan")) == "–"
    assert _num(-0.0001) == "0.000"
    assert _num(np.int64(12345)) == "12,345"


# ----------------------------------------------------------------------------- model card


def test_model_card_records_training_data_and_held_out_metrics(fitted):
    """The card repeats the model's cohort seed, size, scenario and its held-out metrics."""
    model, _, _ = fitted
    card = model_card(model)
    facts = dict(card["training_data"].facts)
    assert facts["Seed"] == str(TRAIN_SEED)
    assert facts["Number of patients"] == f"{N_TRAIN:,}"
    assert facts["Scenario"] == "wild_type_2020"
    assert "Simulated patients" in facts["Nature of the data"]
    table = card["held_out"].table.set_index("outcome")
    assert list(table.index) == list(OUTCOMES)
    for outcome in OUTCOMES:
        assert table.at[outcome, "auroc"] == model.metadata_["metrics"][outcome]["auroc"]
    dev = dict(card["development"].facts)
    assert "sigmoid" in dev["Calibration"] or "isotonic" in dev["Calibration"]


def test_model_card_monotone_table(fitted):
    """Monotone constraints read as clinical directions: death never falls with age or urea."""
    model, _, _ = fitted
    table = model_card(model)["development"].table.set_index("outcome")
    assert "Age" in table.at["death", "never falls with"]
    assert "Urea" in table.at["death", "never falls with"]
    assert "SpO2" in table.at["death", "never rises with"]


def test_tripod_items_cover_the_brief_and_point_somewhere():
    """The checklist has the required TRIPOD+AI items and each points at a real section."""
    card = model_card(setting="admission")
    items = {t.item for t in TRIPOD_ITEMS}
    required = {"1", "3b", "3c", "5a", "5b", "8a", "9a", "9b", "10", "11", "12e", "14",
                "18e", "18f", "23a", "26"}
    assert required <= items
    keys = {s.key for s in card.sections} | set(REPORT_SECTIONS) | {"title"}
    assert {t.where for t in TRIPOD_ITEMS} <= keys
    tripod = card.tripod
    assert len(tripod) == len(TRIPOD_ITEMS)
    assert tripod.set_index("item").at["3c", "where"] == "Health inequalities and fairness"
    assert tripod.set_index("item").at["14", "where"].startswith("HTML report: Subgroups")


def test_model_card_markdown_and_json():
    """Markdown opens with the title and the warning; the dict survives a JSON round trip."""
    card = model_card(setting="admission")
    text = card.to_markdown()
    assert text.startswith(f"# {card.title}\n")
    assert NOT_FOR_CLINICAL_USE in text
    assert "| 3b | Target population" in text
    doc = json.loads(json.dumps(card.to_dict()))
    assert [s["key"] for s in doc["sections"]] == [s.key for s in card.sections]
    assert repr(card).startswith("ModelCard('Risk of death, ICU admission")


def test_model_card_without_model_community():
    """Without a model the card describes the setting and says what is unknown."""
    card = model_card(setting="community")
    assert "community" in card.title and "hospitalisation and death" in card.title
    assert list(card["outcomes"].table["outcome"]) == ["hospitalisation", "death"]
    assert dict(card["predictors"].facts)["Number of model features"] == "unknown"
    assert dict(card["training_data"].facts)["Seed"] == "not recorded"


def test_model_card_rejects_unknown_setting():
    """An unknown setting raises ValueError naming it and the allowed ones."""
    with pytest.raises(ValueError, match=r"Unknown setting 'ward'.*'community', 'admission'"):
        model_card(setting="ward")
    with pytest.raises(KeyError, match="No section 'nope'"):
        model_card(setting="community")["nope"]


def test_extra_sections_go_before_the_checklist(fitted):
    """Extra sections are placed before the TRIPOD+AI checklist and listed in the contents."""
    from covid_risk.evaluation.report import report_html

    _, evaluation, _ = fitted
    text = report_html(evaluation, extra_sections=[("drift", "Drift", "<p>PSI 0.02</p>")])
    assert text.index('<section id="drift">\n<h2>Drift</h2>\n<p>PSI 0.02</p>') < text.index(
        '<section id="tripod">')
    assert '<li><a href="#drift">Drift</a></li><li><a href="#tripod">' in text
    with pytest.raises(ValueError, match="clash with the report's own sections"):
        report_html(evaluation, extra_sections=[("roc", "ROC again", "")])


def test_performance_shows_ici_e50_e90_and_what_well_calibrated_means(report, fitted):
    """The metrics table carries ICI, E50, E90 and the noise floor, with the values of the
    evaluation, and the text says that well calibrated means an ICI within the floor."""
    _, evaluation, _ = fitted
    perf = _section(report, "performance")
    for label in ("Integrated calibration index (ICI)", "Median absolute calibration error (E50)",
                  "90th percentile absolute calibration error (E90)",
                  "ICI of a perfectly calibrated predictor (noise floor)"):
        assert html.escape(label) in perf
    assert "<b>Well calibrated</b> means an ICI within that range" in perf
    ici = evaluation["death"]["ici"]
    assert f"{ici:.3f}" in perf
    comparison = _section(report, "comparison")
    assert "<th>ICI</th>" in comparison
