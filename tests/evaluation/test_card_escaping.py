"""Cohort metadata cannot inject HTML or Markdown into MODEL_CARD.md."""

from __future__ import annotations

import re

from covid_risk.evaluation.card import model_card

INJECTED = "<script>alert(1)</script> [click](javascript:alert(1)) ![x](http://e/x.png) `c`"


def test_metadata_reaches_the_markdown_card_inert(admission_model):
    original = admission_model.metadata_
    meta = dict(original)
    cohort = dict(meta.get("training_cohort") or {})
    cohort.update(scenario=INJECTED, generator_version="1\n# Forged heading",
                  data_hash="<img src=x onerror=alert(1)>")
    meta["training_cohort"] = cohort
    try:
        admission_model.metadata_ = meta
        text = model_card(admission_model).to_markdown()
    finally:
        admission_model.metadata_ = original
    assert "<script" not in text and "<img" not in text
    assert re.search(r"(?<!\\)\]\(", text) is None  # every link bracket escaped
    assert "![x]" not in text
    assert "\n# Forged heading" not in text
    assert "&lt;script&gt;" in text and "\\[click\\]" in text
